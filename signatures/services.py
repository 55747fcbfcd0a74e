"""Writes of consent forms (R13, R24-R30, R52): answers in branch, signing, ending a form.

Each write runs in one transaction with its log entries. The slow parts, rendering a PDF and
sealing it, run before that transaction (they need no lock), so the log's lock is never held
while WeasyPrint or pyHanko work; what they produced is thrown away if the transaction then
refuses.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, override

from clients.models import Client, consent_ineligibility
from clients.roles import actor_for
from clients.services import lock_client
from optin import audit
from optin.audit import Actor
from optin.errors import DomainError, ErrorCode
from optin.models import ActorType, Channel, ConsentState, ConsentStatus, Journey, Wording
from optin.services import DecisionResult, record_decision
from optin.services import apply_event as apply_consent_event
from optin.transitions import Effect, Event, Step
from signatures import capture, files, pdf, sealing
from signatures.models import (
    FORM_JOURNEYS,
    ConsentForm,
    FormChannel,
    FormStatus,
    IdentityDocument,
    SigningMethod,
    new_reference,
    normalize_reference,
)


class Answer(StrEnum):
    YES = "yes"
    NO = "no"
    UNANSWERED = ""  # R23: "le client ne souhaite pas répondre"; records nothing


@dataclass(frozen=True)
class BranchAnswer:
    """One channel's answer, with the wording version the page displayed (R18, R59)."""

    answer: str
    wording_version: str = ""


@dataclass(frozen=True)
class Collected:
    form: ConsentForm | None  # the form to sign, when at least one "Oui" needs it
    decisions: list[DecisionResult] = field(default_factory=list)
    not_asked: list[str] = field(default_factory=list)  # already granted (R15)


@dataclass(frozen=True)
class SignerContext:
    """Where the signature was captured (R52): the advisor's authenticated session."""

    ip: str = ""
    user_agent: str = ""
    session_ref: str = ""  # a pseudonymous reference of the session, never its key
    second_factor: bool = False


# Why a form ended, as logged; the French labels are for pages.
END_REASONS = {
    "declined": gettext_lazy("le client ne souhaite pas signer"),
    "superseded": gettext_lazy("remplacé par un formulaire plus récent"),
    "expired": gettext_lazy("non signé dans le délai"),
    "digital_grant": gettext_lazy("accord donné en ligne entre-temps"),
    "refused": gettext_lazy("le client a répondu « Non »"),
    "withdrawn": gettext_lazy("retrait demandé"),
    "lapsed": gettext_lazy("le client ne peut plus consentir (capacité)"),
}
_REASON_OF_ACTION = {
    "consent.granted": "digital_grant",
    "consent.pending_confirmation": "digital_grant",
    "consent.refused": "refused",
    "consent.withdrawn": "withdrawn",
    "consent.lapsed": "lapsed",
}
PAPER_ATTESTATION = (
    "J'atteste que le formulaire scanné porte la signature manuscrite du client, apposée en ma "
    "présence après vérification de son identité, et que sa référence est celle du formulaire."
)


# --- who may act -------------------------------------------------------------------------------


def advisor_of(user: User, client: Client) -> Actor:
    """R55: only an advisor of the client's branch collects answers, has a form signed or
    cancels it; the log's actor for them. Raises DomainError(not_allowed) otherwise."""
    try:
        actor = actor_for(user)
    except PermissionError:
        actor = None
    if (
        actor is None
        or actor.type != ActorType.ADVISOR
        or not Client.objects.visible_to(user).filter(pk=client.pk).exists()
    ):
        raise DomainError(
            ErrorCode.NOT_ALLOWED,
            _("Seul un conseiller de l'agence du client recueille ou fait signer son accord."),
        )
    return actor


# --- answers in branch -------------------------------------------------------------------------


def _advisor_identity(advisor: User) -> tuple[str, str]:
    return (advisor.get_full_name() or advisor.get_username()), f"staff:{advisor.pk}"


