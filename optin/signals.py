"""Signals of the consent domain, for the apps that build on it (signatures -> optin).

`consent_step_applied` is sent by `optin.services.apply_event`, inside the writer's
transaction, after a state change that carries effects (R12: a form to cancel, a link to
invalidate). Receivers act in that same transaction: if one raises, nothing is written.
Arguments: client, channel, event, step, actor, journey, occurred_at, entry.
"""

from django.dispatch import Signal

consent_step_applied = Signal()
