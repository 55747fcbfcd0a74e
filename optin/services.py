"""Writes of the consent domain. Each runs in one transaction with its log entries."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clients.models import PARIS, Client, consent_ineligibility
from optin import audit, crypto, integrity, policy
from optin.audit import Actor
from optin.errors import DomainError, ErrorCode
from optin.integrity import VerificationResult
from optin.models import (
    BRANCH_JOURNEYS,
    DIGITAL_JOURNEYS,
    ActorType,
    ApiClient,
    ApiScope,
    AuditEntry,
    Channel,
    ClientKey,
    ConsentState,
    ConsentStatus,
    IdempotencyRecord,
    Journey,
    SuppressionEntry,
    VerificationRun,
    VerificationScope,
    Wording,
    text_sha256,
)
from optin.signals import consent_step_applied
from optin.transitions import Event, InvalidTransition, Step, decide


class Decision(StrEnum):
    GRANT = "grant"
    REFUSE = "refuse"
    WITHDRAW = "withdraw"


# R35: which journeys each kind of actor may record through record_decision.
JOURNEYS_BY_ACTOR: dict[str, frozenset[str]] = {
    ActorType.API_CLIENT: frozenset(DIGITAL_JOURNEYS),
    ActorType.ADVISOR: frozenset(BRANCH_JOURNEYS),
    ActorType.CUSTOMER: frozenset({Journey.UNSUBSCRIBE_LINK}),
    ActorType.SYSTEM: frozenset({Journey.SMS_STOP, Journey.ERASURE_REQUEST}),
}
# Journeys that can only withdraw.
WITHDRAW_ONLY = frozenset({Journey.UNSUBSCRIBE_LINK, Journey.SMS_STOP, Journey.ERASURE_REQUEST})
# Evidence keys that are personal data, stored encrypted (R52, R64).
PERSONAL_EVIDENCE = frozenset({"ip", "user_agent"})


@dataclass(frozen=True)
class DecisionResult:
    client_number: str
    channel: str
    status: str
    since: str | None
    journey: str
    wording_version: str
    recorded: bool  # False when nothing was written (R15 repeats)
    seq: int | None
    effects: list[str] = field(default_factory=list)
    replayed: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("replayed")
        return data


# --- the single path of every state change -------------------------------------------------


def suppression_digest(contact_point: str) -> str:
    """The keyed hash under which a contact point sits on the suppression list (R62)."""
    normalised = contact_point.strip().lower()
    key = str(settings.OPTIN_SUPPRESSION_KEY).encode("utf-8")
    return hmac.digest(key, normalised.encode("utf-8"), "sha256").hex()


def apply_event(
    *,
    client: Client,
    channel: str,
    event: Event,
    actor: Actor,
    journey: str,
    occurred_at: dt.datetime,
    wording: Wording | None = None,
    data: Mapping[str, Any] | None = None,
    personal: Mapping[str, Any] | None = None,
) -> tuple[Step, ConsentState, AuditEntry | None]:
    """Move one channel of a locked client through the state machine and log it (R11-R16).

    The caller holds the client row lock (select_for_update) inside its transaction; this
    locks the state row, decides the step, appends the entry and saves the projection. A "—"
    cell raises DomainError(invalid_transition) and writes nothing.
    """
    state, _created = ConsentState.objects.select_for_update().get_or_create(
        client=client, channel=channel
    )
    double_optin = (
        policy.email_double_optin() and channel == Channel.EMAIL and journey in DIGITAL_JOURNEYS
    )
    try:
        step = decide(
            ConsentStatus(state.status),
            ConsentStatus(state.prior_status) if state.prior_status else None,
            event,
            double_optin=double_optin,
        )
    except InvalidTransition as exc:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            _("Cette opération n'est pas possible dans l'état actuel (%(state)s).")
            % {"state": state.status},
            state=state.status,
        ) from exc
    if not step.writes:
        return step, state, None

    changed = step.status != state.status
    since = occurred_at if changed or state.since is None else state.since
    if wording is not None:
        wording_version = wording.version
    else:
        wording_version = "" if changed else state.wording_version
    prior = str(step.prior) if step.prior else ""
    projection = {
        "from": state.status,
        "to": str(step.status),
        "prior": prior,
        "since": audit.iso_or_none(since),
        "journey": journey,
        "wording_version": wording_version,
    }
    entry_data: dict[str, Any] = {"journey": journey, audit.STATE_KEY: projection, **(data or {})}
    if wording is not None:
        entry_data["wording_sha256"] = wording.sha256
    if step.effects:
        entry_data["effects"] = sorted(str(e) for e in step.effects)
    # Everything that does not need the entry's number is written before the append: the
    # append holds the log's lock until COMMIT, and whatever follows it waits in that queue.
    _update_suppression(channel, client.contact_point(channel), step.status)
    entry = audit.append(
        action=step.action,
        actor=actor,
        occurred_at=occurred_at,
        client_id=client.pk,
        client_number=client.client_number,
        channel=channel,
        wording_version=wording.version if wording else "",
        data=entry_data,
        personal={"contact_point": client.contact_point(channel), **(personal or {})},
    )
    state.status = step.status
    state.prior_status = prior
    state.since = since
    state.journey = journey
    state.wording_version = wording_version
    state.last_seq = entry.seq
    state.save(
        update_fields=["status", "prior_status", "since", "journey", "wording_version", "last_seq"]
    )
    if step.effects:
        consent_step_applied.send(
            sender=Event,
            client=client,
            channel=channel,
            event=event,
            step=step,
            actor=actor,
            journey=journey,
            occurred_at=occurred_at,
            entry=entry,
        )
    return step, state, entry


def _update_suppression(channel: str, contact_point: str, status: str) -> None:
    """R62: an objection adds the contact point's keyed hash; an explicit grant removes it."""
    if status in (ConsentStatus.REFUSED, ConsentStatus.WITHDRAWN):
        add_to_suppression_list(channel, contact_point)
    elif status == ConsentStatus.GRANTED and contact_point:
        SuppressionEntry.objects.filter(
            channel=channel, digest=suppression_digest(contact_point)
        ).delete()


