"""The retention purges (R60-R63, R65): what is due today, and the run that does it.

Periods are counted in calendar days of Europe/Paris: something is due on the anniversary day
itself (three years after 2024-05-10 is due on 2027-05-10, not on the 9th); an anniversary of
29 February in a common year falls on 1 March (the period is then complete).

A run purges, each item in its own transaction, re-checked under its lock:
- prospects three years after the later of their collection and their last contact coming
  from them (R60), and former customers three years after the end of the relationship
  (R61, D7): erased as in R64, reason `retention`;
- unsigned forms cancelled, superseded or expired 90 days ago: their PDF deleted, its SHA-256
  kept (R63);
- the proof of consents that ended five years ago (R63, D9): the signed forms' files and
  personal content, and the client's data key when none of their consents is in use;
- suppression-list entries older than their retention (R62).

Running it twice the same day changes nothing more: each purged thing no longer matches.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from clients.models import PARIS, Client, ClientStatus
from optin import audit, policy
from optin.audit import Actor
from optin.models import ClientKey, ConsentState, ConsentStatus, KeyDestruction, SuppressionEntry
from privacy.services import (
    ErasureReason,
    delete_files,
    destroy_keys,
    empty_form,
    erase_locked,
    pseudonym,
)
from signatures.models import ConsentForm, FormStatus

ACTOR = Actor.system("purge_retention")
# R60: a prospect is kept this many years after their last contact (CNIL's reference period).
PROSPECT_YEARS = 3
# R63 (SHOULD): an unsigned form that ended keeps its PDF this many days.
UNSIGNED_PDF_DAYS = 90
# Consent states in which the consent (or its request) is in use: its proof must stay.
IN_USE = (
    ConsentStatus.GRANTED,
    ConsentStatus.PENDING_SIGNATURE,
    ConsentStatus.PENDING_CONFIRMATION,
)
UNSIGNED_ENDED = (FormStatus.CANCELLED, FormStatus.SUPERSEDED, FormStatus.EXPIRED)
# Key of the PostgreSQL advisory lock that keeps two runs from overlapping ("purge").
PURGE_LOCK_KEY = 0x7075726765


def years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day `years` earlier (29 February: 28 February of a common year)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def start_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=PARIS)


def due_before(today: dt.date, *, years: int = 0, days: int = 0) -> dt.datetime:
    """The moment before which something dated is due today: its Paris day plus the period
    is today or earlier."""
    day = years_before(today, years) - dt.timedelta(days=days)
    return start_of_day(day + dt.timedelta(days=1))


@dataclass(frozen=True)
class Cutoffs:
    today: dt.date
    prospect: dt.datetime  # R60: collection and last contact before this
    former_customer: dt.date  # R61: relationship ended on or before this
    unsigned_pdf: dt.datetime  # R63: unsigned form ended before this
    proof: dt.datetime  # R63: consent ended before this
    suppression: dt.datetime  # R62: objection before this

    @classmethod
    def on(cls, now: dt.datetime) -> Cutoffs:
        today = now.astimezone(PARIS).date()
        return cls(
            today=today,
            prospect=due_before(today, years=PROSPECT_YEARS),
            former_customer=years_before(today, policy.FORMER_CUSTOMER_YEARS),
            unsigned_pdf=due_before(today, days=UNSIGNED_PDF_DAYS),
            proof=due_before(today, years=policy.proof_retention_years()),
            suppression=due_before(today, years=settings.OPTIN_SUPPRESSION_YEARS),
        )


# --- what is due -------------------------------------------------------------------------------


def prospects_due(cut: Cutoffs) -> Any:
    return Client.objects.filter(
        status=ClientStatus.PROSPECT, erased_at__isnull=True, created_at__lt=cut.prospect
    ).filter(Q(last_contact_at__isnull=True) | Q(last_contact_at__lt=cut.prospect))


def former_customers_due(cut: Cutoffs) -> Any:
    return Client.objects.filter(
        status=ClientStatus.FORMER_CUSTOMER,
        erased_at__isnull=True,
        relationship_ended_on__lte=cut.former_customer,
    )


def unsigned_pdfs_due(cut: Cutoffs) -> Any:
    return ConsentForm.objects.filter(
        status__in=UNSIGNED_ENDED,
        files_deleted_at__isnull=True,
        ended_at__lt=cut.unsigned_pdf,
        client__erased_at__isnull=True,
    ).exclude(pdf="")


def _ended_before(client_ids: Any, cut: Cutoffs) -> Any:
    """Clients none of whose consents is in use, and whose last consent ended before the
    proof's cutoff, with that moment as `ended`. A state's `since` is when its current status
    began: never earlier than the end of the consent it follows, so the proof is kept at
    least its full period."""
    return (
        Client.objects.filter(pk__in=client_ids, erased_at__isnull=True)
        .annotate(
            in_use=Count("consent_states", filter=Q(consent_states__status__in=IN_USE)),
            ended=Max("consent_states__since"),
        )
        .filter(in_use=0, ended__lt=cut.proof)
    )


def signed_forms_due(cut: Cutoffs, chunk_size: int = 1_000) -> list[ConsentForm]:
    """R63: signed forms whose every channel's consent ended before the cutoff. A channel
    granted again since (by any path) keeps the form: it may still be its proof. Two queries
    per chunk of candidates (forms with their channels, their clients' states)."""
    candidates = (
        ConsentForm.objects.filter(
            status=FormStatus.SIGNED,
            files_deleted_at__isnull=True,
            signed_at__lt=cut.proof,
            client__erased_at__isnull=True,
        )
        .select_related("client")
        .prefetch_related("channels")
        .order_by("pk")
    )
    due = []
    for chunk in _chunks(candidates, chunk_size):
        states = {
            (s.client_id, s.channel): s
            for s in ConsentState.objects.filter(client_id__in={f.client_id for f in chunk}).only(
                "client_id", "channel", "status", "since"
            )
        }
        for form in chunk:
            channels = [line.channel for line in form.channels.all()]
            if channels and all(
                _ended(states.get((form.client_id, channel)), cut) for channel in channels
            ):
                due.append(form)
    return due


def _ended(state: ConsentState | None, cut: Cutoffs) -> bool:
    return (
        state is not None
        and state.status not in IN_USE
        and state.since is not None
        and state.since < cut.proof
    )


def _chunks(queryset: Any, size: int) -> Iterator[list[Any]]:
    """A queryset in lists of `size`, by primary key (no OFFSET)."""
    last = 0
    while chunk := list(queryset.filter(pk__gt=last)[:size]):
        yield chunk
        last = chunk[-1].pk


def keys_due(cut: Cutoffs) -> list[tuple[Client, dt.datetime]]:
    """R63: the live key of clients none of whose consents is in use since before the cutoff;
    a key created after their last consent ended sealed no proof of it and stays."""
    live = ClientKey.objects.filter(destroyed_at__isnull=True)
    due = []
    for chunk in _chunks(_ended_before(live.values("client_id"), cut).order_by("pk"), 1_000):
        created = dict(
            live.filter(client_id__in=[c.pk for c in chunk]).values_list("client_id", "created_at")
        )
        for client in chunk:
            ended: dt.datetime = client.ended  # the annotation of _ended_before
            if client.pk in created and created[client.pk] <= ended:
                due.append((client, ended))
    return due


@dataclass
class PurgeReport:
    """What a run did (or, dry, would do)."""

    today: dt.date
    dry_run: bool
    prospects: list[str] = field(default_factory=list)  # client numbers
    former_customers: list[str] = field(default_factory=list)
    unsigned_pdfs: list[str] = field(default_factory=list)  # form references
    signed_forms: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # client numbers
    suppression_entries: int = 0
    seq: int | None = None  # the run's log entry

    def counts(self) -> dict[str, int]:
        return {
            "prospects": len(self.prospects),
            "former_customers": len(self.former_customers),
            "unsigned_pdfs": len(self.unsigned_pdfs),
            "signed_forms": len(self.signed_forms),
            "keys": len(self.keys),
            "suppression_entries": self.suppression_entries,
        }

    @property
    def total(self) -> int:
        return sum(self.counts().values())


def plan(now: dt.datetime | None = None) -> PurgeReport:
    """What a run would purge now (the dry run)."""
    cut = Cutoffs.on(now or timezone.now())
    return PurgeReport(
        today=cut.today,
        dry_run=True,
        prospects=sorted(prospects_due(cut).values_list("client_number", flat=True)),
        former_customers=sorted(former_customers_due(cut).values_list("client_number", flat=True)),
        unsigned_pdfs=sorted(unsigned_pdfs_due(cut).values_list("reference", flat=True)),
        signed_forms=sorted(f.reference for f in signed_forms_due(cut)),
        keys=sorted(c.client_number for c, _k in keys_due(cut)),
        suppression_entries=SuppressionEntry.objects.filter(created_at__lt=cut.suppression).count(),
    )


# --- the run -----------------------------------------------------------------------------------


class PurgeRunning(Exception):
    """Another run holds the purge's lock."""


def purge_retention(
    *, now: dt.datetime | None = None, progress: Callable[[int], None] | None = None
) -> PurgeReport:
    """Purge what is due (module docstring), then log the run's counts with the client numbers
    pseudonymised (R65) when it purged anything. Raises PurgeRunning when another run is in
    progress (PostgreSQL)."""
    now = now or timezone.now()
    with _run_lock():
        return _purge(now, progress or (lambda _n: None))


def _purge(now: dt.datetime, progress: Callable[[int], None]) -> PurgeReport:
    cut = Cutoffs.on(now)
    report = PurgeReport(today=cut.today, dry_run=False)
    for queryset, done in (
        (prospects_due(cut), report.prospects),
        (former_customers_due(cut), report.former_customers),
    ):
        for pk, number in list(queryset.values_list("pk", "client_number")):
            with transaction.atomic():
                # Locked by what makes it due: a contact may have come in meanwhile.
                client = queryset.select_for_update().filter(pk=pk).first()
                if client is not None:
                    erase_locked(client, actor=ACTOR, reason=ErasureReason.RETENTION, now=now)
                    done.append(number)
            progress(1)
    for reference in list(unsigned_pdfs_due(cut).values_list("reference", flat=True)):
        with transaction.atomic():
            form = unsigned_pdfs_due(cut).select_for_update().filter(reference=reference).first()
            if form is not None:
                _delete_unsigned_pdf(form, now)
                report.unsigned_pdfs.append(reference)
        progress(1)
    for form in signed_forms_due(cut):
        with transaction.atomic():
            locked = ConsentForm.objects.select_for_update().get(pk=form.pk)
            if locked.files_deleted_at is None:
                empty_form(locked, now)
                _log_files_deleted(locked, "proof_retention", now)
                report.signed_forms.append(locked.reference)
        progress(1)
    for client, ended in keys_due(cut):
        with transaction.atomic():
            if destroy_keys(client.pk, KeyDestruction.RETENTION, now):
                audit.append(
                    action="client.proof_expired",
                    actor=ACTOR,
                    occurred_at=now,
                    client_id=client.pk,
                    client_number=client.client_number,
                    data={"reason": "proof_retention", "ended": audit.iso_or_none(ended)},
                )
                report.keys.append(client.client_number)
        progress(1)
    report.suppression_entries, _ = SuppressionEntry.objects.filter(
        created_at__lt=cut.suppression
    ).delete()
    if report.total:
        with transaction.atomic():
            entry = audit.append(
                action="retention.purged",
                actor=ACTOR,
                occurred_at=now,
                data={
                    "day": cut.today.isoformat(),
                    "counts": report.counts(),
                    "prospects": [pseudonym(n) for n in report.prospects],
                    "former_customers": [pseudonym(n) for n in report.former_customers],
                    "keys": [pseudonym(n) for n in report.keys],
                    "forms": sorted(report.unsigned_pdfs + report.signed_forms),
                },
            )
        report.seq = entry.seq
    return report


def _delete_unsigned_pdf(form: ConsentForm, now: dt.datetime) -> None:
    """R63: an unsigned form that ended 90 days ago loses its PDF; its SHA-256 stays."""
    name = form.pdf
    form.pdf = ""
    form.files_deleted_at = now
    form.save(update_fields=["pdf", "files_deleted_at"])
    _log_files_deleted(form, "unsigned_form_retention", now)
    transaction.on_commit(functools.partial(delete_files, [name]))


def _log_files_deleted(form: ConsentForm, reason: str, now: dt.datetime) -> None:
    audit.append(
        action="form.files_deleted",
        actor=ACTOR,
        occurred_at=now,
        client_id=form.client_id,
        client_number=form.client.client_number,
        data={
            "form_id": str(form.uuid),
            "reference": form.reference,
            "reason": reason,
            "pdf_sha256": form.pdf_sha256,
            "signed_pdf_sha256": form.signed_pdf_sha256,
            "scan_sha256": form.scan_sha256,
        },
    )


@contextlib.contextmanager
def _run_lock() -> Iterator[None]:
    """A session-level advisory lock on PostgreSQL (two hosts never purge at once); SQLite
    serializes writers itself."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [PURGE_LOCK_KEY])
        if not cursor.fetchone()[0]:
            raise PurgeRunning("another purge_retention run is in progress")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [PURGE_LOCK_KEY])
