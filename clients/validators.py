"""Validation and normalisation of contact points and identity fields (R66-R68)."""

from __future__ import annotations

import re

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _
from email_validator import EmailNotValidError, validate_email

CLIENT_NUMBER_PATTERN = r"^[A-Za-z0-9-]{1,32}\Z"  # R68
CLIENT_NUMBER = re.compile(CLIENT_NUMBER_PATTERN)
client_number_validator = RegexValidator(
    CLIENT_NUMBER_PATTERN,
    _("Le numéro client comporte de 1 à 32 lettres, chiffres ou tirets."),
    code="invalid_client_number",
)

# R67: where a 10-digit national number that is not a metropolitan mobile is tried next.
OVERSEAS_REGIONS = ("GP", "MQ", "GF", "RE", "YT")
_MOBILE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}
_ALLOWED_PHONE_CHARS = re.compile(r"^[0-9+\s().\-]+\Z")


def normalize_email(value: str) -> str:
    """R66: trimmed, domain lower-cased, local part kept as typed; ValidationError otherwise."""
    candidate = (value or "").strip()
    if not candidate:
        raise ValidationError(_("Saisissez une adresse e-mail."), code="required")
    if len(candidate) > 254:
        raise ValidationError(_("L'adresse e-mail dépasse 254 caractères."), code="too_long")
    try:
        result = validate_email(
            candidate,
            check_deliverability=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            globally_deliverable=True,
        )
    except EmailNotValidError as exc:
        raise ValidationError(
            _("Adresse e-mail invalide : %(reason)s"), code="invalid_email", params={"reason": exc}
        ) from None
    # email-validator lower-cases the domain and may normalise the local part's Unicode;
    # R66 keeps the local part exactly as typed.
    local = candidate.rsplit("@", 1)[0]
    return f"{local}@{result.domain.lower()}"


def normalize_mobile(value: str) -> str:
    """R67: a French (metropolitan or overseas) or foreign mobile number, as E.164."""
    candidate = (value or "").strip()
    if not candidate:
        raise ValidationError(_("Saisissez un numéro de mobile."), code="required")
    if not _ALLOWED_PHONE_CHARS.match(candidate):
        # letters, extensions ("ext 2", "poste 2") and any other character are refused
        raise ValidationError(
            _("Le numéro ne doit contenir que des chiffres."), code="invalid_mobile"
        )
    number = _parse(candidate, "FR")
    if number is not None and _is_mobile(number):
        return _e164(number)
    digits = re.sub(r"\D", "", candidate)
    if len(digits) == 10 and digits.startswith("0"):
        for region in OVERSEAS_REGIONS:
            overseas = _parse(candidate, region)
            if overseas is not None and _is_mobile(overseas):
                return _e164(overseas)
    raise ValidationError(
        _("Ce numéro n'est pas un numéro de mobile valide."), code="invalid_mobile"
    )


def _parse(value: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if number.extension:
        return None
    return number


def _is_mobile(number: phonenumbers.PhoneNumber) -> bool:
    return phonenumbers.is_valid_number(number) and (
        phonenumbers.number_type(number) in _MOBILE_TYPES
    )


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
