"""Reads of the compliance pages: the audit trail (filters, keyset pages, export rows) and the
access log of customers' records (R51, R55).

Pages are keyset pages on `seq` (newest first): each is one index range read whatever its
depth, so the thousandth page costs what the first does. Every filter has an index ending in
`seq` (AuditEntry.Meta and migration 0005), journey and actor branch read from the payload the
hash covers.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib.auth.models import User
from django.db import connection, models
from django.db.models import Model, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from clients.models import PARIS, Client
from optin import audit
from optin.models import (
    ActorType,
    AuditEntry,
    Channel,
    ConsentState,
    ConsentStatus,
    Journey,
    RecordAccess,
)
from optin.selectors import ERASED_ACTION, action_label, marketing_database
from signatures.models import ConsentForm

PAGE_SIZE = 50


def payload_key(key: str) -> RawSQL:
    """A top-level text value of the payload, written as migration 0005's indexes are, so
    that the database reads the index rather than every payload. `key` is a constant of the
    code, never user input."""
    if not key.isidentifier():
        raise ValueError(f"not a payload key: {key!r}")
    if connection.vendor == "postgresql":
        return RawSQL(f"((payload::jsonb) ->> '{key}')", [])  # noqa: S611
    return RawSQL(f"json_extract(payload, '$.{key}')", [])  # noqa: S611


@dataclass(frozen=True)
class TrailFilters:
    """The audit trail's filters; empty values filter nothing."""

    client_number: str = ""
    actor_id: str = ""  # "staff:12", "api:crm", a job name
    branch: str = ""  # the branch of the staff member who acted
    action: str = ""
    channel: str = ""
    journey: str = ""
    since: dt.date | None = None  # recorded on or after this day (Paris)
    until: dt.date | None = None  # recorded on or before this day (Paris)

    def as_dict(self) -> dict[str, str]:
        """The filters set, as text (for the log of an export and for links)."""
        values = {
            "client": self.client_number,
            "actor": self.actor_id,
            "branch": self.branch,
            "action": self.action,
            "channel": self.channel,
            "journey": self.journey,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {key: value for key, value in values.items() if value}


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=PARIS)


def trail_queryset(filters: TrailFilters) -> QuerySet[AuditEntry]:
    """The filtered entries, read from the replica when one is configured (DESIGN §7: the
    audit trail is read-heavy work; a replica applies commits before they are acknowledged)."""
    entries = AuditEntry.objects.using(marketing_database()).all()
    if filters.client_number:
        entries = entries.filter(client_number=filters.client_number)
    if filters.actor_id:
        entries = entries.filter(actor_id=filters.actor_id)
    if filters.action:
        entries = entries.filter(action=filters.action)
    if filters.channel:
        entries = entries.filter(channel=filters.channel)
    if filters.branch:
        entries = entries.alias(actor_branch=payload_key("actor_branch")).filter(
            actor_branch=filters.branch
        )
    if filters.journey:
        entries = entries.alias(entry_journey=payload_key("journey")).filter(
            entry_journey=filters.journey
        )
    if filters.since or filters.until:
        entries = _recorded_between(entries, filters.since, filters.until)
    return entries


def _recorded_between(
    entries: QuerySet[AuditEntry], since: dt.date | None, until: dt.date | None
) -> QuerySet[AuditEntry]:
    """The entries recorded within those days, also bounded by sequence numbers.

    `recorded_at` is read under the chain's lock, so it grows with `seq`: the first entry
    recorded from `since` and the last one before the day after `until` (two reads of the
    `recorded_at` index) bound the days by a range of `seq`, which the keyset pages read
    directly instead of walking the log from its head until they reach those days."""
    if since:
        start = _day_start(since)
        entries = entries.filter(recorded_at__gte=start)
        first = (
            entries.model.objects.using(entries.db)
            .filter(recorded_at__gte=start)
            .order_by("recorded_at")
            .values_list("seq", flat=True)
            .first()
        )
        if first is None:
            return entries.none()
        entries = entries.filter(seq__gte=first)
    if until:
        end = _day_start(until + dt.timedelta(days=1))
        entries = entries.filter(recorded_at__lt=end)
        last = (
            entries.model.objects.using(entries.db)
            .filter(recorded_at__lt=end)
            .order_by("-recorded_at")
            .values_list("seq", flat=True)
            .first()
        )
        if last is None:
            return entries.none()
        entries = entries.filter(seq__lte=last)
    return entries


