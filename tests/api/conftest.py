"""Personas of the API: a client of the API holding given scopes (STYLE.md §10)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from optin.audit import Actor
from optin.models import ApiScope
from optin.services import create_api_client

ALL_SCOPES = tuple(ApiScope.values)


@pytest.fixture
def api_client(db: None) -> Callable[..., APIClient]:
    """`api_client("consents:read", ...)`: an HTTP client carrying the token of a new API
    client holding those scopes (all of them when none is given). Its `.api` is the row."""
    made = 0

    def make(*scopes: str, name: str | None = None) -> APIClient:
        nonlocal made
        made += 1
        created = create_api_client(
            actor=Actor.system("tests"),
            name=name or f"client-{made}",
            scopes=list(scopes or ALL_SCOPES),
        )
        http = APIClient()
        http.credentials(HTTP_AUTHORIZATION=f"Token {created.token}")
        http.api = created.client  # type: ignore[attr-defined]
        http.token = created.token  # type: ignore[attr-defined]
        return http

    return make


@pytest.fixture
def api(api_client: Callable[..., APIClient]) -> APIClient:
    """An API client holding every scope, named `web`: its actor is `api:web`."""
    return api_client(name="web")


def error(response: Any) -> dict[str, Any]:
    """The `error` object of a 4xx answer, checking its shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "fields"} <= set(body["error"]), body
    return dict(body["error"])
