"""R45: every change of a customer record makes a new version, and a change based on an older
version is refused, whatever fields it touches (no lost update)."""

import pytest
from django.urls import reverse

from clients import services
from clients.models import Client
from optin.errors import DomainError
from tests.auth import login_verified
from tests.clients.helpers import form_data
from tests.factories import SYSTEM


def test_every_kind_of_change_makes_a_new_version(customer):
    number, version = customer.client_number, customer.version
    services.update_client_identity(actor=SYSTEM, client_number=number, last_name="Martin")
    services.change_contact_details(actor=SYSTEM, client_number=number, mobile="07 81 23 45 67")
    services.change_legal_capacity(
        actor=SYSTEM,
        client_number=number,
        legal_capacity="protected",
        protection_measure="curatelle",
        reference="RG 26/01234",
    )
    assert Client.objects.get(pk=customer.pk).version == version + 3


def test_a_change_based_on_an_older_version_is_refused_with_the_current_values(customer):
    stale = customer.version
    services.update_client_identity(
        actor=SYSTEM, client_number=customer.client_number, last_name="Martin"
    )
    with pytest.raises(DomainError) as refused:
        services.lock_client(customer.client_number, expected_version=stale)
    assert refused.value.code == "conflict"
    assert refused.value.extra["current"]["version"] == stale + 1


def test_a_stale_admin_page_cannot_overwrite_a_name_changed_meanwhile(
    client, administrator, customer
):
    login_verified(client, administrator)
    url = reverse("admin:clients_client_change", args=[customer.pk])
    first = form_data(client.get(url).content.decode())
    second = form_data(client.get(url).content.decode())  # opened at the same time

    first["last_name"] = "Nouveau"
    assert client.post(url, first).status_code == 302
    second["first_name"] = "Autre"
    response = client.post(url, second)

    saved = Client.objects.get(pk=customer.pk)
    assert (saved.first_name, saved.last_name) == (customer.first_name, "Nouveau")
    assert response.status_code == 200  # the form again, with the conflict
    assert "modifiée entre-temps" in response.content.decode()