M = TypeVar("M", bound=Model)


def keyset_page(
    rows: QuerySet[M], key: str, before: int | None, after: int | None, size: int
) -> tuple[list[M], int | None, int | None]:
    """One page of `rows`, newest (highest `key`) first, and the keys of the pages around it:
    older than `before`, or newer than `after`, or the newest. Two statements, three past the
    first page, each an index range whatever the page's depth."""
    if after is not None:
        page = list(rows.filter(**{f"{key}__gt": after}).order_by(key)[: size + 1])
        more_newer = len(page) > size
        page = page[:size][::-1]
        last = getattr(page[-1], key) if page else None
        older = last if page and rows.filter(**{f"{key}__lt": last}).exists() else None
        newer = getattr(page[0], key) if page and more_newer else None
        return page, newer, older
    rows_before = rows.filter(**{f"{key}__lt": before}) if before is not None else rows
    page = list(rows_before.order_by(f"-{key}")[: size + 1])
    older = getattr(page[size - 1], key) if len(page) > size else None
    page = page[:size]
    first = getattr(page[0], key) if page else None
    newer = None
    if before is not None and page and rows.filter(**{f"{key}__gt": first}).exists():
        newer = first
    return page, newer, older


@dataclass
class TrailPage:
    entries: list[AuditEntry]
    newer: int | None  # ?after= for the newer page, None on the first page
    older: int | None  # ?before= for the older page, None on the last one


