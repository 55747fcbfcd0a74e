"""python manage.py audit_checkpoint — sign the chain head, store it and export it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from optin.checkpoints import create_checkpoint


class Command(BaseCommand):
    help = (
        "Sign the head of the audit log (sequence, hash, time) with the Ed25519 checkpoint "
        "key, store the checkpoint and write it to OPTIN_CHECKPOINT_DIR. Safe to run twice."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            checkpoint = create_checkpoint()
        except (ImproperlyConfigured, OSError) as exc:
            raise CommandError(str(exc)) from exc
        if checkpoint is None:
            self.stdout.write("Nothing to sign: the log is empty or its head is already signed.")
            return
        self.stdout.write(
            f"Checkpoint #{checkpoint.seq} {checkpoint.entry_hash[:16]}… signed (key "
            f"{checkpoint.key_id}) and written to {settings.OPTIN_CHECKPOINT_DIR}"
        )
