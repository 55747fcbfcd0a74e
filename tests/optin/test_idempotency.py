"""R37: a digital decision sent twice with the same Idempotency-Key is recorded once.

The replay gets the first answer (marked `replayed`); the same key with a different body is a
`conflict` (409) and changes nothing; keys are per caller; a refused request does not use up
its key (R71: it leaves everything as it was).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from clients.models import Client
from optin.errors import DomainError
from optin.models import AuditEntry, ConsentState, IdempotencyRecord
from tests.factories import web_actor

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
KEY = "5f0c7c1e-4d1f-4a55-9d0e-2f7f1f3b9c10"


@pytest.fixture
def now(time_machine: Any) -> dt.datetime:
    time_machine.move_to(NOW, tick=False)
    return NOW


def snapshot() -> tuple[Any, ...]:
    return (
        AuditEntry.objects.count(),
        list(ConsentState.objects.order_by("pk").values_list("pk", "status", "since", "last_seq")),
        list(IdempotencyRecord.objects.order_by("pk").values_list("caller", "key", "response")),
    )


def test_the_same_key_and_body_is_recorded_once_and_replayed(
    now: dt.datetime, customer: Client, grant: Callable[..., Any], time_machine: Any
) -> None:
    first = grant(customer, "email", idempotency_key=KEY)
    assert first.replayed is False
    after_first = snapshot()
    time_machine.shift(30)
    replay = grant(customer, "email", idempotency_key=KEY)
    assert replay.replayed is True
    assert replay.as_dict() == first.as_dict()
    assert snapshot() == after_first
    assert AuditEntry.objects.filter(action="consent.granted").count() == 1


@pytest.mark.parametrize("decision", ["grant", "refuse", "withdraw"])
def test_every_decision_is_idempotent(
    customer: Client, decide: Callable[..., Any], decision: str
) -> None:
    first = decide(customer, "sms_push", decision, idempotency_key=KEY)
    count = AuditEntry.objects.count()
    replay = decide(customer, "sms_push", decision, idempotency_key=KEY)
    assert (replay.replayed, replay.as_dict()) == (True, first.as_dict())
    assert AuditEntry.objects.count() == count


def test_the_replay_gets_the_first_answer_even_after_the_state_moved_on(
    customer: Client, grant: Callable[..., Any], decide: Callable[..., Any]
) -> None:
    first = grant(customer, "email", idempotency_key=KEY)
    decide(customer, "email", "withdraw")
    before = snapshot()
    replay = grant(customer, "email", idempotency_key=KEY)
    assert (replay.status, replay.seq, replay.replayed) == ("granted", first.seq, True)
    # The replay answers; it does not grant again.
    assert snapshot() == before
    assert ConsentState.objects.get(client=customer, channel="email").status == "withdrawn"


def test_the_replay_is_answered_even_once_the_act_is_too_old_to_record(
    now: dt.datetime, customer: Client, grant: Callable[..., Any], time_machine: Any
) -> None:
    first = grant(customer, "email", idempotency_key=KEY, occurred_at=now)
    time_machine.move_to(now + dt.timedelta(hours=30), tick=False)
    replay = grant(customer, "email", idempotency_key=KEY, occurred_at=now)
    assert (replay.replayed, replay.as_dict()) == (True, first.as_dict())


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"channel": "sms_push", "wording_version": "sms_push-v1"}, id="channel"),
        pytest.param({"decision": "refuse"}, id="decision"),
        pytest.param({"journey": "digital_contact_update"}, id="journey"),
        pytest.param({"evidence": {"ip": "198.51.100.9", "user_agent": "pytest"}}, id="evidence"),
        pytest.param({"occurred_at": NOW - dt.timedelta(minutes=1)}, id="occurred_at"),
    ],
)
def test_the_same_key_with_a_different_body_is_a_conflict_and_writes_nothing(
    now: dt.datetime, customer: Client, grant: Callable[..., Any], change: dict[str, Any]
) -> None:
    grant(customer, "email", idempotency_key=KEY)
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        grant(customer, idempotency_key=KEY, **{"channel": "email", **change})
    assert caught.value.code == "conflict"
    assert caught.value.http_status == 409
    assert snapshot() == before


def test_the_same_key_for_another_client_is_a_conflict(
    customer: Client, client_factory: Callable[..., Client], grant: Callable[..., Any]
) -> None:
    other = client_factory()
    grant(customer, "email", idempotency_key=KEY)
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        grant(other, "email", idempotency_key=KEY)
    assert caught.value.code == "conflict"
    assert snapshot() == before
    assert ConsentState.objects.get(client=other, channel="email").status == "none"


def test_different_callers_may_use_the_same_key(
    customer: Client, grant: Callable[..., Any]
) -> None:
    web = grant(customer, "email", idempotency_key=KEY)
    app = grant(customer, "email", idempotency_key=KEY, actor=web_actor("mobile-app"))
    assert (web.replayed, app.replayed) == (False, False)
    assert app.seq != web.seq
    assert IdempotencyRecord.objects.filter(key=KEY).count() == 2


def test_different_keys_are_different_requests(customer: Client, grant: Callable[..., Any]) -> None:
    first = grant(customer, "email", idempotency_key=KEY)
    second = grant(customer, "email", idempotency_key=KEY + "-2")
    assert second.replayed is False
    assert second.seq != first.seq  # R15: a new grant refreshing the proof


def test_without_a_key_each_request_is_recorded(
    customer: Client, decide: Callable[..., Any]
) -> None:
    first = decide(customer, "email", "refuse")
    second = decide(customer, "email", "refuse")
    assert second.seq != first.seq
    assert not IdempotencyRecord.objects.exists()


def test_a_refused_request_does_not_use_up_its_key(
    customer: Client, grant: Callable[..., Any]
) -> None:
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        grant(customer, "email", idempotency_key=KEY, affirmative_action=False)
    assert caught.value.code == "not_affirmative"
    assert snapshot() == before
    corrected = grant(customer, "email", idempotency_key=KEY)
    assert (corrected.status, corrected.replayed) == ("granted", False)


def test_the_key_is_kept_in_the_entry(customer: Client, grant: Callable[..., Any]) -> None:
    result = grant(customer, "email", idempotency_key=KEY)
    assert json.loads(AuditEntry.objects.get(seq=result.seq).payload)["idempotency_key"] == KEY