def add_to_suppression_list(channel: str, contact_point: str) -> bool:
    """R62: the contact point's keyed hash on the list for this channel, dated today (a new
    objection starts its retention again). False when there is no contact point."""
    if not contact_point:
        return False
    SuppressionEntry.objects.bulk_create(
        [SuppressionEntry(channel=channel, digest=suppression_digest(contact_point))],
        update_conflicts=True,
        unique_fields=["channel", "digest"],
        update_fields=["created_at"],
    )
    return True


# --- decisions ------------------------------------------------------------------------------


def _check_wording(version: str | None, channel: str, occurred_at: dt.datetime) -> Wording:
    """R18 and R21: the version displayed exists, is for this channel, is active, was
    published before the act."""
    if not version:
        raise DomainError(ErrorCode.UNKNOWN_WORDING, _("La version de formulation est requise."))
    wording = Wording.objects.filter(version=version).first()
    if wording is None:
        raise DomainError(
            ErrorCode.UNKNOWN_WORDING,
            _("La formulation « %(v)s » n'existe pas.") % {"v": version},
        )
    if wording.channel != channel:
        raise DomainError(
            ErrorCode.WRONG_CHANNEL,
            _("La formulation « %(v)s » ne concerne pas ce canal.") % {"v": version},
        )
    if not wording.active:
        raise DomainError(
            ErrorCode.INACTIVE_WORDING,
            _("La formulation « %(v)s » n'est plus proposée.") % {"v": version},
        )
    if occurred_at < wording.published_at:
        raise DomainError(
            ErrorCode.OCCURRED_BEFORE_WORDING,
            _("La décision est antérieure à la publication de sa formulation."),
        )
    return wording


def check_occurred_at(
    occurred_at: dt.datetime | None, *, now: dt.datetime, digital: bool
) -> dt.datetime:
    """R21: defaults to now; not in the future (skew tolerated); digital acts not too old."""
    if occurred_at is None:
        return now
    if timezone.is_naive(occurred_at):
        raise ValidationError(
            {"occurred_at": _("L'heure de la décision doit indiquer son fuseau horaire.")},
            code="naive_datetime",
        )
    if occurred_at > now + dt.timedelta(seconds=settings.OPTIN_CLOCK_SKEW_SECONDS):
        raise DomainError(ErrorCode.OCCURRED_IN_FUTURE, _("La décision est datée dans le futur."))
    if digital and occurred_at < now - dt.timedelta(hours=settings.OPTIN_DIGITAL_MAX_AGE_HOURS):
        raise DomainError(
            ErrorCode.OCCURRED_TOO_OLD,
            _("La décision est trop ancienne pour être enregistrée (plus de %(h)s heures).")
            % {"h": settings.OPTIN_DIGITAL_MAX_AGE_HOURS},
        )
    return occurred_at


