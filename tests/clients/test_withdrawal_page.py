"""R2, R12, R15, R31, R38, R42, R71: a withdrawal in branch at the customer's request.

One click from the record, then a confirmation page that shows the current state and asks how
the request was received (in person, by phone, letter or e-mail). Confirming records
`consent.withdrawn` with the journey `branch_request` and the means in the entry's evidence;
the channel is `withdrawn` at once and no longer eligible (R42). An unknown channel is a 404.
Withdrawing what is already withdrawn records nothing and answers success (R15). An invalid
means is a form error (400) and nothing changes (R71). The confirmation says that contractual
messages continue (R2).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse

from clients.models import Client
from optin.models import ConsentState
from optin.selectors import eligibility
from tests.clients.helpers import entries, log_size, payload, states_of
from tests.clients.pages import as_user, body, everything, inputs, radio_labels, visible_text

MEANS = {
    "in_person": "En agence, en personne",
    "phone": "Par téléphone",
    "letter": "Par courrier",
    "email": "Par e-mail",
}


def withdraw_url(client: Client, channel: str = "email") -> str:
    return reverse("clients:withdraw", args=[client.client_number, channel])


def record_url(client: Client) -> str:
    return reverse("clients:record", args=[client.client_number])


def without_last_contact(snapshot: tuple[Any, ...]) -> tuple[Any, ...]:
    row, *rest = snapshot
    return ({k: v for k, v in row.items() if k != "last_contact_at"}, *rest)


@pytest.fixture
def http(advisor: Any) -> Any:
    return as_user(advisor)


@pytest.fixture
def granted(customer: Client, grant: Callable[..., Any]) -> Client:
    """Both channels granted online."""
    grant(customer, "email")
    grant(customer, "sms_push")
    return customer


# --- the confirmation --------------------------------------------------------------------------


def test_the_confirmation_shows_the_channel_its_state_and_the_means_to_choose(
    http: Any, granted: Client
) -> None:
    before = everything(granted)
    response = http.get(withdraw_url(granted))
    assert response.status_code == 200
    text = visible_text(response)
    assert "Retrait de l'accord : e-mail" in text
    assert re.search(
        r"État actuel : accord depuis le \d\d/\d\d/\d{4} \d\d:\d\d \(UTC\+0[12]:00\)", text
    )
    assert "Le retrait prend effet immédiatement" in text
    assert radio_labels(response, "means") == MEANS
    assert "Confirmer le retrait" in text
    assert everything(granted) == before  # showing the confirmation records nothing


def test_the_record_links_to_the_confirmation(http: Any, granted: Client) -> None:
    page = http.get(record_url(granted)).content.decode()
    assert f'href="{withdraw_url(granted)}"' in page


def test_the_confirmation_says_contractual_messages_continue(http: Any, granted: Client) -> None:
    response = http.get(withdraw_url(granted))
    assert response.status_code == 200
    assert re.search(r"contrats?\b|contractuel", visible_text(response))


def test_the_confirmation_of_a_channel_never_answered_reads_well(
    http: Any, customer: Client
) -> None:
    response = http.get(withdraw_url(customer, "sms_push"))
    assert response.status_code == 200
    text = visible_text(response)
    assert "État actuel : sans réponse" in text
    assert "depuis le ." not in text


# --- confirming --------------------------------------------------------------------------------


@pytest.mark.parametrize("means", list(MEANS))
def test_confirming_records_the_withdrawal_with_its_means_at_once(
    http: Any, advisor: Any, granted: Client, means: str
) -> None:
    size = log_size()
    response = http.post(withdraw_url(granted), {"means": means})
    assert response.status_code == 302
    assert response["Location"] == record_url(granted)
    [entry] = entries("consent.withdrawn", granted)
    assert entry.seq == size + 1
    assert entry.channel == "email"
    assert entry.actor_type == "advisor"
    assert entry.actor_id == f"staff:{advisor.pk}"
    assert payload(entry)["journey"] == "branch_request"
    assert payload(entry)["evidence"] == {"means": means}
    assert log_size() == size + 1
    # R38, R42: effective at once, the other channel untouched.
    assert states_of(granted) == {"email": "withdrawn", "sms_push": "granted"}
    state = ConsentState.objects.get(client=granted, channel="email")
    assert state.journey == "branch_request"
    [answer] = eligibility("email", [granted.client_number])
    assert (answer.eligible, answer.reason) == (False, "withdrawn")


def test_the_record_then_shows_the_withdrawal_and_its_means(http: Any, granted: Client) -> None:
    response = http.post(withdraw_url(granted, "sms_push"), {"means": "phone"}, follow=True)
    assert response.status_code == 200
    text = visible_text(response)
    assert "Retrait enregistré : plus aucune offre par SMS et notifications mobiles." in text
    assert (
        "retrait (par téléphone) sms et notifications mobiles agence : demande du client"
        in text.lower()
    )
    assert withdraw_url(granted, "sms_push") not in body(response)


# --- what cannot be withdrawn --------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["fax", "phone", "EMAIL", "sms"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_unknown_channel_is_404_and_changes_nothing(
    http: Any, granted: Client, channel: str, method: str
) -> None:
    before = everything(granted)
    path = withdraw_url(granted, channel)
    response = http.post(path, {"means": "phone"}) if method == "POST" else http.get(path)
    assert response.status_code == 404
    assert everything(granted) == before


def test_withdrawing_again_records_nothing_and_is_not_an_error(http: Any, granted: Client) -> None:
    assert http.post(withdraw_url(granted), {"means": "letter"}).status_code == 302
    before = everything(granted)
    again = http.get(withdraw_url(granted))
    assert again.status_code == 200
    assert "État actuel : retrait depuis le " in visible_text(again)
    response = http.post(withdraw_url(granted), {"means": "phone"})
    assert response.status_code == 302
    assert response["Location"] == record_url(granted)
    # No entry, no state change (R15); only the time of the customer's last contact moves
    # (R60: asking again is a contact coming from them).
    assert without_last_contact(everything(granted)) == without_last_contact(before)
    assert len(entries("consent.withdrawn", granted)) == 1
    assert states_of(granted)["email"] == "withdrawn"


@pytest.mark.parametrize("data", [{}, {"means": ""}, {"means": "pigeon"}, {"means": "IN_PERSON"}])
def test_an_invalid_means_is_a_form_error_and_changes_nothing(
    http: Any, granted: Client, data: dict[str, str]
) -> None:
    before = everything(granted)
    response = http.post(withdraw_url(granted), data)
    assert response.status_code == 400
    assert 'id="id_means_error"' in response.content.decode()
    assert radio_labels(response, "means") == MEANS
    assert everything(granted) == before
    assert states_of(granted) == {"email": "granted", "sms_push": "granted"}


def test_the_means_error_is_tied_to_its_radio_group(http: Any, granted: Client) -> None:
    response = http.post(withdraw_url(granted), {"means": "pigeon"})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="id_means_error"' in page
    assert all(choice.get("aria-invalid") == "true" for choice in inputs(response, "means"))
    assert re.search(r'<fieldset[^>]*aria-describedby="id_means_error"', page)
