"""R37 through the API: a decision retried with the same `Idempotency-Key` is recorded once.

The replay answers exactly the first answer (status and body) with the header
`Idempotent-Replayed: true` and writes nothing; the same key with another body is a 409
`conflict` that writes nothing (R71); keys belong to each API client; a refused request does
not use up its key.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from clients.models import Client
from optin.models import AuditEntry, ConsentState, IdempotencyRecord
from tests.api.conftest import error

KEY = "8d0b9a52-8c55-4e8e-9a43-0c7a3b1f2e64"
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def now(time_machine: Any) -> dt.datetime:
    time_machine.move_to(NOW, tick=False)
    return NOW


def body(channel: str = "email", decision: str = "grant", **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "channel": channel,
        "decision": decision,
        "journey": "digital_self_service",
        "evidence": {"ip": "192.0.2.1", "user_agent": "pytest"},
    }
    if decision in ("grant", "refuse"):
        values["wording_version"] = f"{channel}-v1"
    if decision == "grant":
        values["affirmative_action"] = True
    values.update(overrides)
    return values


def post(http: APIClient, client: Client, data: dict[str, Any], key: str | None = KEY) -> Any:
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return http.post(
        f"/api/v1/clients/{client.client_number}/consents", data, format="json", **headers
    )


def snapshot() -> tuple[Any, ...]:
    return (
        list(AuditEntry.objects.order_by("seq").values_list("seq", "hash")),
        list(ConsentState.objects.order_by("pk").values_list("pk", "status", "since", "last_seq")),
        list(IdempotencyRecord.objects.order_by("pk").values_list("caller", "key", "response")),
    )


@pytest.mark.parametrize("decision", ["grant", "refuse", "withdraw"])
def test_replay_returns_first_answer_and_writes_nothing(
    now: dt.datetime, api: APIClient, customer: Client, time_machine: Any, decision: str
) -> None:
    first = post(api, customer, body("sms_push", decision))
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    after_first = snapshot()
    time_machine.shift(30)
    replay = post(api, customer, body("sms_push", decision))
    assert replay.status_code == first.status_code
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert snapshot() == after_first
    assert AuditEntry.objects.filter(action__startswith="consent.").count() == 1


def test_a_replay_of_a_repeat_answers_200_like_the_first(api: APIClient, customer: Client) -> None:
    post(api, customer, body("email", "withdraw"), key=None)
    first = post(api, customer, body("email", "withdraw"))
    assert (first.status_code, first.json()["recorded"]) == (200, False)
    before = snapshot()
    replay = post(api, customer, body("email", "withdraw"))
    assert (replay.status_code, replay.json()) == (200, first.json())
    assert replay["Idempotent-Replayed"] == "true"
    # Only the idempotency record of the first request exists; the replay adds none.
    assert snapshot() == before


def test_many_replays_are_all_the_first_answer(api: APIClient, customer: Client) -> None:
    first = post(api, customer, body())
    answers = [post(api, customer, body()) for _ in range(3)]
    assert {(a.status_code, a["Idempotent-Replayed"]) for a in answers} == {(201, "true")}
    assert all(a.json() == first.json() for a in answers)
    assert AuditEntry.objects.filter(action="consent.granted").count() == 1


def test_the_replay_answers_the_first_answer_after_the_state_moved_on(
    api: APIClient, customer: Client
) -> None:
    first = post(api, customer, body())
    post(api, customer, body("email", "withdraw"), key=None)
    before = snapshot()
    replay = post(api, customer, body())
    assert replay.json() == first.json()
    assert replay.json()["status"] == "granted"
    assert snapshot() == before
    assert ConsentState.objects.get(client=customer, channel="email").status == "withdrawn"


def test_the_replay_is_answered_even_once_the_act_would_be_too_old(
    now: dt.datetime, api: APIClient, customer: Client, time_machine: Any
) -> None:
    data = body(occurred_at=NOW.isoformat())
    first = post(api, customer, data)
    time_machine.move_to(NOW + dt.timedelta(hours=30), tick=False)
    replay = post(api, customer, data)
    assert (replay.status_code, replay.json()) == (201, first.json())


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"channel": "sms_push", "wording_version": "sms_push-v1"}, id="channel"),
        pytest.param({"decision": "refuse", "affirmative_action": ...}, id="decision"),
        pytest.param({"journey": "digital_account_opening"}, id="journey"),
        pytest.param({"evidence": {"ip": "198.51.100.7", "user_agent": "pytest"}}, id="ip"),
        pytest.param(
            {"evidence": {"ip": "192.0.2.1", "user_agent": "pytest", "session_id": "s2"}},
            id="session",
        ),
        pytest.param({"occurred_at": "2026-11-25T11:59:00Z"}, id="occurred_at"),
    ],
)
def test_the_same_key_with_another_body_is_a_409_conflict_and_writes_nothing(
    now: dt.datetime, api: APIClient, customer: Client, change: dict[str, Any]
) -> None:
    first = post(api, customer, body())
    assert first.status_code == 201
    before = snapshot()
    other = {k: v for k, v in {**body(), **change}.items() if v is not ...}
    response = post(api, customer, other)
    assert response.status_code == 409, response.content
    assert error(response)["code"] == "conflict"
    assert "Idempotent-Replayed" not in response
    assert snapshot() == before


def test_the_same_key_for_another_client_is_a_conflict(
    api: APIClient, customer: Client, client_factory: Callable[..., Client]
) -> None:
    other = client_factory()
    post(api, customer, body())
    before = snapshot()
    response = post(api, other, body())
    assert response.status_code == 409
    assert error(response)["code"] == "conflict"
    assert snapshot() == before
    assert ConsentState.objects.get(client=other, channel="email").status == "none"


def test_the_same_key_used_by_two_api_clients_is_independent(
    api_client: Callable[..., APIClient], customer: Client
) -> None:
    web = api_client("consents:write", name="web")
    app = api_client("consents:write", name="mobile-app")
    first = post(web, customer, body())
    second = post(app, customer, body())
    assert (first.status_code, second.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in second
    assert second.json()["seq"] != first.json()["seq"]
    actors = AuditEntry.objects.filter(action="consent.granted").values_list("actor_id", flat=True)
    assert sorted(actors) == ["api:mobile-app", "api:web"]
    # Each one's replay is its own first answer.
    assert post(app, customer, body()).json() == second.json()
    assert post(web, customer, body()).json() == first.json()


def test_another_api_client_with_the_same_key_and_another_body_is_not_a_conflict(
    api_client: Callable[..., APIClient], customer: Client
) -> None:
    web = api_client("consents:write", name="web")
    app = api_client("consents:write", name="mobile-app")
    post(web, customer, body())
    response = post(app, customer, body("sms_push", "refuse"))
    assert response.status_code == 201


def test_different_keys_are_different_requests(api: APIClient, customer: Client) -> None:
    first = post(api, customer, body(), key=KEY)
    second = post(api, customer, body(), key=KEY + "-2")
    assert second.status_code == 201
    assert "Idempotent-Replayed" not in second
    assert second.json()["seq"] != first.json()["seq"]  # R15: a new grant refreshing the proof


def test_without_a_key_each_request_is_recorded(api: APIClient, customer: Client) -> None:
    first = post(api, customer, body("email", "refuse"), key=None)
    second = post(api, customer, body("email", "refuse"), key=None)
    assert second.json()["seq"] != first.json()["seq"]
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize(
    ("bad", "status", "code"),
    [
        pytest.param({"affirmative_action": False}, 422, "not_affirmative", id="rule-refusal"),
        pytest.param({"wording_version": "email-v9"}, 422, "unknown_wording", id="wording"),
        pytest.param({"evidence": {"ip": "x", "user_agent": "y"}}, 400, "invalid", id="invalid"),
    ],
)
def test_a_refused_request_does_not_use_up_its_key(
    api: APIClient, customer: Client, bad: dict[str, Any], status: int, code: str
) -> None:
    before = snapshot()
    refused = post(api, customer, body(**bad))
    assert refused.status_code == status
    assert error(refused)["code"] == code
    assert snapshot() == before
    corrected = post(api, customer, body())
    assert corrected.status_code == 201
    assert "Idempotent-Replayed" not in corrected


def test_the_key_is_kept_in_the_entry(api: APIClient, customer: Client) -> None:
    seq = post(api, customer, body()).json()["seq"]
    assert json.loads(AuditEntry.objects.get(seq=seq).payload)["idempotency_key"] == KEY
