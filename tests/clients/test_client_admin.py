"""R55, R68, R71 (with R7, R43, R45, R64): the client admin writes only through the services, so
every change is validated and logged; bad input is a form error that changes nothing; advisors
see only their branch; nobody can delete a client."""

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from clients import services
from clients.models import Client
from optin.models import ConsentState
from tests.auth import login_verified
from tests.clients.helpers import entries, form_data, payload, snapshot, states_of
from tests.factories import SYSTEM

ADD_URL = reverse("admin:clients_client_add")
LIST_URL = reverse("admin:clients_client_changelist")


def change_url(record):
    return reverse("admin:clients_client_change", args=[record.pk])


@pytest.fixture
def as_administrator(client, administrator):
    login_verified(client, administrator)
    return client


@pytest.fixture
def add_data(as_administrator, branch):
    data = form_data(as_administrator.get(ADD_URL).content.decode())
    data.update(
        client_number="C-ADM-1",
        kind="individual",
        civility="MME",
        first_name="Inès",
        last_name="Benali",
        birth_date="1990-04-12",
        legal_capacity="full",
        protection_measure="",
        email="  Ines.Benali@Exemple.FR ",
        mobile="06 12 34 56 78",
        branch=str(branch.pk),
        status="customer",
    )
    return data


def edit(browser, record, **changes):
    """Post the change form of `record` as loaded now, with `changes` applied."""
    data = form_data(browser.get(change_url(record)).content.decode())
    data.update(changes)
    return browser.post(change_url(record), data)


def form_errors(response):
    form = response.context["adminform"].form
    return form.errors


def test_the_add_form_creates_the_client_through_the_service(as_administrator, add_data):
    response = as_administrator.post(ADD_URL, add_data)
    assert response.status_code == 302
    created = Client.objects.get(client_number="C-ADM-1")
    assert created.email == "Ines.Benali@exemple.fr"
    assert created.mobile == "+33612345678"
    assert states_of(created) == {"email": "none", "sms_push": "none"}
    (entry,) = entries("client.created", created)
    assert entry.actor_type == "administrator"
    assert entry.actor_id.startswith("staff:")
    assert payload(entry)["branch"] == "B001"


def test_a_bad_mobile_in_the_add_form_is_a_field_error_and_creates_nothing(
    as_administrator, add_data
):
    response = as_administrator.post(ADD_URL, {**add_data, "mobile": "01 23 45 67 89"})
    assert response.status_code == 200
    assert "mobile" in form_errors(response)
    assert not Client.objects.filter(client_number="C-ADM-1").exists()
    assert entries("client.created") == []


def test_an_individual_without_birth_date_is_a_form_error_not_a_success(as_administrator, add_data):
    response = as_administrator.post(ADD_URL, {**add_data, "birth_date": ""})
    assert not Client.objects.filter(client_number="C-ADM-1").exists()
    assert response.status_code == 200, "the add form redirected as if the client was created"
    assert "birth_date" in form_errors(response)


def test_a_duplicate_client_number_in_the_add_form_is_a_field_error(
    as_administrator, add_data, customer
):
    response = as_administrator.post(ADD_URL, {**add_data, "client_number": customer.client_number})
    assert response.status_code == 200
    assert "client_number" in form_errors(response)
    assert Client.objects.count() == 1


def test_changing_the_mobile_goes_through_change_contact_details(as_administrator, customer):
    response = edit(as_administrator, customer, mobile="07 81 23 45 67")
    assert response.status_code == 302
    changed = Client.objects.get(pk=customer.pk)
    assert changed.mobile == "+33781234567"
    assert changed.version == customer.version + 1
    (entry,) = entries("client.contact_changed", customer)
    assert entry.channel == "sms_push"
    assert entry.actor_type == "administrator"
    assert payload(entry)["journey"] == "back_office"


def test_changing_the_email_keeps_a_granted_consent(as_administrator, customer, grant):
    grant(customer, "email")
    edit(as_administrator, customer, email="jeanne.neuve@exemple.fr")
    assert Client.objects.get(pk=customer.pk).email == "jeanne.neuve@exemple.fr"
    assert states_of(customer)["email"] == "granted"


def test_a_bad_email_in_the_change_form_is_a_field_error_and_changes_nothing(
    as_administrator, customer
):
    before = snapshot(customer)
    response = edit(as_administrator, customer, email="jeanne@exemple.invalid")
    assert response.status_code == 200
    assert "email" in form_errors(response)
    assert snapshot(customer) == before


