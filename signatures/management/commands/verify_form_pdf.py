"""python manage.py verify_form_pdf FILE... — check the bank's seal on signed forms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from signatures.models import ConsentForm
from signatures.sealing import verify_sealed_pdf


class Command(BaseCommand):
    help = (
        "Verify signed form PDFs: the seal is intact, made by a trusted certificate, covers "
        "the entire file, and the file's SHA-256 is the one recorded for its form. Exit 1 "
        "when any file fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        failed = 0
        for path in options["files"]:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise CommandError(f"{path}: {exc.strerror}") from None
            check = verify_sealed_pdf(data)
            form = ConsentForm.objects.filter(signed_pdf_sha256=check.sha256).first()
            if check.ok and form is None:
                line = f"{path}: seal valid, but no form recorded with SHA-256 {check.sha256}"
                failed += 1
            elif check.ok:
                line = (
                    f"{path}: OK — form {form.reference if form else ''}, sealed by "
                    f"{check.signer} at {check.signed_at}, SHA-256 {check.sha256}"
                )
            else:
                line = f"{path}: FAILED — {check.reason} (SHA-256 {check.sha256})"
                failed += 1
            self.stdout.write(line)
        if failed:
            raise CommandError(f"{failed} file(s) failed verification", returncode=1)
