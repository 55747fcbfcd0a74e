"""POST /api/v1/eligibility (scope eligibility:read): R47 through the API — every reason code,
in the order of its table — R48 (request order, duplicates, 10,000 numbers at most, never a
partial answer, a query count that does not grow with the batch), R42 (a withdrawal is
reflected at once) and R71 (bad input is a 400 that changes nothing).

The decision table itself is tested on the selector (tests/optin/test_eligibility.py); here each
reason is reached as marketing systems reach it: over HTTP, with a token.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from clients.models import Client, today_in_paris
from clients.services import change_contact_details
from optin.models import AuditEntry, ConsentState
from signatures.services import BranchAnswer, collect_branch_answers
from tests.api.conftest import error
from tests.factories import SYSTEM

pytestmark = pytest.mark.django_db

URL = "/api/v1/eligibility"
Answer = tuple[str, bool, str]


def ask(api: APIClient, channel: str, numbers: list[str]) -> list[Answer]:
    response = api.post(URL, {"channel": channel, "client_numbers": numbers}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"channel", "results"}
    assert body["channel"] == channel
    return [(r["client_number"], r["eligible"], r["reason"]) for r in body["results"]]


def years_ago(years: int, days: int = 0) -> dt.date:
    today = today_in_paris()
    try:
        then = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        then = dt.date(today.year - years, 3, 1)
    return then + dt.timedelta(days=days)


def erase(client: Client) -> None:
    Client.objects.filter(pk=client.pk).update(erased_at=timezone.now())


@pytest.fixture
def scenarios(
    client_factory: Callable[..., Client],
    professional_factory: Callable[..., Client],
    grant: Callable[..., Any],
    decide: Callable[..., Any],
    advisor: Any,
    settings: Any,
) -> dict[str, Callable[[], str]]:
    """Builders of one client in a given situation; each returns the number to ask about."""

    def granted_both() -> str:
        client = client_factory()
        grant(client, "email")
        grant(client, "sms_push")
        return client.client_number

    def professional_granted() -> str:
        pro = professional_factory()
        grant(pro, "email")
        grant(pro, "sms_push")
        return pro.client_number

    def professional_none() -> str:
        return professional_factory().client_number

    def individual_none() -> str:
        return client_factory().client_number

    def refused_both() -> str:
        client = client_factory()
        decide(client, "email", "refuse")
        decide(client, "sms_push", "refuse")
        return client.client_number

    def withdrawn_both() -> str:
        client = client_factory()
        for channel in ("email", "sms_push"):
            grant(client, channel)
            decide(client, channel, "withdraw")
        return client.client_number

    def professional_recreated_after_objection() -> str:
        """R62: the address is on the suppression list; the new record's state is `none`."""
        first = professional_factory(email="contact@entreprise-exemple.fr")
        grant(first, "email")
        decide(first, "email", "withdraw")
        second = professional_factory(email="Contact@Entreprise-Exemple.fr")
        assert ConsentState.objects.get(client=second, channel="email").status == "none"
        return second.client_number

    def pending_signature_both() -> str:
        client = client_factory()
        collected = collect_branch_answers(
            client=client,
            answers={c: BranchAnswer("yes", f"{c}-v1") for c in ("email", "sms_push")},
            advisor=advisor,
            journey="branch_account_opening",
        )
        assert collected.form is not None
        return client.client_number

    def pending_confirmation_email() -> str:
        client = client_factory()
        settings.OPTIN_EMAIL_DOUBLE_OPTIN = True
        grant(client, "email")
        settings.OPTIN_EMAIL_DOUBLE_OPTIN = False  # the other situations grant at once
        return client.client_number

    def minor() -> str:
        return client_factory(birth_date=years_ago(18, days=1)).client_number

    def granted_then_minor() -> str:
        """A birth date corrected behind the services' back: age is checked whatever the state."""
        client = client_factory()
        grant(client, "email")
        grant(client, "sms_push")
        Client.objects.filter(pk=client.pk).update(birth_date=years_ago(17))
        return client.client_number

    def protected() -> str:
        return client_factory(
            legal_capacity="protected", protection_measure="curatelle"
        ).client_number

    def granted_then_contact_points_removed() -> str:
        client = client_factory()
        grant(client, "email")
        grant(client, "sms_push")
        change_contact_details(
            actor=SYSTEM, client_number=client.client_number, email="", mobile=""
        )
        return client.client_number

    def professional_without_email() -> str:
        return professional_factory(email="").client_number

    def erased_granted() -> str:
        client = client_factory()
        grant(client, "email")
        grant(client, "sms_push")
        erase(client)
        return client.client_number

    def erased_minor() -> str:
        client = client_factory(birth_date=years_ago(12))
        erase(client)
        return client.client_number

    return {
        "granted_both": granted_both,
        "professional_granted": professional_granted,
        "professional_none": professional_none,
        "individual_none": individual_none,
        "refused_both": refused_both,
        "withdrawn_both": withdrawn_both,
        "professional_recreated_after_objection": professional_recreated_after_objection,
        "pending_signature_both": pending_signature_both,
        "pending_confirmation_email": pending_confirmation_email,
        "minor": minor,
        "granted_then_minor": granted_then_minor,
        "protected": protected,
        "granted_then_contact_points_removed": granted_then_contact_points_removed,
        "professional_without_email": professional_without_email,
        "erased_granted": erased_granted,
        "erased_minor": erased_minor,
        "unknown": lambda: "NO-SUCH-CLIENT",
    }


