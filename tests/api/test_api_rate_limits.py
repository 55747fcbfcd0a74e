"""Issue "security hardening": the API's rate limits (optin/api/throttling.py).

Each API client gets OPTIN_API_RATE_PER_MINUTE requests a minute, from any address; requests
without a valid token (none, wrong, revoked) get OPTIN_API_ADDRESS_RATE_PER_MINUTE per address.
Past the rate the answer is 429 `rate_limited` in the one error shape, with Retry-After: the
seconds left in the minute. R71: a refused request changes nothing, no log entry, no state.
The count is per client: another client, or another address, is still served.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client as HttpClient
from rest_framework.test import APIClient

from clients.models import Client
from optin.audit import Actor
from optin.models import AuditEntry, ConsentState
from optin.services import revoke_api_client
from tests.api.conftest import error

NOW = dt.datetime(2026, 11, 25, 12, 0, 15, tzinfo=dt.UTC)  # 45 s left in the minute
WORDINGS = "/api/v1/wordings"
GUESSER = {"REMOTE_ADDR": "203.0.113.7"}


@pytest.fixture(autouse=True)
def _counters() -> Iterator[None]:
    """The rates count in the cache: every test starts from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def rate(settings: Any) -> Callable[[int], None]:
    def set_rate(per_minute: int) -> None:
        settings.OPTIN_API_RATE_PER_MINUTE = per_minute

    return set_rate


def assert_rate_limited(response: Any, retry_after: int = 45) -> None:
    assert response.status_code == 429
    assert error(response)["code"] == "rate_limited"
    assert error(response)["message"]
    assert response["Retry-After"] == str(retry_after)


def decision(http: APIClient, client: Client) -> Any:
    return http.post(
        f"/api/v1/clients/{client.client_number}/consents",
        {
            "channel": "email",
            "decision": "grant",
            "journey": "digital_self_service",
            "wording_version": "email-v1",
            "affirmative_action": True,
            "evidence": {"ip": "192.0.2.1", "user_agent": "Mozilla/5.0 (pytest)"},
        },
        format="json",
    )


# --- per API client ----------------------------------------------------------------------------


def test_under_its_rate_every_request_of_a_client_is_served(
    api: APIClient, rate: Callable[[int], None], clock: Any
) -> None:
    rate(5)

    assert [api.get(WORDINGS).status_code for _ in range(5)] == [200] * 5


def test_over_its_rate_a_client_gets_429_rate_limited_until_the_minute_ends(
    api: APIClient, rate: Callable[[int], None], clock: Any
) -> None:
    rate(3)
    for _ in range(3):
        assert api.get(WORDINGS).status_code == 200

    assert_rate_limited(api.get(WORDINGS))
    clock.shift(44)
    assert_rate_limited(api.get(WORDINGS), retry_after=1)
    clock.shift(1)
    assert api.get(WORDINGS).status_code == 200


def test_a_refused_decision_writes_nothing(
    api: APIClient, rate: Callable[[int], None], clock: Any, customer: Client
) -> None:
    rate(1)
    assert api.get(WORDINGS).status_code == 200
    entries = AuditEntry.objects.count()

    assert_rate_limited(decision(api, customer))

    assert AuditEntry.objects.count() == entries
    assert set(ConsentState.objects.filter(client=customer).values_list("status", flat=True)) <= {
        "none"
    }


def test_a_decision_under_the_rate_is_recorded(
    api: APIClient, rate: Callable[[int], None], clock: Any, customer: Client
) -> None:
    rate(1)
    entries = AuditEntry.objects.count()

    assert decision(api, customer).status_code == 201

    assert AuditEntry.objects.count() == entries + 1


def test_another_client_is_still_served(
    api_client: Callable[..., APIClient], rate: Callable[[int], None], clock: Any
) -> None:
    rate(2)
    busy, other = api_client(name="crm"), api_client(name="campaigns")
    for _ in range(2):
        busy.get(WORDINGS)
    assert_rate_limited(busy.get(WORDINGS))

    assert other.get(WORDINGS).status_code == 200


def test_a_client_is_counted_whatever_its_address(
    api: APIClient, rate: Callable[[int], None], clock: Any
) -> None:
    rate(2)
    api.get(WORDINGS, REMOTE_ADDR="198.51.100.1")
    api.get(WORDINGS, REMOTE_ADDR="198.51.100.2")

    assert_rate_limited(api.get(WORDINGS, REMOTE_ADDR="198.51.100.3"))


# --- per address, without a valid token ------------------------------------------------------


@pytest.mark.parametrize("token", [None, "Token not-a-token"], ids=["no_token", "wrong_token"])
def test_requests_without_a_valid_token_are_limited_per_address(
    db: None, settings: Any, clock: Any, token: str | None
) -> None:
    settings.OPTIN_API_ADDRESS_RATE_PER_MINUTE = 2
    headers = {"HTTP_AUTHORIZATION": token} if token else {}
    http = HttpClient()
    for _ in range(2):
        assert http.get(WORDINGS, **GUESSER, **headers).status_code == 401

    assert_rate_limited(http.get(WORDINGS, **GUESSER, **headers))
    assert http.get(WORDINGS, REMOTE_ADDR="203.0.113.8", **headers).status_code == 401


def test_a_revoked_token_counts_against_its_address(
    api: APIClient, settings: Any, clock: Any
) -> None:
    settings.OPTIN_API_ADDRESS_RATE_PER_MINUTE = 1
    revoke_api_client(actor=Actor.system("tests"), api_client=api.api)  # type: ignore[attr-defined]
    assert api.get(WORDINGS, **GUESSER).status_code == 401

    assert_rate_limited(api.get(WORDINGS, **GUESSER))


def test_a_forged_x_forwarded_for_does_not_escape_the_address_limit(
    db: None, settings: Any, clock: Any
) -> None:
    # No trusted proxy: the header is the sender's own writing, not an address.
    settings.OPTIN_API_ADDRESS_RATE_PER_MINUTE = 2
    http = HttpClient()
    for hop in ("198.51.100.1", "198.51.100.2"):
        http.get(WORDINGS, HTTP_X_FORWARDED_FOR=hop, **GUESSER)

    assert_rate_limited(http.get(WORDINGS, HTTP_X_FORWARDED_FOR="198.51.100.3", **GUESSER))


def test_a_valid_token_is_served_from_an_address_over_its_limit(
    api: APIClient, settings: Any, clock: Any
) -> None:
    settings.OPTIN_API_ADDRESS_RATE_PER_MINUTE = 1
    http = HttpClient()
    http.get(WORDINGS, **GUESSER)
    assert_rate_limited(http.get(WORDINGS, **GUESSER))

    assert api.get(WORDINGS, **GUESSER).status_code == 200


def test_the_schema_is_limited_per_address(settings: Any, clock: Any) -> None:
    settings.OPTIN_API_ADDRESS_RATE_PER_MINUTE = 1
    http = HttpClient()
    assert http.get("/api/schema/?format=json", **GUESSER).status_code == 200

    response = http.get("/api/schema/?format=json", **GUESSER)

    assert response.status_code == 429
    assert response["Retry-After"] == "45"


# --- the description ---------------------------------------------------------------------------


def test_every_operation_documents_429_with_retry_after(db: None) -> None:
    document = HttpClient().get("/api/schema/?format=json").json()

    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            answer = operation["responses"]["429"]
            assert answer["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }, (path, method)
            assert "Retry-After" in answer["headers"], (path, method)
