"""R6, R7, R68, R71: recording a protection measure (or its lifting) from the knowledge record.

The first POST shows what the measure will end (the granted and pending channels, the forms
waiting for a signature) and changes nothing. The confirmed POST records
`client.capacity_changed` with the measure and the judgment's reference, makes the granted and
pending channels lapse (`consent.lapsed` by the system, state `none`), cancels the pending
form, and keeps refusals and withdrawals (D1). A missing reference or measure is a field error
and nothing changes. Lifting a measure revives nothing: the person is asked again later.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse

from clients.models import Client
from clients.services import change_legal_capacity
from optin.audit import personal_data
from signatures.models import ConsentForm, FormStatus
from tests.clients.helpers import entries, form_data, log_size, payload, states_of
from tests.clients.pages import answer_in_branch, as_user, body, everything, visible_text
from tests.factories import SYSTEM
from tests.signatures.conftest import _seal, seal_p12  # noqa: F401  (a "Oui" seals a form)

MEASURE = {
    "legal_capacity": "protected",
    "protection_measure": "curatelle",
    "reference": "RG 26/01234",
}


def capacity_url(client: Client) -> str:
    return reverse("clients:capacity", args=[client.client_number])


def record_url(client: Client) -> str:
    return reverse("clients:record", args=[client.client_number])


def main_form(response: Any) -> dict[str, str]:
    """What the browser posts from the page's form, unchanged."""
    page = response.content.decode()
    start = page.index('<form method="post" novalidate>')
    return form_data(page[start : page.index("</form>", start)])


@pytest.fixture
def http(advisor: Any) -> Any:
    return as_user(advisor)


@pytest.fixture
def engaged(customer: Client, advisor: Any, grant: Callable[..., Any]) -> ConsentForm:
    """E-mail granted online; SMS/push "Oui" in branch, its form waiting for a signature."""
    grant(customer, "email")
    form = answer_in_branch(customer, advisor, sms_push="yes").form
    assert form is not None
    return form


# --- the preview -------------------------------------------------------------------------------


def test_the_page_shows_the_current_capacity(http: Any, customer: Client) -> None:
    response = http.get(capacity_url(customer))
    assert response.status_code == 200
    assert main_form(response)["legal_capacity"] == "full"
    assert "Voir ce qui change" in visible_text(response)


def test_the_first_post_shows_what_will_end_and_changes_nothing(
    http: Any, customer: Client, engaged: ConsentForm
) -> None:
    before = everything(customer)
    response = http.post(capacity_url(customer), MEASURE)
    assert response.status_code == 200
    text = visible_text(response)
    assert "Une mesure de protection met fin, dès son enregistrement" in text
    assert "e-mail : « accord » prendra fin" in text
    assert "SMS et notifications mobiles : « en attente de signature » prendra fin" in text
    assert f"le formulaire {engaged.reference} sera annulé" in text
    assert "Confirmer" in text
    assert everything(customer) == before
    assert states_of(customer) == {"email": "granted", "sms_push": "pending_signature"}
    # The confirmation carries the values entered.
    assert main_form(response) == {**MEASURE, "confirmed": "True"}


def test_the_preview_says_nothing_will_end_when_nothing_is_given(
    http: Any, customer: Client, decide: Callable[..., Any]
) -> None:
    decide(customer, "email", "refuse")
    response = http.post(capacity_url(customer), MEASURE)
    assert response.status_code == 200
    text = visible_text(response)
    assert "Aucun accord ni demande en cours : rien ne prendra fin." in text
    assert "prendra fin" not in text.replace("rien ne prendra fin", "")


# --- confirming --------------------------------------------------------------------------------


def test_the_confirmed_post_records_the_measure_and_ends_what_was_given(
    http: Any, advisor: Any, customer: Client, engaged: ConsentForm
) -> None:
    preview = http.post(capacity_url(customer), MEASURE)
    size = log_size()
    response = http.post(capacity_url(customer), main_form(preview))
    assert response.status_code == 302
    assert response["Location"] == record_url(customer)

    customer.refresh_from_db()
    assert (customer.legal_capacity, customer.protection_measure) == ("protected", "curatelle")
    [changed] = entries("client.capacity_changed", customer)
    assert changed.seq == size + 1
    assert changed.actor_id == f"staff:{advisor.pk}"
    assert payload(changed)["from"] == {"legal_capacity": "full"}
    assert payload(changed)["to"] == {"legal_capacity": "protected"}
    # The reference and which measure, sealed with the customer's key (R64).
    assert personal_data(changed) == {
        "reference": MEASURE["reference"],
        "from": {"protection_measure": ""},
        "to": {"protection_measure": "curatelle"},
    }

    lapsed = entries("consent.lapsed", customer)
    assert sorted(e.channel for e in lapsed) == ["email", "sms_push"]
    for entry in lapsed:
        assert (entry.actor_type, entry.actor_id) == ("system", "capacity_change")
        assert payload(entry)["reason"] == "legal_capacity"
        assert payload(entry)["journey"] == "system_capacity"
    assert states_of(customer) == {"email": "none", "sms_push": "none"}
    engaged.refresh_from_db()
    assert engaged.status == FormStatus.CANCELLED
    assert not ConsentForm.objects.pending().filter(client=customer).exists()

    page = http.get(response["Location"])
    text = visible_text(page)
    assert "Capacité juridique enregistrée." in text
    assert "Accords et demandes en cours terminés : e-mail, SMS et notifications mobiles." in text
    assert "Majeur protégé : curatelle (dont renforcée)" in text


