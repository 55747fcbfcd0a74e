"""The shared report of the benchmarks: docs/PERFORMANCE.md, one section per script."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
REPORT_PATH = PROJECT_DIR / "docs" / "PERFORMANCE.md"
REPORT_HEADER = (
    "# Performance\n\n"
    "Benchmarks of optin and their latest results. Each section is written by its script;\n"
    "running a script again replaces its section and keeps the others.\n"
)


def wrap(line: str) -> str:
    """Prose lines folded at 100 columns (bullets indented); table rows kept whole."""
    if line.startswith(("|", "#")) or len(line) <= 100:
        return line
    indent = "  " if line.startswith("- ") else ""
    return textwrap.fill(
        line, width=100, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    )


def write_section(title: str, section: str, path: Path = REPORT_PATH) -> None:
    """Replace the section `title` (from its title to the next `## `), or append it."""
    text = path.read_text(encoding="utf-8") if path.exists() else REPORT_HEADER
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == title), None)
    if start is None:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        rest = "".join(lines[end:])
        text = "".join(lines[:start]) + section + ("\n" + rest if rest else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def conclude(
    title: str, report: str, targets: list[tuple[str, str, bool]], *, write_docs: bool
) -> int:
    """The end of every benchmark: print the report, write its section unless asked not to,
    list each target (target, measured, met) and return the exit status (1 if one was missed)."""
    print()
    print(report)
    if write_docs:
        write_section(title, report)
        print(f"written to {REPORT_PATH.relative_to(PROJECT_DIR)}", flush=True)
    for target, measured, met in targets:
        print(f"{'MET   ' if met else 'MISSED'}  {target}: {measured}")
    missed = sum(not met for _target, _measured, met in targets)
    if missed:
        print(f"\n{missed} target(s) missed.", file=sys.stderr)
        return 1
    print("\nAll targets met.")
    return 0
