"""python manage.py expire_pending_forms — R28, run daily (cron or any scheduler)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from signatures.services import expire_pending_forms


class Command(BaseCommand):
    help = (
        "Expire the consent forms still unsigned after OPTIN_SIGNATURE_DELAY_DAYS days: each "
        "channel returns to its prior state, logged with actor system. Safe to run twice."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        expired = expire_pending_forms()
        for reference in expired:
            self.stdout.write(f"expired {reference}")
        self.stdout.write(
            f"{len(expired)} form(s) expired (pending longer than "
            f"{settings.OPTIN_SIGNATURE_DELAY_DAYS} days)."
        )
