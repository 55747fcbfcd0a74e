"""python manage.py create_local_keys — keys for a local installation (never production)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from optin.checkpoints import write_local_keys
from signatures.sealing import write_development_seal


class Command(BaseCommand):
    help = (
        "Write a local master key (log encryption), a local Ed25519 checkpoint key and a "
        "self-signed development seal for signed forms under var/keys/ when missing. "
        "Production keys come from the environment instead."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        directory = settings.OPTIN_LOCAL_MASTER_KEY_FILE.parent
        written = write_local_keys(directory)
        for path in written:
            self.stdout.write(f"Created the local key {path}")
        seal = settings.OPTIN_SEAL_PKCS12
        if write_development_seal(
            seal, bank_name=settings.OPTIN_BANK_NAME, passphrase=settings.OPTIN_SEAL_PASSPHRASE
        ):
            written.append(seal)
            self.stdout.write(
                f"Created a SELF-SIGNED DEVELOPMENT seal {seal}: signed forms are sealed with it. "
                "It proves nothing outside this machine; production sets OPTIN_SEAL_PKCS12_PATH "
                "to the bank's certificate."
            )
        if not written:
            self.stdout.write(f"Local keys already present in {directory}")
