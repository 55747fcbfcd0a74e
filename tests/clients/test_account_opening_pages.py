"""R4-R9, R14, R15, R17, R19, R22, R24, R55 (with R71): account opening ("entrée en relation").

The identity step creates the client as a customer of the advisor's own branch, logged
`client.created` with the advisor as actor; a bad field re-renders the page with status 400
and the error next to its field, and creates nothing. Only an advisor opens accounts:
compliance and administrators get 403.

The contact step ("Coordonnées") asks, for each channel with a contact point, "Oui" or "Non"
with the exact active wording beside it and neither answer selected; it cannot be validated
without them, and the answers are checked before anything is written. A "Oui" moves its
channel to `pending_signature` and generates one form covering the "Oui" channels only,
where the advisor is sent; a "Non" is `refused` at once and needs no form. A channel without
a contact point is not asked, and an answer posted for it is ignored. A minor, a protected
adult and a legal entity are not asked, the page says why, and a posted "Oui" records no
consent. A professional's e-mail shows the B2B notice with an objection choice (objecting is
`refused`; not objecting records no decision and notes that the notice was shown), SMS/push
the opt-in question. A channel already granted shows "accord déjà donné le …". The htmx
fragment shows the questions the typed contact points call for. An advisor of another
branch gets 404.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse

from clients.models import Client
from clients.services import change_contact_details
from optin.models import AuditEntry, ConsentStatus, Journey, Wording
from optin.selectors import active_wordings
from optin.services import set_wording_active
from signatures.models import ConsentForm
from tests.clients.helpers import child_birth_date, entries, log_size, payload, states_of
from tests.clients.opening_helpers import (
    EMAIL,
    MOBILE,
    contact_url,
    form_url,
    identity,
    logged_in,
    open_account,
    opening_url,
    radios,
    text,
)
from tests.factories import SYSTEM
from tests.signatures import conftest as form_fixtures

# The fixtures of the forms' tests: a "Oui" generates a form, rendered and later sealed.
seal_p12 = form_fixtures.seal_p12
_seal = form_fixtures._seal

ANSWER_REQUIRED = "Indiquez la réponse du client."
NOT_ASKED = {
    "minor": "Client mineur : la question n'est pas posée.",
    "protected_adult": "Majeur protégé : la question n'est pas posée.",
    "not_natural_person": "Personne morale : il n'y a pas de consentement à recueillir.",
}
B2B_NOTICE = "Adresse professionnelle : le client est informé que son adresse e-mail servira"


@pytest.fixture
def http(advisor: Any) -> Any:
    return logged_in(advisor)


@pytest.fixture
def opened(http: Any) -> Client:
    """An adult individual whose identity step is done: no contact point yet."""
    return open_account(http)


def consent_channels(client: Client) -> list[str]:
    """The channel of each consent entry logged for this client, in log order."""
    entries = AuditEntry.objects.filter(client_id=client.pk, action__startswith="consent.")
    return list(entries.order_by("seq").values_list("channel", flat=True))


def field_error(page: str, field: str, message: str) -> None:
    """The message sits in the field's error list, which the field points to."""
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error"><li>([^<]*)</li>', page)
    assert match is not None, f"no error next to {field}"
    assert match.group(1) == message
    tag = re.search(rf'<(?:input|select)[^>]*name="{field}"[^>]*>', page)
    assert tag is not None
    assert 'aria-invalid="true"' in tag.group(0)
    assert f"id_{field}_error" in tag.group(0)


# --- identity step -------------------------------------------------------------------------