def test_refusals_and_withdrawals_are_kept(
    http: Any, customer: Client, decide: Callable[..., Any]
) -> None:
    decide(customer, "email", "refuse")
    decide(customer, "sms_push", "grant")
    decide(customer, "sms_push", "withdraw")
    size = log_size()
    response = http.post(capacity_url(customer), {**MEASURE, "confirmed": "True"})
    assert response.status_code == 302
    assert states_of(customer) == {"email": "refused", "sms_push": "withdrawn"}
    assert entries("consent.lapsed", customer) == []
    assert len(entries("client.capacity_changed", customer)) == 1
    assert log_size() == size + 1


# --- bad input (R68, R71) ----------------------------------------------------------------------


@pytest.mark.parametrize("confirmed", ["", "True"])
@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({**MEASURE, "reference": ""}, "reference", "Ce champ est obligatoire."),
        ({**MEASURE, "reference": "   "}, "reference", "Ce champ est obligatoire."),
        (
            {**MEASURE, "protection_measure": ""},
            "protection_measure",
            "Indiquez la mesure de protection.",
        ),
        (
            {**MEASURE, "protection_measure": "mesure_accompagnement"},
            "protection_measure",
            "Sélectionnez un choix valide.",
        ),
        (
            {**MEASURE, "legal_capacity": "full"},
            "protection_measure",
            "Une mesure suppose un majeur protégé.",
        ),
        ({**MEASURE, "legal_capacity": ""}, "legal_capacity", "Ce champ est obligatoire."),
    ],
    ids=["no_reference", "blank_reference", "no_measure", "maj", "measure_of_capable", "none"],
)
def test_a_missing_or_wrong_value_is_a_field_error_and_changes_nothing(
    http: Any,
    customer: Client,
    grant: Callable[..., Any],
    data: dict[str, str],
    field: str,
    message: str,
    confirmed: str,
) -> None:
    grant(customer, "email")
    before = everything(customer)
    response = http.post(capacity_url(customer), {**data, "confirmed": confirmed})
    assert response.status_code == 400
    page = response.content.decode()
    error = re.search(r'<ul class="errorlist" id="id_' + field + r'_error">(.*?)</ul>', page)
    assert error is not None, page
    assert message in body(response)
    assert "prendra fin" not in visible_text(response)
    assert everything(customer) == before


def test_the_legal_capacity_error_is_tied_to_its_radio_group(http: Any, customer: Client) -> None:
    response = http.post(capacity_url(customer), {**MEASURE, "legal_capacity": ""})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="id_legal_capacity_error"' in page
    assert re.search(r'<fieldset[^>]*aria-describedby="id_legal_capacity_error"', page)


# --- lifting the measure -----------------------------------------------------------------------


def test_lifting_a_measure_revives_nothing(
    http: Any, customer: Client, grant: Callable[..., Any]
) -> None:
    grant(customer, "email")
    change_legal_capacity(actor=SYSTEM, client_number=customer.client_number, **MEASURE)
    assert states_of(customer) == {"email": "none", "sms_push": "none"}
    consents = [e.seq for e in entries("consent.lapsed", customer)]
    lifting = {"legal_capacity": "full", "protection_measure": "", "reference": "Mainlevée 27/9"}

    preview = http.post(capacity_url(customer), lifting)
    assert preview.status_code == 200
    assert "Le client redevient majeur capable. Aucun accord n'est rétabli" in visible_text(preview)
    response = http.post(capacity_url(customer), main_form(preview))
    assert response.status_code == 302

    customer.refresh_from_db()
    assert (customer.legal_capacity, customer.protection_measure) == ("full", "")
    [_measure, lifted] = entries("client.capacity_changed", customer)
    assert payload(lifted)["to"] == {"legal_capacity": "full"}
    assert states_of(customer) == {"email": "none", "sms_push": "none"}
    assert [e.seq for e in entries("consent.lapsed", customer)] == consents
    assert entries("consent.granted", customer)[-1].seq < lifted.seq
    assert entries("consent.restored", customer) == []
