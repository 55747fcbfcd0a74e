"""API clients in the admin (DESIGN.md §1: the administrator manages API clients).

API clients are created by `create_api_client` (the token is shown once, there): the admin
lists them, adds none, deletes none (the row stays, the actor of its log entries), shows no
token, and revokes them. A revocation sets `revoked_at`, is logged (`api_client.revoked`,
R51) and the token stops working at once.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from rest_framework.test import APIClient

from optin.audit import Actor
from optin.models import ApiClient, AuditEntry
from optin.services import NewApiClient, create_api_client
from tests.auth import login_verified

LIST_URL = reverse("admin:optin_apiclient_changelist")


def make(name: str, *scopes: str) -> NewApiClient:
    return create_api_client(
        actor=Actor.system("tests"), name=name, scopes=list(scopes or ["consents:read"])
    )


def works(token: str) -> bool:
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return http.get("/api/v1/wordings").status_code == 200


@pytest.fixture
def admin_http(administrator: Any) -> HttpClient:
    http = HttpClient()
    login_verified(http, administrator)
    return http


@pytest.fixture
def root_http(django_user_model: Any) -> HttpClient:
    root = django_user_model.objects.create_superuser("root", "root@exemple.fr", "pw")
    http = HttpClient()
    login_verified(http, root)
    return http


@pytest.fixture(params=["administrator", "superuser"])
def staff_http(request: pytest.FixtureRequest) -> HttpClient:
    """Who manages API clients: the administrator role (DESIGN.md §1), and a superuser."""
    if request.param == "administrator":
        return request.getfixturevalue("admin_http")  # type: ignore[no-any-return]
    return request.getfixturevalue("root_http")  # type: ignore[no-any-return]


@pytest.fixture(params=["administrator", "superuser"])
def any_manager_http(request: pytest.FixtureRequest) -> HttpClient:
    """The same people, for what nobody may do (no known bug there)."""
    name = "admin_http" if request.param == "administrator" else "root_http"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def revoke(http: HttpClient, *clients: ApiClient) -> Any:
    return http.post(LIST_URL, {"action": "revoke", "_selected_action": [c.pk for c in clients]})


def test_the_list_shows_the_api_clients_without_their_tokens(staff_http: HttpClient) -> None:
    web = make("web-customer-space", "consents:read", "consents:write")
    make("marketing", "eligibility:read")
    response = staff_http.get(LIST_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "web-customer-space" in html and "marketing" in html
    assert web.client.token_prefix in html
    assert web.token not in html
    assert web.client.token_hash not in html


def test_no_api_client_is_added_in_the_admin(any_manager_http: HttpClient) -> None:
    make("web")
    add_url = reverse("admin:optin_apiclient_add")
    assert add_url not in any_manager_http.get(LIST_URL).content.decode()
    assert any_manager_http.get(add_url).status_code == 403
    before = list(ApiClient.objects.values_list("name", flat=True))
    response = any_manager_http.post(add_url, {"name": "x", "scopes": '["audit:read"]'})
    assert response.status_code == 403
    assert list(ApiClient.objects.values_list("name", flat=True)) == before


def test_no_api_client_is_deleted_in_the_admin(any_manager_http: HttpClient) -> None:
    web = make("web")
    delete_url = reverse("admin:optin_apiclient_delete", args=[web.client.pk])
    assert any_manager_http.get(delete_url).status_code == 403
    assert any_manager_http.post(delete_url, {"post": "yes"}).status_code == 403
    any_manager_http.post(
        LIST_URL, {"action": "delete_selected", "_selected_action": [web.client.pk], "post": "yes"}
    )
    assert ApiClient.objects.filter(pk=web.client.pk).exists()
    assert "delete_selected" not in any_manager_http.get(LIST_URL).content.decode()
    assert works(web.token)


def test_the_revoke_action_is_offered(staff_http: HttpClient) -> None:
    make("web")
    html = staff_http.get(LIST_URL).content.decode()
    assert 'value="revoke"' in html


def test_the_change_page_shows_the_client_read_only(staff_http: HttpClient) -> None:
    web = make("web", "consents:read")
    url = reverse("admin:optin_apiclient_change", args=[web.client.pk])
    response = staff_http.get(url)
    assert response.status_code == 200
    assert web.token not in response.content.decode()
    staff_http.post(url, {"name": "renamed", "scopes": '["audit:read"]', "_save": "1"})
    web.client.refresh_from_db()
    assert (web.client.name, web.client.scopes) == ("web", ["consents:read"])


def test_revoking_sets_revoked_at_logs_and_stops_the_token(staff_http: HttpClient) -> None:
    web = make("web", "consents:read")
    kept = make("marketing", "consents:read")
    assert works(web.token)
    response = revoke(staff_http, web.client)
    assert response.status_code == 302
    web.client.refresh_from_db()
    assert web.client.revoked_at is not None
    assert not works(web.token)
    assert works(kept.token)  # only the chosen one
    entry = AuditEntry.objects.get(action="api_client.revoked")
    assert entry.actor_type == "administrator"
    assert entry.actor_id.startswith("staff:")
    assert '"name":"web"' in entry.payload


def test_revoking_several_at_once_revokes_each(staff_http: HttpClient) -> None:
    clients = [make(f"client-{i}") for i in range(3)]
    revoke(staff_http, *(c.client for c in clients[:2]))
    assert [works(c.token) for c in clients] == [False, False, True]
    assert AuditEntry.objects.filter(action="api_client.revoked").count() == 2


def test_revoking_again_changes_nothing(staff_http: HttpClient) -> None:
    web = make("web")
    revoke(staff_http, web.client)
    web.client.refresh_from_db()
    first = web.client.revoked_at
    assert first is not None
    count = AuditEntry.objects.count()
    revoke(staff_http, web.client)
    web.client.refresh_from_db()
    assert web.client.revoked_at == first
    assert AuditEntry.objects.count() == count


def test_the_list_filters_the_revoked_clients(staff_http: HttpClient) -> None:
    make("active-one")
    gone = make("revoked-one")
    revoke(staff_http, gone.client)
    active = staff_http.get(LIST_URL, {"revoked_at__isempty": "1"}).content.decode()
    assert "active-one" in active and "revoked-one" not in active
    revoked = staff_http.get(LIST_URL, {"revoked_at__isempty": "0"}).content.decode()
    assert "revoked-one" in revoked and "active-one" not in revoked


@pytest.mark.parametrize("role", ["advisor", "compliance"])
def test_other_staff_cannot_see_nor_revoke_api_clients(
    request: pytest.FixtureRequest, role: str
) -> None:
    user = request.getfixturevalue(role)
    http = HttpClient()
    login_verified(http, user)
    web = make("web")
    assert http.get(LIST_URL).status_code in (302, 403)
    revoke(http, web.client)
    web.client.refresh_from_db()
    assert web.client.revoked_at is None
    assert works(web.token)


def test_without_a_verified_second_factor_the_admin_is_closed(administrator: Any) -> None:
    web = make("web")
    http = HttpClient()
    http.force_login(administrator)
    revoke(http, web.client)
    web.client.refresh_from_db()
    assert web.client.revoked_at is None
    assert http.get(LIST_URL).status_code != 200