def _check_answers(answers: Mapping[str, BranchAnswer]) -> None:
    for channel, answer in answers.items():
        if channel not in Channel.values:
            raise DomainError(
                ErrorCode.WRONG_CHANNEL,
                _("Canal inconnu : %(c)s (e-mail ou sms_push).") % {"c": channel},
            )
        if answer.answer not in Answer.__members__.values():
            raise DomainError(
                ErrorCode.INVALID_DECISION, _("Réponse inconnue : « Oui », « Non » ou aucune.")
            )


def _planned_content(
    client: Client, advisor: User, journey: str, yes: Mapping[str, BranchAnswer]
) -> tuple[str, str, dt.datetime, dict[str, Any]]:
    """The form as it will read, and its identifiers."""
    wordings = {
        w.version: w
        for w in Wording.objects.filter(version__in=[a.wording_version for a in yes.values()])
    }
    lines = [
        (c, wordings[a.wording_version])
        for c, a in sorted(yes.items())
        if a.wording_version in wordings
    ]
    branch = client.branch  # the advisor's own: only an advisor of the branch collects (R55)
    name, staff_id = _advisor_identity(advisor)
    form_id, reference, created_at = str(uuid.uuid4()), new_reference(), timezone.now()
    with override("fr"):
        journey_label = str(Journey(journey).label)
    content = pdf.form_content(
        form_id=form_id,
        reference=reference,
        journey_label=journey_label,
        created_at=created_at,
        client=client,
        branch_name=branch.name,
        branch_code=branch.code,
        advisor_name=name,
        advisor_id=staff_id,
        lines=lines,
    )
    return form_id, reference, created_at, content


def collect_branch_answers(
    *,
    client: Client,
    answers: Mapping[str, BranchAnswer],
    advisor: User,
    journey: str,
) -> Collected:
    """Record the yes/no answers given in branch (R14, R15, R22-R24, R13).

    A "Non" is recorded at once (refused, or withdrawn when it takes back a yes). The "Oui"
    answers move their channels to pending_signature and produce one form covering them,
    which supersedes any older pending form for those channels and inherits its prior state.
    A channel already granted is not asked (R15): its "Oui" records nothing. Raises
    DomainError (journey_not_allowed, wrong_channel, invalid_decision and those of
    record_decision); nothing is written when it raises.
    """
    if journey not in FORM_JOURNEYS:
        raise DomainError(
            ErrorCode.JOURNEY_NOT_ALLOWED,
            _(
                "Les réponses en agence se recueillent à l'ouverture de compte ou à la mise à jour "
                "de la connaissance client."
            ),
        )
    _check_answers(answers)
    actor = advisor_of(advisor, client)
    yes = {c: a for c, a in answers.items() if a.answer == Answer.YES}
    no = {c: a for c, a in answers.items() if a.answer == Answer.NO}

    # Render before taking any lock, for the channels that will need a signature.
    granted = set(
        ConsentState.objects.filter(
            client=client, channel__in=list(yes), status=ConsentStatus.GRANTED
        ).values_list("channel", flat=True)
    )
    planned = {c: a for c, a in yes.items() if c not in granted}
    rendered: tuple[str, str, dt.datetime, dict[str, Any], bytes] | None = None
    if planned:
        form_id, reference, created_at, content = _planned_content(
            client, advisor, journey, planned
        )
        rendered = (form_id, reference, created_at, content, pdf.render(content))

    with transaction.atomic():
        locked = lock_client(client.client_number)
        decisions: list[DecisionResult] = []
        # The "Non" first: a form they cancel then gives back its other channels, which a
        # "Oui" of these same answers may take again.
        for channel, answer in sorted(no.items()):
            decisions.append(
                record_decision(
                    client_number=locked.client_number,
                    channel=channel,
                    decision="refuse",
                    journey=journey,
                    actor=actor,
                    wording_version=answer.wording_version,
                )
            )
        pending: list[str] = []
        not_asked: list[str] = []
        for channel, answer in sorted(yes.items()):
            result = record_decision(
                client_number=locked.client_number,
                channel=channel,
                decision="grant",
                journey=journey,
                actor=actor,
                wording_version=answer.wording_version,
                affirmative_action=True,
                branch_form=True,
            )
            decisions.append(result)
            if Effect.NEW_FORM in result.effects:
                pending.append(channel)
            else:
                not_asked.append(channel)
        if not pending:
            return Collected(form=None, decisions=decisions, not_asked=not_asked)

        answered = {c: yes[c] for c in pending}
        if (
            rendered is None
            or [line["channel"] for line in rendered[3]["lines"]] != sorted(pending)
            or locked.version != client.version
        ):
            # The record or the states changed since the rendering: render what is true now.
            form_id, reference, created_at, content = _planned_content(
                locked, advisor, journey, answered
            )
            rendered = (form_id, reference, created_at, content, pdf.render(content))
        form_id, reference, created_at, content, document = rendered
        form = _create_form(
            client=locked,
            advisor=advisor,
            actor=actor,
            journey=journey,
            form_id=form_id,
            reference=reference,
            created_at=created_at,
            content=content,
            document=document,
            channels=pending,
        )
        return Collected(form=form, decisions=decisions, not_asked=not_asked)


