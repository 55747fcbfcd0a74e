"""R51: every action the code writes to the log has its label on the audit trail, the
customer's history and the proof bundle (one table, optin.selectors.ACTION_LABELS)."""

from __future__ import annotations

import re
from pathlib import Path

from optin.selectors import ACTION_LABELS
from optin.transitions import TABLE

ROOT = Path(__file__).resolve().parents[2]
WRITTEN = re.compile(r'action="([a-z_]+\.[a-z_]+)"')
# An action chosen by a condition: `action="x.y" if … else "x.z"`.
CHOSEN = re.compile(r'action="[a-z_.]+" if [^\n]* else "([a-z_]+\.[a-z_]+)"')


def written_actions() -> set[str]:
    found = {cell.action for cell in TABLE.values()}
    for package in ("optin", "clients", "signatures"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            found |= set(WRITTEN.findall(text)) | set(CHOSEN.findall(text))
    return found


def test_every_written_action_has_a_label() -> None:
    actions = written_actions()
    assert {"consent.granted", "form.signed", "audit_trail.export_started"} <= actions
    assert sorted(actions - set(ACTION_LABELS)) == []