# (situation, channel, eligible, reason)
CASES = [
    ("granted_both", "email", True, "granted"),
    ("granted_both", "sms_push", True, "granted"),
    ("professional_granted", "email", True, "granted"),
    ("professional_granted", "sms_push", True, "granted"),
    ("professional_none", "email", True, "b2b_no_objection"),
    ("professional_none", "sms_push", False, "no_consent"),
    ("individual_none", "email", False, "no_consent"),
    ("individual_none", "sms_push", False, "no_consent"),
    ("refused_both", "email", False, "refused"),
    ("refused_both", "sms_push", False, "refused"),
    ("withdrawn_both", "email", False, "withdrawn"),
    ("withdrawn_both", "sms_push", False, "withdrawn"),
    ("professional_recreated_after_objection", "email", False, "withdrawn"),
    ("professional_recreated_after_objection", "sms_push", False, "no_consent"),
    ("pending_signature_both", "email", False, "pending_signature"),
    ("pending_signature_both", "sms_push", False, "pending_signature"),
    ("pending_confirmation_email", "email", False, "pending_confirmation"),
    ("minor", "email", False, "minor"),
    ("minor", "sms_push", False, "minor"),
    ("granted_then_minor", "email", False, "minor"),
    ("protected", "email", False, "protected_adult"),
    ("protected", "sms_push", False, "protected_adult"),
    ("granted_then_contact_points_removed", "email", False, "no_contact_point"),
    ("granted_then_contact_points_removed", "sms_push", False, "no_contact_point"),
    ("professional_without_email", "email", False, "no_contact_point"),
    ("erased_granted", "email", False, "erased"),
    ("erased_granted", "sms_push", False, "erased"),
    ("erased_minor", "email", False, "erased"),
    ("unknown", "email", False, "unknown_client"),
    ("unknown", "sms_push", False, "unknown_client"),
]


@pytest.mark.parametrize(("situation", "channel", "eligible", "reason"), CASES)
def test_r47_each_reason_code_is_answered_through_the_api(
    api: APIClient,
    scenarios: dict[str, Callable[[], str]],
    situation: str,
    channel: str,
    eligible: bool,
    reason: str,
) -> None:
    number = scenarios[situation]()
    assert ask(api, channel, [number]) == [(number, eligible, reason)]


def test_r47_every_reason_code_of_the_table_is_reachable(
    api: APIClient, scenarios: dict[str, Callable[[], str]]
) -> None:
    """All twelve codes in one batch: the API answers each of them, in the order asked."""
    asked = {situation: scenarios[situation]() for situation in dict.fromkeys(s for s, *_ in CASES)}
    reasons = set()
    for channel in ("email", "sms_push"):
        wanted = [(s, e, r) for s, c, e, r in CASES if c == channel]
        numbers = [asked[s] for s, _e, _r in wanted]
        answers = ask(api, channel, numbers)
        assert answers == [(asked[s], e, r) for s, e, r in wanted]
        reasons |= {r for _n, _e, r in answers}
    assert reasons == {
        "granted",
        "b2b_no_objection",
        "no_consent",
        "refused",
        "withdrawn",
        "pending_signature",
        "pending_confirmation",
        "minor",
        "protected_adult",
        "no_contact_point",
        "unknown_client",
        "erased",
    }


def test_r47_only_granted_and_b2b_no_objection_are_eligible(
    api: APIClient, scenarios: dict[str, Callable[[], str]]
) -> None:
    numbers = [builder() for builder in scenarios.values()]
    for channel in ("email", "sms_push"):
        for _number, eligible, reason in ask(api, channel, numbers):
            assert eligible == (reason in ("granted", "b2b_no_objection"))


# --- R48: batches -------------------------------------------------------------------------