def _create_form(
    *,
    client: Client,
    advisor: User,
    actor: Actor,
    journey: str,
    form_id: str,
    reference: str,
    created_at: dt.datetime,
    content: dict[str, Any],
    document: bytes,
    channels: list[str],
) -> ConsentForm:
    name, digest = files.store(document, kind="generated", extension="pdf")
    form = ConsentForm.objects.create(
        uuid=uuid.UUID(form_id),
        reference=reference,
        client=client,
        journey=journey,
        advisor=advisor,
        branch_id=client.branch_id,
        template_version=content["template_version"],
        created_at=created_at,
        content=content,
        pdf=name,
        pdf_sha256=digest,
    )
    states = {
        s.channel: s
        for s in ConsentState.objects.select_for_update().filter(
            client=client, channel__in=channels
        )
    }
    wordings = {
        w.version: w
        for w in Wording.objects.filter(version__in=[line["version"] for line in content["lines"]])
    }
    lines = {line["channel"]: line for line in content["lines"]}
    FormChannel.objects.bulk_create(
        [
            FormChannel(
                form=form,
                channel=channel,
                wording=wordings[lines[channel]["version"]],
                prior_status=states[channel].prior_status or ConsentStatus.NONE,
            )
            for channel in channels
        ]
    )
    # R13: the older pending forms for these channels are superseded; their other channels
    # (not answered "Oui" again) go back to their prior state.
    older_ids = (
        ConsentForm.objects.pending()
        .filter(client=client)
        .covering(*channels)
        .exclude(pk=form.pk)
        .values("pk")
    )
    # PostgreSQL refuses FOR UPDATE with DISTINCT: lock the rows found by a subquery.
    older = list(
        ConsentForm.objects.select_for_update()
        .filter(pk__in=older_ids)
        .select_related("client")
        .order_by("created_at")
    )
    audit.append(
        action="form.generated",
        actor=actor,
        occurred_at=created_at,
        client_id=client.pk,
        client_number=client.client_number,
        data={
            "form_id": form_id,
            "reference": reference,
            "journey": journey,
            "template_version": content["template_version"],
            "pdf_sha256": digest,
            "channels": {
                channel: {
                    "wording_version": lines[channel]["version"],
                    "wording_sha256": lines[channel]["sha256"],
                    "prior": states[channel].prior_status or ConsentStatus.NONE,
                }
                for channel in channels
            },
            "supersedes": [old.reference for old in older],
        },
    )
    # Logged after form.generated, so that the entries name a form the log knows.
    for old in older:
        _end_form(
            old,
            status=FormStatus.SUPERSEDED,
            reason="superseded",
            actor=actor,
            journey=journey,
            occurred_at=created_at,
            keep=frozenset(channels),
            superseded_by=form,
        )
    return form


# --- ending a form without signature -----------------------------------------------------------


