"""R23, R43-R45, R66, R67, R71: the contact update of the knowledge record, then the question.

Also R1, R4-R6, R8, R18 and R24. Changing the e-mail of a granted channel keeps the consent
and asks nothing (R43); adding or changing a contact point of a channel not granted, or
confirming it unchanged, leads to that channel's question (R23, R44): the exact active wording
with "Oui", "Non" and "Le client ne souhaite pas répondre", none checked. Not answering records
nothing; "Non" is recorded at once (refused); "Oui" generates the form to sign (R24). A change
based on a stale version of the record is a 409 showing the current values, and nothing is
overwritten (R45). A bad e-mail or mobile is a field error (R66, R67) and nothing changes
(R71). Each channel is answered on its own (R1); an answer on a wording other than the one
displayed is refused (R18). Removing a contact point invites nothing (R44). Minors and
protected adults are not asked (R4-R6); a professional's new e-mail comes with the B2B notice
and the objection choice (R8).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from django.utils.http import urlencode

from clients.models import Client
from clients.roles import actor_for
from clients.services import change_contact_details
from optin.models import AuditEntry, ConsentState
from optin.selectors import active_wordings
from signatures.models import ConsentForm, FormStatus
from tests.clients.helpers import child_birth_date, entries, log_size, payload, states_of
from tests.clients.pages import as_user, body, everything, inputs, radio_labels, visible_text
from tests.signatures.conftest import _seal, seal_p12  # noqa: F401  (a "Oui" seals a form)

MakeClient = Callable[..., Client]
NO_ANSWER = "Le client ne souhaite pas répondre"


def contact_url(client: Client) -> str:
    return reverse("clients:contact", args=[client.client_number])


def record_url(client: Client) -> str:
    return reverse("clients:record", args=[client.client_number])


def ask_url(client: Client, channels: str) -> str:
    return (
        reverse("clients:ask", args=[client.client_number]) + "?" + urlencode({"canaux": channels})
    )


def contact_post(client: Client, **changes: str) -> dict[str, str]:
    """The contact form as the page sends it: the record's values and version, changed."""
    client.refresh_from_db()
    data = {"email": client.email, "mobile": client.mobile, "version": str(client.version)}
    data.update(changes)
    return data


def consent_entries(client: Client) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(client_id=client.pk, action__startswith="consent."))


def wording_shown(response: Any, channel: str) -> str:
    """The text of the wording displayed next to a channel's question."""
    page = response.content.decode()
    fieldset = re.search(
        r'<fieldset class="question" id="question-' + channel + r'".*?</fieldset>', page, re.DOTALL
    )
    assert fieldset is not None, channel
    quote = re.search(r'<blockquote class="wording" lang="fr">(.*?)<footer>', fieldset.group(0))
    assert quote is not None
    return html.unescape(quote.group(1))


@pytest.fixture
def http(advisor: Any) -> Any:
    return as_user(advisor)


# --- a granted channel keeps its consent (R43) -----------------------------------------------


def test_changing_the_email_of_a_granted_channel_keeps_it_granted_and_asks_nothing(
    http: Any, customer: Client, grant: Callable[..., Any]
) -> None:
    grant(customer, "email")
    since = ConsentState.objects.get(client=customer, channel="email").since
    consents = consent_entries(customer)
    response = http.post(
        contact_url(customer), contact_post(customer, email="  Jeanne.Nouvelle@EXEMPLE.fr ")
    )
    assert response.status_code == 302
    assert response["Location"] == record_url(customer)
    customer.refresh_from_db()
    assert customer.email == "Jeanne.Nouvelle@exemple.fr"  # R66: the domain in lower case
    state = ConsentState.objects.get(client=customer, channel="email")
    assert (state.status, state.since) == ("granted", since)
    assert consent_entries(customer) == consents
    assert not ConsentForm.objects.filter(client=customer).exists()
    [changed] = entries("client.contact_changed", customer)
    assert changed.channel == "email"
    assert changed.actor_type == "advisor"
    assert payload(changed)["journey"] == "branch_contact_update"
    page = http.get(response["Location"])
    assert "l'accord déjà donné est conservé" in body(page)


