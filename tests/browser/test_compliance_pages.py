"""The compliance pages in Chromium: the audit trail filtered to a customer, one entry, a range
verification and the opt-in dashboard, each screenshotted; no page is wider than the window
(R51, R53, R54, R55). These tests commit (see conftest.py): they run with `-m committed` on
PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from clients.models import Role
from optin.models import AuditEntry
from optin.services import record_decision
from tests.factories import ClientFactory, StaffFactory, web_actor

pytestmark = [pytest.mark.postgres, pytest.mark.committed]

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def officer(committed: None) -> Any:
    return StaffFactory(username=f"conf-{uuid.uuid4().hex[:8]}", role=Role.COMPLIANCE, branch=None)


@pytest.fixture
def customer(advisor: Any) -> Any:
    customer = ClientFactory(
        client_number=f"W{uuid.uuid4().hex[:12]}", branch=advisor.staff_profile.branch
    )
    for channel in ("email", "sms_push"):
        record_decision(
            client_number=customer.client_number,
            channel=channel,
            decision="grant",
            journey="digital_self_service",
            actor=web_actor(),
            wording_version=f"{channel}-v1",
            affirmative_action=True,
            evidence={"ip": "192.0.2.10", "user_agent": "browser test"},
        )
    return customer


def fits_the_window(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def screenshot(page: Any, directory: Path, name: str) -> Path:
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000
    return path


def test_the_audit_trail_and_an_entry(
    page_as: Any, live_url: str, officer: Any, customer: Any, tmp_path: Path
) -> None:
    page = page_as(officer, viewport={"width": 1280, "height": 900})
    page.goto(live_url + reverse("compliance:trail"))
    page.fill("#id_client", customer.client_number)
    page.click("form.filter-form button[type=submit]")
    page.wait_for_url("**client=*")
    rows = page.locator("table.trail tbody tr")
    entries = AuditEntry.objects.filter(client_number=customer.client_number)
    assert rows.count() == entries.count() == 3
    assert fits_the_window(page)
    screenshot(page, tmp_path, "trail")

    newest = entries.order_by("-seq").first()
    assert newest is not None
    page.click(f"a[href='{reverse('compliance:entry', args=[newest.seq])}']")
    assert page.locator("h1").inner_text().startswith(f"Entrée n° {newest.seq}")
    assert "Son contenu donne bien son empreinte" in page.content()
    assert "192.0.2.10" in page.inner_text("main")  # decrypted for compliance
    assert fits_the_window(page)
    screenshot(page, tmp_path, "entry")


def test_a_range_verification_from_the_integrity_page(
    page_as: Any, live_url: str, officer: Any, customer: Any, tmp_path: Path
) -> None:
    seqs = list(
        AuditEntry.objects.filter(client_number=customer.client_number).values_list(
            "seq", flat=True
        )
    )
    page = page_as(officer, viewport={"width": 1280, "height": 900})
    page.goto(live_url + reverse("compliance:integrity"))
    page.check("input[name=scope][value=range]")
    page.fill("#id_first", str(min(seqs)))
    page.fill("#id_last", str(max(seqs)))
    page.click(".verify-form button[type=submit]")
    page.wait_for_url("**run=*")
    verdict = page.locator(".verdict").inner_text()
    assert "Le journal est intègre" in verdict
    assert f"{max(seqs) - min(seqs) + 1} entrées vérifiées" in verdict
    assert fits_the_window(page)
    screenshot(page, tmp_path, "integrity")


def test_the_dashboard_draws_its_charts(
    page_as: Any,
    live_url: str,
    officer: Any,
    customer: Any,
    advisor: Any,
    collect: Any,
    tmp_path: Path,
) -> None:
    # A withdrawal and a form waiting for its signature, so that every chart has something.
    record_decision(
        client_number=customer.client_number,
        channel="sms_push",
        decision="withdraw",
        journey="digital_self_service",
        actor=web_actor(),
    )
    waiting = ClientFactory(
        client_number=f"W{uuid.uuid4().hex[:12]}", branch=advisor.staff_profile.branch
    )
    assert collect(waiting, email="yes").form is not None
    page = page_as(officer, viewport={"width": 1024, "height": 900})
    page.goto(live_url + reverse("compliance:dashboard"))
    charts = page.locator("main svg[role=img]")
    assert charts.count() >= 4
    width = page.evaluate("window.innerWidth")
    for index in range(charts.count()):
        box = charts.nth(index).bounding_box()
        assert box is not None and box["width"] > 200 and box["x"] + box["width"] <= width
    assert page.locator("main table").count() >= 4  # each chart's figures
    assert fits_the_window(page)
    screenshot(page, tmp_path, "dashboard")