def _end_form(
    form: ConsentForm,
    *,
    status: FormStatus,
    reason: str,
    actor: Actor,
    journey: str,
    occurred_at: dt.datetime,
    keep: frozenset[str] = frozenset(),
    note: str = "",
    superseded_by: ConsentForm | None = None,
) -> None:
    """End a pending form (locked by the caller) and give its channels back their prior
    state (R13, R28, R29), except the channels in `keep`, which the caller moves itself."""
    form.status = status
    form.ended_at = timezone.now()
    form.end_reason = reason if not note else f"{reason}: {note}"[:255]
    form.superseded_by = superseded_by
    form.save(update_fields=["status", "ended_at", "end_reason", "superseded_by"])
    client = form.client
    data: dict[str, Any] = {
        "form_id": str(form.uuid),
        "reference": form.reference,
        "reason": reason,
        "channels": sorted(form.channels.values_list("channel", flat=True)),
    }
    if superseded_by is not None:
        data["superseded_by"] = superseded_by.reference
    audit.append(
        action=f"form.{status}",
        actor=actor,
        occurred_at=occurred_at,
        client_id=client.pk,
        client_number=client.client_number,
        data=data,
        personal={"note": note} if note else None,
    )
    for line in form.channels.all():
        if line.channel in keep:
            continue
        state = ConsentState.objects.select_for_update().get(client=client, channel=line.channel)
        other_pending = (
            ConsentForm.objects.pending()
            .filter(client=client)
            .covering(line.channel)
            .exclude(pk=form.pk)
            .exists()
        )
        if state.status != ConsentStatus.PENDING_SIGNATURE or other_pending:
            continue
        apply_consent_event(
            client=client,
            channel=line.channel,
            event=Event.FORM_ENDED,
            actor=actor,
            journey=journey,
            occurred_at=occurred_at,
            data={"form_id": str(form.uuid), "reference": form.reference, "reason": reason},
        )


def end_forms_on_step(
    sender: object,
    *,
    client: Client,
    channel: str,
    event: Event,
    step: Step,
    actor: Actor,
    journey: str,
    occurred_at: dt.datetime,
    **kwargs: Any,
) -> None:
    """R12: a channel leaving pending_signature by another path (a "Non", a digital grant, a
    withdrawal, a lapse) cancels its pending form; the form's other channels go back to
    their prior state, since a form is signed or cancelled as a whole (R25).

    A branch "Oui" on a pending channel is left to collect_branch_answers, which supersedes
    the older form once the new one exists.
    """
    if Effect.CANCEL_FORM not in step.effects or event == Event.BRANCH_YES:
        return
    forms = (
        ConsentForm.objects.select_for_update()
        .pending()
        .filter(client=client)
        .covering(channel)
        .select_related("client")
    )
    # A lapse (R7) ends every channel itself: lapse_consents moves each one in turn.
    keep = frozenset(Channel.values) if event == Event.LAPSE else frozenset({channel})
    for form in forms:
        _end_form(
            form,
            status=FormStatus.CANCELLED,
            reason=_REASON_OF_ACTION.get(step.action, step.action),
            actor=actor,
            journey=journey,
            occurred_at=occurred_at,
            keep=keep,
        )


def cancel_pending_forms(*, client: Client, actor: Actor, reason: str, journey: str) -> int:
    """Cancel every pending form of a locked client (an erasure, R64), each logged as a
    cancellation; their channels return to their prior state unless already moved. Returns
    how many were cancelled."""
    forms = list(
        ConsentForm.objects.select_for_update()
        .pending()
        .filter(client=client)
        .select_related("client")
        .order_by("pk")
    )
    for form in forms:
        _end_form(
            form,
            status=FormStatus.CANCELLED,
            reason=reason,
            actor=actor,
            journey=journey,
            occurred_at=timezone.now(),
        )
    return len(forms)


def _locked_form(client_number: str, reference: str) -> tuple[Client, ConsentForm]:
    """The client and their pending form, both locked (client first, as every writer)."""
    client = lock_client(client_number)
    form = (
        ConsentForm.objects.select_for_update()
        .filter(reference=reference)
        .select_related("client")
        .first()
    )
    _check_signable(client, form)
    assert form is not None  # noqa: S101 (checked above)
    return client, form


