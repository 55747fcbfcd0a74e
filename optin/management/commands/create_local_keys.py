"""python manage.py create_local_keys — keys for a local installation (never production)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from optin.checkpoints import write_local_keys


class Command(BaseCommand):
    help = (
        "Write a local master key (log encryption) and a local Ed25519 checkpoint key under "
        "var/keys/ when missing. Production keys come from the environment instead."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        directory = settings.OPTIN_LOCAL_MASTER_KEY_FILE.parent
        written = write_local_keys(directory)
        for path in written:
            self.stdout.write(f"Created the local key {path}")
        if not written:
            self.stdout.write(f"Local keys already present in {directory}")
