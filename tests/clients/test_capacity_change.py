"""R7, R6 (D1): recording a protection measure, or correcting a birth date to a minor's, makes
every granted or pending consent lapse to `none` in the same transaction (`consent.lapsed`,
actor system, journey system_capacity, reason legal_capacity); refusals and withdrawals stay;
lifting the measure revives nothing. Each capacity change is logged with its actor, measure and
reference."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from clients import services
from clients.models import Client
from optin.audit import personal_data
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


def protect(actor, client, measure="tutelle", reference="RG 26/01234"):
    return services.change_legal_capacity(
        actor=actor,
        client_number=client.client_number,
        legal_capacity="protected",
        protection_measure=measure,
        reference=reference,
    )


@pytest.fixture
def granted_and_pending(customer, grant, decide, advisor_as_actor):
    """`email` granted digitally, `sms_push` pending the signature of a branch form."""
    grant(customer, "email")
    pending = decide(
        customer,
        "sms_push",
        "grant",
        journey="branch_account_opening",
        actor=advisor_as_actor,
    )
    assert pending.status == "pending_signature"
    return customer


def test_a_measure_lapses_granted_and_pending_consents_to_none(granted_and_pending, admin_actor):
    lapsed = protect(admin_actor, granted_and_pending)
    assert sorted(lapsed) == ["email", "sms_push"]
    assert states_of(granted_and_pending) == {"email": "none", "sms_push": "none"}


def test_each_lapse_is_logged_by_the_system_with_its_reason(granted_and_pending, admin_actor):
    protect(admin_actor, granted_and_pending)
    lapses = entries("consent.lapsed", granted_and_pending)
    assert sorted(e.channel for e in lapses) == ["email", "sms_push"]
    for entry in lapses:
        data = payload(entry)
        assert entry.actor_type == "system"
        assert data["journey"] == "system_capacity"
        assert data["reason"] == "legal_capacity"
        assert data["_state"]["to"] == "none"
    assert {payload(e)["_state"]["from"] for e in lapses} == {"granted", "pending_signature"}


def test_the_states_record_the_capacity_journey(granted_and_pending, admin_actor):
    protect(admin_actor, granted_and_pending)
    journeys = ConsentState.objects.filter(client=granted_and_pending).values_list(
        "journey", flat=True
    )
    assert set(journeys) == {"system_capacity"}


def test_the_change_and_its_lapses_are_one_transaction(
    granted_and_pending, admin_actor, monkeypatch
):
    def broken(**kwargs):
        raise RuntimeError("lapse failed")

    monkeypatch.setattr(services, "lapse_consents", broken)
    before = snapshot(granted_and_pending)
    with pytest.raises(RuntimeError):
        protect(admin_actor, granted_and_pending)
    assert snapshot(granted_and_pending) == before
    assert Client.objects.get(pk=granted_and_pending.pk).legal_capacity == "full"


def test_the_capacity_change_is_logged_with_actor_measure_and_reference(customer, admin_actor):
    protect(admin_actor, customer, measure="curatelle", reference="Jugement TJ Paris 26/777")
    (entry,) = entries("client.capacity_changed", customer)
    data = payload(entry)
    assert entry.actor_type == "administrator"
    assert data["from"] == {"legal_capacity": "full"}
    assert data["to"] == {"legal_capacity": "protected"}
    # Which measure is sealed with the judgment's reference (R64).
    sealed = personal_data(entry)
    assert sealed is not None
    assert sealed["from"] == {"protection_measure": ""}
    assert sealed["to"] == {"protection_measure": "curatelle"}
    assert personal_data(entry)["reference"] == "Jugement TJ Paris 26/777"
    assert "26/777" not in entry.payload


def test_refused_and_withdrawn_states_are_kept(customer, decide, admin_actor):
    decide(customer, "email", "refuse")
    decide(customer, "sms_push", "withdraw")
    lapsed = protect(admin_actor, customer)
    assert lapsed == []
    assert states_of(customer) == {"email": "refused", "sms_push": "withdrawn"}
    assert entries("consent.lapsed", customer) == []


def test_a_granted_then_withdrawn_channel_stays_withdrawn(customer, grant, decide, admin_actor):
    grant(customer, "email")
    decide(customer, "email", "withdraw")
    protect(admin_actor, customer)
    assert states_of(customer)["email"] == "withdrawn"


def test_a_pending_confirmation_lapses_too(customer, grant, admin_actor, settings):
    settings.OPTIN_EMAIL_DOUBLE_OPTIN = True
    assert grant(customer, "email").status == "pending_confirmation"
    assert protect(admin_actor, customer) == ["email"]
    assert states_of(customer)["email"] == "none"
    (lapse,) = entries("consent.lapsed", customer)
    assert payload(lapse)["_state"]["from"] == "pending_confirmation"


def test_lifting_the_measure_revives_nothing(granted_and_pending, admin_actor):
    protect(admin_actor, granted_and_pending)
    consent_entries = len(entries("consent.lapsed")) + len(entries("consent.granted"))
    lifted = services.change_legal_capacity(
        actor=admin_actor,
        client_number=granted_and_pending.client_number,
        legal_capacity="full",
        reference="Mainlevée 27/001",
    )
    assert lifted == []
    assert states_of(granted_and_pending) == {"email": "none", "sms_push": "none"}
    assert len(entries("consent.lapsed")) + len(entries("consent.granted")) == consent_entries
    client = Client.objects.get(pk=granted_and_pending.pk)
    assert (client.legal_capacity, client.protection_measure) == ("full", "")
    assert eligibility("email", [client.client_number])[0].reason == "no_consent"


def test_after_the_lifting_the_person_may_grant_again(customer, grant, admin_actor):
    protect(admin_actor, customer)
    services.change_legal_capacity(
        actor=admin_actor,
        client_number=customer.client_number,
        legal_capacity="full",
        reference="Mainlevée 27/001",
    )
    assert grant(customer, "email").status == "granted"


@pytest.mark.parametrize("reference", ["", "   "])
def test_the_reference_is_required_and_nothing_changes_without_it(
    granted_and_pending, admin_actor, reference
):
    before = snapshot(granted_and_pending)
    with pytest.raises(ValidationError) as caught:
        protect(admin_actor, granted_and_pending, reference=reference)
    assert "reference" in caught.value.message_dict
    assert snapshot(granted_and_pending) == before


def test_a_measure_outside_r6_is_refused_and_changes_nothing(customer, grant, admin_actor):
    grant(customer, "email")
    before = snapshot(customer)
    with pytest.raises(ValidationError) as caught:
        protect(admin_actor, customer, measure="mesure_accompagnement_judiciaire")
    assert "protection_measure" in caught.value.message_dict
    assert snapshot(customer) == before


def test_correcting_the_birth_date_to_a_minor_lapses_the_consents(granted_and_pending, admin_actor):
    lapsed = services.correct_birth_date(
        actor=admin_actor,
        client_number=granted_and_pending.client_number,
        birth_date=child_birth_date(),
        reference="Acte de naissance",
    )
    assert sorted(lapsed) == ["email", "sms_push"]
    assert states_of(granted_and_pending) == {"email": "none", "sms_push": "none"}
    for entry in entries("consent.lapsed", granted_and_pending):
        assert entry.actor_type == "system"
        assert payload(entry)["journey"] == "system_capacity"
        assert payload(entry)["reason"] == "legal_capacity"
    (correction,) = entries("client.birth_date_corrected", granted_and_pending)
    assert personal_data(correction)["new"] == child_birth_date().isoformat()


def test_correcting_the_birth_date_of_an_adult_to_another_adult_date_keeps_the_consents(
    granted_and_pending, admin_actor
):
    lapsed = services.correct_birth_date(
        actor=admin_actor,
        client_number=granted_and_pending.client_number,
        birth_date=dt.date(1979, 1, 1),
    )
    assert lapsed == []
    assert states_of(granted_and_pending) == {"email": "granted", "sms_push": "pending_signature"}


def test_a_birth_date_corrected_into_the_future_is_refused(customer, grant, admin_actor):
    grant(customer, "email")
    before = snapshot(customer)
    with pytest.raises(ValidationError) as caught:
        services.correct_birth_date(
            actor=admin_actor,
            client_number=customer.client_number,
            birth_date=dt.date(2099, 1, 1),
        )
    assert "birth_date" in caught.value.message_dict
    assert snapshot(customer) == before


def test_the_log_still_verifies_after_lapses_and_a_lifting(granted_and_pending, admin_actor):
    protect(admin_actor, granted_and_pending)
    services.change_legal_capacity(
        actor=admin_actor,
        client_number=granted_and_pending.client_number,
        legal_capacity="full",
        reference="Mainlevée 27/001",
    )
    services.correct_birth_date(
        actor=admin_actor,
        client_number=granted_and_pending.client_number,
        birth_date=child_birth_date(),
    )
    result = verify_log()
    assert result.ok, result.first_bad
    assert log_size() == result.entries
