"""Bad input through the API: one error shape, the right status, never a 500 (DESIGN.md §5).

R68: bad input is a 400 with field errors, never a 500, and loses nothing already recorded.
R17: only the JSON `true` is an affirmative act; a string or a number is not.
R71: every refused request (400, 404, 405, 409, 413, 415, 422) leaves the log, the states and
the clients exactly as they were.
Every 4xx answer is {"error": {"code", "message", "fields"}}; malformed JSON is
`malformed_json`, a wrong content type `unsupported_media_type` (415), a body over
OPTIN_API_MAX_BODY_BYTES `payload_too_large` (413), an unknown method `method_not_allowed`
(405), an unknown path `not_found` (404).
"""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest
from rest_framework.test import APIClient

from clients.models import Client
from optin.models import AuditEntry, ConsentState, IdempotencyRecord, SuppressionEntry
from tests.api.conftest import error


def snapshot() -> tuple[Any, ...]:
    """Everything a request could write."""
    return (
        list(AuditEntry.objects.order_by("seq").values_list("seq", "hash")),
        list(
            ConsentState.objects.order_by("pk").values_list(
                "client_id", "channel", "status", "prior_status", "since", "last_seq"
            )
        ),
        list(
            Client.objects.order_by("pk").values_list(
                "client_number", "email", "mobile", "version", "last_contact_at"
            )
        ),
        list(IdempotencyRecord.objects.values_list("caller", "key")),
        list(SuppressionEntry.objects.values_list("channel", "digest")),
    )


def grant_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "email",
        "decision": "grant",
        "journey": "digital_self_service",
        "wording_version": "email-v1",
        "affirmative_action": True,
        "evidence": {"ip": "192.0.2.1", "user_agent": "pytest"},
    }
    body.update(overrides)
    return body


def client_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_number": "WEB-0001",
        "kind": "individual",
        "first_name": "Léa",
        "last_name": "Martin",
        "birth_date": "1990-04-02",
        "email": "lea.martin@exemple.fr",
        "mobile": "06 12 34 56 78",
        "branch": "B001",
    }
    body.update(overrides)
    return body


@pytest.fixture
def tolerant(api: APIClient) -> APIClient:
    """The all-scopes client, answering a crash with the 500 page instead of raising it."""
    api.raise_request_exception = False
    return api


def send(http: APIClient, method: str, path: str, raw: str | bytes, **extra: Any) -> Any:
    return http.generic(method.upper(), path, raw, content_type="application/json", **extra)


# The endpoints that read a JSON body, with a valid body each (`{n}`: the customer's number).
WRITES = [
    pytest.param("post", "/api/v1/clients", client_body(), id="POST-clients"),
    pytest.param("patch", "/api/v1/clients/{n}", {"email": "nouvelle@exemple.fr"}, id="PATCH"),
    pytest.param("post", "/api/v1/clients/{n}/consents", grant_body(), id="POST-consents"),
    pytest.param(
        "post",
        "/api/v1/sms/stop",
        {"mobile": "06 99 99 99 99", "keyword": "STOP", "message_id": "gw-1"},
        id="POST-sms-stop",
    ),
    pytest.param(
        "post",
        "/api/v1/eligibility",
        {"channel": "email", "client_numbers": ["C1"]},
        id="POST-eligibility",
    ),
]


