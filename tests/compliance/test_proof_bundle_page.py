"""R54, R55: the proof bundle page, compliance only.

GET shows the customer (identity, the state of each channel, how many log entries, the last
full verification of the log) and the button; POST downloads the ZIP (attachment, not cached)
and logs its production. Compliance sees every branch's customers; advisors and
administrators get 403 and nothing is logged; an unknown number is a 404. An erased customer's
page shows none of their personal data.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from clients.models import Client
from optin.models import ClientKey
from optin.services import run_verification
from tests.clients.helpers import entries, log_size, payload
from tests.clients.pages import body


def url(client: Client | str) -> str:
    number = client if isinstance(client, str) else client.client_number
    return reverse("compliance:bundle", args=[number])


@pytest.fixture
def granted(customer: Client, grant: Any) -> Client:
    grant(customer)
    return customer


def test_the_page_shows_the_customer_their_states_and_the_last_full_verification(
    compliance_http: HttpClient, granted: Client
) -> None:
    run_verification(run_by="tests")

    response = compliance_http.get(url(granted))
    page = body(response)

    assert response.status_code == 200
    assert granted.client_number in page
    assert "Jeanne Dupont" in page
    assert granted.email in page
    assert "accord" in page and "sans réponse" in page
    assert "Entrées du client" in page
    assert "sans anomalie" in page
    assert 'method="post"' in page
    assert "Produire et télécharger le dossier (ZIP)" in page


def test_the_button_downloads_the_zip_and_logs_it(
    compliance_http: HttpClient, granted: Client, compliance: Any
) -> None:
    response = compliance_http.post(url(granted))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Cache-Control"] == "no-store"
    disposition = response["Content-Disposition"]
    assert disposition.startswith(f'attachment; filename="preuve-{granted.client_number}-')
    assert disposition.endswith('.zip"')
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert {"attestation.pdf", "entries.json", "LISEZMOI.txt"} <= set(archive.namelist())
    [logged] = entries("proof_bundle.produced", granted)
    assert payload(logged)["sha256"] == hashlib.sha256(response.content).hexdigest()
    assert logged.actor_id == f"staff:{compliance.pk}"


def test_compliance_sees_the_customers_of_every_branch(
    compliance_http: HttpClient, client_factory: Any, other_branch: Any
) -> None:
    elsewhere = client_factory(branch=other_branch)

    assert compliance_http.get(url(elsewhere)).status_code == 200


@pytest.mark.parametrize("method", ["get", "post"])
def test_advisors_and_administrators_are_refused(
    method: str, advisor_http: HttpClient, administrator_http: HttpClient, granted: Client
) -> None:
    before = log_size()

    for http in (advisor_http, administrator_http):
        assert getattr(http, method)(url(granted)).status_code == 403
    assert log_size() == before


def test_an_unknown_client_number_is_a_404(compliance_http: HttpClient, granted: Client) -> None:
    before = log_size()

    assert compliance_http.get(url("X404")).status_code == 404
    assert compliance_http.post(url("X404")).status_code == 404
    assert log_size() == before


def test_an_erased_customer_s_page_shows_no_personal_data(
    compliance_http: HttpClient, granted: Client
) -> None:
    ClientKey.objects.filter(client_id=granted.pk).update(destroyed_at=timezone.now())

    page = body(compliance_http.get(url(granted)))

    assert granted.client_number in page
    assert "effacées" in page
    for value in (granted.first_name, granted.last_name, granted.email, granted.mobile):
        assert value not in page
