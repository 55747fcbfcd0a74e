"""R43, R44, R45 (with R46, R66, R67, R71): a contact change keeps every consent state, is logged
with the old and new contact point encrypted, invites the channels that are not granted for a
person who may consent, and is refused on a stale version or a bad value without changing
anything."""

import pytest
from django.core.exceptions import ValidationError

from clients import services
from clients.models import Client
from optin.audit import personal_data
from optin.errors import DomainError
from optin.integrity import verify_log
from optin.models import ConsentState
from optin.selectors import eligibility
from tests.clients.helpers import (
    child_birth_date,
    entries,
    log_size,
    payload,
    snapshot,
    states_of,
)
from tests.factories import SYSTEM


def change(client, **kwargs):
    return services.change_contact_details(
        actor=SYSTEM, client_number=client.client_number, **kwargs
    )


def test_changing_the_email_keeps_a_granted_consent(customer, grant):
    grant(customer, "email")
    state_before = ConsentState.objects.get(client=customer, channel="email")
    consent_entries = len(entries("consent.granted"))

    result = change(customer, email="jeanne.nouvelle@exemple.fr")

    state_after = ConsentState.objects.get(client=customer, channel="email")
    assert result.changed == ["email"]
    assert "email" not in result.optin_invitation
    assert (state_after.status, state_after.since, state_after.last_seq) == (
        "granted",
        state_before.since,
        state_before.last_seq,
    )
    assert len(entries("consent.granted")) == consent_entries
    assert Client.objects.get(pk=customer.pk).email == "jeanne.nouvelle@exemple.fr"
    assert eligibility("email", [customer.client_number])[0].reason == "granted"


def test_changing_the_mobile_keeps_a_granted_consent(customer, grant):
    grant(customer, "sms_push")
    result = change(customer, mobile="07 81 23 45 67")
    assert result.optin_invitation == []
    assert states_of(customer)["sms_push"] == "granted"
    assert Client.objects.get(pk=customer.pk).mobile == "+33781234567"


@pytest.mark.parametrize("decision", ["refuse", "withdraw"])
def test_changing_an_address_keeps_a_refusal_or_withdrawal(customer, decide, decision):
    status = decide(customer, "email", decision).status
    change(customer, email="jeanne.nouvelle@exemple.fr")
    assert states_of(customer)["email"] == status


def test_the_change_is_logged_with_old_and_new_address_encrypted(customer):
    old = customer.email
    change(customer, email="Jeanne.Nouvelle@Exemple.FR")
    (entry,) = entries("client.contact_changed", customer)
    assert entry.channel == "email"
    assert personal_data(entry) == {"old": old, "new": "Jeanne.Nouvelle@exemple.fr"}
    assert old not in entry.payload
    assert "Nouvelle" not in entry.payload
    assert "exemple.fr" not in entry.payload


def test_a_mobile_change_is_logged_with_both_numbers_encrypted(customer):
    old = customer.mobile
    change(customer, mobile="06 98 76 54 32")
    (entry,) = entries("client.contact_changed", customer)
    assert entry.channel == "sms_push"
    assert personal_data(entry) == {"old": old, "new": "+33698765432"}
    assert old not in entry.payload
    assert "698765432" not in entry.payload


def test_channels_not_granted_are_invited(customer, grant, decide):
    grant(customer, "email")
    decide(customer, "sms_push", "refuse")
    result = change(customer, email="jeanne.b@exemple.fr", mobile="06 98 76 54 32")
    assert sorted(result.changed) == ["email", "sms_push"]
    assert result.optin_invitation == ["sms_push"]


def test_both_new_contact_points_are_invited_when_nothing_was_granted(customer):
    result = change(customer, email="jeanne.b@exemple.fr", mobile="06 98 76 54 32")
    assert sorted(result.optin_invitation) == ["email", "sms_push"]


def test_adding_a_missing_contact_point_invites_its_channel(client_factory):
    client = client_factory(mobile="")
    result = change(client, mobile="06 98 76 54 32")
    assert result.optin_invitation == ["sms_push"]


def test_removing_a_contact_point_invites_nothing_and_keeps_the_state(customer, grant):
    grant(customer, "email")
    result = change(customer, email="")
    assert result.changed == ["email"]
    assert result.optin_invitation == []
    assert states_of(customer)["email"] == "granted"
    assert Client.objects.get(pk=customer.pk).email == ""
    (entry,) = entries("client.contact_changed", customer)
    assert payload(entry)["removed"] is True
    answer = eligibility("email", [customer.client_number])[0]
    assert (answer.eligible, answer.reason) == (False, "no_contact_point")


def test_a_contact_point_given_back_makes_the_granted_channel_eligible_again(customer, grant):
    grant(customer, "email")
    change(customer, email="")
    change(customer, email="jeanne.retour@exemple.fr")
    assert eligibility("email", [customer.client_number])[0].reason == "granted"


