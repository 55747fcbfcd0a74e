"""R53, R55: the log, its checkpoints and the consent states are read only in the admin.

Nobody, a superuser included, may add, change or delete an audit entry, a checkpoint or a
consent state through the admin: the permissions say no and a forged POST changes nothing.
Compliance reads all of them; an advisor sees only the states of their branch's clients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Model
from django.test import Client as HttpClient
from django.test import RequestFactory
from django.urls import reverse

from clients.models import Client
from optin.checkpoints import create_checkpoint
from optin.models import AuditCheckpoint, AuditEntry, ConsentState
from tests.auth import login_verified

READ_ONLY_MODELS = [AuditEntry, AuditCheckpoint, ConsentState]
IDS = [m._meta.model_name for m in READ_ONLY_MODELS]


@pytest.fixture
def superuser(db: None) -> Any:
    return get_user_model().objects.create_superuser("root", "root@exemple.fr", "pw")


def logged_in(user: Any) -> HttpClient:
    http = HttpClient()
    login_verified(http, user)
    return http


@pytest.fixture
def rows(customer: Client, grant: Callable[..., Any]) -> dict[type[Model], Model]:
    """One row of each read-only model."""
    grant(customer, "email")
    checkpoint = create_checkpoint()
    assert checkpoint is not None
    return {
        AuditEntry: AuditEntry.objects.filter(action="consent.granted").get(),
        AuditCheckpoint: checkpoint,
        ConsentState: ConsentState.objects.get(client=customer, channel="email"),
    }


def url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def frozen(model: type[Model]) -> list[tuple[Any, ...]]:
    fields = [f.attname for f in model._meta.concrete_fields]
    return list(model.objects.order_by("pk").values_list(*fields))


# --- permissions on the ModelAdmin ----------------------------------------------------------


@pytest.mark.parametrize("model", READ_ONLY_MODELS, ids=IDS)
def test_a_superuser_has_no_add_change_or_delete_permission(
    superuser: Any, rows: dict[type[Model], Model], model: type[Model]
) -> None:
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/admin/")
    request.user = superuser
    obj = rows[model]
    assert model_admin.has_add_permission(request) is False
    assert model_admin.has_change_permission(request) is False
    assert model_admin.has_change_permission(request, obj) is False
    assert model_admin.has_delete_permission(request) is False
    assert model_admin.has_delete_permission(request, obj) is False
    assert model_admin.has_view_permission(request, obj) is True
    assert model_admin.get_actions(request) == {}


# --- what a forged request does -------------------------------------------------------------

FORGED: dict[type[Model], dict[str, Any]] = {
    AuditEntry: {"action": "consent.withdrawn", "channel": "sms_push", "payload": "{}"},
    AuditCheckpoint: {"seq": "999", "entry_hash": "0" * 64, "signature": "forged"},
    ConsentState: {"status": "withdrawn", "channel": "email", "wording_version": "x"},
}


@pytest.mark.parametrize("model", READ_ONLY_MODELS, ids=IDS)
def test_posting_to_the_change_page_alters_nothing(
    superuser: Any, rows: dict[type[Model], Model], model: type[Model]
) -> None:
    before = frozen(model)
    response = logged_in(superuser).post(url(model, "change", rows[model].pk), FORGED[model])
    assert response.status_code == 403
    assert frozen(model) == before


@pytest.mark.parametrize("model", READ_ONLY_MODELS, ids=IDS)
def test_the_add_page_is_refused(
    superuser: Any, rows: dict[type[Model], Model], model: type[Model]
) -> None:
    before = frozen(model)
    http = logged_in(superuser)
    assert http.get(url(model, "add")).status_code == 403
    assert http.post(url(model, "add"), FORGED[model]).status_code == 403
    assert frozen(model) == before


@pytest.mark.parametrize("model", READ_ONLY_MODELS, ids=IDS)
def test_the_delete_page_is_refused(
    superuser: Any, rows: dict[type[Model], Model], model: type[Model]
) -> None:
    before = frozen(model)
    http = logged_in(superuser)
    pk = rows[model].pk
    assert http.get(url(model, "delete", pk)).status_code == 403
    assert http.post(url(model, "delete", pk), {"post": "yes"}).status_code == 403
    assert frozen(model) == before


@pytest.mark.parametrize("model", READ_ONLY_MODELS, ids=IDS)
def test_a_bulk_delete_from_the_list_does_nothing(
    superuser: Any, rows: dict[type[Model], Model], model: type[Model]
) -> None:
    before = frozen(model)
    logged_in(superuser).post(
        url(model, "changelist"),
        {"action": "delete_selected", "_selected_action": [rows[model].pk], "post": "yes"},
    )
    assert frozen(model) == before


@pytest.mark.parametrize("model", READ_ONLY_MODELS, ids=IDS)
def test_the_change_page_shows_no_form_fields_and_no_delete_link(
    superuser: Any, rows: dict[type[Model], Model], model: type[Model]
) -> None:
    response = logged_in(superuser).get(url(model, "change", rows[model].pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="_save"' not in html
    assert url(model, "delete", rows[model].pk) not in html


# --- who reads (R55) ------------------------------------------------------------------------


@pytest.mark.parametrize("model", READ_ONLY_MODELS, ids=IDS)
def test_compliance_reads_the_lists_and_entries(
    compliance: Any, rows: dict[type[Model], Model], model: type[Model]
) -> None:
    http = logged_in(compliance)
    listing = http.get(url(model, "changelist"))
    assert listing.status_code == 200
    assert rows[model].pk in [obj.pk for obj in listing.context["cl"].result_list]
    assert url(model, "add") not in listing.content.decode()
    assert http.get(url(model, "change", rows[model].pk)).status_code == 200


@pytest.mark.parametrize("model", READ_ONLY_MODELS, ids=IDS)
def test_compliance_cannot_change_anything_either(
    compliance: Any, rows: dict[type[Model], Model], model: type[Model]
) -> None:
    before = frozen(model)
    http = logged_in(compliance)
    assert http.post(url(model, "change", rows[model].pk), FORGED[model]).status_code == 403
    assert http.post(url(model, "delete", rows[model].pk), {"post": "yes"}).status_code == 403
    assert frozen(model) == before


def test_the_audit_entry_page_shows_the_decrypted_personal_data_to_compliance(
    compliance: Any, rows: dict[type[Model], Model], customer: Client
) -> None:
    html = logged_in(compliance).get(url(AuditEntry, "change", rows[AuditEntry].pk)).content
    assert customer.email.encode() in html


def test_compliance_sees_the_states_of_every_branch(
    compliance: Any,
    customer: Client,
    other_branch: Any,
    client_factory: Callable[..., Client],
) -> None:
    elsewhere = client_factory(branch=other_branch)
    listing = logged_in(compliance).get(url(ConsentState, "changelist"))
    clients = {state.client_id for state in listing.context["cl"].result_list}
    assert {customer.pk, elsewhere.pk} <= clients


def test_an_advisor_sees_only_the_states_of_their_branch(
    advisor: Any,
    customer: Client,
    other_branch: Any,
    client_factory: Callable[..., Client],
) -> None:
    elsewhere = client_factory(branch=other_branch)
    http = logged_in(advisor)
    listing = http.get(url(ConsentState, "changelist"))
    assert listing.status_code == 200
    clients = {state.client_id for state in listing.context["cl"].result_list}
    assert clients == {customer.pk}
    hidden = ConsentState.objects.filter(client=elsewhere).first()
    assert hidden is not None
    assert http.get(url(ConsentState, "change", hidden.pk)).status_code != 200


def test_an_advisor_cannot_read_the_log(advisor: Any, rows: dict[type[Model], Model]) -> None:
    http = logged_in(advisor)
    assert http.get(url(AuditEntry, "changelist")).status_code == 403
    assert http.get(url(AuditEntry, "change", rows[AuditEntry].pk)).status_code == 403
