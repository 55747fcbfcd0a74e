"""Reads of the consent domain."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import BooleanField, F, FilteredRelation, Model, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clients.models import (
    CONTACT_FIELDS,
    Client,
    ClientKind,
    LegalCapacity,
    adulthood_date,
    today_in_paris,
)
from clients.validators import CLIENT_NUMBER
from optin import policy
from optin.errors import DomainError, ErrorCode
from optin.models import (
    ActorType,
    AuditEntry,
    Channel,
    ConsentState,
    ConsentStatus,
    Journey,
    RequestMeans,
    SuppressionEntry,
    Wording,
)
from optin.services import suppression_digest

MAX_ELIGIBILITY_BATCH = 10_000  # R48


def marketing_database() -> str:
    """Where eligibility, the opt-in list and the compliance pages' lists (audit trail, access
    log, dashboard) read: the replica when one is configured."""
    return "replica" if "replica" in settings.DATABASES else "default"


class Reason:
    """The reason codes of R47, in the order of its table."""

    UNKNOWN_CLIENT = "unknown_client"
    ERASED = "erased"
    MINOR = "minor"
    PROTECTED_ADULT = "protected_adult"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    PENDING_SIGNATURE = "pending_signature"
    PENDING_CONFIRMATION = "pending_confirmation"
    NO_CONSENT = "no_consent"
    NO_CONTACT_POINT = "no_contact_point"
    GRANTED = "granted"
    B2B_NO_OBJECTION = "b2b_no_objection"


@dataclass(frozen=True)
class Eligibility:
    client_number: str
    eligible: bool
    reason: str


_FIELDS = (
    "client_number",
    "kind",
    "birth_date",
    "legal_capacity",
    "erased_at",
    "email",
    "mobile",
)


def eligibility(channel: str, client_numbers: Sequence[str]) -> list[Eligibility]:
    """R47-R48: who may receive a commercial message on `channel`, with the reason.

    Answers in the order asked, each occurrence (duplicates included), unknown numbers as
    `unknown_client`, the numbers of erased clients not created again as `erased`. Runs one
    query for the clients and their states (plus one for the suppression list on e-mail when
    professionals are asked about, one for the numbers not found), whatever the batch size.
    Raises DomainError for a wrong channel or a batch over 10,000 (never a partial answer).
    """
    if channel not in Channel.values:
        raise DomainError(ErrorCode.WRONG_CHANNEL, _("Canal inconnu : %(c)s.") % {"c": channel})
    if len(client_numbers) > MAX_ELIGIBILITY_BATCH:
        raise DomainError(
            ErrorCode.BATCH_TOO_LARGE,
            _("Au plus %(n)s numéros par demande.") % {"n": MAX_ELIGIBILITY_BATCH},
        )
    # Only what can be a client number is looked up (R68); anything else is simply unknown.
    is_number = CLIENT_NUMBER.match
    wanted = {n for n in client_numbers if isinstance(n, str) and is_number(n)}
    database = marketing_database()
    rows = (
        Client.objects.using(database)
        .filter(_among(Client, "client_number", wanted, database))
        .alias(
            state=FilteredRelation("consent_states", condition=Q(consent_states__channel=channel))
        )
        .values(*_FIELDS, consent=F("state__status"))
    )
    found = {row["client_number"]: row for row in rows}
    erased = erased_numbers(wanted - found.keys(), database)
    suppressed: set[str] = set()
    if channel in policy.B2B_OPT_OUT_CHANNELS:
        digests = {
            suppression_digest(row["email"]): number
            for number, row in found.items()
            if row["kind"] == ClientKind.PROFESSIONAL and row["email"]
        }
        if digests:
            suppressed = {
                digests[d]
                for d in SuppressionEntry.objects.using(database)
                .filter(_among(SuppressionEntry, "digest", set(digests), database))
                .filter(channel=channel)
                .values_list("digest", flat=True)
            }
    today = today_in_paris()
    answers = []
    for number in client_numbers:
        row = found.get(number) if isinstance(number, str) else None
        if row is None and number in erased:
            reason = Reason.ERASED
        else:
            reason = _reason(channel, row, today, number in suppressed)
        answers.append(
            Eligibility(
                client_number=str(number),
                eligible=reason in (Reason.GRANTED, Reason.B2B_NO_OBJECTION),
                reason=reason,
            )
        )
    return answers


# The entry an erasure appends (privacy.services), under the number the client row gave up.
ERASED_ACTION = "client.erased"


def erasure_entry(*, client_number: str = "", client_id: int | None = None) -> AuditEntry | None:
    """The last erasure of a client, by the number it gave up or by its row (whose number is
    now `~<id>`); None when it was never erased."""
    entries = AuditEntry.objects.filter(action=ERASED_ACTION)
    if client_id is None:
        entries = entries.filter(client_number=client_number)
    else:
        entries = entries.filter(client_id=client_id)
    return entries.order_by("-seq").first()


def erased_numbers(numbers: set[str], database: str = "default") -> set[str]:
    """Which of these numbers (of no current client) belonged to a client since erased (R64):
    the erasure's log entry keeps the number the client row gave up."""
    if not numbers:
        return set()
    return set(
        AuditEntry.objects.using(database)
        .filter(_among(AuditEntry, "client_number", numbers, database))
        .filter(action=ERASED_ACTION)
        .values_list("client_number", flat=True)
    )


