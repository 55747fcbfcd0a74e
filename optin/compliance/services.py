"""Writes of the compliance pages: each records what a staff member did, never a consent."""

from __future__ import annotations

from collections.abc import Mapping

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from clients.models import Client
from clients.roles import actor_for
from optin import audit
from optin.audit import Actor
from optin.models import RecordAccess


def record_access(
    *, user: AbstractBaseUser | AnonymousUser, client_number: str, page: str, method: str
) -> RecordAccess | None:
    """R55 (SHOULD): a staff member opened a page of a customer's data. Nothing is recorded
    for an account without a staff profile or a number that names no customer."""
    try:
        actor = actor_for(user)
    except PermissionError:
        return None
    if user.pk is None:
        return None
    client_id = Client.objects.filter(client_number=client_number).values_list("pk", flat=True)
    found = client_id.first()
    if found is None:
        return None
    return RecordAccess.objects.create(
        accessed_at=timezone.now(),
        staff_id=int(user.pk),
        actor_type=actor.type,
        branch=actor.branch,
        client_id=found,
        client_number=client_number,
        page=page[:64],
        method=method[:8],
    )


def log_trail_export(
    *,
    actor: Actor,
    filters: Mapping[str, str],
    up_to: int,
    rows: int | None,
    complete: bool,
) -> None:
    """Who exported the audit trail, with which filters, up to which entry, how many rows,
    when: written when the export starts (rows None) and when it ends, like the opt-in list's
    (R49)."""
    with transaction.atomic():
        audit.append(
            action="audit_trail.exported" if rows is not None else "audit_trail.export_started",
            actor=actor,
            data={"filters": dict(filters), "up_to": up_to, "rows": rows, "complete": complete},
        )
