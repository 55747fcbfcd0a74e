"""R64: POST /api/v1/clients/{n}/erasure, the customer space's erasure request.

Scope `consents:write`; no body, or an empty JSON object (any field is a 400 and erases
nothing). The answer is 200 with what was done (`recorded` true, the channels withdrawn, the
forms cancelled and emptied, the `client.erased` entry's `seq`), logged with the API client as
actor. A repeat is idempotent: 200 with `recorded` false and the first erasure's `seq`, nothing
written. An unknown number is a 404 `unknown_client`. Afterwards the number answers 410
`erased` on the client's other operations and eligibility answers `erased` for it; no answer of
the API carries a personal value of the person.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from clients.models import Client
from optin.models import AuditEntry, ConsentState, ConsentStatus, Journey
from tests.api.conftest import error
from tests.clients.helpers import log_size

NUMBER = "WEB-ERASE-1"
FIRST, LAST = "Théodebert", "Quincampoix"
EMAIL = "theodebert.quincampoix@exemple.fr"
MOBILE = "+33677889911"
# Every personal value of the person, as stored or as an answer could write them.
PERSONAL = (FIRST, LAST, EMAIL, "quincampoix", MOBILE, "06 77 88 99 11", "1966-02-14")


def url(number: str = NUMBER) -> str:
    return f"/api/v1/clients/{number}/erasure"


@pytest.fixture
def person(client_factory: Callable[..., Client], grant: Callable[..., Any]) -> Client:
    """Granted on both channels in a digital journey (IP address and user agent logged)."""
    person = client_factory(
        client_number=NUMBER,
        first_name=FIRST,
        last_name=LAST,
        email=EMAIL,
        mobile=MOBILE,
        birth_date=dt.date(1966, 2, 14),
    )
    grant(person, "email")
    grant(person, "sms_push")
    return person


def test_the_scope_consents_write_is_required(
    api_client: Callable[..., APIClient], person: Client
) -> None:
    reader = api_client("consents:read", "audit:read", "eligibility:read")
    before = log_size()

    response = reader.post(url(), {}, format="json")

    assert response.status_code == 403
    assert error(response)["code"] == "missing_scope"
    assert log_size() == before
    assert Client.objects.filter(client_number=NUMBER, erased_at__isnull=True).exists()


def test_without_a_token_it_is_a_401(person: Client) -> None:
    response = APIClient().post(url(), {}, format="json")

    assert response.status_code == 401
    assert Client.objects.filter(client_number=NUMBER, erased_at__isnull=True).exists()


def test_the_erasure_answers_what_was_done(api: APIClient, person: Client) -> None:
    before = log_size()

    response = api.post(url(), {}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    erased = AuditEntry.objects.get(action="client.erased", client_number=NUMBER)
    assert body == {
        "client_number": NUMBER,
        "reason": "erasure_request",
        "erased_at": body["erased_at"],
        "recorded": True,
        "channels": ["email", "sms_push"],
        "forms_cancelled": 0,
        "forms_emptied": 0,
        "seq": erased.seq,
    }
    assert body["erased_at"].endswith("Z")
    assert erased.actor_id == "api:web"
    assert log_size() == before + 3  # both withdrawals and the erasure
    person.refresh_from_db()
    assert person.erased_at is not None
    assert person.client_number == f"~{person.pk}"
    for state in ConsentState.objects.filter(client=person):
        assert (state.status, state.journey) == (ConsentStatus.WITHDRAWN, Journey.ERASURE_REQUEST)


def test_no_body_at_all_is_accepted(api: APIClient, person: Client) -> None:
    response = api.post(url())

    assert response.status_code == 200, response.content
    assert response.json()["recorded"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [({"reason": "retention"}, "reason"), ({"confirm": True}, "confirm")],
)
def test_an_unknown_field_is_a_400_and_erases_nothing(
    api: APIClient, person: Client, body: dict[str, Any], field: str
) -> None:
    before = log_size()

    response = api.post(url(), body, format="json")

    assert response.status_code == 400
    assert error(response)["code"] == "invalid"
    assert field in error(response)["fields"]
    assert log_size() == before
    assert Client.objects.filter(client_number=NUMBER, erased_at__isnull=True).exists()


def test_a_body_that_is_not_an_object_is_a_400(api: APIClient, person: Client) -> None:
    before = log_size()

    response = api.post(url(), [], format="json")

    assert response.status_code == 400
    assert log_size() == before


def test_a_repeat_answers_200_not_recorded_and_writes_nothing(
    api: APIClient, person: Client
) -> None:
    first = api.post(url(), {}, format="json").json()
    before = log_size()

    response = api.post(url(), {}, format="json")

    assert response.status_code == 200
    again = response.json()
    assert again["recorded"] is False
    assert again["seq"] == first["seq"]
    # The first erasure's time, as its log entry recorded it (a few milliseconds later).
    gap = dt.datetime.fromisoformat(again["erased_at"]) - dt.datetime.fromisoformat(
        first["erased_at"]
    )
    assert abs(gap) < dt.timedelta(seconds=5)
    assert again["channels"] == []
    assert log_size() == before


def test_an_unknown_number_is_a_404(api: APIClient, db: None) -> None:
    before = log_size()

    response = api.post(url("NOPE-404"), {}, format="json")

    assert response.status_code == 404
    assert error(response)["code"] == "unknown_client"
    assert log_size() == before


def test_the_erased_row_s_own_number_is_no_client(api: APIClient, person: Client) -> None:
    api.post(url(), {}, format="json")
    person.refresh_from_db()
    before = log_size()

    response = api.post(url(person.client_number), {}, format="json")

    assert response.status_code == 404
    assert log_size() == before


# --- afterwards ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "", None),
        ("patch", "", {"email": "autre@exemple.fr"}),
        ("get", "/consents", None),
        (
            "post",
            "/consents",
            {
                "channel": "email",
                "decision": "withdraw",
                "journey": "digital_self_service",
                "evidence": {"ip": "192.0.2.1", "user_agent": "pytest"},
            },
        ),
        ("get", "/history", None),
    ],
    ids=["client", "contact-change", "consents", "decision", "history"],
)
def test_afterwards_the_number_answers_410_erased(
    api: APIClient, person: Client, method: str, path: str, body: Any
) -> None:
    api.post(url(), {}, format="json")
    before = log_size()

    response = getattr(api, method)(f"/api/v1/clients/{NUMBER}{path}", body, format="json")

    assert response.status_code == 410, response.content
    assert error(response)["code"] == "erased"
    assert log_size() == before


@pytest.mark.parametrize("channel", ["email", "sms_push"])
def test_afterwards_eligibility_answers_erased(
    api: APIClient, person: Client, channel: str
) -> None:
    api.post(url(), {}, format="json")

    response = api.post(
        "/api/v1/eligibility", {"channel": channel, "client_numbers": [NUMBER]}, format="json"
    )

    assert response.json()["results"] == [
        {"client_number": NUMBER, "eligible": False, "reason": "erased"}
    ]


def test_no_answer_of_the_api_carries_a_personal_value_afterwards(
    api: APIClient, person: Client
) -> None:
    before_erasure = api.get(f"/api/v1/clients/{NUMBER}").content.decode()
    assert EMAIL in before_erasure and LAST in before_erasure  # the values are distinctive

    answers = [api.post(url(), {}, format="json"), api.post(url(), {}, format="json")]
    for path in ("", "/consents", "/history", "/history?limit=1000"):
        answers.append(api.get(f"/api/v1/clients/{NUMBER}{path}"))
    answers.append(
        api.post(
            "/api/v1/eligibility",
            {"channel": "email", "client_numbers": [NUMBER]},
            format="json",
        )
    )
    for channel in ("email", "sms_push"):
        answers.append(api.get(f"/api/v1/optin-list?channel={channel}&format=ndjson"))

    for response in answers:
        assert response.status_code < 500
        text = b"".join(response.streaming_content) if response.streaming else response.content
        decoded = text.decode("utf-8").lower()
        for value in PERSONAL:
            assert value.lower() not in decoded, (response.request["PATH_INFO"], value)


def test_the_number_can_be_created_again_and_starts_at_none(api: APIClient, person: Client) -> None:
    api.post(url(), {}, format="json")

    response = api.post(
        "/api/v1/clients",
        {
            "client_number": NUMBER,
            "kind": "individual",
            "last_name": "Nouveau",
            "birth_date": "1990-01-01",
            "branch": "B001",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    consents = response.json()["consents"]
    assert {c["status"] for c in consents.values()} == {"none"}