def on_suppression_list(contact_points: dict[str, str]) -> list[str]:
    """The channels whose contact point (by channel) is on the suppression list (R62)."""
    digests = {
        channel: suppression_digest(point) for channel, point in contact_points.items() if point
    }
    if not digests:
        return []
    listed = SuppressionEntry.objects.filter(
        digest__in=set(digests.values()), channel__in=list(digests)
    ).values_list("channel", "digest")
    return sorted({channel for channel, digest in listed if digests.get(channel) == digest})


def missing_client(client_number: str) -> DomainError:
    """The refusal for a number no current client has: `erased` (410) when it was an erased
    client's, else `unknown_client` (404)."""
    if erasure_entry(client_number=client_number) is not None:
        return DomainError(ErrorCode.ERASED, _("Les données de ce client ont été effacées."))
    return DomainError(ErrorCode.UNKNOWN_CLIENT, _("Client inconnu."))


def _among(model: type[Model], field: str, values: set[str], database: str) -> Q | RawSQL:
    """`field IN (...)` for a plain column; on PostgreSQL one array parameter instead of
    thousands of placeholders, which the ORM and the driver would take longer to write than the
    database to answer (docs/PERFORMANCE.md)."""
    if connections[database].vendor != "postgresql":
        return Q(**{f"{field}__in": values})
    column = f'"{model._meta.db_table}"."{field}"'
    # The values travel as one bound parameter; only the table and column names are written in.
    return RawSQL(f"{column} = ANY(%s)", (list(values),), output_field=BooleanField())  # noqa: S611


def _reason(channel: str, row: dict[str, object] | None, today: dt.date, suppressed: bool) -> str:
    """The first matching line of R47's table."""
    if row is None:
        return Reason.UNKNOWN_CLIENT
    if row["erased_at"] is not None:
        return Reason.ERASED
    individual = row["kind"] == ClientKind.INDIVIDUAL
    birth_date = row["birth_date"]
    if individual and (not isinstance(birth_date, dt.date) or today < adulthood_date(birth_date)):
        return Reason.MINOR
    if individual and row["legal_capacity"] == LegalCapacity.PROTECTED:
        return Reason.PROTECTED_ADULT
    status = row["consent"] or ConsentStatus.NONE
    opt_out = not individual and channel in policy.B2B_OPT_OUT_CHANNELS
    if status == ConsentStatus.REFUSED:
        return Reason.REFUSED
    if status == ConsentStatus.WITHDRAWN or (opt_out and suppressed):
        return Reason.WITHDRAWN
    if status == ConsentStatus.PENDING_SIGNATURE:
        return Reason.PENDING_SIGNATURE
    if status == ConsentStatus.PENDING_CONFIRMATION:
        return Reason.PENDING_CONFIRMATION
    if status == ConsentStatus.NONE and not opt_out:
        return Reason.NO_CONSENT
    if not row[CONTACT_FIELDS[channel]]:
        return Reason.NO_CONTACT_POINT
    if status == ConsentStatus.GRANTED:
        return Reason.GRANTED
    return Reason.B2B_NO_OBJECTION


def consents_granted_before(
    *, years: int = 5, now: dt.datetime | None = None
) -> QuerySet[ConsentState]:
    """R16 (SHOULD): granted consents older than `years`, for an optional refresh campaign.

    Listing never changes a state: there is no time-based expiry during the relationship.
    """
    moment = now or timezone.now()
    try:
        cutoff = moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        cutoff = moment.replace(year=moment.year - years, day=28)
    return (
        ConsentState.objects.filter(status=ConsentStatus.GRANTED, since__lt=cutoff)
        .select_related("client")
        .order_by("since")
    )