def test_the_identity_step_creates_a_customer_in_the_advisors_branch(
    http: Any, advisor: Any, other_branch: Any
) -> None:
    before = log_size()
    # A branch posted with the identity is no field of the page: the advisor's own is used.
    response = http.post(opening_url(), identity(branch=other_branch.code))

    assert response.status_code == 302
    assert response["Location"] == contact_url("C-OPEN-1")
    client = Client.objects.get(client_number="C-OPEN-1")
    assert (client.status, client.branch.code, client.kind) == ("customer", "B001", "individual")
    assert (client.last_name, client.first_name, str(client.birth_date)) == (
        "Bernard",
        "Lucie",
        "1985-04-12",
    )
    assert states_of(client) == {"email": "none", "sms_push": "none"}
    created = entries("client.created", client)
    assert len(created) == 1
    assert (created[0].actor_type, created[0].actor_id) == ("advisor", f"staff:{advisor.pk}")
    assert payload(created[0])["branch"] == "B001"
    assert payload(created[0])["status"] == "customer"
    assert log_size() == before + 1


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"last_name": ""}, "last_name", "Ce champ est obligatoire."),
        (
            {"birth_date": "2099-01-01"},
            "birth_date",
            "La date de naissance ne peut pas être dans le futur.",
        ),
        (
            {"legal_capacity": "protected", "protection_measure": ""},
            "protection_measure",
            "Indiquez la mesure de protection.",
        ),
        (
            {"birth_date": ""},
            "birth_date",
            "La date de naissance est obligatoire pour un particulier.",
        ),
    ],
    ids=["missing-last-name", "future-birth-date", "protected-without-measure", "no-birth-date"],
)
def test_a_bad_identity_field_is_a_400_next_to_the_field_and_creates_nothing(
    http: Any, overrides: dict[str, str], field: str, message: str
) -> None:
    before = log_size()
    response = http.post(opening_url(), identity(**overrides))

    assert response.status_code == 400
    field_error(text(response), field, message)
    assert not Client.objects.filter(client_number="C-OPEN-1").exists()
    assert log_size() == before


def test_a_duplicate_client_number_is_a_400_next_to_the_field(
    http: Any, client_factory: Callable[..., Client]
) -> None:
    existing = client_factory(last_name="Ancien")
    before = log_size()
    response = http.post(opening_url(), identity(client_number=existing.client_number))

    assert response.status_code == 400
    field_error(text(response), "client_number", "Ce numéro client existe déjà.")
    assert Client.objects.filter(client_number=existing.client_number).count() == 1
    assert Client.objects.get(client_number=existing.client_number).last_name == "Ancien"
    assert log_size() == before


def test_the_error_of_a_radio_group_is_tied_to_its_group(http: Any) -> None:
    before = log_size()
    response = http.post(opening_url(), identity(kind=""))

    assert response.status_code == 400
    assert not Client.objects.filter(client_number="C-OPEN-1").exists()
    assert log_size() == before
    page = text(response)
    group = re.search(r'<fieldset class="radio-list"[^>]*>\s*<legend>Type de client</legend>', page)
    assert group is not None
    assert '<ul class="errorlist" id="id_kind_error"><li>Ce champ est obligatoire.</li>' in page
    assert 'aria-describedby="id_kind_error"' in group.group(0)