def _ineligible(reason: str) -> DomainError:
    messages = {
        "minor": _("Un mineur ne peut pas donner son accord."),
        "protected_adult": _("Un majeur protégé ne peut pas donner son accord."),
        "not_natural_person": _("Une personne morale n'a pas de consentement à donner."),
        "erased": _("Les données de ce client ont été effacées."),
    }
    return DomainError(ErrorCode.INELIGIBLE_PERSON, messages[reason], reason=reason)


def _request_hash(arguments: Mapping[str, Any]) -> str:
    return hashlib.sha256(audit.canonical_json(arguments).encode("utf-8")).hexdigest()


@transaction.atomic
def record_decision(
    *,
    client_number: str,
    channel: str,
    decision: str,
    journey: str,
    actor: Actor,
    wording_version: str | None = None,
    affirmative_action: object = None,
    occurred_at: dt.datetime | None = None,
    evidence: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    branch_form: bool = False,
) -> DecisionResult:
    """Record a customer's grant, refusal or withdrawal on one channel.

    Enforces R1, R3-R9 (who may consent), R14-R16 (transitions), R17 (affirmative act), R18
    (wording), R21 (time of the act), R35 (journey per actor) and R37 (idempotency). Raises
    DomainError with one of: wrong_channel, invalid_decision, journey_not_allowed,
    unknown_client, conflict, not_affirmative, ineligible_person, unknown_wording,
    inactive_wording, occurred_in_future, occurred_before_wording, occurred_too_old,
    invalid_transition. Nothing is written when it raises.

    A branch grant moves the channel to pending_signature and returns the effect `new_form`:
    only `signatures.services.collect_branch_answers`, which creates the form in this same
    transaction, records one (`branch_form=True`); any other caller is refused (R24, R30).
    """
    if channel not in Channel.values:
        raise DomainError(
            ErrorCode.WRONG_CHANNEL,
            _("Canal inconnu : %(c)s (e-mail ou sms_push).") % {"c": channel},
        )
    if decision not in Decision.__members__.values():
        raise DomainError(
            ErrorCode.INVALID_DECISION, _("Décision inconnue : grant, refuse ou withdraw.")
        )
    if journey not in JOURNEYS_BY_ACTOR.get(actor.type, frozenset()) or (
        journey in WITHDRAW_ONLY and decision != Decision.WITHDRAW
    ):
        raise DomainError(
            ErrorCode.JOURNEY_NOT_ALLOWED,
            _("Le parcours %(j)s ne peut pas être enregistré par cet acteur.") % {"j": journey},
        )
    if decision == Decision.GRANT and journey in BRANCH_JOURNEYS and not branch_form:
        raise DomainError(
            ErrorCode.JOURNEY_NOT_ALLOWED,
            _("Un accord en agence passe par le formulaire que le client signe."),
        )
    client = Client.objects.select_for_update().filter(client_number=client_number).first()
    if client is None:
        from optin.selectors import missing_client

        raise missing_client(client_number)
    if client.erased_at is not None:  # R64: its states stay withdrawn, nothing is recorded
        raise DomainError(ErrorCode.ERASED, _("Les données de ce client ont été effacées."))

    evidence = dict(evidence or {})
    request_hash = ""
    if idempotency_key:
        request_hash = _request_hash(
            {
                "client_number": client_number,
                "channel": channel,
                "decision": decision,
                "journey": journey,
                "wording_version": wording_version,
                "affirmative_action": affirmative_action,
                "occurred_at": audit.iso_or_none(occurred_at),
                "evidence": evidence,
            }
        )
        previous = IdempotencyRecord.objects.filter(caller=str(actor), key=idempotency_key).first()
        if previous is not None:
            if previous.request_hash != request_hash:
                raise DomainError(
                    ErrorCode.CONFLICT,
                    _("Cette clé d'idempotence a déjà servi pour une autre requête."),
                )
            return DecisionResult(**previous.response, replayed=True)

    now = timezone.now()
    digital = journey in DIGITAL_JOURNEYS
    when = check_occurred_at(occurred_at, now=now, digital=digital)
    wording: Wording | None = None
    if decision == Decision.GRANT:
        # R17: only the JSON boolean true is an affirmative act.
        if affirmative_action is not True:
            raise DomainError(
                ErrorCode.NOT_AFFIRMATIVE,
                _("Un accord exige un acte positif explicite (affirmative_action = true)."),
            )
        # R4: on the day of the decision, in Europe/Paris.
        reason = consent_ineligibility(client, when.astimezone(PARIS).date())
        if reason:
            raise _ineligible(reason)
    if decision in (Decision.GRANT, Decision.REFUSE):
        wording = _check_wording(wording_version, channel, when)

    event = {
        Decision.GRANT: Event.DIGITAL_GRANT if digital else Event.BRANCH_YES,
        Decision.REFUSE: Event.REFUSE,
        Decision.WITHDRAW: Event.WITHDRAW,
    }[Decision(decision)]
    personal = {k: evidence.pop(k) for k in list(evidence) if k in PERSONAL_EVIDENCE}
    data: dict[str, Any] = {"decision": decision}
    if evidence:
        data["evidence"] = evidence
    if idempotency_key:
        data["idempotency_key"] = idempotency_key
        # Claimed before the append (whose lock lasts until COMMIT), answered after it.
        claim = _claim_idempotency_key(str(actor), idempotency_key, request_hash)
    # R60: a decision is a contact coming from the person.
    if client.last_contact_at is None or client.last_contact_at < when:
        Client.objects.filter(pk=client.pk).update(last_contact_at=when)
    step, state, entry = apply_event(
        client=client,
        channel=channel,
        event=event,
        actor=actor,
        journey=journey,
        occurred_at=when,
        wording=wording,
        data=data,
        personal=personal,
    )
    result = DecisionResult(
        client_number=client.client_number,
        channel=channel,
        status=state.status,
        since=audit.iso_or_none(state.since),
        journey=state.journey,
        wording_version=state.wording_version,
        recorded=entry is not None,
        seq=entry.seq if entry else None,
        effects=sorted(str(e) for e in step.effects) if entry else [],
    )
    if idempotency_key:
        IdempotencyRecord.objects.filter(pk=claim).update(response=result.as_dict())
    return result