def _check_in_time(form: ConsentForm, now: dt.datetime) -> None:
    """R28: past OPTIN_SIGNATURE_DELAY_DAYS a form is no longer signed, even before the daily
    job has expired it."""
    if form.created_at <= now - dt.timedelta(days=settings.OPTIN_SIGNATURE_DELAY_DAYS):
        raise DomainError(
            ErrorCode.FORM_NOT_PENDING,
            _("Le délai de signature de ce formulaire (%(days)s jours) est dépassé.")
            % {"days": settings.OPTIN_SIGNATURE_DELAY_DAYS},
            status="expired",
        )


def _check_signable(client: Client, form: ConsentForm | None) -> None:
    """R26: the form exists, belongs to this client and is pending."""
    if form is None:
        raise DomainError(ErrorCode.UNKNOWN_FORM, _("Formulaire inconnu."))
    if form.client_id != client.pk:
        raise DomainError(
            ErrorCode.FORM_WRONG_CLIENT, _("Ce formulaire appartient à un autre client.")
        )
    if form.status != FormStatus.PENDING:
        raise DomainError(
            ErrorCode.FORM_NOT_PENDING,
            _("Ce formulaire n'est plus à signer (%(status)s).")
            % {"status": form.get_status_display()},
            status=form.status,
        )


@transaction.atomic
def cancel_form(*, client_number: str, reference: str, advisor: User, note: str) -> ConsentForm:
    """R29: the customer declines to sign; the channels go back to their prior state.

    Cancelling is not a refusal: no `refused` entry. The advisor says why (`note`).
    """
    if not note.strip():
        raise ValidationError({"note": _("Indiquez pourquoi le formulaire est annulé.")})
    client, form = _locked_form(client_number, reference)
    actor = advisor_of(advisor, client)
    _end_form(
        form,
        status=FormStatus.CANCELLED,
        reason="declined",
        note=note.strip(),
        actor=actor,
        journey=form.journey,
        occurred_at=timezone.now(),
    )
    return form


def expire_pending_forms(*, now: dt.datetime | None = None) -> list[str]:
    """R28: expire the forms pending longer than OPTIN_SIGNATURE_DELAY_DAYS (actor system).

    One transaction per form, each re-checked under its lock: safe to run twice, and on two
    hosts at once. Returns the references expired.
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.OPTIN_SIGNATURE_DELAY_DAYS)
    candidates = list(
        ConsentForm.objects.pending()
        .filter(created_at__lte=cutoff)
        .order_by("created_at")
        .values_list("reference", "client__client_number")
    )
    expired = []
    actor = Actor.system("expire_pending_forms")
    for reference, client_number in candidates:
        with transaction.atomic():
            lock_client(client_number)
            form = (
                ConsentForm.objects.select_for_update()
                .select_related("client")
                .get(reference=reference)
            )
            if form.status != FormStatus.PENDING or form.created_at > cutoff:
                continue  # signed or ended meanwhile
            _end_form(
                form,
                status=FormStatus.EXPIRED,
                reason="expired",
                actor=actor,
                journey=Journey.SYSTEM_EXPIRY,
                occurred_at=now,
            )
            expired.append(reference)
    return expired


# --- signing -----------------------------------------------------------------------------------


def _check_identity_document(value: str) -> str:
    if value not in IdentityDocument.values:
        raise ValidationError(
            {
                "identity_document": ValidationError(
                    _("Indiquez la pièce d'identité vérifiée (R25)."), code="required"
                )
            }
        )
    return value


def _signable(client_number: str, reference: str, advisor: User) -> ConsentForm:
    """The form, read without lock: refuse early, before any rendering, what cannot be signed."""
    client = Client.objects.filter(client_number=client_number).first()
    if client is None:
        raise DomainError(ErrorCode.UNKNOWN_CLIENT, _("Client inconnu."))
    advisor_of(advisor, client)
    form = ConsentForm.objects.filter(reference=reference).select_related("client").first()
    _check_signable(client, form)
    assert form is not None  # noqa: S101 (checked above)
    _check_in_time(form, timezone.now())
    reason = consent_ineligibility(client)
    if reason:
        raise DomainError(
            ErrorCode.INELIGIBLE_PERSON,
            _("Ce client ne peut plus donner son accord."),
            reason=reason,
        )
    return form


def _base_evidence(
    form: ConsentForm,
    *,
    method: str,
    signed_at: dt.datetime,
    advisor: User,
    identity_document: str,
    context: SignerContext,
) -> dict[str, Any]:
    """The evidence of notes/signatures.md §3, shared by both methods."""
    name, staff_id = _advisor_identity(advisor)
    seal = sealing.seal_certificate()
    with override("fr"):
        identity_label = str(IdentityDocument(identity_document).label)
    return {
        "form_id": str(form.uuid),
        "reference": form.reference,
        "template_version": form.template_version,
        "client_number": form.client.client_number,
        "journey": form.journey,
        "generated_at": form.created_at.isoformat(),
        "generated_pdf_sha256": form.pdf_sha256,
        "channels": {
            line["channel"]: {
                "answer": line["answer"],
                "wording_version": line["version"],
                "wording_sha256": line["sha256"],
                "contact_point": line["contact_point"],
            }
            for line in form.content["lines"]
        },
        "method": method,
        "signed_at": signed_at.isoformat(),
        "advisor": {
            "id": staff_id,
            "name": name,
            "branch": form.client.branch.code,
            "second_factor": context.second_factor,
        },
        "identity_document": identity_document,
        "identity_document_label": identity_label,
        "session": {
            "ip": context.ip,
            "user_agent": context.user_agent,
            "session_ref": context.session_ref,
        },
        "seal": {
            "subject": seal.subject,
            "serial": seal.serial,
            "certificate_sha256": seal.sha256,
            "level": "PAdES-B-B",
        },
    }


def _canvas(values: Mapping[str, Any]) -> dict[str, float]:
    """The pad's canvas size (CSS pixels) and the device pixel ratio, as evidence."""
    result = {}
    for key, low, high in (
        ("canvas_width", 50, 5000),
        ("canvas_height", 20, 5000),
        ("device_pixel_ratio", 0.5, 8),
    ):
        try:
            value = float(values.get(key, ""))
        except (TypeError, ValueError):
            value = float("nan")
        if not low <= value <= high:
            raise ValidationError({key: _("Valeur du cadre de signature invalide.")})
        result[key] = round(value, 3)
    return result