def trail_page(
    filters: TrailFilters,
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> TrailPage:
    """One page, newest first: the entries older than `before`, or newer than `after`, or the
    newest ones. Two statements (three past the first page), whatever the page's depth."""
    rows, newer, older = keyset_page(trail_queryset(filters), "seq", before, after, size)
    return TrailPage(rows, newer=newer, older=older)


def staff_by_actor(entries: Sequence[AuditEntry | RecordAccess]) -> dict[str, User]:
    """The staff members named by these entries, by their actor id ("staff:<id>")."""
    ids = set()
    for entry in entries:
        if isinstance(entry, RecordAccess):
            ids.add(entry.staff_id)
        elif entry.actor_id.startswith("staff:") and entry.actor_id[6:].isdigit():
            ids.add(int(entry.actor_id[6:]))
    if not ids:
        return {}
    users = User.objects.filter(pk__in=ids).select_related("staff_profile__branch")
    return {f"staff:{user.pk}": user for user in users}


@dataclass(frozen=True)
class TrailRow:
    """What the trail shows of one entry."""

    entry: AuditEntry
    label: str
    actor_name: str  # the staff member's name, or the actor as logged
    actor_type_label: str
    branch: str
    journey: str
    journey_label: str
    channel_label: str
    reference: str  # the form the entry is about, if any (its evidence, R52)
    state_from: str
    state_to: str


def trail_rows(entries: Sequence[AuditEntry]) -> list[TrailRow]:
    """The rows of a page: labels, staff names (one query), the form each entry is about."""
    staff = staff_by_actor(entries)
    rows = []
    for entry in entries:
        data = entry_data(entry)
        user = staff.get(entry.actor_id)
        journey = data.get("journey") if isinstance(data.get("journey"), str) else ""
        found_state = data.get(audit.STATE_KEY)
        state: dict[str, Any] = found_state if isinstance(found_state, dict) else {}
        reference = data.get("reference")
        rows.append(
            TrailRow(
                entry=entry,
                label=action_label(entry.action),
                actor_name=(user.get_full_name() or user.get_username())
                if user
                else entry.actor_id,
                actor_type_label=_choice_label(ActorType, entry.actor_type),
                branch=str(data.get("actor_branch", "")),
                journey=journey or "",
                journey_label=_choice_label(Journey, journey or ""),
                channel_label=_choice_label(Channel, entry.channel),
                reference=reference if isinstance(reference, str) and entry.client_number else "",
                state_from=_choice_label(ConsentStatus, str(state.get("from") or "")),
                state_to=_choice_label(ConsentStatus, str(state.get("to") or "")),
            )
        )
    return rows


def _choice_label(choices: type[models.TextChoices], value: str) -> str:
    return str(choices(value).label) if value in choices.values else value


def next_seq(seq: int) -> int | None:
    return AuditEntry.objects.filter(seq=seq + 1).values_list("seq", flat=True).first()


def entry_data(entry: AuditEntry) -> dict[str, Any]:
    """An entry's payload without its sealed personal values (shown decrypted apart)."""
    data: dict[str, Any] = json.loads(entry.payload)
    data.pop("personal", None)
    return data


def hash_holds(entry: AuditEntry) -> bool:
    """The entry's content still gives its hash (the rest of the chain aside)."""
    return audit.chain_hash(entry.prev_hash, audit.header_of(entry), entry.payload) == entry.hash


# Every column the hash covers, and the payload, prev_hash and hash: each exported row
# re-verifies alone (the columns verification reads).
EXPORT_COLUMNS = audit.ROW_FIELDS


def trail_export_rows(
    filters: TrailFilters, up_to: int, chunk_size: int = 2_000
) -> Iterator[list[str]]:
    """The filtered entries up to `up_to` in log order, as the CSV writes them: every column
    the hash covers, times as hashed, the payload as stored (personal values sealed), so that
    each row can be checked against its hash with the CSV alone."""
    entries = (
        trail_queryset(filters).filter(seq__lte=up_to).order_by("seq").values_list(*EXPORT_COLUMNS)
    )
    for row in entries.iterator(chunk_size=chunk_size):
        values = list(row)
        values[1] = audit.iso_or_none(values[1])
        values[2] = audit.iso_or_none(values[2])
        values[6] = "" if values[6] is None else str(values[6])
        yield [str(value) for value in values]


# --- the access log (R55) ----------------------------------------------------------------------


@dataclass(frozen=True)
class AccessFilters:
    client_number: str = ""
    staff_id: int | None = None
    since: dt.date | None = None
    until: dt.date | None = None


# What the access log calls each page that shows a customer's data.
PAGE_LABELS: dict[str, Promise] = {
    "clients:record": _("fiche connaissance client"),
    "clients:contact": _("mise à jour des coordonnées"),
    "clients:ask": _("question d'accord"),
    "clients:withdraw": _("retrait à la demande du client"),
    "clients:capacity": _("mesure de protection"),
    "clients:opening_contact": _("entrée en relation : coordonnées"),
    "signatures:detail": _("formulaire"),
    "signatures:sign_tablet": _("signature sur tablette"),
    "signatures:sign_paper": _("formulaire papier signé"),
    "signatures:cancel": _("annulation d'un formulaire"),
    "signatures:pdf": _("PDF du formulaire"),
    "signatures:signed_pdf": _("PDF signé et scellé"),
    "compliance:trail": _("journal d'audit du client"),
    "compliance:entry": _("entrée du journal d'audit"),
    "compliance:bundle": _("dossier de preuve"),
}


def page_label(view_name: str) -> str:
    label = PAGE_LABELS.get(view_name)
    return str(label) if label is not None else view_name


@dataclass
class AccessPage:
    rows: list[RecordAccess]
    newer: int | None
    older: int | None


@dataclass(frozen=True)
class AccessRow:
    access: RecordAccess
    staff_name: str
    role_label: str
    page_label: str


def access_rows(page: AccessPage) -> list[AccessRow]:
    staff = staff_by_actor(page.rows)
    rows = []
    for access in page.rows:
        user = staff.get(f"staff:{access.staff_id}")
        rows.append(
            AccessRow(
                access=access,
                staff_name=(user.get_full_name() or user.get_username())
                if user
                else f"staff:{access.staff_id}",
                role_label=_choice_label(ActorType, access.actor_type),
                page_label=page_label(access.page),
            )
        )
    return rows


def access_page(
    filters: AccessFilters,
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> AccessPage:
    """The openings of customers' records, newest first, in keyset pages on their id."""
    rows_qs = RecordAccess.objects.using(marketing_database()).all()
    if filters.client_number:
        rows_qs = rows_qs.filter(client_number=filters.client_number)
    if filters.staff_id is not None:
        rows_qs = rows_qs.filter(staff_id=filters.staff_id)
    if filters.since:
        rows_qs = rows_qs.filter(accessed_at__gte=_day_start(filters.since))
    if filters.until:
        rows_qs = rows_qs.filter(accessed_at__lt=_day_start(filters.until + dt.timedelta(days=1)))
    rows, newer, older = keyset_page(rows_qs, "id", before, after, size)
    return AccessPage(rows, newer=newer, older=older)


def staff_matching(text: str) -> list[int]:
    """Staff members by user name (exact, any case) for the filters."""
    return list(User.objects.filter(username__iexact=text.strip()).values_list("pk", flat=True))


def actor_filter_value(text: str) -> str | None:
    """The actor id a filter's text names: a staff user name, or an id as logged."""
    text = text.strip()
    if not text:
        return ""
    if ":" in text:
        return text
    found = staff_matching(text)
    return f"staff:{found[0]}" if found else None


# --- erasure (R64) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasurePreview:
    """What the erasure page shows before the officer confirms: the states the erasure will
    withdraw, the forms it will cancel or empty, the entries it will leave sealed."""

    states: list[tuple[str, str, ConsentState | None]]  # channel, its label, its state
    pending_forms: int
    forms: int
    entries: int


def erasure_preview(client: Client) -> ErasurePreview:
    states = {s.channel: s for s in ConsentState.objects.filter(client=client)}
    forms = ConsentForm.objects.filter(client=client)
    return ErasurePreview(
        states=[(value, str(label), states.get(value)) for value, label in Channel.choices],
        pending_forms=forms.pending().count(),
        forms=forms.count(),
        entries=AuditEntry.objects.filter(client_id=client.pk).count(),
    )


@dataclass(frozen=True)
class ErasureRecord:
    """An erasure as its log entry tells it, with the states the client row keeps."""

    row: TrailRow
    reason: str
    channels: list[str]  # labels of the channels whose state changed
    suppressed: list[str]  # labels of the channels put on the suppression list
    forms_cancelled: int
    forms_emptied: int
    keys_destroyed: int
    states: list[tuple[str, ConsentState | None]]  # channel label, its state now


def erasure_record(seq: int) -> ErasureRecord | None:
    entry = AuditEntry.objects.filter(seq=seq, action=ERASED_ACTION).first()
    if entry is None:
        return None
    data = entry_data(entry)

    def labels(key: str) -> list[str]:
        values = data.get(key)
        return [_choice_label(Channel, str(v)) for v in values] if isinstance(values, list) else []

    def count(key: str) -> int:
        value = data.get(key)
        return value if isinstance(value, int) else 0

    kept = ConsentState.objects.filter(client_id=entry.client_id) if entry.client_id else []
    states = {s.channel: s for s in kept}
    return ErasureRecord(
        row=trail_rows([entry])[0],
        reason=str(data.get("reason", "")),
        channels=labels("channels"),
        suppressed=labels("suppressed"),
        forms_cancelled=count("forms_cancelled"),
        forms_emptied=count("forms_emptied"),
        keys_destroyed=count("keys_destroyed"),
        states=[(str(label), states.get(value)) for value, label in Channel.choices],
    )
