"""python manage.py seal_certificate — the bank's seal certificate, in PEM, on stdout."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from signatures.sealing import seal_certificate, seal_certificate_pem


class Command(BaseCommand):
    help = (
        "Print the certificate of the seal on signed forms (PEM), to verify them outside the "
        "application (docs/SIGNATURES.md). Its fingerprint goes to stderr."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(seal_certificate_pem().decode("ascii"), ending="")
        info = seal_certificate()
        self.stderr.write(f"{info.subject}; serial {info.serial}; SHA-256 {info.sha256}")