# What each log action is called on the pages, the audit trail and the proof bundle (one place:
# tests/compliance/test_action_labels.py checks every action the code writes has its label).
ACTION_LABELS = {
    "client.created": gettext_lazy("fiche créée"),
    "client.contact_changed": gettext_lazy("coordonnée modifiée"),
    "client.contact_confirmed": gettext_lazy("coordonnée confirmée"),
    "client.identity_changed": gettext_lazy("identité modifiée"),
    "client.capacity_changed": gettext_lazy("capacité juridique modifiée"),
    "client.birth_date_corrected": gettext_lazy("date de naissance corrigée"),
    "consent.requested": gettext_lazy("accord demandé (à signer)"),
    "consent.granted": gettext_lazy("accord"),
    "consent.refused": gettext_lazy("refus"),
    "consent.withdrawn": gettext_lazy("retrait"),
    "consent.lapsed": gettext_lazy("accord terminé (capacité)"),
    "consent.restored": gettext_lazy("retour à l'état antérieur"),
    "consent.pending_confirmation": gettext_lazy("confirmation demandée par e-mail"),
    "consent.confirmed": gettext_lazy("confirmé par e-mail"),
    "form.generated": gettext_lazy("formulaire généré"),
    "form.signed": gettext_lazy("formulaire signé"),
    "form.cancelled": gettext_lazy("formulaire annulé"),
    "form.superseded": gettext_lazy("formulaire remplacé"),
    "form.expired": gettext_lazy("formulaire expiré"),
    "form.downloaded": gettext_lazy("formulaire téléchargé"),
    "form.files_deleted": gettext_lazy("fichiers du formulaire supprimés (conservation)"),
    "client.erased": gettext_lazy("données du client effacées"),
    "client.proof_expired": gettext_lazy("preuve expirée : clé du client détruite"),
    "retention.purged": gettext_lazy("purge de conservation"),
    "wording.published": gettext_lazy("formulation publiée"),
    "wording.edited": gettext_lazy("formulation corrigée avant tout usage"),
    "wording.activated": gettext_lazy("formulation proposée à la collecte"),
    "wording.deactivated": gettext_lazy("formulation retirée de la collecte"),
    "staff.created": gettext_lazy("membre du personnel créé"),
    "staff.second_factor_enrolled": gettext_lazy("second facteur activé"),
    "staff.backup_codes_renewed": gettext_lazy("codes de secours renouvelés"),
    "api_client.created": gettext_lazy("client d'API créé"),
    "api_client.revoked": gettext_lazy("client d'API révoqué"),
    "optin_list.export_started": gettext_lazy("export de la liste d'envoi commencé"),
    "optin_list.exported": gettext_lazy("liste d'envoi exportée"),
    "sms.stop_unmatched": gettext_lazy("STOP SMS sans client correspondant"),
    "audit_trail.export_started": gettext_lazy("export du journal commencé"),
    "audit_trail.exported": gettext_lazy("journal exporté"),
    "proof_bundle.produced": gettext_lazy("dossier de preuve produit"),
    "master_key.rotated": gettext_lazy("clé maîtresse changée (clés clients rechiffrées)"),
}


def action_label(action: str) -> str:
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action


@dataclass(frozen=True)
class HistoryRow:
    seq: int
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    action: str
    label: str
    channel: str
    journey: str
    actor_type: str
    actor_id: str
    wording_version: str
    details: dict[str, Any]

    @property
    def channel_label(self) -> str:
        return str(Channel(self.channel).label) if self.channel in Channel.values else ""

    @property
    def journey_label(self) -> str:
        return str(Journey(self.journey).label) if self.journey in Journey.values else ""

    @property
    def means_label(self) -> str:
        """R31: how a withdrawal in branch was asked for."""
        means = (self.details.get("evidence") or {}).get("means", "")
        return str(RequestMeans(means).label) if means in RequestMeans.values else ""

    @property
    def actor_type_label(self) -> str:
        return str(ActorType(self.actor_type).label) if self.actor_type in ActorType.values else ""

    @property
    def actor_label(self) -> str:
        return f"{self.actor_type_label} {self.actor_id}".strip()


def consent_history(client: Client, limit: int = 200) -> list[HistoryRow]:
    """The client's log entries, newest first (the log's order is authoritative, R56), with
    what the pages show of them; personal data stay sealed."""
    entries = AuditEntry.objects.filter(client_id=client.pk).order_by("-seq")[:limit]
    rows = []
    for entry in entries:
        payload = json.loads(entry.payload)
        payload.pop("personal", None)
        rows.append(
            HistoryRow(
                seq=entry.seq,
                occurred_at=entry.occurred_at,
                recorded_at=entry.recorded_at,
                action=entry.action,
                label=action_label(entry.action),
                channel=entry.channel,
                journey=str(payload.get("journey", "")),
                actor_type=entry.actor_type,
                actor_id=entry.actor_id,
                wording_version=entry.wording_version,
                details=payload,
            )
        )
    return rows