# --- malformed bodies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param('{"channel": "email",', id="truncated"),
        pytest.param("{'channel': 'email'}", id="single-quotes"),
        pytest.param('{"channel": "email",}', id="trailing-comma"),
        pytest.param('{"affirmative_action": NaN}', id="nan"),
        pytest.param("not json at all", id="text"),
        pytest.param(b'{"channel": "\xff\xfe"}', id="not-utf8"),
        pytest.param("[" * 100_000, id="deep-nesting"),
        pytest.param('{"a":' * 5_000 + "1" + "}" * 5_000, id="deep-objects"),
    ],
)
@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_malformed_json_is_a_400_malformed_json_and_writes_nothing(
    api: APIClient,
    customer: Client,
    method: str,
    path: str,
    body: dict[str, Any],
    raw: str | bytes,
) -> None:
    before = snapshot()
    response = send(api, method, path.format(n=customer.client_number), raw)
    assert response.status_code == 400, response.content
    assert error(response)["code"] == "malformed_json"
    assert snapshot() == before


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("[]", id="array"),
        pytest.param('[{"channel": "email"}]', id="array-of-object"),
        pytest.param('"email"', id="string"),
        pytest.param("42", id="number"),
        pytest.param("true", id="boolean"),
        pytest.param("null", id="null"),
    ],
)
@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_json_value_other_than_an_object_is_a_400_invalid(
    api: APIClient,
    customer: Client,
    method: str,
    path: str,
    body: dict[str, Any],
    raw: str,
) -> None:
    before = snapshot()
    response = send(api, method, path.format(n=customer.client_number), raw)
    assert response.status_code == 400, response.content
    assert error(response)["code"] == "invalid"
    assert snapshot() == before


# --- wrong JSON types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("true", id="string-true"),
        pytest.param("yes", id="yes"),
        pytest.param(1, id="one"),
        pytest.param(1.0, id="one-float"),
        pytest.param([True], id="list-of-true"),
        pytest.param({"value": True}, id="object"),
    ],
)
def test_a_grant_whose_affirmative_action_is_not_the_boolean_true_is_422_not_affirmative(
    api: APIClient, customer: Client, value: object
) -> None:
    before = snapshot()
    response = api.post(
        f"/api/v1/clients/{customer.client_number}/consents",
        grant_body(affirmative_action=value),
        format="json",
    )
    assert response.status_code == 422, response.content
    assert error(response)["code"] == "not_affirmative"
    assert snapshot() == before
    assert ConsentState.objects.get(client=customer, channel="email").status == "none"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("confirmed", "yes", id="confirmed-yes"),
        pytest.param("confirmed", "true", id="confirmed-string-true"),
        pytest.param("confirmed", 1, id="confirmed-one"),
        pytest.param("confirmed", None, id="confirmed-null"),
        pytest.param("email", 42, id="email-number"),
        pytest.param("email", None, id="email-null"),
        pytest.param("email", ["a@exemple.fr"], id="email-list"),
        pytest.param("mobile", 612345678, id="mobile-number"),
    ],
)
def test_a_contact_change_with_a_value_of_the_wrong_type_is_a_400_naming_it(
    api: APIClient, customer: Client, field: str, value: object
) -> None:
    before = snapshot()
    body = {"email": customer.email, field: value}
    response = api.patch(f"/api/v1/clients/{customer.client_number}", body, format="json")
    assert response.status_code == 400, response.content
    assert set(error(response)["fields"]) == {field}
    assert snapshot() == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("client_number", 123, id="client_number-number"),
        pytest.param("last_name", 7, id="last_name-number"),
        pytest.param("first_name", ["Léa"], id="first_name-list"),
        pytest.param("email", 1.5, id="email-number"),
        pytest.param("mobile", 612345678, id="mobile-number"),
        pytest.param("branch", 1, id="branch-number"),
        pytest.param("is_legal_entity", "false", id="is_legal_entity-string"),
        pytest.param("is_legal_entity", 0, id="is_legal_entity-zero"),
        pytest.param("birth_date", 19900402, id="birth_date-number"),
        pytest.param("birth_date", "02/04/1990", id="birth_date-french"),
        pytest.param("birth_date", "1990-02-30", id="birth_date-not-a-day"),
        pytest.param("kind", ["individual"], id="kind-list"),
    ],
)
def test_a_client_with_a_value_of_the_wrong_type_is_a_400_naming_it(
    api: APIClient, branch: Any, field: str, value: object
) -> None:
    before = snapshot()
    response = api.post("/api/v1/clients", client_body(**{field: value}), format="json")
    assert response.status_code == 400, response.content
    assert set(error(response)["fields"]) == {field}
    assert snapshot() == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"wording_version": 1}, "wording_version", id="wording-number"),
        pytest.param({"decision": True}, "decision", id="decision-boolean"),
        pytest.param({"journey": None}, "journey", id="journey-null"),
        pytest.param({"evidence": "192.0.2.1"}, "evidence", id="evidence-string"),
        pytest.param({"evidence": None}, "evidence", id="evidence-null"),
        pytest.param(
            {"evidence": {"ip": "192.0.2.1", "user_agent": 5}}, "evidence", id="user-agent-number"
        ),
        pytest.param(
            {"evidence": {"ip": 3221225985, "user_agent": "x"}}, "evidence", id="ip-number"
        ),
        pytest.param({"occurred_at": 1764000000}, "occurred_at", id="occurred-epoch"),
    ],
)
def test_a_decision_with_a_value_of_the_wrong_type_is_a_400_naming_it(
    api: APIClient, customer: Client, overrides: dict[str, Any], field: str
) -> None:
    before = snapshot()
    response = api.post(
        f"/api/v1/clients/{customer.client_number}/consents",
        grant_body(**overrides),
        format="json",
    )
    assert response.status_code == 400, response.content
    assert set(error(response)["fields"]) == {field}
    assert snapshot() == before


