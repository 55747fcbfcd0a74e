"""python manage.py purge_retention [--dry-run] — the retention purges of R60-R63 (daily)."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from privacy import retention

PROGRESS_FROM = 200  # items; below this a run takes a few seconds


class Command(BaseCommand):
    help = (
        "Purge what the retention rules make due today: prospects 3 years after their last "
        "contact and former customers 3 years after the relationship (erased, R60-R61), "
        "unsigned forms' PDFs 90 days after they ended and the proof of consents ended 5 years "
        "ago (R63), suppression-list entries past their period (R62). Logs the run's counts; "
        "running it twice the same day changes nothing more. --dry-run lists what it would do."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="list what is due, change nothing"
        )
        parser.add_argument(
            "--progress",
            choices=["auto", "always", "never"],
            default="auto",
            help="progress bar on stderr (auto: on a terminal, for a large run)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        due = retention.plan()
        if options["dry_run"]:
            self._print(due, "would purge")
            return
        stream = getattr(self.stderr, "_out", sys.stderr)
        items = due.total - due.suppression_entries
        show = options["progress"] == "always" or (
            options["progress"] == "auto" and items >= PROGRESS_FROM and stream.isatty()
        )
        try:
            with tqdm(total=items, unit=" items", disable=not show, file=stream) as bar:
                done = retention.purge_retention(progress=bar.update)
        except retention.PurgeRunning as exc:
            raise CommandError(str(exc), returncode=3) from exc
        self._print(done, "purged", listing=False)
        if done.seq is not None:
            self.stdout.write(f"logged as entry #{done.seq}")

    def _print(self, report: retention.PurgeReport, verb: str, listing: bool = True) -> None:
        self.stdout.write(f"{report.today.isoformat()}: {verb}")
        labels = {
            "prospects": ("prospects erased (R60)", report.prospects),
            "former_customers": ("former customers erased (R61)", report.former_customers),
            "unsigned_pdfs": ("unsigned forms' PDFs deleted (R63)", report.unsigned_pdfs),
            "signed_forms": (
                "signed forms' files deleted, proof expired (R63)",
                report.signed_forms,
            ),
            "keys": ("clients' keys destroyed, proof expired (R63)", report.keys),
        }
        for name, count in report.counts().items():
            if name == "suppression_entries":
                self.stdout.write(f"  {count} suppression-list entries expired (R62)")
                continue
            label, items = labels[name]
            self.stdout.write(f"  {count} {label}")
            if listing:
                for item in items:
                    self.stdout.write(f"    {item}")
