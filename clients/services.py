"""Writes about customers and staff. Each runs in one transaction with its log entries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clients.models import (
    CONTACT_FIELDS,
    Branch,
    Client,
    ClientStatus,
    Language,
    LegalCapacity,
    StaffProfile,
    consent_ineligibility,
)
from clients.roles import set_role_group
from clients.validators import normalize_email, normalize_mobile
from optin import audit, policy
from optin.audit import Actor
from optin.errors import DomainError, ErrorCode
from optin.models import Channel, ConsentState, ConsentStatus, Journey
from optin.selectors import missing_client, on_suppression_list
from optin.services import apply_event, lapse_consents
from optin.transitions import Event

# R60: the contact-update journeys that the person starts themselves (not the back office).
CONTACT_FROM_THE_PERSON = frozenset({Journey.BRANCH_CONTACT_UPDATE, Journey.DIGITAL_CONTACT_UPDATE})


def _clean_contacts(email: str | None, mobile: str | None) -> dict[str, str]:
    """Normalise the given contact points (R66, R67); "" removes one, None leaves it."""
    cleaned: dict[str, str] = {}
    errors: dict[str, list[ValidationError]] = {}
    for name, value, normalize in (
        ("email", email, normalize_email),
        ("mobile", mobile, normalize_mobile),
    ):
        if value is None:
            continue
        if not value.strip():
            cleaned[name] = ""
            continue
        try:
            cleaned[name] = normalize(value)
        except ValidationError as exc:
            errors[name] = [exc]
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def create_client(
    *,
    actor: Actor,
    client_number: str,
    kind: str,
    last_name: str,
    branch: Branch,
    first_name: str = "",
    civility: str = "",
    birth_date: dt.date | None = None,
    legal_capacity: str = LegalCapacity.FULL,
    protection_measure: str = "",
    is_legal_entity: bool = False,
    email: str = "",
    mobile: str = "",
    status: str = ClientStatus.PROSPECT,
    objection_notice_shown: bool = False,
    relationship_ended_on: dt.date | None = None,
) -> Client:
    """Create a customer or prospect (R66-R68) with both channels at `none` (R3).

    Raises ValidationError with field errors; a duplicate client number is the error code
    `duplicate` on `client_number`.
    """
    contacts = _clean_contacts(email, mobile)
    client = Client(
        client_number=client_number.strip(),
        kind=kind,
        is_legal_entity=is_legal_entity,
        civility=civility,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        birth_date=birth_date,
        legal_capacity=legal_capacity,
        protection_measure=protection_measure,
        email=contacts.get("email", ""),
        mobile=contacts.get("mobile", ""),
        branch=branch,
        status=status,
        objection_notice_shown=objection_notice_shown,
        relationship_ended_on=relationship_ended_on,
    )
    _validate_client(client)
    if Client.objects.filter(client_number=client.client_number).exists():
        raise ValidationError(
            {"client_number": ValidationError(_("Ce numéro client existe déjà."), code="duplicate")}
        )
    client.save(force_insert=True)
    ConsentState.objects.bulk_create(
        [ConsentState(client=client, channel=channel) for channel in Channel.values]
    )
    audit.append(
        action="client.created",
        actor=actor,
        client_id=client.pk,
        client_number=client.client_number,
        data={
            "kind": client.kind,
            "is_legal_entity": client.is_legal_entity,
            "branch": branch.code,
            "status": client.status,
            "legal_capacity": client.legal_capacity,
            "objection_notice_shown": client.objection_notice_shown,
            # R62: an address or number that objected before stays an objection for a
            # professional's e-mail (R47 line 6) until the person grants again explicitly.
            "on_suppression_list": on_suppression_list(
                {channel: client.contact_point(channel) for channel in Channel.values}
            ),
        },
        # Which protection measure is sealed with the identity (R64): it says more about the
        # person than the capacity the proof needs.
        personal={**client.as_identity(), "protection_measure": client.protection_measure},
    )
    return client


def _validate_client(client: Client) -> None:
    """Field validation and the record's invariants (Client.clean), as field errors."""
    client.full_clean(validate_unique=False, validate_constraints=False)