@pytest.mark.parametrize("channel", ["sms", "phone", "EMAIL", "", ["email"], 1])
def test_a_decision_on_another_channel_is_422_wrong_channel(
    api: APIClient, customer: Client, channel: object
) -> None:
    """R1: any channel value but the two is refused as `wrong_channel`."""
    before = snapshot()
    response = api.post(
        f"/api/v1/clients/{customer.client_number}/consents",
        grant_body(channel=channel),
        format="json",
    )
    assert response.status_code == 422, response.content
    assert error(response)["code"] == "wrong_channel"
    assert snapshot() == before


# --- unknown fields --------------------------------------------------------------------------


def test_unknown_fields_of_a_new_client_are_a_400_naming_each(api: APIClient, branch: Any) -> None:
    before = snapshot()
    body = client_body(nickname="Lele", consent_email=True)
    response = api.post("/api/v1/clients", body, format="json")
    assert response.status_code == 400
    body = error(response)
    assert body["code"] == "invalid"
    assert set(body["fields"]) == {"nickname", "consent_email"}
    assert snapshot() == before


def test_unknown_fields_of_a_contact_change_are_a_400_naming_them(
    api: APIClient, customer: Client
) -> None:
    before = snapshot()
    response = api.patch(
        f"/api/v1/clients/{customer.client_number}",
        {"email": "nouvelle@exemple.fr", "last_name": "Autre"},
        format="json",
    )
    assert response.status_code == 400
    assert set(error(response)["fields"]) == {"last_name"}
    assert snapshot() == before


def test_unknown_fields_of_a_decision_are_a_400_naming_them_even_nested(
    api: APIClient, customer: Client
) -> None:
    before = snapshot()
    url = f"/api/v1/clients/{customer.client_number}/consents"
    response = api.post(url, grant_body(pre_ticked=False), format="json")
    assert response.status_code == 400
    assert set(error(response)["fields"]) == {"pre_ticked"}
    body = grant_body()
    body["evidence"]["referrer"] = "https://exemple.fr"
    response = api.post(url, body, format="json")
    assert response.status_code == 400
    assert error(response)["fields"] == {"evidence": {"referrer": [mock.ANY]}}
    assert snapshot() == before


