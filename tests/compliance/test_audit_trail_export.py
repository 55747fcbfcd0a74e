"""The CSV export of a filtered audit trail: exactly the filtered entries in log order, each row
re-verifiable against its hash with the CSV alone, personal values sealed, and the export
itself logged when it starts and when it ends (R51, R53, R55)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from clients.models import Client
from optin.models import AuditEntry

EXPORT = reverse("compliance:trail_export")


def read_csv(response: Any) -> list[dict[str, str]]:
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def customers(
    client_factory: Callable[..., Client], grant: Callable[..., Any], decide: Callable[..., Any]
) -> list[Client]:
    made = [client_factory(email=f"client{i}@exemple.fr") for i in range(3)]
    for customer in made:
        grant(customer, "email")
        decide(customer, "sms_push", "refuse")
    decide(made[0], "email", "withdraw")
    return made


def test_the_export_holds_the_filtered_entries_in_log_order(
    customers: list[Client], compliance_http: HttpClient
) -> None:
    response = compliance_http.get(EXPORT, {"channel": "email"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = read_csv(response)
    wanted = list(
        AuditEntry.objects.filter(channel="email").order_by("seq").values_list("seq", flat=True)
    )
    assert [int(row["seq"]) for row in rows] == wanted


def test_each_row_reverifies_with_plain_python(
    customers: list[Client], compliance_http: HttpClient
) -> None:
    rows = read_csv(compliance_http.get(EXPORT, {"client": customers[0].client_number}))
    assert len(rows) >= 4
    for row in rows:
        header = json.dumps(
            {
                "seq": int(row["seq"]),
                "recorded_at": row["recorded_at"],
                "occurred_at": row["occurred_at"],
                "actor_type": row["actor_type"],
                "actor_id": row["actor_id"],
                "action": row["action"],
                "client_id": int(row["client_id"]) if row["client_id"] else None,
                "client_number": row["client_number"],
                "channel": row["channel"],
                "wording_version": row["wording_version"],
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        digest = hashlib.sha256(
            f"{row['prev_hash']}\n{header}\n{row['payload']}".encode()
        ).hexdigest()
        assert digest == row["hash"], f"entry {row['seq']}"


def test_personal_values_stay_sealed_in_the_export(
    customers: list[Client], compliance_http: HttpClient
) -> None:
    text = b"".join(compliance_http.get(EXPORT).streaming_content).decode()
    for customer in customers:
        assert customer.email not in text
        assert customer.last_name not in text
    assert "192.0.2.1" not in text  # the IP address of the digital grants


def test_the_export_is_logged_when_it_starts_and_when_it_ends(
    customers: list[Client], compliance: Any, compliance_http: HttpClient
) -> None:
    before = AuditEntry.objects.order_by("-seq").first()
    assert before is not None
    response = compliance_http.get(EXPORT, {"action": "consent.refused"})
    started = AuditEntry.objects.filter(seq__gt=before.seq)
    assert [e.action for e in started] == ["audit_trail.export_started"]
    rows = read_csv(response)
    assert len(rows) == 3
    logged = list(AuditEntry.objects.filter(seq__gt=before.seq).order_by("seq"))
    assert [e.action for e in logged] == ["audit_trail.export_started", "audit_trail.exported"]
    assert {e.actor_id for e in logged} == {f"staff:{compliance.pk}"}
    assert json.loads(logged[1].payload)["rows"] == 3
    assert json.loads(logged[1].payload)["complete"] is True
    assert json.loads(logged[1].payload)["filters"] == {"action": "consent.refused"}


def test_an_interrupted_export_is_logged_incomplete(
    customers: list[Client], compliance: Any
) -> None:
    from clients.roles import actor_for
    from optin.compliance.selectors import TrailFilters
    from optin.compliance.views.trail import _export_lines

    lines = _export_lines(actor_for(compliance), TrailFilters(), up_to=10)
    next(lines)
    lines.close()  # the connection closed mid-way: the server closes the response's iterator
    last = AuditEntry.objects.order_by("-seq").first()
    assert last is not None and last.action == "audit_trail.exported"
    assert json.loads(last.payload)["complete"] is False


def test_a_bad_filter_exports_nothing_and_logs_nothing(
    customers: list[Client], compliance_http: HttpClient
) -> None:
    count = AuditEntry.objects.count()
    response = compliance_http.get(EXPORT, {"since": "hier"})
    assert response.status_code == 400
    assert AuditEntry.objects.count() == count


def test_the_documented_script_reverifies_an_export(
    customers: list[Client], compliance_http: HttpClient, tmp_path: Any, monkeypatch: Any
) -> None:
    """docs/COMPLIANCE.md gives the few lines that re-verify an export: they run as written."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "COMPLIANCE.md").read_text()
    script = doc.split("```python\n", 1)[1].split("```", 1)[0]
    text = b"".join(compliance_http.get(EXPORT).streaming_content)
    (tmp_path / "journal-audit.csv").write_bytes(text)
    monkeypatch.chdir(tmp_path)
    exec(compile(script, "COMPLIANCE.md", "exec"), {})  # noqa: S102
    # And it does check: an altered payload fails it.
    altered = text.replace(b"consent.refused", b"consent.granted", 1)
    (tmp_path / "journal-audit.csv").write_bytes(altered)
    with pytest.raises(AssertionError):
        exec(compile(script, "COMPLIANCE.md", "exec"), {})  # noqa: S102
