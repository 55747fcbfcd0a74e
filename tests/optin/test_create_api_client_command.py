"""`create_api_client NAME --scopes S1,S2` (DESIGN.md §5).

The command prints the new token alone on its last line; only a hash of it is stored (the
token appears nowhere in the database: not in the client's row, not in the log); the token
authenticates at once with exactly the scopes given. An unknown scope, no scope, or a taken
or empty name is refused (CommandError) and writes nothing. R51: the creation is logged
(`api_client.created`, actor system).
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from optin.models import ApiClient, AuditEntry

SCOPES = "consents:read,consents:write"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("create_api_client", *args, stdout=out)
    return out.getvalue()


def last_line(output: str) -> str:
    return output.rstrip("\n").splitlines()[-1]


def snapshot() -> tuple[Any, ...]:
    return (
        list(ApiClient.objects.values_list("name", "scopes", "token_hash", "revoked_at")),
        AuditEntry.objects.count(),
    )


def test_the_token_is_printed_alone_on_the_last_line_and_authenticates(db: None) -> None:
    token = last_line(run("web-customer-space", "--scopes", SCOPES))
    assert token == token.strip()
    assert " " not in token
    assert len(token) >= 32
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert http.get("/api/v1/wordings").status_code == 200


def test_the_token_carries_exactly_the_scopes_given(db: None) -> None:
    token = last_line(run("marketing", "--scopes", "eligibility:read"))
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert (
        http.post(
            "/api/v1/eligibility", {"channel": "email", "client_numbers": []}, format="json"
        ).status_code
        == 200
    )
    assert http.get("/api/v1/wordings").status_code == 403
    assert ApiClient.objects.get(name="marketing").scopes == ["eligibility:read"]


def test_only_a_hash_of_the_token_is_stored(db: None) -> None:
    token = last_line(run("web", "--scopes", SCOPES))
    client = ApiClient.objects.get(name="web")
    assert client.token_hash == hashlib.sha256(token.encode("utf-8")).hexdigest()
    row = json.dumps(
        {f.attname: str(getattr(client, f.attname)) for f in ApiClient._meta.concrete_fields}
    )
    assert token not in row
    for entry in AuditEntry.objects.all():
        assert token not in entry.payload
        assert token not in entry.actor_id


def test_each_token_is_new(db: None) -> None:
    first = last_line(run("one", "--scopes", SCOPES))
    second = last_line(run("two", "--scopes", SCOPES))
    assert first != second


def test_the_creation_is_logged(db: None) -> None:
    run("web", "--scopes", "consents:write,audit:read,consents:write")
    entry = AuditEntry.objects.get(action="api_client.created")
    assert (entry.actor_type, entry.actor_id) == ("system", "create_api_client")
    data = json.loads(entry.payload)
    assert data["name"] == "web"
    assert data["scopes"] == ["audit:read", "consents:write"]


def test_the_output_names_the_client_and_its_scopes(db: None) -> None:
    output = run("web", "--scopes", " consents:read , audit:read ")
    first = output.splitlines()[0]
    assert "web" in first
    assert "consents:read" in first and "audit:read" in first
    assert ApiClient.objects.get(name="web").scopes == ["audit:read", "consents:read"]


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("web", "--scopes", "consents:delete"), id="unknown-scope"),
        pytest.param(("web", "--scopes", "consents:read,admin"), id="one-unknown-scope"),
        pytest.param(("web", "--scopes", "CONSENTS:READ"), id="scope-in-capitals"),
        pytest.param(("web", "--scopes", ""), id="empty-scopes"),
        pytest.param(("web", "--scopes", " , "), id="blank-scopes"),
        pytest.param(("web",), id="no-scopes-option"),
        pytest.param(("", "--scopes", SCOPES), id="empty-name"),
        pytest.param(("   ", "--scopes", SCOPES), id="blank-name"),
        pytest.param(("x" * 65, "--scopes", SCOPES), id="name-too-long"),
    ],
)
def test_a_bad_request_is_a_command_error_and_writes_nothing(
    db: None, args: tuple[str, ...]
) -> None:
    before = snapshot()
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("create_api_client", *args, stdout=out)
    assert snapshot() == before
    assert out.getvalue() == ""


@pytest.mark.parametrize("name", ["web", " web "], ids=["same", "same-with-spaces"])
def test_a_taken_name_is_a_command_error_and_keeps_the_first_token(db: None, name: str) -> None:
    token = last_line(run("web", "--scopes", SCOPES))
    before = snapshot()
    with pytest.raises(CommandError, match="name"):
        run(name, "--scopes", "audit:read")
    assert snapshot() == before
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert http.get("/api/v1/wordings").status_code == 200


def test_an_unknown_scope_is_named_in_the_error(db: None) -> None:
    with pytest.raises(CommandError, match="consents:delete"):
        run("web", "--scopes", "consents:delete")