# --- times -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("2026-11-23T12:00:00", id="naive"),
        pytest.param("2026-11-23 12:00", id="naive-with-space"),
        pytest.param("2026-11-23", id="date-only"),
        pytest.param("hier à midi", id="garbage"),
        pytest.param("2026-02-30T12:00:00Z", id="not-a-day"),
        pytest.param("2026-11-23T25:00:00Z", id="not-an-hour"),
        pytest.param("2026-11-23T12:00:00+25:00", id="offset-out-of-range"),
        pytest.param("", id="empty"),
        pytest.param(None, id="null"),
    ],
)
def test_an_occurred_at_without_a_valid_aware_time_is_a_400(
    api: APIClient, customer: Client, value: object
) -> None:
    before = snapshot()
    response = api.post(
        f"/api/v1/clients/{customer.client_number}/consents",
        grant_body(occurred_at=value),
        format="json",
    )
    assert response.status_code == 400, response.content
    assert set(error(response)["fields"]) == {"occurred_at"}
    assert snapshot() == before


# --- size and content type -------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_body_over_the_limit_is_a_413_and_writes_nothing(
    api: APIClient,
    customer: Client,
    settings: Any,
    method: str,
    path: str,
    body: dict[str, Any],
) -> None:
    settings.OPTIN_API_MAX_BODY_BYTES = 1024
    raw = json.dumps({**body, "padding": "x" * 1024})
    before = snapshot()
    response = send(api, method, path.format(n=customer.client_number), raw)
    assert response.status_code == 413, response.content
    assert error(response)["code"] == "payload_too_large"
    assert snapshot() == before


def test_a_body_of_exactly_the_limit_is_read(
    api: APIClient, customer: Client, settings: Any
) -> None:
    raw = json.dumps(grant_body())
    settings.OPTIN_API_MAX_BODY_BYTES = len(raw.encode("utf-8"))
    response = send(api, "post", f"/api/v1/clients/{customer.client_number}/consents", raw)
    assert response.status_code == 201, response.content
    settings.OPTIN_API_MAX_BODY_BYTES -= 1
    response = send(api, "post", f"/api/v1/clients/{customer.client_number}/consents", raw)
    assert response.status_code == 413


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/xml",
    ],
)
@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_body_that_is_not_json_is_a_415_and_writes_nothing(
    api: APIClient,
    customer: Client,
    method: str,
    path: str,
    body: dict[str, Any],
    content_type: str,
) -> None:
    before = snapshot()
    response = api.generic(
        method.upper(),
        path.format(n=customer.client_number),
        json.dumps(body),
        content_type=content_type,
    )
    assert response.status_code == 415, response.content
    assert error(response)["code"] == "unsupported_media_type"
    assert snapshot() == before


# --- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param("k" * 256, id="256-characters"),
        pytest.param("clé-1", id="non-ascii"),
        pytest.param("a\tb", id="control-character"),
    ],
)
def test_an_invalid_idempotency_key_is_a_400_and_writes_nothing(
    api: APIClient, customer: Client, key: str
) -> None:
    before = snapshot()
    response = api.post(
        f"/api/v1/clients/{customer.client_number}/consents",
        grant_body(),
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert response.status_code == 400, response.content
    assert set(error(response)["fields"]) == {"Idempotency-Key"}
    assert snapshot() == before


def test_an_idempotency_key_of_255_characters_is_accepted(api: APIClient, customer: Client) -> None:
    response = api.post(
        f"/api/v1/clients/{customer.client_number}/consents",
        grant_body(),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k" * 255,
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "value",
    ["abc", "*", "-1", "1.0", '"v1"', "1234567890", ""],
)
def test_an_invalid_if_match_is_a_400_and_changes_nothing(
    api: APIClient, customer: Client, value: str
) -> None:
    before = snapshot()
    response = api.patch(
        f"/api/v1/clients/{customer.client_number}",
        {"email": "nouvelle@exemple.fr"},
        format="json",
        HTTP_IF_MATCH=value,
    )
    assert response.status_code == 400, response.content
    assert set(error(response)["fields"]) == {"If-Match"}
    assert snapshot() == before


# --- methods, paths, unknown clients ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", "/api/v1/clients/{n}"),
        ("put", "/api/v1/clients/{n}"),
        ("post", "/api/v1/clients/{n}"),
        ("get", "/api/v1/clients"),
        ("delete", "/api/v1/clients/{n}/consents"),
        ("patch", "/api/v1/clients/{n}/consents"),
        ("post", "/api/v1/clients/{n}/history"),
        ("post", "/api/v1/wordings"),
        ("get", "/api/v1/eligibility"),
        ("delete", "/api/v1/audit/verify"),
    ],
)
def test_an_unknown_method_is_a_405_in_the_error_shape(
    api: APIClient, customer: Client, method: str, path: str
) -> None:
    before = snapshot()
    response = getattr(api, method)(path.format(n=customer.client_number), {}, format="json")
    assert response.status_code == 405, response.content
    assert error(response)["code"] == "method_not_allowed"
    assert snapshot() == before
    assert Client.objects.filter(pk=customer.pk).exists()


