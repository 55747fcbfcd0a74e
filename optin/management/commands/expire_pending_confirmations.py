"""python manage.py expire_pending_confirmations — R36, run daily (cron or any scheduler)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from optin.services import expire_pending_confirmations


class Command(BaseCommand):
    help = (
        "Return to their prior state the e-mail consents still awaiting confirmation "
        "OPTIN_CONFIRMATION_DELAY_DAYS days after their link was sent (double opt-in), logged "
        "with actor system. Safe to run twice."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        expired = expire_pending_confirmations()
        for number in expired:
            self.stdout.write(f"expired the confirmation of client {number}")
        self.stdout.write(
            f"{len(expired)} confirmation(s) expired (older than "
            f"{settings.OPTIN_CONFIRMATION_DELAY_DAYS} days)."
        )