def _claim_idempotency_key(caller: str, key: str, request_hash: str) -> int:
    """R37: insert the key's record (its answer comes later in the same transaction). A
    record already there was written meanwhile by the same caller on another client, whose
    row lock did not serialize the two: refused, and this whole decision rolls back."""
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                caller=caller, key=key, request_hash=request_hash, response={}
            )
    except IntegrityError:
        raise DomainError(
            ErrorCode.CONFLICT,
            _("Cette clé d'idempotence a déjà servi pour une autre requête."),
        ) from None
    return record.pk


def lapse_consents(*, client: Client, reason: str, occurred_at: dt.datetime) -> list[str]:
    """R7: end granted and pending consents of a locked client (actor system); returns the
    channels that lapsed. Refusals and withdrawals are kept."""
    lapsed = []
    # Lock both state rows first, in a fixed order, before the log's lock (no deadlock).
    list(ConsentState.objects.select_for_update().filter(client=client).order_by("channel"))
    for channel in Channel.values:
        _step, _state, entry = apply_event(
            client=client,
            channel=channel,
            event=Event.LAPSE,
            actor=Actor.system("capacity_change"),
            journey=Journey.SYSTEM_CAPACITY,
            occurred_at=occurred_at,
            data={"reason": reason},
        )
        if entry is not None:
            lapsed.append(channel)
    return lapsed


# --- wordings ---------------------------------------------------------------------------------

# R18: what a wording must state; the administrator publishing it confirms each point.
WORDING_CHECKLIST = {
    "bank_identity": "l'identité de la banque",
    "channel": "le ou les canaux concernés",
    "commercial_purpose": "la finalité : offres commerciales de la banque elle-même",
    "withdrawal_any_time_free": "le retrait possible à tout moment et gratuitement",
    "how_to_withdraw": "comment retirer (espace client, lien de désabonnement ou STOP, agence)",
    "contractual_unaffected": "que les messages contractuels ne sont pas concernés",
}


