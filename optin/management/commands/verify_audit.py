"""python manage.py verify_audit — exit 0 when the log holds, 1 naming the first bad entry."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from optin.integrity import head_seq
from optin.services import run_verification

PROGRESS_FROM = 100_000  # entries; below this the check takes well under a second


class Command(BaseCommand):
    help = (
        "Recompute the audit log's hash chain, check its signed checkpoints (database and "
        "exported files) and compare the consent states with the replay of the log; or, with "
        "--first/--last, check a range of it. Each run is kept for the integrity page."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--progress",
            choices=["auto", "always", "never"],
            default="auto",
            help="progress bar on stderr (auto: on a terminal, for a large log)",
        )
        parser.add_argument(
            "--first",
            type=int,
            default=1,
            help="verify from this entry (linked to the stored hash of the one before it)",
        )
        parser.add_argument(
            "--last", type=int, default=None, help="verify up to this entry (default: the head)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        first, last = options["first"], options["last"]
        if first < 1 or (last is not None and last < first):
            raise CommandError(f"no such range of the log: {first} to {last}", returncode=2)
        total = (last if last is not None else head_seq()) - first + 1
        # The bar rewrites its line with "\r": it writes to the raw stream, not to Django's
        # wrapper (which ends every write with a newline).
        stream = getattr(self.stderr, "_out", sys.stderr)
        show = options["progress"] == "always" or (
            options["progress"] == "auto" and total >= PROGRESS_FROM and stream.isatty()
        )
        with tqdm(total=total, unit=" entries", disable=not show, file=stream) as bar:
            result, _run = run_verification(
                run_by="system:verify_audit", first=first, last=last, progress=bar.update
            )
        if not result.ok:
            others = len(result.problems) - 1
            more = f" ({others} more problem{'s' if others > 1 else ''})" if others else ""
            raise CommandError(f"FAIL: {result.first_bad}{more}", returncode=1)
        if not result.full:
            self.stdout.write(
                f"OK: {result.entries} entries from #{first} to #{result.head_seq} "
                f"{result.head_hash[:16]}…, {result.checkpoints} checkpoint(s) matched "
                "(consent states are compared on the whole log only)"
            )
            return
        self.stdout.write(
            f"OK: {result.entries} entries, head #{result.head_seq} {result.head_hash[:16]}…, "
            f"{result.checkpoints} checkpoint(s) matched, {result.states} consent states "
            "match the log"
        )