def test_changing_both_contact_points_asks_only_the_channel_not_granted(
    http: Any, customer: Client, grant: Callable[..., Any]
) -> None:
    grant(customer, "email")
    response = http.post(
        contact_url(customer),
        contact_post(customer, email="jeanne.autre@exemple.fr", mobile="06.98.76.54.32"),
    )
    assert response.status_code == 302
    assert response["Location"] == ask_url(customer, "sms_push")
    customer.refresh_from_db()
    assert customer.mobile == "+33698765432"  # R67: stored in E.164
    assert states_of(customer) == {"email": "granted", "sms_push": "none"}


# --- a channel not granted is asked (R23, R44) ------------------------------------------------


@pytest.mark.parametrize("decisions", [(), ("refuse",), ("grant", "withdraw")])
def test_changing_the_email_of_a_channel_not_granted_leads_to_its_question(
    http: Any, customer: Client, decide: Callable[..., Any], decisions: tuple[str, ...]
) -> None:
    for decision in decisions:
        decide(customer, "email", decision)
    before = states_of(customer)
    response = http.post(contact_url(customer), contact_post(customer, email="j.d@exemple.fr"))
    assert response.status_code == 302
    assert response["Location"] == ask_url(customer, "email")
    assert len(entries("client.contact_changed", customer)) == 1
    assert states_of(customer) == before


def test_adding_an_email_leads_to_its_question(http: Any, client_factory: MakeClient) -> None:
    client = client_factory(email="")
    response = http.post(contact_url(client), contact_post(client, email="ajout@exemple.fr"))
    assert response.status_code == 302
    assert response["Location"] == ask_url(client, "email")
    client.refresh_from_db()
    assert client.email == "ajout@exemple.fr"


def test_the_question_shows_the_exact_active_wording_and_three_answers_none_checked(
    http: Any, customer: Client
) -> None:
    response = http.get(ask_url(customer, "email"))
    assert response.status_code == 200
    wording = active_wordings()["email"]
    assert wording_shown(response, "email") == wording.text
    assert f"Formulation {wording.version}" in visible_text(response)
    assert radio_labels(response, "answer_email") == {
        "yes": "Oui",
        "no": "Non",
        "unanswered": NO_ANSWER,
    }
    assert not any("checked" in choice for choice in inputs(response, "answer_email"))
    assert inputs(response, "wording_email")[0]["value"] == wording.version
    # Only the channel whose contact point changed is asked.
    assert inputs(response, "answer_sms_push") == []


def test_not_answering_records_nothing(http: Any, customer: Client) -> None:
    before = everything(customer)
    response = http.post(
        ask_url(customer, "email"), {"answer_email": "unanswered", "wording_email": "email-v1"}
    )
    assert response.status_code == 302
    assert response["Location"] == record_url(customer)
    assert everything(customer) == before
    assert consent_entries(customer) == []
    assert states_of(customer) == {"email": "none", "sms_push": "none"}
    assert "rien n'est enregistré" in body(http.get(response["Location"]))


def test_a_no_is_recorded_at_once_as_refused(http: Any, advisor: Any, customer: Client) -> None:
    size = log_size()
    response = http.post(
        ask_url(customer, "email"), {"answer_email": "no", "wording_email": "email-v1"}
    )
    assert response.status_code == 302
    assert response["Location"] == record_url(customer)
    assert states_of(customer) == {"email": "refused", "sms_push": "none"}
    [refused] = entries("consent.refused", customer)
    assert refused.seq == size + 1
    assert refused.channel == "email"
    assert refused.wording_version == "email-v1"
    assert refused.actor_id == f"staff:{advisor.pk}"
    assert payload(refused)["journey"] == "branch_contact_update"
    assert not ConsentForm.objects.filter(client=customer).exists()


