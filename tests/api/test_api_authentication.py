"""Access to the API: `Authorization: Token <token>` and one scope per operation (DESIGN.md §5).

R35: only an API client holding the operation's scope may call it. A missing, wrong, revoked or
malformed token is a 401 (`not_authenticated`, `invalid_token`); a valid token lacking the scope
is a 403 (`missing_scope`), checked before the body is even read.
R71: a refused request leaves the log, the states, the clients and the idempotency records
exactly as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from clients.models import Client
from optin.audit import Actor
from optin.models import (
    ApiScope,
    AuditEntry,
    ConsentState,
    IdempotencyRecord,
    SuppressionEntry,
)
from optin.services import revoke_api_client
from tests.api.conftest import ALL_SCOPES, error

WRONG_TOKEN = "Z" * 43


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # `{n}` stands for the customer's number
    scope: str
    body: Callable[[Client], dict[str, Any]] | None = None

    def call(self, http: APIClient, customer: Client, **headers: Any) -> Any:
        path = self.path.format(n=customer.client_number)
        if self.body is None:
            return getattr(http, self.method)(path, **headers)
        return getattr(http, self.method)(path, self.body(customer), format="json", **headers)


def _new_client(customer: Client) -> dict[str, Any]:
    return {
        "client_number": "WEB-0001",
        "kind": "individual",
        "first_name": "Léa",
        "last_name": "Martin",
        "birth_date": "1990-04-02",
        "email": "lea.martin@exemple.fr",
        "mobile": "06 12 34 56 78",
        "branch": customer.branch.code,
    }


def _grant(customer: Client) -> dict[str, Any]:
    return {
        "channel": "email",
        "decision": "grant",
        "journey": "digital_self_service",
        "wording_version": "email-v1",
        "affirmative_action": True,
        "evidence": {"ip": "192.0.2.1", "user_agent": "pytest"},
    }


READ = ApiScope.CONSENTS_READ.value
WRITE = ApiScope.CONSENTS_WRITE.value
AUDIT = ApiScope.AUDIT_READ.value

ENDPOINTS = [
    pytest.param(Endpoint("post", "/api/v1/clients", WRITE, _new_client), id="POST-clients"),
    pytest.param(Endpoint("get", "/api/v1/clients/{n}", READ), id="GET-client"),
    pytest.param(
        Endpoint("patch", "/api/v1/clients/{n}", WRITE, lambda c: {"email": "nouvelle@exemple.fr"}),
        id="PATCH-client",
    ),
    pytest.param(Endpoint("get", "/api/v1/clients/{n}/consents", READ), id="GET-consents"),
    pytest.param(
        Endpoint("post", "/api/v1/clients/{n}/consents", WRITE, _grant), id="POST-consents"
    ),
    pytest.param(Endpoint("get", "/api/v1/clients/{n}/history", AUDIT), id="GET-history"),
    pytest.param(Endpoint("get", "/api/v1/wordings", READ), id="GET-wordings"),
    pytest.param(
        Endpoint(
            "post",
            "/api/v1/eligibility",
            ApiScope.ELIGIBILITY_READ.value,
            lambda c: {"channel": "email", "client_numbers": [c.client_number]},
        ),
        id="POST-eligibility",
    ),
    pytest.param(
        Endpoint("get", "/api/v1/optin-list?channel=email", ApiScope.OPTIN_LIST_READ.value),
        id="GET-optin-list",
    ),
    pytest.param(
        Endpoint(
            "post",
            "/api/v1/sms/stop",
            WRITE,
            lambda c: {"mobile": c.mobile, "keyword": "STOP", "message_id": "gw-1"},
        ),
        id="POST-sms-stop",
    ),
    pytest.param(Endpoint("get", "/api/v1/audit/verify", AUDIT), id="GET-audit-verify"),
]


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


def _consume(response: Any) -> None:
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)


@pytest.fixture
def revoked(api_client: Callable[..., APIClient]) -> APIClient:
    """An API client with every scope whose token was revoked."""
    http = api_client(name="revoked")
    revoke_api_client(actor=Actor.system("tests"), api_client=http.api)  # type: ignore[attr-defined]
    return http


def _credentials(kind: str, revoked: APIClient) -> APIClient:
    http = APIClient()
    headers = {
        "none": None,
        "wrong": f"Token {WRONG_TOKEN}",
        "revoked": f"Token {revoked.token}",  # type: ignore[attr-defined]
        "bearer": f"Bearer {revoked.token}",  # type: ignore[attr-defined]
        "basic": "Basic d2ViOndlYg==",
        "token-without-value": "Token",
        "token-with-two-values": f"Token {WRONG_TOKEN} {WRONG_TOKEN}",
        "non-ascii-token": "Token jéton",
    }
    if headers[kind] is not None:
        http.credentials(HTTP_AUTHORIZATION=headers[kind])
    return http


CREDENTIALS = {
    "none": "not_authenticated",
    "bearer": "not_authenticated",
    "basic": "not_authenticated",
    "wrong": "invalid_token",
    "revoked": "invalid_token",
    "token-without-value": "invalid_token",
    "token-with-two-values": "invalid_token",
    "non-ascii-token": "invalid_token",
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_required_scope_alone_is_enough(
    api_client: Callable[..., APIClient], customer: Client, endpoint: Endpoint
) -> None:
    http = api_client(endpoint.scope)
    response = endpoint.call(http, customer)
    _consume(response)
    assert response.status_code in (200, 201), response.content


@pytest.mark.parametrize("kind", list(CREDENTIALS))
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_without_a_valid_token_the_request_is_a_401_and_writes_nothing(
    customer: Client, revoked: APIClient, endpoint: Endpoint, kind: str
) -> None:
    http = _credentials(kind, revoked)
    before = snapshot()
    response = endpoint.call(http, customer)
    assert response.status_code == 401, response.content
    assert error(response)["code"] == CREDENTIALS[kind]
    assert response["WWW-Authenticate"] == "Token"
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_token_lacking_the_scope_is_a_403_missing_scope_and_writes_nothing(
    api_client: Callable[..., APIClient], customer: Client, endpoint: Endpoint
) -> None:
    http = api_client(*(scope for scope in ALL_SCOPES if scope != endpoint.scope))
    before = snapshot()
    response = endpoint.call(http, customer)
    assert response.status_code == 403, response.content
    body = error(response)
    assert body["code"] == "missing_scope"
    assert endpoint.scope in body["message"]
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_revoked_token_stops_working_at_once(
    api_client: Callable[..., APIClient], customer: Client, endpoint: Endpoint
) -> None:
    http = api_client(endpoint.scope)
    _consume(endpoint.call(http, customer))
    revoke_api_client(actor=Actor.system("tests"), api_client=http.api)  # type: ignore[attr-defined]
    before = snapshot()
    response = endpoint.call(http, customer)
    assert response.status_code == 401
    assert error(response)["code"] == "invalid_token"
    assert snapshot() == before


def test_a_wrong_and_a_revoked_token_get_the_same_answer(
    customer: Client, revoked: APIClient
) -> None:
    """Nothing tells a caller whether a token it tries ever existed."""
    wrong = _credentials("wrong", revoked).get("/api/v1/wordings")
    former = _credentials("revoked", revoked).get("/api/v1/wordings")
    assert (wrong.status_code, wrong.json()) == (former.status_code, former.json())


def test_the_keyword_is_case_insensitive(api: APIClient) -> None:
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"token {api.token}")  # type: ignore[attr-defined]
    assert http.get("/api/v1/wordings").status_code == 200


def test_the_scope_is_checked_before_the_body_is_read(
    api_client: Callable[..., APIClient], customer: Client
) -> None:
    http = api_client(READ)
    before = snapshot()
    response = http.post(
        f"/api/v1/clients/{customer.client_number}/consents",
        data="{not json",
        content_type="application/json",
    )
    assert response.status_code == 403
    assert error(response)["code"] == "missing_scope"
    assert snapshot() == before


def test_the_token_is_checked_before_the_client_is_looked_up(revoked: APIClient) -> None:
    """An unknown client number answers 401, not 404, to a caller without a valid token:
    the API reveals nothing about which clients exist."""
    response = _credentials("wrong", revoked).get("/api/v1/clients/NOBODY")
    assert response.status_code == 401


def test_one_client_s_scopes_do_not_extend_to_another(
    api_client: Callable[..., APIClient], customer: Client
) -> None:
    reader = api_client(READ)
    api_client(*ALL_SCOPES)  # another client holding every scope
    response = reader.patch(
        f"/api/v1/clients/{customer.client_number}",
        {"email": "nouvelle@exemple.fr"},
        format="json",
    )
    assert response.status_code == 403
    customer.refresh_from_db()
    assert customer.email != "nouvelle@exemple.fr"
