"""R57 (and R18) through the admin: publishing needs the checklist; a used wording is read only.

The administrator publishes a wording only by confirming each point of the R18 checklist; the
change page of a used version shows its text read only and offers no deletion, and not even
a superuser can delete it there.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from clients.models import Client
from optin.models import AuditEntry, Wording
from optin.services import WORDING_CHECKLIST
from tests.auth import login_verified

NEW_TEXT = (
    "J'accepte de recevoir par e-mail des offres commerciales de Banque Exemple sur ses "
    "produits et services. Je peux changer d'avis à tout moment et gratuitement : espace "
    "client, lien de désabonnement, agence. Les messages liés à mes contrats continuent."
)


def add_form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "channel": "email",
        "version": "email-v2",
        "language": "fr",
        "text": NEW_TEXT,
        "published_at_0": "23/11/2026",
        "published_at_1": "12:00:00",
        **{f"confirm_{key}": "on" for key in WORDING_CHECKLIST},
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def change_form(wording: Wording, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"text": wording.text, "_save": "Enregistrer"}
    if wording.active:
        data["active"] = "on"
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def admin_client(administrator: Any) -> HttpClient:
    http = HttpClient()
    login_verified(http, administrator)
    return http


@pytest.fixture
def superuser_client(django_user_model: Any) -> HttpClient:
    root = django_user_model.objects.create_superuser("root", "root@exemple.fr", "pw")
    http = HttpClient()
    login_verified(http, root)
    return http


@pytest.fixture
def used(customer: Client, grant: Callable[..., Any]) -> Wording:
    grant(customer, "email")
    return Wording.objects.get(version="email-v1")


def change_url(wording: Wording) -> str:
    return reverse("admin:optin_wording_change", args=[wording.pk])


def delete_url(wording: Wording) -> str:
    return reverse("admin:optin_wording_delete", args=[wording.pk])


ADD_URL = "/admin/optin/wording/add/"


# --- publishing -----------------------------------------------------------------------------


def test_the_add_page_asks_for_each_point_of_the_checklist(admin_client: HttpClient) -> None:
    response = admin_client.get(ADD_URL)
    assert response.status_code == 200
    html = response.content.decode()
    for key in WORDING_CHECKLIST:
        assert f'name="confirm_{key}"' in html
        # Nothing is pre-ticked: the administrator confirms each point.
        tag = re.search(rf'<input[^>]*name="confirm_{key}"[^>]*>', html)
        assert tag is not None and "checked" not in tag.group(0)


@pytest.mark.parametrize("missing", list(WORDING_CHECKLIST))
def test_the_add_page_refuses_a_wording_without_the_full_checklist(
    admin_client: HttpClient, missing: str
) -> None:
    count = AuditEntry.objects.count()
    response = admin_client.post(ADD_URL, add_form(**{f"confirm_{missing}": None}))
    assert response.status_code == 200  # the form again, with its error
    assert response.context["adminform"].form.errors.keys() == {f"confirm_{missing}"}
    assert not Wording.objects.filter(version="email-v2").exists()
    assert AuditEntry.objects.count() == count


def test_the_add_page_publishes_with_the_checklist_and_logs_who_did(
    admin_client: HttpClient, administrator: Any
) -> None:
    response = admin_client.post(ADD_URL, add_form())
    assert response.status_code == 302
    wording = Wording.objects.get(version="email-v2")
    assert wording.text == NEW_TEXT
    assert wording.sha256 == hashlib.sha256(NEW_TEXT.encode("utf-8")).hexdigest()
    entry = AuditEntry.objects.filter(action="wording.published").get()
    assert (entry.actor_type, entry.actor_id) == ("administrator", f"staff:{administrator.pk}")


def test_the_add_page_refuses_an_existing_version(admin_client: HttpClient) -> None:
    before = Wording.objects.get(version="email-v1").text
    response = admin_client.post(ADD_URL, add_form(version="email-v1"))
    assert response.status_code == 200
    assert "version" in response.context["adminform"].form.errors
    assert Wording.objects.get(version="email-v1").text == before


# --- a used wording -------------------------------------------------------------------------


def test_the_change_page_of_a_used_wording_shows_its_text_read_only(
    admin_client: HttpClient, used: Wording
) -> None:
    response = admin_client.get(change_url(used))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="text"' not in html
    assert "<textarea" not in html
    assert "J&#x27;accepte de recevoir par e-mail" in html
    assert 'name="active"' in html  # deactivating stays possible


def test_the_change_page_of_a_used_wording_has_no_delete_link(
    admin_client: HttpClient, used: Wording
) -> None:
    html = admin_client.get(change_url(used)).content.decode()
    assert delete_url(used) not in html
    assert "deletelink" not in html


def test_posting_a_new_text_for_a_used_wording_changes_nothing(
    admin_client: HttpClient, used: Wording
) -> None:
    before = (used.text, used.sha256)
    count = AuditEntry.objects.filter(action="wording.edited").count()
    admin_client.post(change_url(used), change_form(used, text="Un tout autre texte."))
    used.refresh_from_db()
    assert (used.text, used.sha256) == before
    assert AuditEntry.objects.filter(action="wording.edited").count() == count


def test_a_used_wording_can_be_deactivated_from_its_change_page(
    admin_client: HttpClient, used: Wording
) -> None:
    response = admin_client.post(change_url(used), change_form(used, active=None))
    assert response.status_code == 302
    used.refresh_from_db()
    assert used.active is False
    assert AuditEntry.objects.filter(action="wording.deactivated").count() == 1


def test_a_superuser_cannot_delete_a_used_wording(
    superuser_client: HttpClient, used: Wording
) -> None:
    html = superuser_client.get(change_url(used)).content.decode()
    assert delete_url(used) not in html
    assert superuser_client.get(delete_url(used)).status_code == 403
    response = superuser_client.post(delete_url(used), {"post": "yes"})
    assert response.status_code == 403
    assert Wording.objects.filter(pk=used.pk).exists()


def test_a_superuser_cannot_delete_a_used_wording_from_the_list(
    superuser_client: HttpClient, used: Wording
) -> None:
    changelist = reverse("admin:optin_wording_changelist")
    response = superuser_client.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [used.pk], "post": "yes"},
    )
    assert response.status_code in (200, 302)
    assert Wording.objects.filter(pk=used.pk).exists()


def test_the_change_page_of_a_used_wording_is_read_only_for_a_superuser_too(
    superuser_client: HttpClient, used: Wording
) -> None:
    html = superuser_client.get(change_url(used)).content.decode()
    assert 'name="text"' not in html
    superuser_client.post(change_url(used), change_form(used, text="x"))
    used.refresh_from_db()
    assert used.text != "x"


# --- an unused wording ----------------------------------------------------------------------


def test_an_unused_wording_can_be_corrected_from_its_change_page(
    admin_client: HttpClient,
) -> None:
    admin_client.post(ADD_URL, add_form())
    wording = Wording.objects.get(version="email-v2")
    page = admin_client.get(change_url(wording)).content.decode()
    assert 'name="text"' in page
    corrected = NEW_TEXT + " Corrigé."
    response = admin_client.post(change_url(wording), change_form(wording, text=corrected))
    assert response.status_code == 302
    wording.refresh_from_db()
    assert wording.text == corrected
    assert wording.sha256 == hashlib.sha256(corrected.encode("utf-8")).hexdigest()
    assert AuditEntry.objects.filter(action="wording.edited").count() == 1


def test_a_superuser_may_delete_an_unused_wording(
    superuser_client: HttpClient, admin_client: HttpClient
) -> None:
    admin_client.post(ADD_URL, add_form())
    wording = Wording.objects.get(version="email-v2")
    assert delete_url(wording) in superuser_client.get(change_url(wording)).content.decode()
    response = superuser_client.post(delete_url(wording), {"post": "yes"})
    assert response.status_code == 302
    assert not Wording.objects.filter(pk=wording.pk).exists()
