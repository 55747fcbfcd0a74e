"""Logging a test client in as staff with both factors, as the login pages do."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice


def login_verified(http: Client, user: Any) -> TOTPDevice:
    """Log `user` in with a verified second factor (an enrolled authenticator app)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="application", confirmed=True)
    http.force_login(user)
    session = http.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device