def test_a_minor_is_never_invited(client_factory):
    minor = client_factory(birth_date=child_birth_date())
    result = change(minor, email="ado@exemple.fr", mobile="06 98 76 54 32", confirmed=True)
    assert sorted(result.changed) == ["email", "sms_push"]
    assert result.optin_invitation == []


@pytest.mark.parametrize("measure", ["tutelle", "sauvegarde_de_justice"])
def test_a_protected_adult_is_never_invited(client_factory, measure):
    protected = client_factory(legal_capacity="protected", protection_measure=measure)
    result = change(protected, email="tutelle@exemple.fr", mobile="06 98 76 54 32")
    assert result.optin_invitation == []


def test_a_legal_entity_is_never_invited(client_factory):
    company = client_factory(kind="professional", is_legal_entity=True, birth_date=None)
    result = change(company, email="contact@societe.fr")
    assert result.optin_invitation == []


def test_confirming_the_same_address_invites_and_is_logged(customer):
    version = customer.version
    result = change(customer, email=customer.email, confirmed=True)
    assert result.changed == []
    assert result.optin_invitation == ["email"]
    assert len(entries("client.contact_confirmed", customer)) == 1
    assert Client.objects.get(pk=customer.pk).version == version


def test_confirming_a_granted_address_does_not_invite(customer, grant):
    grant(customer, "email")
    assert change(customer, email=customer.email, confirmed=True).optin_invitation == []


def test_giving_the_same_address_unconfirmed_changes_and_invites_nothing(customer):
    before = snapshot(customer)
    result = change(customer, email=customer.email, mobile=customer.mobile)
    assert (result.changed, result.optin_invitation) == ([], [])
    assert snapshot(customer) == before


def test_the_version_increments_on_each_change(customer):
    start = Client.objects.get(pk=customer.pk).version
    assert change(customer, email="a@exemple.fr").client.version == start + 1
    change(customer, email="b@exemple.fr", mobile="06 98 76 54 32")
    assert Client.objects.get(pk=customer.pk).version == start + 2


def test_a_change_based_on_the_current_version_is_accepted(customer):
    result = change(customer, email="a@exemple.fr", expected_version=customer.version)
    assert result.changed == ["email"]


def test_a_stale_version_is_a_conflict_carrying_the_current_values_and_changes_nothing(customer):
    read_version = customer.version
    change(customer, email="autre.conseiller@exemple.fr")  # someone else, meanwhile
    current = Client.objects.get(pk=customer.pk)
    before = snapshot(customer)

    with pytest.raises(DomainError) as caught:
        change(
            customer,
            email="moi@exemple.fr",
            mobile="06 98 76 54 32",
            expected_version=read_version,
        )

    assert caught.value.code == "conflict"
    assert caught.value.http_status == 409
    assert caught.value.extra["current"] == {
        "version": current.version,
        "email": "autre.conseiller@exemple.fr",
        "mobile": current.mobile,
    }
    assert snapshot(customer) == before


def test_a_consent_decision_does_not_make_a_contact_change_stale(customer, grant):
    read_version = customer.version
    grant(customer, "email")
    result = change(customer, mobile="06 98 76 54 32", expected_version=read_version)
    assert result.changed == ["sms_push"]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"email": "jeanne@@exemple.fr"}, "email"),
        ({"email": "jeanne@exemple.test", "mobile": "06 98 76 54 32"}, "email"),
        ({"mobile": "01 23 45 67 89"}, "mobile"),
        ({"email": "ok@exemple.fr", "mobile": "06 12 34 56 78 ext 2"}, "mobile"),
    ],
)
def test_a_bad_contact_point_is_a_field_error_and_changes_nothing(customer, values, field):
    before = snapshot(customer)
    with pytest.raises(ValidationError) as caught:
        change(customer, **values)
    assert set(caught.value.message_dict) == {field}
    assert snapshot(customer) == before


def test_an_unknown_client_is_refused(db):
    with pytest.raises(DomainError) as caught:
        services.change_contact_details(actor=SYSTEM, client_number="NOPE", email="a@exemple.fr")
    assert caught.value.code == "unknown_client"


def test_a_pending_double_opt_in_follows_its_address(customer, grant, settings):
    """R46: the link is invalidated, the channel returns to its prior state and the new
    address is invited."""
    settings.OPTIN_EMAIL_DOUBLE_OPTIN = True
    assert grant(customer, "email").status == "pending_confirmation"
    result = change(customer, email="jeanne.nouvelle@exemple.fr")
    assert states_of(customer)["email"] == "none"
    assert [payload(e)["_state"]["to"] for e in entries("consent.restored", customer)] == ["none"]
    assert result.optin_invitation == ["email"]
    assert verify_log().ok


def test_the_log_verifies_after_contact_changes(customer, grant):
    grant(customer, "email")
    change(customer, email="a@exemple.fr", mobile="06 98 76 54 32")
    change(customer, email="")
    change(customer, mobile=customer.mobile, confirmed=True)
    result = verify_log()
    assert result.ok, result.first_bad
    assert result.entries == log_size()
