"""Erasure (R64) and the retention purges (R60-R63, R65).

The log never changes: an erasure appends entries and destroys the client's data key, so the
personal values the log sealed with it can no longer be read while every hash still verifies.
Everything else that holds the person's data (the client row, the forms' content, evidence and
files, the admin's history) is replaced or deleted in the same transaction; files are deleted
once it commits, so a rollback never loses a proof.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clients.models import Client, LegalCapacity
from optin import audit
from optin.audit import Actor
from optin.errors import DomainError, ErrorCode
from optin.models import (
    Channel,
    ClientKey,
    ConsentState,
    ConsentStatus,
    Journey,
    KeyDestruction,
)
from optin.selectors import ERASED_ACTION, erasure_entry
from optin.services import PERSONAL_EVIDENCE, add_to_suppression_list, apply_event
from optin.transitions import Event
from signatures.models import ConsentForm, FormStatus
from signatures.services import cancel_pending_forms

logger = logging.getLogger(__name__)

# What the client row's last name reads after an erasure (the first name is emptied).
ERASED_NAME = "[effacé]"
# The file fields of a form, deleted by an erasure or at the end of the proof's retention.
FORM_FILES = ("pdf", "signature_image", "signature_points", "scan", "signed_pdf")


class ErasureReason(StrEnum):
    REQUEST = "erasure_request"  # R64: the person asked to be forgotten
    RETENTION = "retention"  # R60, R61: the retention period ran out


def erased_number(client: Client) -> str:
    """What an erased client row's number becomes: frees the real number (a new record starts
    at `none`, R64). The tilde is outside the client-number alphabet (R68): no real number is
    ever taken."""
    return f"~{client.pk}"


@dataclass(frozen=True)
class Erasure:
    client_number: str
    reason: str
    erased_at: dt.datetime
    recorded: bool  # False: the client was already erased, nothing written
    channels: list[str] = field(default_factory=list)  # channels whose state changed
    forms_cancelled: int = 0
    forms_emptied: int = 0  # forms whose files and personal content were deleted
    seq: int | None = None  # the `client.erased` entry

    def as_dict(self) -> dict[str, Any]:
        return {
            "client_number": self.client_number,
            "reason": self.reason,
            "erased_at": audit.iso_or_none(self.erased_at),
            "recorded": self.recorded,
            "channels": self.channels,
            "forms_cancelled": self.forms_cancelled,
            "forms_emptied": self.forms_emptied,
            "seq": self.seq,
        }


def _previous_erasure(client_number: str) -> Erasure | None:
    entry = erasure_entry(client_number=client_number)
    if entry is None:
        return None
    return Erasure(
        client_number=client_number,
        reason=str(json.loads(entry.payload).get("reason", "")),
        erased_at=entry.occurred_at,
        recorded=False,
        seq=entry.seq,
    )


@transaction.atomic
def erase_client(
    *,
    client_number: str,
    actor: Actor,
    reason: ErasureReason = ErasureReason.REQUEST,
    now: dt.datetime | None = None,
) -> Erasure:
    """Erase a client's personal data, in one transaction (R64; R60 and R61 with reason
    `retention`).

    A request withdraws both channels (journey `erasure_request`) and puts both contact
    points on the suppression list (R62); a retention purge lets granted and pending consents
    lapse instead (the person objected to nothing). Pending forms are cancelled, which also
    ends confirmation links; the client's data key is destroyed; the client row's personal
    fields are replaced and its number freed; the forms' personal content is removed and their
    files deleted once the transaction commits, their SHA-256 kept. The log only grows.

    Erasing an erased client writes nothing (`recorded` False). Raises DomainError
    `unknown_client` for a number the system never knew.
    """
    client = Client.objects.select_for_update().filter(client_number=client_number).first()
    if client is None:
        previous = _previous_erasure(client_number)
        if previous is None:
            raise DomainError(ErrorCode.UNKNOWN_CLIENT, _("Client inconnu."))
        return previous
    return erase_locked(client, actor=actor, reason=reason, now=now or timezone.now())


# The states each erasure leaves alone (no entry would be written for them).
_UNCHANGED = {
    ErasureReason.REQUEST: frozenset({ConsentStatus.WITHDRAWN}),
    ErasureReason.RETENTION: frozenset(
        {ConsentStatus.NONE, ConsentStatus.REFUSED, ConsentStatus.WITHDRAWN}
    ),
}


def erase_locked(
    client: Client, *, actor: Actor, reason: ErasureReason, now: dt.datetime
) -> Erasure:
    """`erase_client` for a client row the caller locked (select_for_update) inside its
    transaction: the purge locks its candidates by what makes them due."""
    forms = list(ConsentForm.objects.filter(client=client).values_list("status", flat=True))
    pending_forms = sum(status == FormStatus.PENDING for status in forms)
    # Both state rows locked first, in a fixed order, before the log's lock (no deadlock).
    states = list(
        ConsentState.objects.select_for_update().filter(client=client).order_by("channel")
    )
    changed = []
    for state in states:
        if state.status in _UNCHANGED[reason]:
            continue
        _step, _state, entry = apply_event(
            client=client,
            channel=state.channel,
            event=Event.WITHDRAW if reason == ErasureReason.REQUEST else Event.LAPSE,
            actor=actor,
            journey=Journey.ERASURE_REQUEST,
            occurred_at=now,
            data={"reason": str(reason)},
        )
        if entry is not None:
            changed.append(state.channel)
    suppressed = []
    if reason == ErasureReason.REQUEST:
        for channel in Channel.values:
            if add_to_suppression_list(channel, client.contact_point(channel)):
                suppressed.append(channel)
    emptied = 0
    if forms:
        # Forms still pending (a form may outlive a state changed by another path): cancelled
        # and logged like any cancellation.
        cancel_pending_forms(
            client=client, actor=actor, reason="erasure", journey=Journey.ERASURE_REQUEST
        )
        emptied = _empty_forms(ConsentForm.objects.filter(client=client), now)
    keys = destroy_keys(client.pk, KeyDestruction.ERASURE, now)
    number = client.client_number
    _replace_personal_fields(client, now)
    _scrub_admin_history(client)
    entry = audit.append(
        action=ERASED_ACTION,
        actor=actor,
        occurred_at=now,
        client_id=client.pk,
        client_number=number,
        data={
            "reason": str(reason),
            "channels": changed,
            "suppressed": suppressed,
            "forms_cancelled": pending_forms,
            "forms_emptied": emptied,
            "keys_destroyed": keys,
        },
    )
    return Erasure(
        client_number=number,
        reason=str(reason),
        erased_at=now,
        recorded=True,
        channels=changed,
        forms_cancelled=pending_forms,
        forms_emptied=emptied,
        seq=entry.seq,
    )


def destroy_keys(client_id: int, why: KeyDestruction, now: dt.datetime) -> int:
    """The client's live data key destroyed: the wrapped key itself is emptied, so no master
    key, current or former, can recover it from the database or its backups taken after."""
    return ClientKey.objects.filter(client_id=client_id, destroyed_at__isnull=True).update(
        destroyed_at=now, destroyed_for=why, wrapped_key=b""
    )


def _replace_personal_fields(client: Client, now: dt.datetime) -> None:
    client.client_number = erased_number(client)
    client.civility = ""
    client.first_name = ""
    client.last_name = ERASED_NAME
    client.birth_date = None
    client.legal_capacity = LegalCapacity.FULL  # a protection measure is sensitive data
    client.protection_measure = ""
    client.email = ""
    client.mobile = ""
    client.relationship_ended_on = None
    client.last_contact_at = None
    client.erased_at = now
    client.updated_at = now
    client.version += 1
    client.save()


def _scrub_admin_history(client: Client) -> None:
    """The admin's history names an object by its text (number and name) and lists changed
    fields: both are replaced for this client."""
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Client), object_id=str(client.pk)
    ).update(object_repr=client.client_number, change_message="")


def _empty_forms(forms: Iterable[ConsentForm], now: dt.datetime) -> int:
    """Empty every form not emptied yet; returns how many were."""
    emptied = 0
    for form in forms:
        if form.files_deleted_at is None:
            empty_form(form, now)
            emptied += 1
    return emptied


def empty_form(form: ConsentForm, now: dt.datetime) -> None:
    """Remove a form's personal content and evidence and delete its files once the
    transaction commits; their SHA-256 (columns and log) stay."""
    names = [getattr(form, name) for name in FORM_FILES if getattr(form, name)]
    for name in FORM_FILES:
        setattr(form, name, "")
    form.content = impersonal(form.content)
    form.evidence = impersonal(form.evidence)
    form.end_reason = form.end_reason.split(":", 1)[0]  # the advisor's note may name them
    form.files_deleted_at = now
    form.save(update_fields=[*FORM_FILES, "content", "evidence", "end_reason", "files_deleted_at"])
    transaction.on_commit(functools.partial(delete_files, names))


# The keys under which a form's content and evidence hold the person (identity, contact
# points, the signing session's address and browser).
PERSONAL_KEYS = frozenset(
    {"civility", "first_name", "last_name", "birth_date", "contact_point", "email", "mobile"}
    | PERSONAL_EVIDENCE
)


def impersonal(value: Any) -> Any:
    """A form's content or evidence with every personal value emptied, at any depth; the
    wording texts, answers, references, hashes and the advisor stay."""
    if isinstance(value, dict):
        return {k: "" if k in PERSONAL_KEYS else impersonal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [impersonal(item) for item in value]
    return value


def delete_files(names: Iterable[str]) -> int:
    """Delete stored files; one that is already gone counts as deleted. A storage error is
    logged and left to the next purge run (which finds the form's files missing)."""
    deleted = 0
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.exception("could not delete %s", name)
            continue
        deleted += 1
    return deleted


def pseudonym(client_number: str) -> str:
    """A client number as a purge run logs it (R65): a keyed hash, linkable to the number only
    by whoever holds the suppression list's key."""
    key = str(settings.OPTIN_SUPPRESSION_KEY).encode("utf-8")
    return hmac.new(key, b"client:" + client_number.encode("utf-8"), hashlib.sha256).hexdigest()[
        :16
    ]