@pytest.mark.parametrize("authenticated", [True, False], ids=["with-token", "without-token"])
@pytest.mark.parametrize(
    "path", ["/api/v1/nope", "/api/v1/clients/C1/consents/email", "/api/v2/clients", "/api/x"]
)
def test_an_unknown_path_is_a_404_not_found_in_the_error_shape(
    api: APIClient, path: str, authenticated: bool
) -> None:
    http = api if authenticated else APIClient()
    response = http.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert error(response)["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/clients/NOBODY", None),
        ("patch", "/api/v1/clients/NOBODY", {"email": "nouvelle@exemple.fr"}),
        ("get", "/api/v1/clients/NOBODY/consents", None),
        ("post", "/api/v1/clients/NOBODY/consents", grant_body()),
        ("get", "/api/v1/clients/NOBODY/history", None),
    ],
)
def test_an_unknown_client_is_a_404_unknown_client_and_writes_nothing(
    api: APIClient, customer: Client, method: str, path: str, body: dict[str, Any] | None
) -> None:
    before = snapshot()
    if body is None:
        response = getattr(api, method)(path)
    else:
        response = getattr(api, method)(path, body, format="json")
    assert response.status_code == 404, response.content
    assert error(response)["code"] == "unknown_client"
    assert snapshot() == before


# --- never a 500 -----------------------------------------------------------------------------

ODD_INPUTS = [
    pytest.param("post", "/api/v1/clients", client_body(client_number="\x00"), id="nul-number"),
    pytest.param("post", "/api/v1/clients", client_body(last_name="\ud800"), id="surrogate-name"),
    pytest.param("post", "/api/v1/clients", client_body(email="a\ud800@exemple.fr"), id="s-mail"),
    pytest.param("post", "/api/v1/clients", client_body(birth_date="0001-01-01"), id="year-1"),
    pytest.param("post", "/api/v1/clients", client_body(branch="\x00"), id="nul-branch"),
    pytest.param("post", "/api/v1/clients", client_body(mobile="+" + "9" * 60), id="long-mobile"),
    pytest.param("patch", "/api/v1/clients/{n}", {"email": "a" * 400}, id="long-email"),
    pytest.param("patch", "/api/v1/clients/{n}", {"mobile": "\ud800"}, id="surrogate-mobile"),
    pytest.param(
        "post",
        "/api/v1/clients/{n}/consents",
        grant_body(occurred_at="9999-12-31T23:59:59+14:00"),
        id="year-9999",
    ),
    pytest.param(
        "post",
        "/api/v1/clients/{n}/consents",
        grant_body(occurred_at="0001-01-01T00:00:00-14:00"),
        id="year-1-utc-before",
    ),
    pytest.param(
        "post",
        "/api/v1/clients/{n}/consents",
        grant_body(affirmative_action="\ud800"),
        id="surrogate-affirmative",
    ),
    pytest.param(
        "post",
        "/api/v1/clients/{n}/consents",
        grant_body(wording_version="\x00"),
        id="nul-wording",
    ),
    pytest.param(
        "post",
        "/api/v1/clients/{n}/consents",
        grant_body(affirmative_action=[[[[[[[[[[[]]]]]]]]]]]),
        id="nested-affirmative",
    ),
    pytest.param(
        "post",
        "/api/v1/sms/stop",
        {"mobile": "0612345678", "keyword": "STOP", "message_id": "\x00"},
        id="nul-message-id",
    ),
    pytest.param("get", "/api/v1/clients/{n}/history?after=99999999999999999999", None, id="after"),
    pytest.param("get", "/api/v1/clients/{n}/history?after=abc", None, id="after-text"),
    pytest.param("get", "/api/v1/clients/{n}/history?limit=-1", None, id="limit-negative"),
    pytest.param("get", "/api/v1/clients/" + "9" * 300, None, id="long-number-in-path"),
    pytest.param("get", "/api/v1/optin-list?channel=email&branch=%00", None, id="nul-branch-query"),
    pytest.param("get", "/api/v1/optin-list?channel=fax", None, id="unknown-channel-query"),
]


