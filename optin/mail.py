"""The double opt-in confirmation message (R36): contractual, with no promotional content."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from clients.models import Client
from optin.models import AuditEntry
from optin.tokens import confirmation_token
from optin.transitions import Effect, Step


def public_url(path: str) -> str:
    return settings.OPTIN_PUBLIC_URL + path


def confirmation_url(client: Client, entry: AuditEntry) -> str:
    token = confirmation_token(client.pk, entry.seq, client.email)
    return public_url(reverse("optin:confirm", args=[token]))


def send_confirmation_on_new_link(
    sender: Any, *, client: Client, step: Step, entry: AuditEntry, **kwargs: Any
) -> None:
    """Receiver of `consent_step_applied`: a digital e-mail grant under double opt-in sends its
    link once the transaction commits (never for a grant rolled back)."""
    if Effect.NEW_LINK not in step.effects:
        return
    address, url = client.email, confirmation_url(client, entry)
    with translation.override("fr"):
        context = {
            "bank": settings.OPTIN_BANK_NAME,
            "url": url,
            "days": settings.OPTIN_CONFIRMATION_DELAY_DAYS,
        }
        subject = render_to_string("public/confirmation_subject.txt", context).strip()
        body = render_to_string("public/confirmation_email.txt", context)
    transaction.on_commit(
        lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address]), robust=True
    )