def test_changing_capacity_without_a_reference_is_a_form_error(as_administrator, customer, grant):
    grant(customer, "email")
    before = snapshot(customer)
    response = edit(
        as_administrator,
        customer,
        legal_capacity="protected",
        protection_measure="tutelle",
        capacity_reference="",
    )
    assert response.status_code == 200
    assert "capacity_reference" in form_errors(response)
    assert snapshot(customer) == before


def test_changing_capacity_with_a_reference_lapses_the_consents(as_administrator, customer, grant):
    grant(customer, "email")
    response = edit(
        as_administrator,
        customer,
        legal_capacity="protected",
        protection_measure="curatelle",
        capacity_reference="TJ Lyon 26/4242",
    )
    assert response.status_code == 302
    client = Client.objects.get(pk=customer.pk)
    assert (client.legal_capacity, client.protection_measure) == ("protected", "curatelle")
    assert states_of(customer)["email"] == "none"
    assert len(entries("client.capacity_changed", customer)) == 1
    assert [e.channel for e in entries("consent.lapsed", customer)] == ["email"]


def test_a_stale_change_form_is_refused_and_changes_nothing(as_administrator, customer):
    """R45, R71: the page was loaded before somebody else changed the record."""
    page = form_data(as_administrator.get(change_url(customer)).content.decode())
    services.change_contact_details(
        actor=SYSTEM, client_number=customer.client_number, email="autre@exemple.fr"
    )
    before = snapshot(customer)
    page.update(last_name="Durand", email="moi@exemple.fr")
    response = as_administrator.post(change_url(customer), page, follow=True)
    assert snapshot(customer) == before, "a change based on a stale page was saved"
    assert "modifiée entre-temps" in response.content.decode()


@pytest.mark.parametrize(
    ("field", "posted", "stored"),
    [
        ("relationship_ended_on", "2026-10-31", dt.date(2026, 10, 31)),
        ("objection_notice_shown", "on", True),
    ],
)
def test_a_value_the_change_form_accepts_is_never_silently_dropped(
    as_administrator, client_factory, field, posted, stored
):
    professional = client_factory(kind="professional", status="customer")
    html = as_administrator.get(change_url(professional)).content.decode()
    if f'name="{field}"' not in html:
        return  # shown read only: nothing can be lost
    page = form_data(html)
    page[field] = posted
    response = as_administrator.post(change_url(professional), page)
    if response.status_code == 302:  # the page said it was saved
        assert getattr(Client.objects.get(pk=professional.pk), field) == stored


def test_an_advisor_sees_only_the_clients_of_their_branch(
    client, advisor, client_factory, other_branch
):
    ours = client_factory(client_number="OURS-1")
    theirs = client_factory(client_number="THEIRS-1", branch=other_branch)
    login_verified(client, advisor)
    response = client.get(LIST_URL)
    assert response.status_code == 200
    listed = [c.client_number for c in response.context["cl"].result_list]
    assert listed == [ours.client_number]
    assert client.get(change_url(theirs)).status_code != 200
    assert client.get(change_url(ours)).status_code == 200


def test_compliance_sees_every_client_but_cannot_change_one(
    client, compliance, customer, other_branch, client_factory
):
    client_factory(client_number="THEIRS-1", branch=other_branch)
    login_verified(client, compliance)
    listed = client.get(LIST_URL).context["cl"].result_list
    assert len(listed) == 2
    before = snapshot(customer)
    data = form_data(client.get(change_url(customer)).content.decode())
    data.update(last_name="Piratée", email="pirate@exemple.fr")
    assert client.post(change_url(customer), data).status_code == 403
    assert snapshot(customer) == before


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", "root@exemple.fr", "pw-for-tests")


@pytest.mark.parametrize("persona", ["administrator", "advisor", "superuser"])
def test_nobody_can_delete_a_client(client, request, persona, customer):
    user = request.getfixturevalue(persona)
    login_verified(client, user)
    delete_url = reverse("admin:clients_client_delete", args=[customer.pk])
    page = client.get(change_url(customer))
    assert page.status_code == 200
    assert delete_url not in page.content.decode()
    assert client.get(delete_url).status_code == 403
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    changelist = client.get(LIST_URL)
    assert "delete_selected" not in changelist.content.decode()
    response = client.post(
        LIST_URL, {"action": "delete_selected", "_selected_action": [customer.pk], "post": "yes"}
    )
    assert response.status_code in (200, 302)
    assert Client.objects.filter(pk=customer.pk).exists()
    assert ConsentState.objects.filter(client=customer).count() == 2
