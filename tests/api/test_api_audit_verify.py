"""GET /api/v1/audit/verify (scope audit:read): R53 — the chain, the checkpoints and the state
projection recomputed; `ok` with the number of entries and the head, or `ok` false naming the
first bad entry after somebody went behind the triggers' back (tests/tamper.py). R55: the
scope is required; verifying writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from clients.models import Client
from optin import audit
from optin.checkpoints import create_checkpoint
from optin.models import AuditEntry, ConsentState
from tests.api.conftest import error
from tests.tamper import triggers_disabled

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit/verify"


def verify(api: APIClient) -> dict[str, Any]:
    response = api.get(URL)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"ok", "entries", "head", "first_bad"}
    return dict(body)


def last() -> AuditEntry:
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry is not None
    return entry


@pytest.fixture
def history(
    api: APIClient,
    customer: Client,
    client_factory: Callable[..., Client],
    grant: Callable[..., Any],
    decide: Callable[..., Any],
) -> Client:
    other = client_factory()
    grant(customer, "email")
    grant(customer, "sms_push")
    decide(customer, "sms_push", "withdraw")
    decide(other, "email", "refuse")
    return customer


def test_r53_an_intact_log_is_ok_with_its_entries_and_head(api: APIClient, history: Client) -> None:
    head = last()
    body = verify(api)
    assert body == {
        "ok": True,
        "entries": AuditEntry.objects.count(),
        "head": {"seq": head.seq, "hash": head.hash},
        "first_bad": None,
    }
    assert body["entries"] == head.seq


def test_r53_the_head_follows_new_entries(
    api: APIClient, history: Client, decide: Callable[..., Any]
) -> None:
    first = verify(api)
    decide(history, "email", "withdraw")
    second = verify(api)
    assert second["ok"] is True
    assert second["entries"] == first["entries"] + 1
    assert second["head"] == {"seq": last().seq, "hash": last().hash}


def test_r53_an_intact_log_with_a_checkpoint_is_ok(api: APIClient, history: Client) -> None:
    create_checkpoint()
    assert verify(api)["ok"] is True


def test_r53_verifying_writes_nothing(api: APIClient, history: Client) -> None:
    before = AuditEntry.objects.count()
    verify(api)
    verify(api)
    assert AuditEntry.objects.count() == before


def entry_of(client: Client, action: str, channel: str) -> AuditEntry:
    entry = (
        AuditEntry.objects.filter(client_id=client.pk, action=action, channel=channel)
        .order_by("seq")
        .first()
    )
    assert entry is not None
    return entry


def alter_payload(seq: int) -> None:
    entry = AuditEntry.objects.get(seq=seq)
    payload = json.loads(entry.payload)
    payload["wording_sha256"] = "0" * 64
    with triggers_disabled():
        AuditEntry.objects.filter(seq=seq).update(payload=audit.canonical_json(payload))


def alter_action(seq: int) -> None:
    with triggers_disabled():
        AuditEntry.objects.filter(seq=seq).update(action="consent.refused")


def delete_entry(seq: int) -> None:
    with triggers_disabled():
        AuditEntry.objects.filter(seq=seq).delete()


@pytest.mark.parametrize(
    "tamper", [alter_payload, alter_action, delete_entry], ids=["payload", "header", "deleted"]
)
def test_r53_a_tampered_entry_makes_verify_fail_naming_it(
    api: APIClient, history: Client, tamper: Callable[[int], None]
) -> None:
    target = entry_of(history, "consent.granted", "email")
    tamper(target.seq)
    body = verify(api)
    assert body["ok"] is False
    assert body["first_bad"] is not None
    assert body["first_bad"]["seq"] == target.seq
    assert body["first_bad"]["message"]
    assert body["entries"] < target.seq  # nothing after a broken link is trusted
    assert body["head"]["seq"] == target.seq - 1


def test_r53_removing_the_last_entries_is_caught_by_a_checkpoint(
    api: APIClient, history: Client
) -> None:
    create_checkpoint()
    head = last()
    delete_entry(head.seq)
    body = verify(api)
    assert body["ok"] is False
    assert body["first_bad"]["seq"] == head.seq


def test_r11_a_state_changed_outside_the_log_makes_verify_fail(
    api: APIClient, history: Client
) -> None:
    """The state is a projection of the log: a row edited directly no longer matches it."""
    ConsentState.objects.filter(client=history, channel="sms_push").update(status="granted")
    body = verify(api)
    assert body["ok"] is False
    assert body["first_bad"] is not None


@pytest.mark.parametrize("scope", ["consents:read", "consents:write", "eligibility:read"])
def test_the_audit_read_scope_is_required(
    api_client: Callable[..., APIClient], history: Client, scope: str
) -> None:
    response = api_client(scope).get(URL)
    assert response.status_code == 403
    assert error(response)["code"] == "missing_scope"
    assert "head" not in response.json()


def test_without_a_token_the_answer_is_401(history: Client) -> None:
    response = APIClient().get(URL)
    assert response.status_code == 401


def test_only_the_audit_read_scope_is_enough(
    api_client: Callable[..., APIClient], history: Client
) -> None:
    assert verify(api_client("audit:read"))["ok"] is True


def test_only_get_is_allowed(api: APIClient, history: Client) -> None:
    assert api.post(URL, {}, format="json").status_code == 405
