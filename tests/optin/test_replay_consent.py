"""R11, R53: `ChainVerifier.replay_consent` replays one consent entry's state change.

Fed a client's consent entries in log order, it projects each channel's state as the log
declares it (what full verification and a proof bundle compare with the states); an entry
whose declared `from` is not the state the entries before it left is named and changes
nothing; an entry without state change changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clients.models import Client
from optin import audit
from optin.models import AuditEntry, ConsentState

pytestmark = pytest.mark.django_db


def consent_entries(client: Client) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(client_id=client.pk, action__startswith="consent.").order_by(
            "seq"
        )
    )


def test_the_projection_is_the_state_the_log_declares(
    customer: Client, grant: Callable[..., Any], decide: Callable[..., Any]
) -> None:
    grant(customer, "email")
    decide(customer, "email", "withdraw")
    grant(customer, "sms_push")
    verifier = audit.ChainVerifier()

    problems = [
        verifier.replay_consent(e.seq, customer.pk, e.channel, e.payload)
        for e in consent_entries(customer)
    ]

    assert problems == [None, None, None]
    for state in ConsentState.objects.filter(client=customer):
        projected = verifier.states[customer.pk, state.channel]
        assert (projected.status, projected.last_seq) == (state.status, state.last_seq)
        assert audit.state_row(projected)[0] == state.status


def test_a_change_from_another_state_is_named_and_changes_nothing(
    customer: Client, grant: Callable[..., Any], decide: Callable[..., Any]
) -> None:
    grant(customer, "email")
    decide(customer, "email", "withdraw")
    granted, withdrawn = consent_entries(customer)
    verifier = audit.ChainVerifier()

    # The withdrawal replayed without the grant before it: it declares "from granted".
    problem = verifier.replay_consent(withdrawn.seq, customer.pk, "email", withdrawn.payload)

    assert problem is not None and problem.seq == withdrawn.seq
    assert "declares a change from granted" in problem.message
    assert (customer.pk, "email") not in verifier.states
    assert verifier.replay_consent(granted.seq, customer.pk, "email", granted.payload) is None


def test_a_payload_without_state_change_changes_nothing(customer: Client) -> None:
    verifier = audit.ChainVerifier()

    assert verifier.replay_consent(7, customer.pk, "email", '{"decision":"grant"}') is None
    assert verifier.states == {}
