"""R64, R55: the compliance officer erases a customer's data from the erasure page.

Only compliance holds `clients.erase_client`: advisors and administrators get a 403 and nothing
is written. GET says what the erasure will do and what it keeps, and asks for a second
confirmation: the client number typed again and a ticked box. A wrong or missing number or an
unticked box is a form error (400) that writes nothing: the log, the client row and its states
stay as they were. A confirmed POST erases (both channels withdrawn, the pending form
cancelled, the key destroyed, the number freed) and redirects to the result, read back from the
erasure's log entry. Coming back to an erased customer's page says so and never erases twice;
an unknown number is a 404. The record and the proof-bundle pages link to it for compliance
only. The pages carry no inline script or style (CSP) and CSRF applies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from clients.models import Client
from optin.models import AuditEntry, ClientKey, ConsentState, ConsentStatus, Journey
from signatures.models import ConsentForm, FormStatus
from signatures.services import Collected
from tests.auth import login_verified
from tests.clients.helpers import entries, log_size, payload, states_of
from tests.clients.pages import body, visible_text
from tests.test_security_headers import scan

NUMBER = "EFF-0042"


def url(number: str) -> str:
    return reverse("compliance:erasure", args=[number])


def confirmation(number: str = NUMBER, confirmed: bool = True) -> dict[str, str]:
    data = {"client_number": number}
    if confirmed:
        data["confirmed"] = "on"
    return data


@pytest.fixture
def person(client_factory: Callable[..., Client], grant: Callable[..., Any]) -> Client:
    """A customer who granted e-mail."""
    person = client_factory(
        client_number=NUMBER,
        first_name="Philomène",
        last_name="Brisebarre",
        email="philomene.brisebarre@exemple.fr",
        mobile="+33645454545",
    )
    grant(person)
    return person


@pytest.fixture
def pending(person: Client, collect: Callable[..., Collected]) -> ConsentForm:
    """A branch "Oui" on SMS, its form waiting for the signature."""
    form = collect(person, sms_push="yes").form
    assert form is not None
    return form


def unchanged(client: Client) -> tuple[Any, ...]:
    """What a refused request must leave as it was."""
    row = Client.objects.filter(pk=client.pk).values().get()
    return (
        log_size(),
        row,
        states_of(client),
        ClientKey.objects.filter(client_id=client.pk).count(),
    )


# --- who may erase ---------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["advisor_http", "administrator_http"])
def test_advisors_and_administrators_get_403_and_nothing_is_written(
    request: pytest.FixtureRequest, persona: str, person: Client
) -> None:
    http: HttpClient = request.getfixturevalue(persona)
    before = unchanged(person)

    assert http.get(url(NUMBER)).status_code == 403
    assert http.post(url(NUMBER), confirmation()).status_code == 403

    assert unchanged(person) == before


def test_only_compliance_holds_the_permission(
    compliance: Any, advisor: Any, administrator: Any
) -> None:
    assert compliance.has_perm("clients.erase_client")
    assert not advisor.has_perm("clients.erase_client")
    assert not administrator.has_perm("clients.erase_client")


def test_an_unknown_number_is_a_404(compliance_http: HttpClient, db: None) -> None:
    assert compliance_http.get(url("NOPE-404")).status_code == 404
    assert compliance_http.post(url("NOPE-404"), confirmation("NOPE-404")).status_code == 404


def test_the_post_needs_the_csrf_token(compliance: Any, person: Client) -> None:
    http = HttpClient(enforce_csrf_checks=True)
    login_verified(http, compliance)
    before = unchanged(person)

    assert http.post(url(NUMBER), confirmation()).status_code == 403

    assert unchanged(person) == before


# --- what the page says ----------------------------------------------------------------------


def test_the_page_says_what_will_happen_and_asks_for_a_second_confirmation(
    compliance_http: HttpClient, person: Client, pending: ConsentForm
) -> None:
    response = compliance_http.get(url(NUMBER))
    text = visible_text(response)

    assert response.status_code == 200
    assert NUMBER in text and "Brisebarre" in text
    assert "irréversible" in text
    assert "« retrait »" in text and "demande d'effacement" in text
    assert "liste d'opposition" in text
    assert "formulaire en attente de signature est annulé" in text
    assert "clé de chiffrement" in text and "détruite" in text
    assert "fichier" in text and "supprimé" in text
    assert "empreintes" in text
    page = body(response)
    assert 'method="post"' in page and "csrfmiddlewaretoken" in page
    assert 'name="client_number"' in page and 'name="confirmed"' in page
    assert 'type="checkbox"' in page
    assert "Effacer définitivement les données" in page


def test_the_pages_carry_no_inline_script_or_style(
    compliance_http: HttpClient, person: Client
) -> None:
    form_page = compliance_http.get(url(NUMBER))
    refused = compliance_http.post(url(NUMBER), confirmation("WRONG-1"))
    done = compliance_http.post(url(NUMBER), confirmation(), follow=True)
    already = compliance_http.get(url(NUMBER))

    for response in (form_page, refused, done, already):
        found = scan(response)
        assert found.scripts == found.handlers == found.style_elements == []
        assert found.style_attributes == found.javascript_urls == []


def test_the_record_and_the_bundle_page_link_to_the_erasure_for_compliance_only(
    compliance_http: HttpClient, advisor_http: HttpClient, person: Client
) -> None:
    target = f'href="{url(NUMBER)}"'
    record = reverse("clients:record", args=[NUMBER])
    bundle = reverse("compliance:bundle", args=[NUMBER])

    assert target in body(compliance_http.get(record))
    assert target in body(compliance_http.get(bundle))
    assert target not in body(advisor_http.get(record))


# --- the second confirmation -----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        confirmation("EFF-0043"),
        confirmation("eff-0042"),
        confirmation(""),
        confirmation(confirmed=False),
        {},
    ],
    ids=["other-number", "other-case", "no-number", "box-unticked", "nothing"],
)
def test_without_both_confirmations_nothing_is_erased(
    compliance_http: HttpClient, person: Client, pending: ConsentForm, data: dict[str, str]
) -> None:
    before = unchanged(person)

    response = compliance_http.post(url(NUMBER), data)

    assert response.status_code == 400
    assert unchanged(person) == before
    assert ConsentForm.objects.get(pk=pending.pk).status == FormStatus.PENDING
    assert 'class="errorlist' in body(response)


def test_a_wrong_number_says_so(compliance_http: HttpClient, person: Client) -> None:
    response = compliance_http.post(url(NUMBER), confirmation("EFF-0043"))

    assert "Ce n'est pas le numéro de ce client : rien n'a été effacé." in body(response)


def test_an_unticked_box_says_so(compliance_http: HttpClient, person: Client) -> None:
    response = compliance_http.post(url(NUMBER), confirmation(confirmed=False))

    assert "Cochez la case pour confirmer l'effacement." in body(response)


# --- the erasure -----------------------------------------------------------------------------


def test_a_confirmed_erasure_erases_and_redirects_to_its_result(
    compliance_http: HttpClient, compliance: Any, person: Client, pending: ConsentForm
) -> None:
    before = log_size()

    response = compliance_http.post(url(NUMBER), confirmation())

    [erased] = AuditEntry.objects.filter(action="client.erased", client_number=NUMBER)
    assert response.status_code == 302
    assert response["Location"] == reverse("compliance:erasure_done", args=[erased.seq])
    assert erased.actor_id == f"staff:{compliance.pk}"
    assert erased.actor_type == "compliance"
    assert payload(erased)["reason"] == "erasure_request"
    # Both withdrawals, the cancelled form and the erasure itself, appended to the log.
    assert log_size() >= before + 4
    person.refresh_from_db()
    assert person.erased_at is not None
    assert person.client_number == f"~{person.pk}"
    assert person.first_name == "" and person.email == "" and person.mobile == ""
    for state in ConsentState.objects.filter(client=person):
        assert state.status == ConsentStatus.WITHDRAWN
        assert state.journey == Journey.ERASURE_REQUEST
    assert len(entries("consent.withdrawn", person)) == 2
    assert ConsentForm.objects.get(pk=pending.pk).status == FormStatus.CANCELLED
    assert not ClientKey.objects.filter(client_id=person.pk, destroyed_at__isnull=True).exists()


def test_the_result_page_tells_what_was_done(
    compliance_http: HttpClient, person: Client, pending: ConsentForm
) -> None:
    response = compliance_http.post(url(NUMBER), confirmation(), follow=True)
    erased = AuditEntry.objects.get(action="client.erased", client_number=NUMBER)
    data = payload(erased)
    text = visible_text(response)

    assert response.status_code == 200
    assert "Données du client effacées" in text
    assert NUMBER in text
    assert f"n° {erased.seq}" in text
    assert f'href="{reverse("compliance:entry", args=[erased.seq])}"' in body(response)
    assert data["forms_cancelled"] == 1
    assert "Formulaires annulés 1" in text
    assert f"Clés détruites {data['keys_destroyed']}" in text
    assert "Canaux retirés e-mail, SMS et notifications mobiles" in text
    assert "Liste d'opposition e-mail, SMS et notifications mobiles" in text
    assert "E-mail retrait" in text and "SMS et notifications mobiles retrait" in text
    # Nothing personal on the result page.
    assert "Brisebarre" not in text and "philomene" not in text


def test_a_second_visit_says_the_data_are_already_erased_and_erases_nothing(
    compliance_http: HttpClient, person: Client
) -> None:
    compliance_http.post(url(NUMBER), confirmation())
    erased = AuditEntry.objects.get(action="client.erased", client_number=NUMBER)
    before = log_size()

    page = compliance_http.get(url(NUMBER))
    again = compliance_http.post(url(NUMBER), confirmation())

    assert page.status_code == 200
    assert "ont déjà été effacées" in visible_text(page)
    done = reverse("compliance:erasure_done", args=[erased.seq])
    assert f'href="{done}"' in body(page)
    assert again.status_code == 302 and again["Location"] == done
    assert log_size() == before


def test_the_erased_row_itself_is_never_erased_twice(
    compliance_http: HttpClient, person: Client
) -> None:
    compliance_http.post(url(NUMBER), confirmation())
    person.refresh_from_db()
    before = log_size()

    response = compliance_http.post(url(person.client_number), confirmation(person.client_number))

    assert response.status_code == 302
    assert log_size() == before


def test_the_result_of_an_entry_that_is_no_erasure_is_a_404(
    compliance_http: HttpClient, person: Client
) -> None:
    other = AuditEntry.objects.filter(client_id=person.pk).order_by("seq").first()
    assert other is not None

    response = compliance_http.get(reverse("compliance:erasure_done", args=[other.seq]))

    assert response.status_code == 404


def test_the_result_page_is_for_compliance_only(
    compliance_http: HttpClient, advisor_http: HttpClient, person: Client
) -> None:
    compliance_http.post(url(NUMBER), confirmation())
    erased = AuditEntry.objects.get(action="client.erased", client_number=NUMBER)

    response = advisor_http.get(reverse("compliance:erasure_done", args=[erased.seq]))

    assert response.status_code == 403
