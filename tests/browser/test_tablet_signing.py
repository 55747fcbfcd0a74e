"""R25 in the browser: the tablet page's pad, its checks and its submission.

The pad refuses, before anything is sent, an empty pad, a tap, a straight line and a tiny
scribble (the same thresholds as signatures/capture.py); a real signature is posted with
its strokes and canvas size and signs the form; resizing the window keeps the drawing.
These tests commit (see conftest.py): they run with `-m committed` on PostgreSQL.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.urls import reverse

from optin.models import AuditEntry, ConsentState
from signatures.models import ConsentForm, FormStatus
from tests.factories import ClientFactory
from tests.signatures.drawing import handwriting, stroke

pytestmark = [pytest.mark.postgres, pytest.mark.committed]


@pytest.fixture
def pending_form(advisor: Any, collect: Any) -> ConsentForm:
    customer = ClientFactory(
        client_number=f"W{uuid.uuid4().hex[:12]}", branch=advisor.staff_profile.branch
    )
    form = collect(customer, email="yes", sms_push="yes").form
    assert form is not None
    return form


def tablet_page(page_as: Any, live_url: str, advisor: Any, form: ConsentForm) -> Any:
    page = page_as(advisor)
    url = reverse("signatures:sign_tablet", args=[form.client.client_number, form.reference])
    page.goto(live_url + url)
    page.select_option("#id_identity_document", "id_card")
    return page


@pytest.mark.parametrize(
    ("strokes", "message"),
    [
        ([], "Le client doit signer dans le cadre"),
        ([stroke([(100, 100)])], "Une ligne droite ou un point"),
        ([stroke([(50 + 5 * i, 120) for i in range(40)])], "Une ligne droite ou un point"),
        (
            [
                stroke(
                    [(50 + 5 * i, 120) for i in range(40)] + [(245 - 5 * i, 121) for i in range(40)]
                )
            ],
            "Une ligne droite ou un point",
        ),
        (
            [stroke([(100 + (i % 5) * 2, 100 + (i % 3) * 2) for i in range(30)])],
            "La signature est trop petite",
        ),
    ],
    ids=["empty", "tap", "straight-line", "line-drawn-back", "tiny-scribble"],
)
def test_the_pad_refuses_what_is_not_a_signature_and_posts_nothing(
    page_as: Any,
    live_url: str,
    advisor: Any,
    pending_form: ConsentForm,
    strokes: Any,
    message: str,
) -> None:
    page = tablet_page(page_as, live_url, advisor, pending_form)
    entries = AuditEntry.objects.count()
    if strokes:
        page.evaluate("data => window.optinSignature.pad.fromData(data)", strokes)
    page.click("button[type=submit]")
    error = page.locator("#signature-error")
    error.wait_for(state="visible")
    assert message in error.inner_text()
    assert page.url.endswith("/tablette/")
    pending_form.refresh_from_db()
    assert pending_form.status == FormStatus.PENDING
    assert AuditEntry.objects.count() == entries


def test_the_browser_check_mirrors_the_server_thresholds(
    page_as: Any, live_url: str, advisor: Any, pending_form: ConsentForm
) -> None:
    page = tablet_page(page_as, live_url, advisor, pending_form)
    check = "data => window.optinSignature.check(data)"
    assert page.evaluate(check, handwriting()) == {"ok": True}
    # Two straight lines are ignored, a third one counts (and is big enough).
    lines = [stroke([(50 + 5 * i, y) for i in range(40)]) for y in (40, 80, 120)]
    assert page.evaluate(check, lines[:2])["code"] == "straight_line"
    assert page.evaluate(check, lines) == {"ok": True}
    # Strokes of two points do not count.
    assert page.evaluate(check, [stroke([(10, 10), (90, 90)])])["code"] == "straight_line"


def test_a_drawn_signature_is_posted_and_signs_the_form(
    page_as: Any, live_url: str, advisor: Any, pending_form: ConsentForm
) -> None:
    page = tablet_page(page_as, live_url, advisor, pending_form)
    page.evaluate("data => window.optinSignature.pad.fromData(data)", handwriting())
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "Formulaire signé" in page.content()
    pending_form.refresh_from_db()
    assert pending_form.status == FormStatus.SIGNED
    assert pending_form.method == "tablet"
    tablet = pending_form.evidence["tablet"]
    assert tablet["strokes"] == 3 and tablet["points"] == 240
    assert tablet["canvas_width"] > 100 and tablet["device_pixel_ratio"] >= 1
    assert pending_form.evidence["session"]["user_agent"].startswith("Mozilla/")
    states = ConsentState.objects.filter(client=pending_form.client)
    assert {s.status for s in states} == {"granted"}


def test_resizing_the_window_keeps_the_drawing(
    page_as: Any, live_url: str, advisor: Any, pending_form: ConsentForm
) -> None:
    page = tablet_page(page_as, live_url, advisor, pending_form)
    page.evaluate("data => window.optinSignature.pad.fromData(data)", handwriting())
    page.set_viewport_size({"width": 800, "height": 1100})
    page.wait_for_timeout(200)
    points = page.evaluate(
        "() => window.optinSignature.pad.toData().reduce((n, s) => n + s.points.length, 0)"
    )
    assert points == 240
    assert page.evaluate("() => window.optinSignature.pad.isEmpty()") is False