def test_r48_answers_keep_the_request_order_and_answer_every_duplicate(
    api: APIClient,
    customer: Client,
    client_factory: Callable[..., Client],
    professional_factory: Callable[..., Client],
    grant: Callable[..., Any],
) -> None:
    granted = client_factory()
    grant(granted, "email")
    pro = professional_factory()
    asked = [
        pro.client_number,
        customer.client_number,
        "UNKNOWN-1",
        granted.client_number,
        customer.client_number,
        "UNKNOWN-1",
        pro.client_number,
        granted.client_number,
    ]
    assert ask(api, "email", asked) == [
        (pro.client_number, True, "b2b_no_objection"),
        (customer.client_number, False, "no_consent"),
        ("UNKNOWN-1", False, "unknown_client"),
        (granted.client_number, True, "granted"),
        (customer.client_number, False, "no_consent"),
        ("UNKNOWN-1", False, "unknown_client"),
        (pro.client_number, True, "b2b_no_objection"),
        (granted.client_number, True, "granted"),
    ]


def test_r48_an_empty_batch_gets_an_empty_answer(api: APIClient) -> None:
    assert ask(api, "email", []) == []


def test_r48_a_number_is_matched_exactly(api: APIClient, customer: Client) -> None:
    """No trimming, no case folding: a number written otherwise is another (unknown) number."""
    number = customer.client_number
    variants = [f" {number}", f"{number} ", number.lower(), ""]
    answers = ask(api, "email", [*variants, number])
    assert answers == [
        *[(v, False, "unknown_client") for v in variants],
        (number, False, "no_consent"),
    ]


def test_r48_exactly_10000_numbers_are_answered_in_order(
    api: APIClient, customer: Client, grant: Callable[..., Any]
) -> None:
    grant(customer, "sms_push")
    numbers = [f"UNKNOWN-{i}" for i in range(9_998)]
    numbers.insert(5_000, customer.client_number)
    numbers.append(customer.client_number)
    assert len(numbers) == 10_000
    answers = ask(api, "sms_push", numbers)
    assert [n for n, _e, _r in answers] == numbers
    assert answers[5_000] == (customer.client_number, True, "granted")
    assert answers[-1] == (customer.client_number, True, "granted")
    assert answers[0] == ("UNKNOWN-0", False, "unknown_client")


@pytest.mark.parametrize("size", [10_001, 20_000])
def test_r48_more_than_10000_numbers_are_a_400_never_a_partial_answer(
    api: APIClient, customer: Client, size: int
) -> None:
    before = AuditEntry.objects.count()
    response = api.post(
        URL,
        {"channel": "email", "client_numbers": [customer.client_number] * size},
        format="json",
    )
    assert response.status_code == 400
    body = error(response)
    assert body["code"] == "batch_too_large"
    assert "10" in body["message"]
    assert "results" not in response.json()
    assert AuditEntry.objects.count() == before


def test_r48_the_number_of_queries_does_not_grow_with_the_batch(
    api: APIClient,
    client_factory: Callable[..., Client],
    professional_factory: Callable[..., Client],
    grant: Callable[..., Any],
    django_assert_max_num_queries: Any,
) -> None:
    clients = [client_factory() for _ in range(4)] + [professional_factory() for _ in range(4)]
    for client in clients[:2]:
        grant(client, "email")
    small = [clients[0].client_number, clients[4].client_number]
    with CaptureQueriesContext(connection) as one:
        ask(api, "email", small)
    more = [professional_factory() for _ in range(20)] + [client_factory() for _ in range(20)]
    large = [c.client_number for c in clients + more] * 50 + [f"UNKNOWN-{i}" for i in range(3_000)]
    # Unknown numbers add one query, however many: are they erased clients' (R64)?
    with django_assert_max_num_queries(len(one.captured_queries) + 1):
        answers = ask(api, "email", large)
    assert len(answers) == len(large)
    with django_assert_max_num_queries(len(one.captured_queries) + 1):
        ask(api, "sms_push", large)


# --- R71: bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "numbers",
    [
        [123],
        ["C1", 456],
        [None],
        [True],
        [["C1"]],
        [{"client_number": "C1"}],
        [1.5],
        "C000001",
        None,
        {"C1": True},
        42,
    ],
    ids=[
        "int",
        "mixed",
        "null",
        "bool",
        "nested-list",
        "object",
        "float",
        "string",
        "null-list",
        "object-list",
        "number-list",
    ],
)
def test_r71_client_numbers_must_be_a_list_of_strings(
    api: APIClient, customer: Client, numbers: Any
) -> None:
    response = api.post(URL, {"channel": "email", "client_numbers": numbers}, format="json")
    assert response.status_code == 400
    body = error(response)
    assert body["code"] == "invalid"
    assert "client_numbers" in body["fields"]


