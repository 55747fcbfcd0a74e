"""python manage.py rotate_master_key — re-wrap the client keys under the current master key."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from optin.errors import DomainError
from optin.models import ClientKey
from optin.services import rotate_master_key


class Command(BaseCommand):
    help = (
        "Re-wrap every client key still wrapped by a former master key "
        "(OPTIN_AUDIT_MASTER_KEY_FALLBACKS) under the current OPTIN_AUDIT_MASTER_KEY. The log "
        "is not touched. Safe to run twice; afterwards the former keys can be removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=1_000, help="client keys per transaction"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1", returncode=2)
        stream = getattr(self.stderr, "_out", sys.stderr)
        total = ClientKey.objects.filter(destroyed_at__isnull=True).count()
        with tqdm(total=total, unit=" keys", disable=not stream.isatty(), file=stream) as bar:
            try:
                rotation = rotate_master_key(batch_size=options["batch_size"], progress=bar.update)
            except DomainError as exc:
                raise CommandError(exc.message, returncode=1) from None
        if rotation.rewrapped:
            self.stdout.write(
                f"OK: {rotation.rewrapped} client key(s) re-wrapped from "
                f"{', '.join(rotation.former_ids)} to master key {rotation.master_key_id}; "
                "the former master keys can now be removed."
            )
        else:
            self.stdout.write(
                f"OK: every client key is wrapped by master key {rotation.master_key_id}."
            )