def wording_in_use(wording: Wording) -> bool:
    """R57: a version is used once a log entry (decision, form) references it."""
    return AuditEntry.objects.filter(wording_version=wording.version).exists()


@transaction.atomic
def publish_wording(
    *,
    actor: Actor,
    channel: str,
    version: str,
    text: str,
    checklist: Mapping[str, bool],
    language: str = "fr",
    published_at: dt.datetime | None = None,
) -> Wording:
    """Publish a new wording version (R18, R57); the confirmed checklist is logged."""
    missing = [label for key, label in WORDING_CHECKLIST.items() if not checklist.get(key)]
    if missing:
        raise ValidationError(
            _("Confirmez que le texte mentionne : %(items)s.") % {"items": "; ".join(missing)},
            code="checklist",
        )
    wording = Wording(
        channel=channel,
        version=version,
        language=language,
        text=text,
        sha256=text_sha256(text),
        published_at=published_at or timezone.now(),
        active=True,
    )
    wording.full_clean()
    wording.save(force_insert=True)
    audit.append(
        action="wording.published",
        actor=actor,
        channel=channel,
        # The version goes in the payload, not in `wording_version`: publishing is not a use.
        data={
            "version": version,
            "language": language,
            "sha256": wording.sha256,
            "published_at": audit.iso_or_none(wording.published_at),
            "checklist": sorted(WORDING_CHECKLIST),
        },
    )
    return wording


@transaction.atomic
def set_wording_active(*, actor: Actor, wording: Wording, active: bool) -> Wording:
    """Offer or stop offering a version for new collection (R57); its text never changes."""
    if wording.active == active:
        return wording
    wording.active = active
    wording.save(update_fields=["active"])
    audit.append(
        action="wording.activated" if active else "wording.deactivated",
        actor=actor,
        channel=wording.channel,
        data={"version": wording.version},
    )
    return wording


@transaction.atomic
def edit_unused_wording(*, actor: Actor, wording: Wording, text: str) -> Wording:
    """Correct the text of a version nobody has answered yet; a used one is refused (R57)."""
    locked = Wording.objects.select_for_update().get(pk=wording.pk)
    if wording_in_use(locked):
        raise DomainError(
            ErrorCode.WORDING_IN_USE,
            _("La formulation %(v)s a déjà servi : publiez une nouvelle version.")
            % {"v": locked.version},
        )
    locked.text = text
    locked.sha256 = text_sha256(text)
    locked.full_clean()
    locked.save(update_fields=["text", "sha256"])
    audit.append(
        action="wording.edited",
        actor=actor,
        channel=locked.channel,
        data={"version": locked.version, "sha256": locked.sha256},
    )
    return locked


# --- API clients ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewApiClient:
    client: ApiClient
    token: str  # shown once, never stored


@transaction.atomic
def create_api_client(*, actor: Actor, name: str, scopes: Sequence[str]) -> NewApiClient:
    """A new API client with its token (only its hash is kept); logged. Raises
    ValidationError for an unknown scope, an empty or taken name."""
    from optin.api.authentication import new_token, token_hash

    name = name.strip()
    unknown = sorted(set(scopes) - set(ApiScope.values))
    errors: dict[str, str] = {}
    if unknown:
        errors["scopes"] = _("Droits inconnus : %(s)s (possibles : %(all)s).") % {
            "s": ", ".join(unknown),
            "all": ", ".join(ApiScope.values),
        }
    if not scopes:
        errors["scopes"] = _("Indiquez au moins un droit.")
    if not name or len(name) > 64:
        errors["name"] = _("Le nom doit compter de 1 à 64 caractères.")
    elif ApiClient.objects.filter(name=name).exists():
        errors["name"] = _("Un client d'API porte déjà ce nom.")
    if errors:
        raise ValidationError(errors)
    token = new_token()
    client = ApiClient.objects.create(
        name=name,
        scopes=sorted(set(scopes)),
        token_prefix=token[:8],
        token_hash=token_hash(token),
    )
    audit.append(
        action="api_client.created",
        actor=actor,
        data={"name": name, "scopes": client.scopes, "token_prefix": client.token_prefix},
    )
    return NewApiClient(client=client, token=token)


