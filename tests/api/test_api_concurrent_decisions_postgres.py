"""R37, R56, DESIGN §4-5: decisions posted to the API at once, on PostgreSQL, with real commits.

Twenty digital journeys post decisions for one client together (grant, refuse and withdraw on
both channels, each with its own Idempotency-Key): every call is answered, every recorded
answer is one log entry, the chain stays gapless and intact, and each channel's state is the
last entry for it in log order (R56). Ten retries of one request with the same
Idempotency-Key at the same moment record it once, and all get the same answer (R37).

These tests commit (no test transaction: the threads must see each other's commits), so they
run in their own pytest invocation (`-m committed`) on a fresh test database, and use unique
client numbers and API client names. `transactional_db` is not used: its teardown TRUNCATEs
every table, which the log's triggers refuse.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from rest_framework.test import APIClient

from clients.models import Client
from optin.audit import Actor
from optin.integrity import verify_log
from optin.models import ApiScope, AuditEntry, ConsentState, IdempotencyRecord
from optin.services import create_api_client
from tests.factories import BranchFactory, ClientFactory
from tests.threads import run_in_threads, unique

pytestmark = [pytest.mark.postgres, pytest.mark.committed]

CHANNELS = ("email", "sms_push")
DECISIONS = ("grant", "withdraw", "refuse")


def new_client() -> Client:
    client: Client = ClientFactory(client_number=unique("K"), branch=BranchFactory(code="B001"))
    return client


def new_token() -> str:
    created = create_api_client(
        actor=Actor.system("tests"), name=unique("journey"), scopes=[ApiScope.CONSENTS_WRITE]
    )
    return created.token


def decision_body(i: int) -> dict[str, Any]:
    """Thread i: grant, withdraw or refuse on one channel or the other, digitally."""
    channel = CHANNELS[i % 2]
    decision = DECISIONS[i % 3]
    body: dict[str, Any] = {
        "channel": channel,
        "decision": decision,
        "journey": "digital_self_service",
        "evidence": {"ip": "192.0.2.7", "user_agent": f"thread-{i}"},
    }
    if decision in ("grant", "refuse"):
        body["wording_version"] = f"{channel}-v1"
    if decision == "grant":
        body["affirmative_action"] = True
    return body


def post_decision(token: str, number: str, body: dict[str, Any], key: str) -> Any:
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return http.post(
        f"/api/v1/clients/{number}/consents", body, format="json", HTTP_IDEMPOTENCY_KEY=key
    )


def consent_entries(client: Client) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(client_id=client.pk, action__startswith="consent.").order_by(
            "seq"
        )
    )


def test_twenty_decisions_posted_at_once_are_all_answered_and_logged_in_order(
    committed: None,
) -> None:
    threads = 20
    token = new_token()
    client = new_client()
    before = len(consent_entries(client))
    answers: dict[int, tuple[int, dict[str, Any]]] = {}
    lock = threading.Lock()

    def work(i: int) -> None:
        response = post_decision(token, client.client_number, decision_body(i), unique(f"k{i}"))
        with lock:
            answers[i] = (response.status_code, response.json())

    errors = run_in_threads(threads, work)

    assert errors == []
    assert len(answers) == threads
    assert {status for status, _ in answers.values()} <= {200, 201}, answers
    recorded = [body for status, body in answers.values() if status == 201]
    assert all(body["recorded"] for body in recorded)
    assert not any(body["recorded"] for status, body in answers.values() if status == 200)

    entries = consent_entries(client)
    assert len(entries) - before == len(recorded)
    assert sorted(body["seq"] for body in recorded) == [e.seq for e in entries[before:]]

    seqs = list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    result = verify_log()
    assert result.ok, [str(p) for p in result.problems]

    for channel in CHANNELS:
        last = [e for e in entries if e.channel == channel][-1]
        state = ConsentState.objects.get(client=client, channel=channel)
        assert state.last_seq == last.seq
        assert state.status == json.loads(last.payload)["_state"]["to"]


def test_ten_retries_of_one_decision_at_once_record_it_once_with_one_answer(
    committed: None,
) -> None:
    threads = 10
    token = new_token()
    client = new_client()
    key = unique("retry")
    body = decision_body(0)  # a grant of e-mail
    before = len(consent_entries(client))
    answers: list[tuple[int, dict[str, Any], str | None]] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        response = post_decision(token, client.client_number, body, key)
        with lock:
            answers.append(
                (response.status_code, response.json(), response.get("Idempotent-Replayed"))
            )

    errors = run_in_threads(threads, work)

    assert errors == []
    assert len(answers) == threads
    assert {(status, json.dumps(data, sort_keys=True)) for status, data, _ in answers} == {
        (201, json.dumps(answers[0][1], sort_keys=True))
    }
    first = answers[0][1]
    assert first["recorded"] is True
    assert first["status"] == "granted"
    assert sorted(replayed or "" for _, _, replayed in answers) == ["", *["true"] * 9]

    entries = consent_entries(client)
    assert len(entries) - before == 1
    assert entries[-1].seq == first["seq"]
    assert IdempotencyRecord.objects.filter(key=key).count() == 1
    state = ConsentState.objects.get(client=client, channel="email")
    assert (state.status, state.last_seq) == ("granted", first["seq"])
    assert verify_log().ok