@pytest.mark.parametrize("channel", ["phone", "EMAIL", "sms", "", "e-mail", "sms_push "])
def test_r1_r71_an_unknown_channel_is_refused_as_wrong_channel(
    api: APIClient, customer: Client, channel: str
) -> None:
    response = api.post(
        URL, {"channel": channel, "client_numbers": [customer.client_number]}, format="json"
    )
    assert response.status_code == 422
    assert error(response)["code"] == "wrong_channel"
    assert "results" not in response.json()


@pytest.mark.parametrize("channel", [None, 1, ["email"], {"email": True}, True])
def test_r71_a_channel_that_is_not_a_string_is_refused(
    api: APIClient, customer: Client, channel: Any
) -> None:
    response = api.post(
        URL, {"channel": channel, "client_numbers": [customer.client_number]}, format="json"
    )
    assert response.status_code in (400, 422)
    body = error(response)
    assert body["code"] in ("invalid", "wrong_channel")
    if body["code"] == "invalid":
        assert "channel" in body["fields"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"client_numbers": ["C1"]}, "channel"),
        ({"channel": "email"}, "client_numbers"),
        ({"channel": "email", "client_numbers": ["C1"], "limit": 10}, "limit"),
        ([{"channel": "email", "client_numbers": ["C1"]}], "non_field_errors"),
    ],
    ids=["no-channel", "no-numbers", "unknown-field", "not-an-object"],
)
def test_r71_a_malformed_body_is_a_400_naming_the_field(
    api: APIClient, body: Any, field: str
) -> None:
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in error(response)["fields"]


def test_r71_a_body_that_is_not_json_is_a_400(api: APIClient) -> None:
    response = api.post(URL, "{channel: email", content_type="application/json")
    assert response.status_code == 400
    assert error(response)["code"] == "malformed_json"


# --- access -------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["consents:read", "consents:write", "optin-list:read"])
def test_the_eligibility_read_scope_is_required(
    api_client: Callable[..., APIClient], customer: Client, scope: str
) -> None:
    response = api_client(scope).post(
        URL, {"channel": "email", "client_numbers": [customer.client_number]}, format="json"
    )
    assert response.status_code == 403
    assert error(response)["code"] == "missing_scope"


def test_without_a_token_the_answer_is_401(customer: Client) -> None:
    response = APIClient().post(
        URL, {"channel": "email", "client_numbers": [customer.client_number]}, format="json"
    )
    assert response.status_code == 401
    assert "results" not in response.json()


def test_only_the_eligibility_scope_is_enough(
    api_client: Callable[..., APIClient], customer: Client
) -> None:
    assert ask(api_client("eligibility:read"), "email", [customer.client_number]) == [
        (customer.client_number, False, "no_consent")
    ]


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_only_post_is_allowed(api: APIClient, method: str) -> None:
    response = getattr(api, method)(URL)
    assert response.status_code == 405


def test_asking_writes_nothing(api: APIClient, customer: Client, grant: Callable[..., Any]) -> None:
    grant(customer, "email")
    before = AuditEntry.objects.count()
    ask(api, "email", [customer.client_number, "UNKNOWN"])
    assert AuditEntry.objects.count() == before
    assert ConsentState.objects.get(client=customer, channel="email").status == "granted"


# --- R42: effect in time ------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["email", "sms_push"])
def test_r42_a_withdrawal_through_the_api_is_reflected_at_once(
    api: APIClient, customer: Client, channel: str
) -> None:
    consents = f"/api/v1/clients/{customer.client_number}/consents"
    for ch in ("email", "sms_push"):
        granted = api.post(
            consents,
            {
                "channel": ch,
                "decision": "grant",
                "journey": "digital_self_service",
                "wording_version": f"{ch}-v1",
                "affirmative_action": True,
                "evidence": {"ip": "192.0.2.1", "user_agent": "pytest"},
            },
            format="json",
        )
        assert granted.status_code == 201, granted.content
    assert ask(api, channel, [customer.client_number]) == [
        (customer.client_number, True, "granted")
    ]
    withdrawn = api.post(
        consents,
        {
            "channel": channel,
            "decision": "withdraw",
            "journey": "digital_self_service",
            "evidence": {"ip": "192.0.2.1", "user_agent": "pytest"},
        },
        format="json",
    )
    assert withdrawn.status_code == 201, withdrawn.content
    assert ask(api, channel, [customer.client_number]) == [
        (customer.client_number, False, "withdrawn")
    ]
    other = "sms_push" if channel == "email" else "email"
    assert ask(api, other, [customer.client_number]) == [(customer.client_number, True, "granted")]
