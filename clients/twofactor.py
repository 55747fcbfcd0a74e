"""The second factor of staff logins (django-otp): an authenticator app (TOTP) enrolled at the
first login by QR code, and single-use backup codes. Enrolment and new codes are logged."""

from __future__ import annotations

import datetime as dt
from base64 import b32encode
from dataclasses import dataclass

import segno
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django_otp import verify_token
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from clients.roles import actor_for
from optin import audit
from optin.audit import Actor
from optin.models import ActorType

APP_DEVICE = "application"  # the TOTP device's name
BACKUP_DEVICE = "codes de secours"


def _actor(user: User) -> Actor:
    try:
        return actor_for(user)
    except PermissionError:  # an account without a staff profile
        return Actor(ActorType.ADMINISTRATOR, f"staff:{user.pk}")


def is_verified(user: object) -> bool:
    """Whether this request's user passed the second factor (set by django-otp's middleware)."""
    verified = getattr(user, "is_verified", None)
    return bool(verified()) if callable(verified) else False


def is_enrolled(user: User) -> bool:
    """Whether the user has an authenticator app confirmed (backup codes alone are not)."""
    return bool(TOTPDevice.objects.filter(user=user, confirmed=True).exists())


def pending_enrolment(user: User) -> TOTPDevice:
    """The authenticator being enrolled: the same secret until it is confirmed, so that
    reloading the page shows the same QR code."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=APP_DEVICE, confirmed=False)
    return device


def enrolment_qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URL of the device as an inline SVG QR code (no script, no image file),
    sized by its viewBox so that the page's CSS scales it whole."""
    return str(
        segno.make(device.config_url, error="m").svg_inline(
            scale=5, dark="#1d3557", title="QR code", omitsize=True
        )
    )


def secret_for_manual_entry(device: TOTPDevice) -> str:
    """The secret in base32, in groups of four, for apps that cannot read the QR code."""
    secret = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@transaction.atomic
def confirm_enrolment(*, user: User, device: TOTPDevice, token: str) -> list[str] | None:
    """Confirm the authenticator with a code it shows; returns the new backup codes, or None
    when the code is wrong (nothing changes). Older authenticators of the user are removed."""
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user)
    if not device.verify_token(_digits(token)):
        return None
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _replace_backup_codes(user)
    audit.append(
        action="staff.second_factor_enrolled",
        actor=_actor(user),
        data={"staff": f"staff:{user.pk}", "backup_codes": len(codes)},
    )
    return codes


@transaction.atomic
def new_backup_codes(*, user: User) -> list[str]:
    """Replace the user's backup codes (the old ones stop working); logged."""
    codes = _replace_backup_codes(user)
    audit.append(
        action="staff.backup_codes_renewed",
        actor=_actor(user),
        data={"staff": f"staff:{user.pk}", "backup_codes": len(codes)},
    )
    return codes


def _replace_backup_codes(user: User) -> list[str]:
    device, _created = StaticDevice.objects.get_or_create(
        user=user, name=BACKUP_DEVICE, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(settings.OPTIN_BACKUP_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes


def _digits(token: str) -> str:
    return "".join(token.split())


@dataclass(frozen=True)
class Verification:
    device: Device | None
    locked_until: dt.datetime | None = None  # set when every device is slowed down


def verify_second_factor(*, user: User, token: str) -> Verification:
    """Check a code from the authenticator app or a backup code (used up when it matches).

    Each wrong code slows the devices down (django-otp's exponential throttling); while they
    are, every code is refused and `locked_until` says until when.
    """
    token = _digits(token).lower()
    locked_until: dt.datetime | None = None
    for device in _devices(user):
        allowed, info = device.verify_is_allowed()
        if not allowed:
            until = (info or {}).get("locked_until")
            if until is not None and (locked_until is None or until > locked_until):
                locked_until = until
            continue
        verified = verify_token(user, device.persistent_id, token)
        if verified is not None:
            return Verification(device=verified)
    if locked_until is not None and locked_until <= timezone.now():
        locked_until = None
    return Verification(device=None, locked_until=locked_until)


def _devices(user: User) -> list[Device]:
    return [
        *TOTPDevice.objects.filter(user=user, confirmed=True),
        *StaticDevice.objects.filter(user=user, confirmed=True),
    ]


def unused_backup_codes(user: User) -> list[str]:
    """The codes not used yet (django-otp keeps them readable: the demo prints them)."""
    return list(
        StaticToken.objects.filter(device__user=user, device__confirmed=True)
        .order_by("pk")
        .values_list("token", flat=True)
    )


def remaining_backup_codes(user: User) -> int:
    return int(StaticToken.objects.filter(device__user=user, device__confirmed=True).count())