def lock_client(client_number: str, expected_version: int | None = None) -> Client:
    """The client row, locked until the transaction ends.

    R45: with `expected_version`, a record changed meanwhile raises DomainError(conflict)
    carrying the current values; every change of the record increments its version.
    """
    client = Client.objects.select_for_update().filter(client_number=client_number).first()
    if client is None:
        raise missing_client(client_number)
    if client.erased_at is not None:  # R64: nothing personal is recorded again
        raise DomainError(ErrorCode.ERASED, _("Les données de ce client ont été effacées."))
    if expected_version is not None and expected_version != client.version:
        raise DomainError(
            ErrorCode.CONFLICT,
            _("La fiche a été modifiée entre-temps : rechargez-la avant de la changer."),
            current={"version": client.version, "email": client.email, "mobile": client.mobile},
        )
    return client


def _touch(client: Client, *fields: str) -> None:
    """Save the changed fields as a new version of the record (R45)."""
    client.version += 1
    client.updated_at = timezone.now()
    client.save(update_fields=[*fields, "version", "updated_at"])


@dataclass(frozen=True)
class ContactChange:
    client: Client
    changed: list[str]  # channels whose contact point changed
    optin_invitation: list[str]  # channels to invite (R44)


@transaction.atomic
def change_contact_details(
    *,
    actor: Actor,
    client_number: str,
    email: str | None = None,
    mobile: str | None = None,
    expected_version: int | None = None,
    confirmed: bool = False,
    journey: str = "",
) -> ContactChange:
    """Add, change, remove or confirm a client's e-mail and mobile (R43-R45).

    States are kept whatever changes (R43). The channels returned in `optin_invitation` are
    those whose contact point was added, changed or confirmed (`confirmed=True`), that are not
    `granted`, for a person who may consent (R44); removing a contact point invites nothing.
    A stale `expected_version` raises DomainError(conflict) carrying the current values (R45).
    Bad values raise ValidationError with field errors. Nothing is written when it raises.
    """
    cleaned = _clean_contacts(email, mobile)
    client = lock_client(client_number, expected_version)
    touched: list[str] = []
    changed: list[str] = []
    for channel, field in CONTACT_FIELDS.items():
        if field not in cleaned:
            continue
        old, new = getattr(client, field), cleaned[field]
        if old == new and not confirmed:
            continue
        if old != new:
            changed.append(channel)
            setattr(client, field, new)
        if new:
            touched.append(channel)
        audit.append(
            action="client.contact_changed" if old != new else "client.contact_confirmed",
            actor=actor,
            client_id=client.pk,
            client_number=client.client_number,
            channel=channel,
            data={"journey": journey, "removed": not new},
            personal={"old": old, "new": new},
        )
    if changed:
        _touch(client, "email", "mobile")
    if touched and journey in CONTACT_FROM_THE_PERSON:
        # R60: the person updated their details (in branch or online): a contact from them.
        Client.objects.filter(pk=client.pk).update(last_contact_at=timezone.now())
    if Channel.EMAIL in changed:
        _end_pending_confirmation(client)
    invite: list[str] = []
    if touched and consent_ineligibility(client) is None:
        granted = set(
            ConsentState.objects.filter(
                client=client, channel__in=touched, status=ConsentStatus.GRANTED
            ).values_list("channel", flat=True)
        )
        invite = [channel for channel in touched if channel not in granted]
    return ContactChange(client=client, changed=changed, optin_invitation=invite)


def _end_pending_confirmation(client: Client) -> None:
    """R46: a pending double opt-in follows its address. When the e-mail changes, the
    confirmation link sent to the old one ends and the channel returns to its prior state."""
    state = ConsentState.objects.filter(client=client, channel=Channel.EMAIL).first()
    if state is None or state.status != ConsentStatus.PENDING_CONFIRMATION:
        return
    apply_event(
        client=client,
        channel=Channel.EMAIL,
        event=Event.DOI_EXPIRED,
        actor=Actor.system("contact_change"),
        journey=Journey.DOUBLE_OPTIN_CONFIRMATION,
        occurred_at=timezone.now(),
        data={"reason": "address_changed"},
    )


