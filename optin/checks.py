"""Deployment checks of optin's own settings (`manage.py check --deploy`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def public_url_check(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """Unsubscribe and confirmation links must point at the public HTTPS address."""
    if settings.OPTIN_PUBLIC_URL.startswith("https://") and "127.0.0.1" not in (
        settings.OPTIN_PUBLIC_URL
    ):
        return []
    return [
        Warning(
            "OPTIN_PUBLIC_URL is not the service's public HTTPS address: the unsubscribe links "
            "of the opt-in list and the confirmation e-mails would not reach it.",
            id="optin.W001",
        )
    ]