@transaction.atomic
def revoke_api_client(*, actor: Actor, api_client: ApiClient) -> ApiClient:
    """Its token stops working at once; the row stays, as the actor of its log entries."""
    locked = ApiClient.objects.select_for_update().get(pk=api_client.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit.append(action="api_client.revoked", actor=actor, data={"name": locked.name})
    return locked


def api_actor(api_client: ApiClient) -> Actor:
    """R51: every write through the API is logged with its API client as actor."""
    return Actor(ActorType.API_CLIENT, f"api:{api_client.name}")


def log_optin_export(
    *, actor: Actor, filters: Mapping[str, str], rows: int | None, complete: bool
) -> None:
    """R49: who pulled the opt-in list, with which filters, how many rows, when. Written when
    the export starts (rows None) and when it ends."""
    with transaction.atomic():
        audit.append(
            action="optin_list.exported" if rows is not None else "optin_list.export_started",
            actor=actor,
            channel=filters.get("channel", ""),
            data={"filters": dict(filters), "rows": rows, "complete": complete},
        )


# --- verification runs (R53) -------------------------------------------------------------------


def run_verification(
    *,
    run_by: str,
    first: int = 1,
    last: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[VerificationResult, VerificationRun]:
    """Verify the whole log (or a range of it) and keep the run's result, so compliance sees
    when the chain was last verified and what was found. The log itself is not written."""
    started_at = timezone.now()
    result = integrity.verify_log(progress=progress, first=first, last=last)
    bad = result.first_bad
    run = VerificationRun.objects.create(
        started_at=started_at,
        finished_at=timezone.now(),
        scope=VerificationScope.FULL if result.full else VerificationScope.RANGE,
        first_seq=first,
        last_seq=result.head_seq,
        ok=result.ok,
        entries=result.entries,
        checkpoints=result.checkpoints,
        states=result.states,
        head_hash=result.head_hash if result.entries else "",
        first_bad_seq=bad.seq if bad else None,
        problem=bad.message if bad else "",
        problems=len(result.problems),
        run_by=run_by,
    )
    return result, run


# --- master key rotation ------------------------------------------------------------------------


@dataclass(frozen=True)
class Rotation:
    master_key_id: str  # the current master key, wrapping every live client key afterwards
    rewrapped: int  # client keys re-wrapped by this run
    former_ids: list[str]  # the master keys they were wrapped by


def rotate_master_key(
    *, batch_size: int = 1_000, progress: Callable[[int], None] | None = None
) -> Rotation:
    """Re-wrap every client key still wrapped by a former master key (given in
    OPTIN_AUDIT_MASTER_KEY_FALLBACKS) under the current one, batch by batch, each batch in its
    own transaction. The log is not touched: its sealed values stay as they are, under the
    same client keys. Destroyed keys (erasure) stay destroyed. Running it again re-wraps
    nothing and logs nothing.

    Raises DomainError `unknown_master_key`, before changing anything, when a live client key
    is wrapped by a master key that is not configured."""
    current = crypto.master_key_id()
    known = crypto.master_keys()
    live = ClientKey.objects.filter(destroyed_at__isnull=True).exclude(master_key_id=current)
    unknown = sorted(
        set(live.exclude(master_key_id__in=known).values_list("master_key_id", flat=True))
    )
    if unknown:
        raise DomainError(
            ErrorCode.UNKNOWN_MASTER_KEY,
            _(
                "Des clés clients sont chiffrées par une clé maîtresse non configurée "
                "(%(ids)s) : donnez-la dans OPTIN_AUDIT_MASTER_KEY_FALLBACKS."
            )
            % {"ids": ", ".join(unknown)},
        )
    rewrapped, former = 0, set()
    while True:
        with transaction.atomic():
            batch = list(
                live.select_for_update()
                .order_by("pk")[:batch_size]
                .only("pk", "client_id", "wrapped_key", "master_key_id")
            )
            if not batch:
                break
            for row in batch:
                key = crypto.unwrap(row.client_id, row.wrapped_key, None, row.master_key_id)
                if key is None:  # an empty wrapped key: nothing left to protect
                    key = b""
                former.add(row.master_key_id)
                row.wrapped_key = crypto.wrap(row.client_id, key) if key else b""
                row.master_key_id = current
            ClientKey.objects.bulk_update(batch, ["wrapped_key", "master_key_id"])
        rewrapped += len(batch)
        if progress is not None:
            progress(len(batch))
    if rewrapped:
        with transaction.atomic():
            audit.append(
                action="master_key.rotated",
                actor=Actor.system("rotate_master_key"),
                data={"master_key_id": current, "rewrapped": rewrapped, "from": sorted(former)},
            )
    return Rotation(master_key_id=current, rewrapped=rewrapped, former_ids=sorted(former))


# --- unsubscribe links (R40) ------------------------------------------------------------------


@dataclass(frozen=True)
class Unsubscribed:
    channels: list[str]  # the channels withdrawn by this request (empty on a repeat)
    known: bool  # False for an erased or deleted client: nothing written


def unsubscribe(
    *,
    client_id: int,
    channel: str,
    evidence: Mapping[str, Any],
    also: Sequence[str] = (),
) -> Unsubscribed:
    """R40: the token's channel (and `also`, ticked on the page) withdrawn, journey
    `unsubscribe_link`, actor the customer through the token. A repeat writes nothing (R15);
    an erased client's token writes nothing at all."""
    with transaction.atomic():
        client = Client.objects.filter(pk=client_id).first()
        if client is None or client.erased_at is not None:
            return Unsubscribed(channels=[], known=False)
        withdrawn = []
        for name in sorted({channel, *also}):
            result = record_decision(
                client_number=client.client_number,
                channel=name,
                decision=Decision.WITHDRAW,
                journey=Journey.UNSUBSCRIBE_LINK,
                actor=Actor(ActorType.CUSTOMER, "unsubscribe_link"),
                evidence={**evidence, "token_channel": channel},
            )
            if result.recorded:
                withdrawn.append(name)
        return Unsubscribed(channels=withdrawn, known=True)


# --- SMS STOP (R41) ---------------------------------------------------------------------------

_STOP = re.compile(r"^\s*(STOP|ARRET)\b")


def is_stop(text: str) -> bool:
    """STOP, Stop, stop, ARRET, ARRÊT, optionally followed by other words."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return bool(_STOP.match(plain.upper()))


@dataclass(frozen=True)
class StopResult:
    stop: bool  # the message was a STOP
    matched: int  # clients with that mobile
    withdrawn: int  # of which the channel changed now


@transaction.atomic
def sms_stop(*, mobile: str, text: str, message_id: str, gateway: str) -> StopResult:
    """R41: a STOP withdraws `sms_push` for every client whose mobile is the sender's number
    (E.164), actor system, journey `sms_stop`, with the gateway's message id. A number matching
    nobody is logged without personal data. Other words change nothing."""
    if not is_stop(text):
        return StopResult(stop=False, matched=0, withdrawn=0)
    numbers = list(
        Client.objects.filter(mobile=mobile, erased_at__isnull=True)
        .order_by("pk")
        .values_list("client_number", flat=True)
    )
    evidence = {"message_id": message_id, "gateway": gateway}
    if not numbers:
        audit.append(action="sms.stop_unmatched", actor=Actor.system("sms_stop"), data=evidence)
        return StopResult(stop=True, matched=0, withdrawn=0)
    withdrawn = 0
    for number in numbers:
        result = record_decision(
            client_number=number,
            channel=Channel.SMS_PUSH,
            decision=Decision.WITHDRAW,
            journey=Journey.SMS_STOP,
            actor=Actor.system("sms_stop"),
            evidence=evidence,
        )
        withdrawn += result.recorded
    return StopResult(stop=True, matched=len(numbers), withdrawn=withdrawn)


# --- double opt-in (R36) ----------------------------------------------------------------------


def confirmation_deadline(recorded_at: dt.datetime) -> dt.datetime:
    return recorded_at + dt.timedelta(days=settings.OPTIN_CONFIRMATION_DELAY_DAYS)


def pending_confirmation_entry(client: Client, seq: int) -> AuditEntry | None:
    """The log entry behind a confirmation link while the link is still valid: the channel is
    pending_confirmation since that very entry (a withdrawal, a new grant or a change of
    address since then ends it) and its delay has not run out."""
    state = ConsentState.objects.filter(client=client, channel=Channel.EMAIL).first()
    if state is None or state.status != ConsentStatus.PENDING_CONFIRMATION:
        return None
    if state.last_seq != seq:
        return None
    entry = AuditEntry.objects.filter(seq=seq).first()
    if entry is None or timezone.now() >= confirmation_deadline(entry.recorded_at):
        return None
    return entry


def confirmed_by(client_id: int, seq: int) -> bool:
    """Whether the link of entry `seq` has confirmed the e-mail consent, which is still
    granted since (so that a second click says so rather than "not valid")."""
    state = ConsentState.objects.filter(client_id=client_id, channel=Channel.EMAIL).first()
    if state is None or state.status != ConsentStatus.GRANTED or state.last_seq is None:
        return False
    last = AuditEntry.objects.filter(seq=state.last_seq, action="consent.confirmed").first()
    return last is not None and json.loads(last.payload).get("confirms_seq") == seq


@transaction.atomic
def confirm_email_optin(
    *, client_id: int, seq: int, address_digest: bytes, evidence: Mapping[str, Any]
) -> DecisionResult:
    """R36: the POST of the confirmation page makes the e-mail consent granted. The log keeps
    the original grant (the entry `seq`) and this confirmation with its time, IP and user
    agent. Raises DomainError(link_not_valid) for a used, expired, superseded or misdirected
    link; nothing is written then."""
    from optin.tokens import address_digest as digest_of

    client = Client.objects.select_for_update().filter(pk=client_id).first()
    if (
        client is None
        or client.erased_at is not None
        or not client.email
        or digest_of(client.email) != address_digest
        or pending_confirmation_entry(client, seq) is None
    ):
        raise DomainError(
            ErrorCode.LINK_NOT_VALID,
            _("Ce lien de confirmation n'est plus valable."),
        )
    personal = {k: v for k, v in evidence.items() if k in PERSONAL_EVIDENCE}
    pending = ConsentState.objects.get(client=client, channel=Channel.EMAIL)
    _step, state, entry = apply_event(
        client=client,
        channel=Channel.EMAIL,
        event=Event.DOI_CONFIRMED,
        # The consent confirmed is the one given with this wording (kept on the state).
        wording=Wording.objects.filter(version=pending.wording_version).first(),
        actor=Actor(ActorType.CUSTOMER, "confirmation_link"),
        journey=Journey.DOUBLE_OPTIN_CONFIRMATION,
        occurred_at=timezone.now(),
        data={"confirms_seq": seq},
        personal=personal,
    )
    return DecisionResult(
        client_number=client.client_number,
        channel=Channel.EMAIL,
        status=state.status,
        since=audit.iso_or_none(state.since),
        journey=state.journey,
        wording_version=state.wording_version,
        recorded=entry is not None,
        seq=entry.seq if entry else None,
    )


def expire_pending_confirmations(*, now: dt.datetime | None = None) -> list[str]:
    """R36: an unconfirmed e-mail grant returns to its prior state once its link expires
    (OPTIN_CONFIRMATION_DELAY_DAYS), actor system. One transaction per client, re-checked under
    its lock: safe to run twice and on two hosts at once. Returns the client numbers."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.OPTIN_CONFIRMATION_DELAY_DAYS)
    candidates = list(
        ConsentState.objects.filter(
            channel=Channel.EMAIL, status=ConsentStatus.PENDING_CONFIRMATION
        ).values_list("client__client_number", "last_seq")
    )
    recorded = dict(
        AuditEntry.objects.filter(seq__in=[seq for _n, seq in candidates]).values_list(
            "seq", "recorded_at"
        )
    )
    expired = []
    for number, seq in candidates:
        if seq not in recorded or recorded[seq] > cutoff:
            continue
        with transaction.atomic():
            client = Client.objects.select_for_update().get(client_number=number)
            state = ConsentState.objects.select_for_update().get(
                client=client, channel=Channel.EMAIL
            )
            if state.status != ConsentStatus.PENDING_CONFIRMATION or state.last_seq != seq:
                continue  # confirmed or changed meanwhile
            apply_event(
                client=client,
                channel=Channel.EMAIL,
                event=Event.DOI_EXPIRED,
                actor=Actor.system("expire_pending_confirmations"),
                journey=Journey.SYSTEM_EXPIRY,
                occurred_at=now,
                data={"reason": "confirmation_expired", "pending_seq": seq},
            )
            expired.append(number)
    return expired