@pytest.mark.parametrize(("method", "path", "body"), ODD_INPUTS)
def test_odd_input_is_never_a_500(
    tolerant: APIClient, customer: Client, method: str, path: str, body: Any
) -> None:
    before = snapshot()
    path = path.format(n=customer.client_number)
    if body is None:
        response = getattr(tolerant, method)(path)
    else:
        response = send(tolerant, method, path, json.dumps(body))
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        error(response)
        assert snapshot() == before


@pytest.mark.parametrize("decision", ["grant", "refuse"])
def test_a_surrogate_affirmative_action_with_an_idempotency_key_is_not_a_500(
    tolerant: APIClient, customer: Client, decision: str
) -> None:
    before = snapshot()
    response = send(
        tolerant,
        "post",
        f"/api/v1/clients/{customer.client_number}/consents",
        json.dumps(grant_body(decision=decision, affirmative_action="\ud800")),
        HTTP_IDEMPOTENCY_KEY="retry-1",
    )
    # "\ud800" is valid JSON but no character: the body is refused as a whole.
    assert (response.status_code, error(response)["code"]) == (400, "malformed_json")
    assert snapshot() == before


@pytest.mark.parametrize(("method", "path", "body"), WRITES[:3])
def test_an_unknown_field_named_with_a_surrogate_is_a_400(
    tolerant: APIClient, customer: Client, method: str, path: str, body: dict[str, Any]
) -> None:
    before = snapshot()
    raw = json.dumps({**body, "\ud800": 1})
    response = send(tolerant, method, path.format(n=customer.client_number), raw)
    assert response.status_code == 400, response.content
    assert error(response)["code"] == "malformed_json"
    assert snapshot() == before


def test_an_eligibility_batch_with_a_surrogate_number_is_not_a_500(
    tolerant: APIClient, customer: Client
) -> None:
    raw = json.dumps({"channel": "email", "client_numbers": ["\ud800", customer.client_number]})
    response = send(tolerant, "post", "/api/v1/eligibility", raw)
    assert (response.status_code, error(response)["code"]) == (400, "malformed_json")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("get", "/api/v1/clients/%00", None, id="GET-client"),
        pytest.param("get", "/api/v1/clients/A%00B/consents", None, id="GET-consents"),
        pytest.param("patch", "/api/v1/clients/%00", {"email": "a@exemple.fr"}, id="PATCH"),
        pytest.param("post", "/api/v1/clients/%00/consents", grant_body(), id="POST-consents"),
        pytest.param("get", "/api/v1/clients/%00/history", None, id="GET-history"),
        pytest.param(
            "post",
            "/api/v1/eligibility",
            {"channel": "email", "client_numbers": ["\x00"]},
            id="POST-eligibility",
        ),
    ],
)
def test_a_nul_character_in_a_client_number_is_not_a_500(
    tolerant: APIClient,
    customer: Client,
    method: str,
    path: str,
    body: Any,
) -> None:
    before = snapshot()
    if body is None:
        response = getattr(tolerant, method)(path)
    else:
        response = send(tolerant, method, path, json.dumps(body))
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        assert error(response)["code"] in ("unknown_client", "not_found")
    assert snapshot() == before