@transaction.atomic
def change_legal_capacity(
    *,
    actor: Actor,
    client_number: str,
    legal_capacity: str,
    protection_measure: str = "",
    reference: str,
    occurred_at: dt.datetime | None = None,
) -> list[str]:
    """Record a protection measure, or its lifting (R6, R7 / D1).

    Logs the change with its actor, measure and the judgment's reference. A measure makes the
    granted and pending consents lapse in this same transaction (returns those channels);
    lifting it revives nothing.
    """
    if not reference.strip():
        raise ValidationError(
            {"reference": _("Indiquez la référence du jugement ou de la notification.")}
        )
    client = lock_client(client_number)
    before = (client.legal_capacity, client.protection_measure)
    client.legal_capacity = legal_capacity
    client.protection_measure = (
        protection_measure if legal_capacity == LegalCapacity.PROTECTED else ""
    )
    _validate_client(client)
    if (client.legal_capacity, client.protection_measure) == before:
        return []
    when = occurred_at or timezone.now()
    _touch(client, "legal_capacity", "protection_measure")
    audit.append(
        action="client.capacity_changed",
        actor=actor,
        occurred_at=when,
        client_id=client.pk,
        client_number=client.client_number,
        data={
            "from": {"legal_capacity": before[0]},
            "to": {"legal_capacity": client.legal_capacity},
        },
        personal={
            "reference": reference.strip(),
            "from": {"protection_measure": before[1]},
            "to": {"protection_measure": client.protection_measure},
        },
    )
    if client.is_protected and policy.LAPSE_ON_INCAPACITY:
        return lapse_consents(client=client, reason="legal_capacity", occurred_at=when)
    return []


@transaction.atomic
def correct_birth_date(
    *, actor: Actor, client_number: str, birth_date: dt.date, reference: str = ""
) -> list[str]:
    """Correct a birth date (R68); a correction making the person a minor lapses their granted
    and pending consents (R7 / D1). Returns the channels that lapsed."""
    client = lock_client(client_number)
    old = client.birth_date
    if old == birth_date:
        return []
    client.birth_date = birth_date
    _validate_client(client)
    _touch(client, "birth_date")
    audit.append(
        action="client.birth_date_corrected",
        actor=actor,
        client_id=client.pk,
        client_number=client.client_number,
        personal={
            "old": old.isoformat() if old else None,
            "new": birth_date.isoformat(),
            "reference": reference,
        },
    )
    if client.is_minor() and policy.LAPSE_ON_INCAPACITY:
        return lapse_consents(client=client, reason="legal_capacity", occurred_at=timezone.now())
    return []


IDENTITY_FIELDS = (
    "civility",
    "first_name",
    "last_name",
    "status",
    "branch",
    "relationship_ended_on",
    "objection_notice_shown",
)
# Facts about the relationship, not the person: logged in clear.
_PLAIN_FIELDS = ("status", "branch", "relationship_ended_on", "objection_notice_shown")


def _loggable(value: Any) -> Any:
    if isinstance(value, Branch):
        return value.code
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


@transaction.atomic
def update_client_identity(*, actor: Actor, client_number: str, **values: Any) -> Client:
    """Change names, civility, status or branch (not contact data, capacity or birth date)."""
    unknown = set(values) - set(IDENTITY_FIELDS)
    if unknown:
        raise TypeError(f"not identity fields: {sorted(unknown)}")
    client = lock_client(client_number)
    old = {name: getattr(client, name) for name in values}
    for name, value in values.items():
        setattr(client, name, value)
    _validate_client(client)
    changed = [name for name in values if getattr(client, name) != old[name]]
    if not changed:
        return client
    _touch(client, *changed)
    plain = {n: _loggable(getattr(client, n)) for n in changed if n in _PLAIN_FIELDS}
    personal = {n: getattr(client, n) for n in changed if n not in _PLAIN_FIELDS}
    audit.append(
        action="client.identity_changed",
        actor=actor,
        client_id=client.pk,
        client_number=client.client_number,
        data={"changed": sorted(changed), **plain},
        personal=personal or None,
    )
    return client


@transaction.atomic
def create_staff_member(
    *,
    actor: Actor,
    username: str,
    password: str | None,
    role: str,
    branch: Branch | None = None,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
) -> User:
    """Create a staff account with its role group and profile; logged (R55)."""
    user = User(
        username=username,
        first_name=first_name,
        last_name=last_name,
        email=email,
        is_staff=True,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean()
    user.save()
    profile = StaffProfile(user=user, role=role, branch=branch)
    profile.full_clean()
    profile.save()
    set_role_group(user, role)
    audit.append(
        action="staff.created",
        actor=actor,
        data={"staff": f"staff:{user.pk}", "role": role, "branch": branch.code if branch else ""},
    )
    return user


def set_staff_language(*, user: User, language: str) -> None:
    """The language of the back-office pages for this staff member (French or English)."""
    if language not in Language.values:
        raise ValidationError({"language": _("Langue inconnue.")})
    StaffProfile.objects.filter(user=user).update(language=language)