def test_a_yes_generates_the_form_to_sign_and_opens_it(http: Any, customer: Client) -> None:
    response = http.post(
        ask_url(customer, "email"), {"answer_email": "yes", "wording_email": "email-v1"}
    )
    assert response.status_code == 302
    form = ConsentForm.objects.get(client=customer)
    assert form.status == FormStatus.PENDING
    assert list(form.channels.values_list("channel", flat=True)) == ["email"]
    assert response["Location"] == reverse(
        "signatures:detail", args=[customer.client_number, form.reference]
    )
    assert states_of(customer) == {"email": "pending_signature", "sms_push": "none"}
    assert [e.action for e in consent_entries(customer)] == ["consent.requested"]


def test_submitting_without_a_choice_is_a_form_error(http: Any, customer: Client) -> None:
    before = everything(customer)
    response = http.post(ask_url(customer, "email"), {"wording_email": "email-v1"})
    assert response.status_code == 400
    assert "Indiquez la réponse du client." in body(response)
    assert everything(customer) == before
    # The error is tied to the question it concerns.
    page = response.content.decode()
    described = re.search(
        r'<fieldset class="question" id="question-email" aria-describedby="([^"]+)"', page
    )
    assert described is not None
    assert f'id="{described.group(1)}"' in page


def test_each_channel_is_answered_on_its_own(http: Any, customer: Client) -> None:
    # R1: "Non" for the e-mail, no answer for SMS/push: only the e-mail is recorded.
    response = http.post(
        ask_url(customer, "email,sms_push"),
        {
            "answer_email": "no",
            "wording_email": "email-v1",
            "answer_sms_push": "unanswered",
            "wording_sms_push": "sms_push-v1",
        },
    )
    assert response.status_code == 302
    assert states_of(customer) == {"email": "refused", "sms_push": "none"}
    assert [(e.action, e.channel) for e in consent_entries(customer)] == [
        ("consent.refused", "email")
    ]


@pytest.mark.parametrize("version", ["email-v0", "sms_push-v1"])
def test_an_answer_on_a_wording_not_displayed_is_refused_and_records_nothing(
    http: Any, customer: Client, version: str
) -> None:
    # R18, R71: an unknown version, or another channel's, is a refusal of the service.
    before = everything(customer)
    response = http.post(
        ask_url(customer, "email"), {"answer_email": "no", "wording_email": version}
    )
    assert response.status_code == 400
    assert f"« {version} »" in body(response)
    assert everything(customer) == before


def test_a_professionals_new_email_shows_the_b2b_notice_and_the_objection_choice(
    http: Any, client_factory: MakeClient
) -> None:
    pro = client_factory(kind="professional")
    response = http.post(contact_url(pro), contact_post(pro, email="contact.pro@exemple.fr"))
    assert response.status_code == 302
    question = http.get(response["Location"])
    assert question.status_code == 200
    assert "Adresse professionnelle" in visible_text(question)
    assert set(radio_labels(question, "answer_email")) == {"no_objection", "no"}


# --- confirming unchanged details (R23, R44) --------------------------------------------------


def test_confirming_unchanged_details_asks_the_channels_not_granted(
    http: Any, customer: Client
) -> None:
    version = Client.objects.get(pk=customer.pk).version
    response = http.post(contact_url(customer), contact_post(customer, confirmed="on"))
    assert response.status_code == 302
    assert response["Location"] == ask_url(customer, "email,sms_push")
    confirmed = entries("client.contact_confirmed", customer)
    assert sorted(e.channel for e in confirmed) == ["email", "sms_push"]
    assert entries("client.contact_changed", customer) == []
    assert Client.objects.get(pk=customer.pk).version == version
    question = http.get(response["Location"])
    assert question.status_code == 200
    assert set(radio_labels(question, "answer_email")) == {"yes", "no", "unanswered"}
    assert set(radio_labels(question, "answer_sms_push")) == {"yes", "no", "unanswered"}


def test_confirming_details_of_a_granted_channel_asks_only_the_other(
    http: Any, customer: Client, grant: Callable[..., Any]
) -> None:
    grant(customer, "email")
    response = http.post(contact_url(customer), contact_post(customer, confirmed="on"))
    assert response.status_code == 302
    assert response["Location"] == ask_url(customer, "sms_push")


# --- a change in between (R45) ---------------------------------------------------------------