@pytest.mark.parametrize("persona", ["compliance", "administrator"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_only_an_advisor_opens_an_account(
    request: pytest.FixtureRequest, persona: str, method: str
) -> None:
    http = logged_in(request.getfixturevalue(persona))
    before = log_size()
    response = http.post(opening_url(), identity()) if method == "POST" else http.get(opening_url())
    assert response.status_code == 403
    assert not Client.objects.filter(client_number="C-OPEN-1").exists()
    assert log_size() == before


@pytest.mark.parametrize("persona", ["compliance", "administrator"])
def test_only_an_advisor_reaches_the_contact_step(
    request: pytest.FixtureRequest, persona: str, opened: Client
) -> None:
    http = logged_in(request.getfixturevalue(persona))
    before = log_size()
    data = {"email": EMAIL, "answer_email": "yes"}
    assert http.get(contact_url(opened.client_number)).status_code == 403
    assert http.post(contact_url(opened.client_number), data).status_code == 403
    assert Client.objects.get(pk=opened.pk).email == ""
    assert log_size() == before


# --- the questions of an adult -------------------------------------------------------------


def test_an_adult_is_asked_both_questions_with_the_active_wordings_and_nothing_selected(
    http: Any, customer: Client
) -> None:
    response = http.get(contact_url(customer.client_number))

    assert response.status_code == 200
    page, raw = text(response), response.content.decode()
    wordings = active_wordings()
    for channel in ("email", "sms_push"):
        assert wordings[channel].text in page
        assert f"Formulation {wordings[channel].version}" in page
        assert f'name="wording_{channel}" value="{wordings[channel].version}"' in raw
        choices = radios(raw, f"answer_{channel}")
        # R17, R19: "Oui" and "Non" side by side, neither selected.
        assert [re.findall(r'value="(\w+)"', c) for c in choices] == [["yes"], ["no"]]
        assert not any("checked" in c for c in choices)
    assert "checked" not in raw.split('id="questions"')[1]


def test_the_contact_step_cannot_be_validated_without_the_answers(
    http: Any, opened: Client
) -> None:
    before = log_size()
    response = http.post(contact_url(opened.client_number), {"email": EMAIL, "mobile": MOBILE})

    assert response.status_code == 400
    page = text(response)
    assert page.count(ANSWER_REQUIRED) == 2
    assert 'id="id_answer_email_error"' in page
    assert 'id="id_answer_sms_push_error"' in page
    # Answers are checked before anything is written: not even the contact points.
    client = Client.objects.get(pk=opened.pk)
    assert (client.email, client.mobile) == ("", "")
    assert states_of(client) == {"email": "none", "sms_push": "none"}
    assert not ConsentForm.objects.filter(client=client).exists()
    assert log_size() == before
    # The typed contact points are kept on the page for the advisor to finish.
    assert f'value="{EMAIL}"' in page


def test_one_missing_answer_blocks_the_other_one_too(http: Any, opened: Client) -> None:
    before = log_size()
    response = http.post(
        contact_url(opened.client_number),
        {"email": EMAIL, "mobile": MOBILE, "answer_email": "no"},
    )
    assert response.status_code == 400
    assert text(response).count(ANSWER_REQUIRED) == 1
    assert 'id="id_answer_sms_push_error"' in text(response)
    assert states_of(opened) == {"email": "none", "sms_push": "none"}
    assert Client.objects.get(pk=opened.pk).email == ""
    assert log_size() == before


def test_yes_by_email_and_no_by_sms_makes_a_form_for_the_email_only(
    http: Any, opened: Client, advisor: Any
) -> None:
    response = http.post(
        contact_url(opened.client_number),
        {
            "email": EMAIL,
            "mobile": MOBILE,
            "answer_email": "yes",
            "answer_sms_push": "no",
            "wording_email": "email-v1",
            "wording_sms_push": "sms_push-v1",
        },
    )

    form = ConsentForm.objects.get(client=opened)
    assert response.status_code == 302
    assert response["Location"] == form_url("detail", form)
    assert (form.status, form.journey, form.advisor) == (
        "pending",
        Journey.BRANCH_ACCOUNT_OPENING,
        advisor,
    )
    assert list(form.channels.values_list("channel", "wording__version")) == [("email", "email-v1")]
    client = Client.objects.get(pk=opened.pk)
    assert (client.email, client.mobile) == (EMAIL, "+33612345678")
    assert states_of(client) == {
        "email": ConsentStatus.PENDING_SIGNATURE,
        "sms_push": ConsentStatus.REFUSED,
    }
    refused = entries("consent.refused", client)
    assert [(e.channel, e.wording_version) for e in refused] == [("sms_push", "sms_push-v1")]
    assert payload(refused[0])["journey"] == Journey.BRANCH_ACCOUNT_OPENING
    generated = entries("form.generated", client)
    assert len(generated) == 1
    assert list(payload(generated[0])["channels"]) == ["email"]
    assert not entries("consent.granted", client)
    # The advisor lands on the form to have it signed.
    page = text(http.get(response["Location"]))
    assert form.reference in page
    assert "Formulaire " + form.reference + " généré" in page


def test_no_on_both_channels_makes_no_form_and_goes_to_the_record(
    http: Any, opened: Client
) -> None:
    response = http.post(
        contact_url(opened.client_number),
        {"email": EMAIL, "mobile": MOBILE, "answer_email": "no", "answer_sms_push": "no"},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("clients:record", args=[opened.client_number])
    assert not ConsentForm.objects.filter(client=opened).exists()
    assert states_of(opened) == {"email": "refused", "sms_push": "refused"}
    assert sorted(e.channel for e in entries("consent.refused", opened)) == ["email", "sms_push"]
    assert "Entrée en relation terminée" in text(http.get(response["Location"]))


def test_a_channel_without_contact_point_is_not_asked_and_its_posted_answer_is_ignored(
    http: Any, opened: Client
) -> None:
    fragment = http.post(
        contact_url(opened.client_number), {"email": EMAIL}, headers={"HX-Request": "true"}
    )
    page = text(fragment)
    assert radios(fragment.content.decode(), "answer_sms_push") == []
    assert "SMS et notifications mobiles — pas de coordonnée : la question n'est pas posée." in (
        re.sub(r"<[^>]+>", "", page)
    )

    response = http.post(
        contact_url(opened.client_number),
        {"email": EMAIL, "mobile": "", "answer_email": "no", "answer_sms_push": "yes"},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("clients:record", args=[opened.client_number])
    assert states_of(opened) == {"email": "refused", "sms_push": "none"}
    assert not ConsentForm.objects.filter(client=opened).exists()
    assert consent_channels(opened) == ["email"]


# --- persons who may not consent (R4-R6, R9) -----------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"birth_date": child_birth_date().isoformat()}, "minor"),
        ({"legal_capacity": "protected", "protection_measure": "tutelle"}, "protected_adult"),
        (
            {"kind": "professional", "is_legal_entity": "on", "birth_date": "", "first_name": ""},
            "not_natural_person",
        ),
    ],
    ids=["minor", "protected-adult", "legal-entity"],
)
def test_a_person_who_may_not_consent_is_not_asked_and_the_page_says_why(
    http: Any, overrides: dict[str, str], reason: str
) -> None:
    client = open_account(http, **overrides)
    change_contact_details(
        actor=SYSTEM, client_number=client.client_number, email=EMAIL, mobile=MOBILE
    )

    response = http.get(contact_url(client.client_number))

    assert response.status_code == 200
    page, raw = text(response), response.content.decode()
    assert page.count(NOT_ASKED[reason]) == 2
    assert radios(raw, "answer_email") == radios(raw, "answer_sms_push") == []
    for wording in active_wordings().values():
        assert wording.text not in page


@pytest.mark.parametrize(
    "overrides",
    [
        {"birth_date": child_birth_date().isoformat()},
        {"legal_capacity": "protected", "protection_measure": "curatelle"},
        {"kind": "professional", "is_legal_entity": "on", "birth_date": ""},
    ],
    ids=["minor", "protected-adult", "legal-entity"],
)
def test_a_yes_posted_for_a_person_who_may_not_consent_records_no_consent(
    http: Any, overrides: dict[str, str]
) -> None:
    client = open_account(http, **overrides)

    response = http.post(
        contact_url(client.client_number),
        {"email": EMAIL, "mobile": MOBILE, "answer_email": "yes", "answer_sms_push": "yes"},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("clients:record", args=[client.client_number])
    assert states_of(client) == {"email": "none", "sms_push": "none"}
    assert not ConsentForm.objects.filter(client=client).exists()
    assert consent_channels(client) == []
    # The contact points themselves are recorded: only the consent is not.
    assert Client.objects.get(pk=client.pk).email == EMAIL


# --- professionals (R8) --------------------------------------------------------------------


@pytest.fixture
def professional(http: Any) -> Client:
    return open_account(http, kind="professional", civility="M", first_name="Marc")


def test_a_professional_sees_the_b2b_notice_for_email_and_the_question_for_sms(
    http: Any, professional: Client
) -> None:
    response = http.post(
        contact_url(professional.client_number),
        {"email": EMAIL, "mobile": MOBILE},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    page, raw = text(response), response.content.decode()
    assert B2B_NOTICE in page
    assert "E-mail — adresse professionnelle" in re.sub(r"<[^>]+>", "", page)
    objection = radios(raw, "answer_email")
    assert [re.findall(r'value="(\w+)"', c) for c in objection] == [["no_objection"], ["no"]]
    assert "Ne s'oppose pas" in page
    assert "S'oppose à la prospection par e-mail" in page
    # The e-mail opt-in wording is not the question here; SMS/push is an opt-in (D4).
    wordings = active_wordings()
    assert wordings["email"].text not in page
    assert wordings["sms_push"].text in page
    sms = radios(raw, "answer_sms_push")
    assert len(sms) == 2
    assert not any("checked" in tag for tag in objection + sms)


def test_a_professional_who_objects_is_refused_on_email(http: Any, professional: Client) -> None:
    response = http.post(
        contact_url(professional.client_number),
        {"email": EMAIL, "mobile": MOBILE, "answer_email": "no", "answer_sms_push": "no"},
    )
    assert response.status_code == 302
    assert states_of(professional) == {"email": "refused", "sms_push": "refused"}
    assert consent_channels(professional) == ["email", "sms_push"]
    assert not ConsentForm.objects.filter(client=professional).exists()
    assert Client.objects.get(pk=professional.pk).objection_notice_shown is True


def test_a_professional_who_does_not_object_records_no_decision_but_the_notice(
    http: Any, professional: Client
) -> None:
    response = http.post(
        contact_url(professional.client_number),
        {"email": EMAIL, "mobile": MOBILE, "answer_email": "no_objection", "answer_sms_push": "no"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("clients:record", args=[professional.client_number])
    assert states_of(professional) == {"email": "none", "sms_push": "refused"}
    assert consent_channels(professional) == ["sms_push"]
    assert Client.objects.get(pk=professional.pk).objection_notice_shown is True
    noted = entries("client.identity_changed", professional)
    assert [payload(e)["changed"] for e in noted] == [["objection_notice_shown"]]


def test_a_professional_must_answer_the_objection_choice(http: Any, professional: Client) -> None:
    before = log_size()
    response = http.post(
        contact_url(professional.client_number),
        {"email": EMAIL, "mobile": MOBILE, "answer_sms_push": "no"},
    )
    assert response.status_code == 400
    assert 'id="id_answer_email_error"' in text(response)
    assert Client.objects.get(pk=professional.pk).objection_notice_shown is False
    assert log_size() == before


def test_a_professionals_yes_by_sms_makes_a_form_for_sms_only(
    http: Any, professional: Client
) -> None:
    response = http.post(
        contact_url(professional.client_number),
        {
            "email": EMAIL,
            "mobile": MOBILE,
            "answer_email": "no_objection",
            "answer_sms_push": "yes",
        },
    )
    form = ConsentForm.objects.get(client=professional)
    assert response["Location"] == form_url("detail", form)
    assert list(form.channels.values_list("channel", flat=True)) == ["sms_push"]
    assert states_of(professional) == {"email": "none", "sms_push": "pending_signature"}


# --- a channel already granted (R15, R22) --------------------------------------------------


def test_a_channel_already_granted_is_shown_as_given_and_not_asked(
    http: Any, customer: Client, grant: Callable[..., Any]
) -> None:
    grant(customer, "email")
    response = http.get(contact_url(customer.client_number))

    assert response.status_code == 200
    page, raw = text(response), response.content.decode()
    assert re.search(r"E-mail</strong> — accord déjà donné le \d\d/\d\d/\d{4} \d\d:\d\d", page)
    assert radios(raw, "answer_email") == []
    assert active_wordings()["email"].text not in page
    assert len(radios(raw, "answer_sms_push")) == 2

    granted_entries = len(entries("consent.granted", customer))
    response = http.post(
        contact_url(customer.client_number),
        {
            "email": customer.email,
            "mobile": customer.mobile,
            "answer_email": "no",
            "answer_sms_push": "no",
        },
    )
    assert response.status_code == 302
    # The posted "Non" for the e-mail is no question of this page: the consent stays.
    assert states_of(customer) == {"email": "granted", "sms_push": "refused"}
    assert len(entries("consent.granted", customer)) == granted_entries
    assert not entries("consent.withdrawn", customer)


# --- the htmx fragment ---------------------------------------------------------------------


def test_the_fragment_shows_the_email_question_once_an_email_is_typed(
    http: Any, opened: Client
) -> None:
    path = contact_url(opened.client_number)
    before = log_size()

    empty = http.post(path, {"email": "", "mobile": ""}, headers={"HX-Request": "true"})
    typed = http.post(path, {"email": EMAIL, "mobile": ""}, headers={"HX-Request": "true"})

    assert empty.status_code == typed.status_code == 200
    assert radios(empty.content.decode(), "answer_email") == []
    assert len(radios(typed.content.decode(), "answer_email")) == 2
    assert active_wordings()["email"].text in text(typed)
    assert active_wordings()["email"].text not in text(empty)
    # Only the questions, not a page; and typing records nothing.
    for response in (empty, typed):
        assert "<html" not in response.content.decode()
        assert 'id="question-email"' in response.content.decode()
    assert Client.objects.get(pk=opened.pk).email == ""
    assert log_size() == before


# --- branch scoping (R55) ------------------------------------------------------------------


def test_an_advisor_of_another_branch_gets_404_on_the_contact_step(
    advisor_other_branch: Any, opened: Client
) -> None:
    http = logged_in(advisor_other_branch)
    before = log_size()
    path = contact_url(opened.client_number)

    assert http.get(path).status_code == 404
    response = http.post(
        path, {"email": EMAIL, "mobile": MOBILE, "answer_email": "yes", "answer_sms_push": "no"}
    )
    assert response.status_code == 404
    assert opened.client_number not in text(response)
    assert http.post(path, {"email": EMAIL}, headers={"HX-Request": "true"}).status_code == 404
    assert states_of(opened) == {"email": "none", "sms_push": "none"}
    assert Client.objects.get(pk=opened.pk).email == ""
    assert log_size() == before


# --- a refusal of the consent service (R71) ------------------------------------------------


def test_an_answer_refused_by_the_service_records_nothing(http: Any, opened: Client) -> None:
    path = contact_url(opened.client_number)
    shown = http.post(path, {"email": EMAIL, "mobile": MOBILE}, headers={"HX-Request": "true"})
    assert 'name="wording_email" value="email-v1"' in shown.content.decode()
    set_wording_active(actor=SYSTEM, wording=Wording.objects.get(version="email-v1"), active=False)
    before = log_size()

    response = http.post(
        path,
        {
            "email": EMAIL,
            "mobile": MOBILE,
            "answer_email": "yes",
            "answer_sms_push": "no",
            "wording_email": "email-v1",
            "wording_sms_push": "sms_push-v1",
        },
    )

    assert response.status_code == 400
    assert states_of(opened) == {"email": "none", "sms_push": "none"}
    assert not ConsentForm.objects.filter(client=opened).exists()
    assert Client.objects.get(pk=opened.pk).email == ""
    assert log_size() == before