def sign_on_tablet(
    *,
    client_number: str,
    reference: str,
    advisor: User,
    signature: str,
    strokes: str,
    canvas: Mapping[str, Any],
    identity_document: str,
    context: SignerContext,
) -> ConsentForm:
    """R25: the customer signs on the tablet in the advisor's presence.

    The drawing is checked (PNG, weight, size, not empty, not a dot or a straight line),
    stamped into the form, the signed PDF is rendered with its evidence and sealed, then the
    channels become granted with the form as evidence. Raises ValidationError for bad input
    and DomainError (unknown_form, form_wrong_client, form_not_pending, ineligible_person);
    nothing is written when it raises.
    """
    _check_identity_document(identity_document)
    drawn = capture.check_drawn_signature(signature, strokes)
    canvas_facts = _canvas(canvas)
    form = _signable(client_number, reference, advisor)
    signed_at = timezone.now()
    evidence = _base_evidence(
        form,
        method=SigningMethod.TABLET,
        signed_at=signed_at,
        advisor=advisor,
        identity_document=identity_document,
        context=context,
    )
    evidence["tablet"] = {
        **canvas_facts,
        "image_sha256": files.sha256(drawn.png),
        "image_size": f"{drawn.width}x{drawn.height}",
        "points_sha256": files.sha256(drawn.points_json),
        "strokes": len(drawn.strokes),
        "points": sum(len(s) for s in drawn.strokes),
    }
    part = pdf.SignedPart(
        method=SigningMethod.TABLET,
        signed_at=signed_at,
        evidence=evidence,
        signature_png=drawn.png,
        source=("signature-points.json", drawn.points_json),
    )
    return _seal_and_record(
        client_number=client_number,
        reference=reference,
        advisor=advisor,
        form=form,
        part=part,
        identity_document=identity_document,
        blobs={
            "signature_image": (drawn.png, "png"),
            "signature_points": (drawn.points_json, "json"),
        },
        context=context,
    )


