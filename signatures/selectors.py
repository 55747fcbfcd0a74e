"""Reads of consent forms: what an advisor must still have signed (R27), and access (R55)."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.utils import timezone

from clients.models import Client
from signatures.models import ConsentForm


def pending_forms(
    *,
    advisor: User | None = None,
    branch_id: int | None = None,
    visible_to: AbstractBaseUser | AnonymousUser | None = None,
    now: dt.datetime | None = None,
) -> list[tuple[ConsentForm, dt.timedelta]]:
    """Pending forms, oldest first, with their age; by advisor and/or by the client's branch
    (R27), and only those of clients `visible_to` may see (R55).

    One query whatever the number of forms (client and advisor joined).
    """
    now = now or timezone.now()
    forms = ConsentForm.objects.pending().select_related("client", "advisor", "branch")
    if visible_to is not None:
        forms = forms.filter(client__in=Client.objects.visible_to(visible_to))
    if advisor is not None:
        forms = forms.filter(advisor=advisor)
    if branch_id is not None:
        # The client's branch: the advisors who may have the form signed (R55), even when
        # the client moved after the form was made.
        forms = forms.filter(client__branch_id=branch_id)
    return [(form, now - form.created_at) for form in forms.order_by("created_at", "pk")]