def active_wordings(language: str = "fr") -> dict[str, Wording]:
    """The wording each channel's question shows now: its newest active version (R18, R59)."""
    newest: dict[str, Wording] = {}
    for wording in Wording.objects.filter(active=True, language=language).order_by(
        "channel", "-published_at", "-pk"
    ):
        newest.setdefault(wording.channel, wording)
    return newest


# --- the API's reads --------------------------------------------------------------------------


def client_log(client: Client, *, after: int = 0, limit: int = 100) -> list[AuditEntry]:
    """A client's log entries in log order, from the one after `after` (keyset pages)."""
    return list(
        AuditEntry.objects.filter(client_id=client.pk, seq__gt=after).order_by("seq")[:limit]
    )


def latest_adult_birth_date(today: dt.date) -> dt.date:
    """R5: whoever was born on or before this day is an adult today (see adulthood_date)."""
    year = today.year - policy.ADULT_AGE
    try:
        return today.replace(year=year)
    except ValueError:  # today is 29 February: those born on 1 March are not adults yet
        return dt.date(year, 2, 28)


B2B_NOTE = "offres professionnelles uniquement"  # R49


@dataclass(frozen=True, slots=True)
class OptinRow:
    client_id: int
    client_number: str
    contact_point: str
    reason: str  # granted or b2b_no_objection
    wording_version: str

    @property
    def note(self) -> str:
        return B2B_NOTE if self.reason == Reason.B2B_NO_OBJECTION else ""


def optin_list_query(
    channel: str, *, branch: str | None = None, kind: str | None = None
) -> QuerySet[Client, tuple[Any, ...]]:
    """R49: the rows the opt-in list reads, in client order: the same decision as
    `eligibility` (R47) but for the suppression list, which `optin_list` checks per chunk. Not
    erased; individuals adult and of full capacity; a contact point; `granted`, or
    (professional, opt-out channel) `none`."""
    contact = CONTACT_FIELDS[channel]
    adult = latest_adult_birth_date(today_in_paris())
    person_may_receive = Q(kind=ClientKind.PROFESSIONAL) | Q(
        kind=ClientKind.INDIVIDUAL, birth_date__lte=adult, legal_capacity=LegalCapacity.FULL
    )
    consented = Q(state__status=ConsentStatus.GRANTED)
    if channel in policy.B2B_OPT_OUT_CHANNELS:
        consented |= Q(kind=ClientKind.PROFESSIONAL) & (
            Q(state__status=ConsentStatus.NONE) | Q(state__status__isnull=True)
        )
    rows = (
        Client.objects.using(marketing_database())
        .filter(erased_at__isnull=True)
        .exclude(**{contact: ""})
        .alias(
            state=FilteredRelation("consent_states", condition=Q(consent_states__channel=channel))
        )
        .filter(person_may_receive, consented)
    )
    if branch:
        rows = rows.filter(branch__code=branch)
    if kind:
        rows = rows.filter(kind=kind)
    return rows.order_by("pk").values_list(
        "pk", "client_number", contact, "state__status", "state__wording_version", "kind"
    )


def optin_list(
    channel: str,
    *,
    branch: str | None = None,
    kind: str | None = None,
    chunk_size: int = 5_000,
) -> Iterator[list[OptinRow]]:
    """R49: the eligible contacts of a channel, in chunks, in client order: the rows of
    `optin_list_query` streamed through a server-side cursor, each chunk checked against the
    suppression list (one query per chunk)."""
    query = optin_list_query(channel, branch=branch, kind=kind)
    rows = query.iterator(chunk_size=chunk_size)
    while chunk := list(itertools.islice(rows, chunk_size)):
        yield _optin_rows(channel, chunk, query.db)


def _optin_rows(channel: str, chunk: list[tuple[Any, ...]], database: str) -> list[OptinRow]:
    granted, individual = ConsentStatus.GRANTED, ClientKind.INDIVIDUAL
    # R47 line 6 comes before line 11: a professional's address on the suppression list is
    # `withdrawn` whatever the state (the same address objected on another record).
    b2b: dict[int, str] = {}
    if channel in policy.B2B_OPT_OUT_CHANNELS:
        b2b = {row[0]: suppression_digest(row[2]) for row in chunk if row[5] != individual}
    suppressed: set[str] = set()
    if b2b:
        suppressed = set(
            SuppressionEntry.objects.using(database)
            .filter(_among(SuppressionEntry, "digest", set(b2b.values()), database))
            .filter(channel=channel)
            .values_list("digest", flat=True)
        )
    out = []
    for pk, number, point, status, version, _kind in chunk:
        if pk in b2b and b2b[pk] in suppressed:
            continue
        if status == granted:
            out.append(OptinRow(pk, number, point, Reason.GRANTED, version or ""))
        else:
            out.append(OptinRow(pk, number, point, Reason.B2B_NO_OBJECTION, ""))
    return out