def test_a_stale_version_is_a_conflict_showing_the_current_values_and_overwrites_nothing(
    http: Any, advisor: Any, customer: Client
) -> None:
    mine = contact_post(customer, email="moi@exemple.fr")
    # A colleague changes the mobile while the page is open.
    change_contact_details(
        actor=actor_for(advisor),
        client_number=customer.client_number,
        mobile="07 81 23 45 67",
        expected_version=int(mine["version"]),
        journey="branch_contact_update",
    )
    before = everything(customer)
    response = http.post(contact_url(customer), mine)
    assert response.status_code == 409
    text = visible_text(response)
    assert "a modifié cette fiche pendant votre saisie : rien n'a été enregistré" in text
    assert f"Valeurs actuelles : e-mail {customer.email} , mobile +33781234567 ." in text
    assert everything(customer) == before
    current = Client.objects.get(pk=customer.pk)
    assert (current.email, current.mobile) == (customer.email, "+33781234567")


# --- bad values (R66, R67, R71) -----------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["jeanne@", "jeanne dupont@exemple.fr", "jeanne@@exemple.fr", "j@exemple.invalid"]
)
def test_an_invalid_email_is_a_field_error_and_changes_nothing(
    http: Any, customer: Client, typed: str
) -> None:
    before = everything(customer)
    response = http.post(contact_url(customer), contact_post(customer, email=typed))
    assert response.status_code == 400
    [field] = inputs(response, "email")
    assert field.get("aria-invalid") == "true"
    assert 'id="id_email_error"' in response.content.decode()
    assert field["value"] == typed  # what was typed is kept for correction
    assert everything(customer) == before


@pytest.mark.parametrize("typed", ["01 23 45 67 89", "06 12 34 56 7", "07 12 34 56 78", "abc"])
def test_an_invalid_mobile_is_a_field_error_and_changes_nothing(
    http: Any, customer: Client, typed: str
) -> None:
    before = everything(customer)
    response = http.post(contact_url(customer), contact_post(customer, mobile=typed))
    assert response.status_code == 400
    [field] = inputs(response, "mobile")
    assert field.get("aria-invalid") == "true"
    assert 'id="id_mobile_error"' in response.content.decode()
    assert everything(customer) == before


def test_removing_a_contact_point_invites_nothing_and_keeps_the_state(
    http: Any, customer: Client, decide: Callable[..., Any]
) -> None:
    decide(customer, "email", "refuse")
    response = http.post(contact_url(customer), contact_post(customer, email=""))
    assert response.status_code == 302
    assert response["Location"] == record_url(customer)
    customer.refresh_from_db()
    assert customer.email == ""
    assert states_of(customer) == {"email": "refused", "sms_push": "none"}
    [removed] = entries("client.contact_changed", customer)
    assert payload(removed)["removed"] is True


def test_a_post_without_the_version_says_why_it_is_refused(http: Any, customer: Client) -> None:
    before = everything(customer)
    data = contact_post(customer, email="sans.version@exemple.fr")
    del data["version"]
    response = http.post(contact_url(customer), data)
    assert response.status_code == 400
    assert everything(customer) == before
    assert 'class="errorlist' in response.content.decode()


# --- persons who may not consent (R4-R6) ------------------------------------------------------


@pytest.mark.parametrize("person", ["minor", "protected_adult"])
def test_no_question_is_asked_after_a_contact_change_of_a_person_who_may_not_consent(
    http: Any, client_factory: MakeClient, person: str
) -> None:
    client = (
        client_factory(birth_date=child_birth_date())
        if person == "minor"
        else client_factory(legal_capacity="protected", protection_measure="tutelle")
    )
    response = http.post(contact_url(client), contact_post(client, email="autre@exemple.fr"))
    assert response.status_code == 302
    assert response["Location"] == record_url(client)
    client.refresh_from_db()
    assert client.email == "autre@exemple.fr"
    assert len(entries("client.contact_changed", client)) == 1
    assert consent_entries(client) == []
    # Nor does the question page ask, even when reached directly.
    direct = http.get(ask_url(client, "email"))
    assert direct.status_code == 302
    assert direct["Location"] == record_url(client)