def sign_on_paper(
    *,
    client_number: str,
    reference: str,
    advisor: User,
    scan: bytes,
    reference_read: str,
    signed_at: dt.datetime,
    identity_document: str,
    attested: bool,
    context: SignerContext,
) -> ConsentForm:
    """R25, R26: the printed form, signed by hand, scanned and uploaded by the advisor.

    The scan is a PDF, PNG or JPEG by its content, at most 10 MB; the advisor confirms the
    reference read on the scan and attests the signature; the attested signing time lies
    between the form's generation and now. The sealed PDF bundles the form, the evidence and
    the scan. Errors as sign_on_tablet.
    """
    _check_identity_document(identity_document)
    if attested is not True:
        raise ValidationError(
            {
                "attested": ValidationError(
                    _("Attestez que la signature est celle du client (R25)."), code="required"
                )
            }
        )
    checked = capture.check_scan(scan)
    form = _signable(client_number, reference, advisor)
    if normalize_reference(reference_read) != form.reference:
        raise DomainError(
            ErrorCode.FORM_REFERENCE_MISMATCH,
            _("La référence lue sur le scan n'est pas celle de ce formulaire (%(ref)s).")
            % {"ref": form.reference},
        )
    now = timezone.now()
    if timezone.is_naive(signed_at):
        raise ValidationError(
            {
                "signed_at": ValidationError(
                    _("L'heure de signature doit avoir un fuseau."), code="naive_datetime"
                )
            }
        )
    if signed_at < form.created_at.replace(second=0, microsecond=0):
        raise DomainError(
            ErrorCode.SIGNED_BEFORE_FORM,
            _("La signature ne peut pas précéder la génération du formulaire."),
        )
    if signed_at > now + dt.timedelta(seconds=settings.OPTIN_CLOCK_SKEW_SECONDS):
        raise DomainError(ErrorCode.OCCURRED_IN_FUTURE, _("La signature est datée dans le futur."))
    # The attested time has a minute's precision: within the form's minute it is the form's
    # time, within the clock skew it is now; never outside [generation, upload] (R25).
    signed_at = min(max(signed_at, form.created_at), now)
    evidence = _base_evidence(
        form,
        method=SigningMethod.PAPER,
        signed_at=signed_at,
        advisor=advisor,
        identity_document=identity_document,
        context=context,
    )
    name, _staff_id = _advisor_identity(advisor)
    evidence["paper"] = {
        "scan_sha256": files.sha256(checked.data),
        "scan_type": checked.content_type,
        "scan_bytes": len(checked.data),
        "scan_pages": checked.pages,
        "reference_confirmed": form.reference,
        "attestation": {"text": PAPER_ATTESTATION, "by": name, "at": now.isoformat()},
        "uploaded_at": now.isoformat(),
    }
    part = pdf.SignedPart(
        method=SigningMethod.PAPER,
        signed_at=signed_at,
        evidence=evidence,
        scan=checked.data,
        scan_content_type=checked.content_type,
        source=(f"scan.{checked.extension}", checked.data),
    )
    return _seal_and_record(
        client_number=client_number,
        reference=reference,
        advisor=advisor,
        form=form,
        part=part,
        identity_document=identity_document,
        blobs={"scan": (checked.data, checked.extension)},
        context=context,
    )


def _seal_and_record(
    *,
    client_number: str,
    reference: str,
    advisor: User,
    form: ConsentForm,
    part: pdf.SignedPart,
    identity_document: str,
    blobs: Mapping[str, tuple[bytes, str]],
    context: SignerContext,
) -> ConsentForm:
    """Render and seal the signed PDF (no lock held), then record the signature."""
    sealed = sealing.seal_pdf(pdf.render(form.content, part))
    return _complete_signature(
        client_number=client_number,
        reference=reference,
        advisor=advisor,
        part=part,
        identity_document=identity_document,
        sealed=sealed,
        blobs=blobs,
        context=context,
    )


