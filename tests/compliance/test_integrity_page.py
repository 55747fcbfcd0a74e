"""The integrity page runs the verification of `verify_audit` on the whole log or a range,
shows its result naming the first bad entry, the last signed checkpoints and when the chain was
last verified (R53)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from clients.models import Client
from optin import audit
from optin.checkpoints import create_checkpoint
from optin.models import AuditEntry, VerificationRun
from tests.clients.pages import visible_text
from tests.tamper import triggers_disabled

INTEGRITY = reverse("compliance:integrity")


@pytest.fixture
def history(
    client_factory: Callable[..., Client], grant: Callable[..., Any], decide: Callable[..., Any]
) -> None:
    for _ in range(3):
        customer = client_factory()
        grant(customer, "email")
        decide(customer, "sms_push", "refuse")


def test_the_page_shows_the_head_the_checkpoints_and_the_last_full_verification(
    history: None, compliance_http: HttpClient
) -> None:
    checkpoint = create_checkpoint()
    assert checkpoint is not None
    response = compliance_http.get(INTEGRITY)
    assert response.status_code == 200
    text = visible_text(response)
    head = AuditEntry.objects.order_by("-seq").first()
    assert head is not None
    assert head.hash in text
    assert checkpoint.entry_hash in text
    assert "Jamais vérifié en entier" in text


def test_a_full_verification_from_the_page_is_kept_and_shown(
    history: None, compliance: Any, compliance_http: HttpClient
) -> None:
    entries = AuditEntry.objects.count()
    response = compliance_http.post(INTEGRITY, {"scope": "full"})
    run = VerificationRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{INTEGRITY}?run={run.pk}"
    assert (run.scope, run.ok, run.entries, run.states) == ("full", True, entries, 6)
    assert run.run_by == f"compliance:staff:{compliance.pk}"
    text = visible_text(compliance_http.get(response["Location"]))
    assert "Le journal est intègre" in text
    assert f"{entries} entrées vérifiées" in text
    assert "Jamais vérifié en entier" not in text


def test_an_altered_entry_is_named_on_the_page(history: None, compliance_http: HttpClient) -> None:
    payload = json.loads(AuditEntry.objects.get(seq=5).payload)
    payload["journey"] = "branch_request"
    with triggers_disabled():
        AuditEntry.objects.filter(seq=5).update(payload=audit.canonical_json(payload))
    response = compliance_http.post(INTEGRITY, {"scope": "full"}, follow=True)
    text = visible_text(response)
    assert "Le journal n'est pas intègre" in text
    assert "Première entrée en défaut : n° 5." in text
    assert f'href="{reverse("compliance:entry", args=[5])}"' in response.content.decode()
    # The entry's own page says so too.
    entry_page = visible_text(compliance_http.get(reverse("compliance:entry", args=[5])))
    assert "entrée modifiée" in entry_page


def test_a_range_is_verified_from_the_page(history: None, compliance_http: HttpClient) -> None:
    compliance_http.post(INTEGRITY, {"scope": "range", "first": "3", "last": "6"})
    run = VerificationRun.objects.get()
    assert (run.scope, run.first_seq, run.last_seq, run.entries, run.states) == (
        "range",
        3,
        6,
        4,
        0,
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"scope": "range", "first": "50", "last": "60"}, "first"),
        ({"scope": "range", "first": "2", "last": "99"}, "last"),
        ({"scope": "range", "first": "6", "last": "3"}, "last"),
        ({"scope": "range", "first": "abc"}, "first"),
        ({"scope": "everything"}, "scope"),
    ],
)
def test_a_bad_range_is_a_form_error(
    history: None, compliance_http: HttpClient, data: dict[str, str], field: str
) -> None:
    response = compliance_http.post(INTEGRITY, data)
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert not VerificationRun.objects.exists()


def test_a_log_larger_than_the_page_limit_is_verified_by_ranges_only(
    history: None, compliance_http: HttpClient, settings: Any
) -> None:
    settings.OPTIN_VERIFY_PAGE_MAX_ENTRIES = 5
    response = compliance_http.post(INTEGRITY, {"scope": "full"})
    assert response.status_code == 400
    assert "verify_audit" in visible_text(response)
    assert not VerificationRun.objects.exists()
    compliance_http.post(INTEGRITY, {"scope": "range", "first": "1", "last": "5"})
    assert VerificationRun.objects.get().ok


@pytest.mark.parametrize("who", ["advisor_http", "administrator_http"])
def test_only_compliance_sees_and_runs_the_verification(
    history: None, who: str, request: pytest.FixtureRequest
) -> None:
    http: HttpClient = request.getfixturevalue(who)
    assert http.get(INTEGRITY).status_code == 403
    assert http.post(INTEGRITY, {"scope": "full"}).status_code == 403
    assert not VerificationRun.objects.exists()