@transaction.atomic
def _complete_signature(
    *,
    client_number: str,
    reference: str,
    advisor: User,
    part: pdf.SignedPart,
    identity_document: str,
    sealed: bytes,
    blobs: Mapping[str, tuple[bytes, str]],
    context: SignerContext,
) -> ConsentForm:
    """The signature's writes, in one transaction: files, form, log entries, states (R26).

    Re-checks the form under its lock: of two signatures of one form, the second finds it
    signed and is refused (form_not_pending), its rendering thrown away.
    """
    method, signed_at, evidence = part.method, part.signed_at, part.evidence
    client, form = _locked_form(client_number, reference)
    actor = advisor_of(advisor, client)
    _check_in_time(form, timezone.now())
    signed_name, signed_digest = files.store(sealed, kind="signed", extension="pdf")
    form.method = method
    form.signed_at = signed_at
    form.identity_document = identity_document
    form.signed_by = advisor
    form.signed_pdf = signed_name
    form.signed_pdf_sha256 = signed_digest
    form.evidence = evidence
    updated = ["method", "signed_at", "identity_document", "signed_by", "signed_pdf"]
    updated += ["signed_pdf_sha256", "evidence", "status", "signed_seq"]
    for attribute, (data, extension) in blobs.items():
        name, digest = files.store(data, kind=attribute.replace("_", "-"), extension=extension)
        setattr(form, attribute, name)
        updated.append(attribute)
        if attribute == "scan":
            form.scan_sha256 = digest
            updated.append("scan_sha256")
    hashes = {"pdf_sha256": form.pdf_sha256, "signed_pdf_sha256": signed_digest}
    entry = audit.append(
        action="form.signed",
        actor=actor,
        occurred_at=signed_at,
        client_id=client.pk,
        client_number=client.client_number,
        data={
            "form_id": str(form.uuid),
            "reference": form.reference,
            "method": method,
            "identity_document": identity_document,
            "second_factor": context.second_factor,
            **hashes,
            **(
                {"scan_sha256": form.scan_sha256, "attestation": PAPER_ATTESTATION}
                if method == SigningMethod.PAPER
                else {
                    "signature_image_sha256": evidence["tablet"]["image_sha256"],
                    "signature_points_sha256": evidence["tablet"]["points_sha256"],
                }
            ),
        },
        personal={"ip": context.ip, "user_agent": context.user_agent},
    )
    form.status = FormStatus.SIGNED
    form.signed_seq = entry.seq
    form.save(update_fields=updated)
    for line in form.channels.select_related("wording"):
        apply_consent_event(
            client=client,
            channel=line.channel,
            event=Event.FORM_SIGNED,
            actor=actor,
            journey=form.journey,
            occurred_at=signed_at,
            wording=line.wording,
            data={
                "form_id": str(form.uuid),
                "reference": form.reference,
                "method": method,
                **hashes,
            },
        )
    return form


# --- downloads ---------------------------------------------------------------------------------


@transaction.atomic
def record_download(*, form: ConsentForm, user: User, which: str) -> bytes:
    """The original or sealed PDF of a form, the download logged (who, which file)."""
    if which not in ("original", "signed"):
        raise ValueError(f"no such file of a form: {which!r}")
    name, digest = (
        (form.signed_pdf, form.signed_pdf_sha256)
        if which == "signed"
        else (form.pdf, form.pdf_sha256)
    )
    if form.files_deleted_at is not None:
        raise DomainError(
            ErrorCode.FILE_DELETED,
            _("Les fichiers de ce formulaire ont été supprimés ; leurs empreintes restent."),
        )
    if not name:
        raise DomainError(ErrorCode.FORM_NOT_PENDING, _("Ce formulaire n'a pas de PDF signé."))
    if not Client.objects.visible_to(user).filter(pk=form.client_id).exists():
        raise DomainError(ErrorCode.NOT_ALLOWED, _("Ce client n'est pas visible pour vous."))
    data = files.read(name)
    audit.append(
        action="form.downloaded",
        actor=actor_for(user),
        client_id=form.client_id,
        client_number=form.client.client_number,
        data={
            "form_id": str(form.uuid),
            "reference": form.reference,
            "file": which,
            "sha256": digest,
        },
    )
    return data


def describe_end(form: ConsentForm) -> str:
    """The reason a form ended, for pages."""
    code, _sep, note = form.end_reason.partition(": ")
    label = str(END_REASONS.get(code, code))
    return f"{label} ({note})" if note else label
