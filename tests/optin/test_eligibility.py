"""R47, R48: who may receive a commercial message on a channel, with the reason; one test per
line of R47's table, in its order, then the precedence between lines and the batch rules of
R48 (and R42: a withdrawal is reflected at once)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from clients.models import Client, ClientKind, today_in_paris
from clients.services import change_contact_details
from optin.errors import DomainError, ErrorCode
from optin.models import Channel, ConsentState, Journey
from optin.selectors import MAX_ELIGIBILITY_BATCH, eligibility
from optin.services import record_decision
from tests.factories import SYSTEM

pytestmark = pytest.mark.django_db


def answer(channel: str, client: Client | str) -> tuple[bool, str]:
    number = client if isinstance(client, str) else client.client_number
    (result,) = eligibility(channel, [number])
    assert result.client_number == number
    return result.eligible, result.reason


def years_ago(years: int, days: int = 0) -> dt.date:
    """The date `years` years before today (Europe/Paris), shifted by `days`."""
    today = today_in_paris()
    try:
        then = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        then = dt.date(today.year - years, 3, 1)
    return then + dt.timedelta(days=days)


# --- R47, line by line ----------------------------------------------------------------------


def test_1_an_unknown_client_number_is_unknown_client(db):
    assert answer("email", "NO-SUCH-CLIENT") == (False, "unknown_client")
    assert answer("sms_push", "NO-SUCH-CLIENT") == (False, "unknown_client")


def test_2_an_erased_client_is_erased_whatever_its_state(customer, grant):
    grant(customer, "email")
    Client.objects.filter(pk=customer.pk).update(erased_at=timezone.now())
    assert answer("email", customer) == (False, "erased")
    assert answer("sms_push", customer) == (False, "erased")


def test_3_an_individual_under_18_today_is_a_minor(client_factory):
    minor = client_factory(birth_date=years_ago(18, days=1))  # 18 tomorrow
    assert answer("email", minor) == (False, "minor")
    assert answer("sms_push", minor) == (False, "minor")


def test_3_an_individual_who_turns_18_today_is_no_longer_a_minor(client_factory):
    adult = client_factory(birth_date=years_ago(18))
    assert answer("email", adult) == (False, "no_consent")


def test_3_adulthood_begins_at_midnight_in_paris(client_factory):
    client = client_factory(birth_date=dt.date(2008, 11, 23))
    # 22 November 23:30 UTC is already 23 November 00:30 in Paris: 18 years old.
    with time_machine.travel(dt.datetime(2026, 11, 22, 22, 30, tzinfo=dt.UTC), tick=False):
        assert answer("email", client) == (False, "minor")
    with time_machine.travel(dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.UTC), tick=False):
        assert answer("email", client) == (False, "no_consent")


def test_3_someone_born_on_29_february_is_an_adult_on_1_march_of_a_common_year(
    client_factory,
):
    client = client_factory(birth_date=dt.date(2008, 2, 29))
    with time_machine.travel(dt.datetime(2026, 2, 28, 12, tzinfo=dt.UTC), tick=False):
        assert answer("email", client) == (False, "minor")
    with time_machine.travel(dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC), tick=False):
        assert answer("email", client) == (False, "no_consent")


def test_3_an_individual_without_birth_date_is_a_minor(branch):
    """The service refuses such a client (R68); a row imported otherwise is still answered
    `minor` (R5: without a birth date, never eligible)."""
    client = Client.objects.create(
        client_number="NO-BIRTH",
        kind=ClientKind.INDIVIDUAL,
        last_name="Sansdate",
        email="sans.date@exemple.fr",
        mobile="+33611111111",
        branch=branch,
    )
    ConsentState.objects.bulk_create(
        [ConsentState(client=client, channel=c, status="granted") for c in Channel.values]
    )
    assert answer("email", client) == (False, "minor")
    assert answer("sms_push", client) == (False, "minor")


def test_3_applies_to_individuals_a_professional_without_birth_date_is_not_a_minor(
    professional_factory,
):
    pro = professional_factory()
    assert answer("email", pro) == (True, "b2b_no_objection")
    assert answer("sms_push", pro) == (False, "no_consent")


def test_4_an_individual_under_a_protection_measure_is_a_protected_adult(client_factory):
    protected = client_factory(legal_capacity="protected", protection_measure="curatelle")
    assert answer("email", protected) == (False, "protected_adult")
    assert answer("sms_push", protected) == (False, "protected_adult")


def test_5_a_refusal_is_refused(customer, decide):
    decide(customer, "email", "refuse")
    assert answer("email", customer) == (False, "refused")
    assert answer("sms_push", customer) == (False, "no_consent")  # R1: the other channel


def test_6_a_withdrawal_is_withdrawn(customer, grant, decide):
    grant(customer, "sms_push")
    decide(customer, "sms_push", "withdraw")
    assert answer("sms_push", customer) == (False, "withdrawn")


def test_6_a_professional_email_on_the_suppression_list_is_withdrawn(
    professional_factory, grant, decide
):
    """R62: an objection of one professional keeps the address out when another record is
    created with it (a re-import), even with another case."""
    first = professional_factory(email="contact@entreprise-exemple.fr")
    grant(first, "email")
    decide(first, "email", "withdraw")
    second = professional_factory(email="Contact@Entreprise-Exemple.fr")
    assert ConsentState.objects.get(client=second, channel="email").status == "none"
    assert answer("email", second) == (False, "withdrawn")
    assert answer("sms_push", second) == (False, "no_consent")


def test_6_the_suppression_list_does_not_apply_to_individuals(
    professional_factory, client_factory, decide
):
    pro = professional_factory(email="partage@exemple.fr")
    decide(pro, "email", "refuse")
    individual = client_factory(email="partage@exemple.fr")
    assert answer("email", individual) == (False, "no_consent")


def test_6_a_new_explicit_grant_by_the_professional_lifts_the_suppression(
    professional_factory, grant, decide
):
    first = professional_factory(email="contact@entreprise-exemple.fr")
    decide(first, "email", "refuse")
    second = professional_factory(email="contact@entreprise-exemple.fr")
    grant(second, "email")
    assert answer("email", second) == (True, "granted")


def test_7_a_branch_yes_not_yet_signed_is_pending_signature(customer, advisor_as_actor):
    record_decision(
        client_number=customer.client_number,
        channel="email",
        decision="grant",
        journey=Journey.BRANCH_ACCOUNT_OPENING,
        actor=advisor_as_actor,
        wording_version="email-v1",
        affirmative_action=True,
        branch_form=True,
    )
    assert answer("email", customer) == (False, "pending_signature")


def test_8_a_digital_email_grant_awaiting_double_optin_is_pending_confirmation(
    customer, grant, settings
):
    settings.OPTIN_EMAIL_DOUBLE_OPTIN = True
    grant(customer, "email")
    assert answer("email", customer) == (False, "pending_confirmation")


def test_9_an_individual_who_never_answered_has_no_consent(customer):
    assert answer("email", customer) == (False, "no_consent")
    assert answer("sms_push", customer) == (False, "no_consent")


def test_9_a_professional_who_never_answered_has_no_consent_on_sms_push(professional_factory):
    pro = professional_factory()
    assert answer("sms_push", pro) == (False, "no_consent")


def test_10_a_granted_channel_whose_contact_point_was_removed_has_no_contact_point(customer, grant):
    grant(customer, "email")
    change_contact_details(actor=SYSTEM, client_number=customer.client_number, email="")
    assert ConsentState.objects.get(client=customer, channel="email").status == "granted"
    assert answer("email", customer) == (False, "no_contact_point")


def test_10_a_professional_without_email_has_no_contact_point(professional_factory):
    pro = professional_factory(email="")
    assert answer("email", pro) == (False, "no_contact_point")


def test_10_is_reported_only_for_someone_otherwise_eligible(client_factory, decide):
    without_contact = client_factory(email="", mobile="")
    assert answer("email", without_contact) == (False, "no_consent")
    decide(without_contact, "sms_push", "refuse")
    assert answer("sms_push", without_contact) == (False, "refused")


def test_11_a_granted_channel_is_eligible(customer, grant):
    grant(customer, "email")
    grant(customer, "sms_push")
    assert answer("email", customer) == (True, "granted")
    assert answer("sms_push", customer) == (True, "granted")


def test_11_a_professional_who_granted_is_eligible_as_granted(professional_factory, grant):
    pro = professional_factory()
    grant(pro, "sms_push")
    grant(pro, "email")
    assert answer("sms_push", pro) == (True, "granted")
    assert answer("email", pro) == (True, "granted")


def test_12_a_professional_email_without_objection_is_b2b_no_objection(professional_factory):
    pro = professional_factory()
    assert answer("email", pro) == (True, "b2b_no_objection")


# --- precedence: the first matching line wins ------------------------------------------------


def test_a_minor_who_refused_answers_minor(client_factory, decide):
    minor = client_factory(birth_date=years_ago(16))
    decide(minor, "email", "refuse")
    assert answer("email", minor) == (False, "minor")


def test_a_minor_under_a_protection_measure_answers_minor(client_factory):
    client = client_factory(
        birth_date=years_ago(17), legal_capacity="protected", protection_measure="tutelle"
    )
    assert answer("email", client) == (False, "minor")


def test_capacity_and_age_are_checked_whatever_the_recorded_state(client_factory, grant):
    protected = client_factory()
    grant(protected, "email")
    Client.objects.filter(pk=protected.pk).update(
        legal_capacity="protected", protection_measure="tutelle"
    )
    minor = client_factory()
    grant(minor, "email")
    Client.objects.filter(pk=minor.pk).update(birth_date=years_ago(17))
    assert answer("email", protected) == (False, "protected_adult")
    assert answer("email", minor) == (False, "minor")


def test_an_erased_minor_answers_erased(client_factory):
    minor = client_factory(birth_date=years_ago(12))
    Client.objects.filter(pk=minor.pk).update(erased_at=timezone.now())
    assert answer("email", minor) == (False, "erased")


def test_a_professional_who_refused_and_is_suppressed_answers_refused(professional_factory, decide):
    pro = professional_factory(email="contact@entreprise-exemple.fr")
    decide(pro, "email", "refuse")
    assert answer("email", pro) == (False, "refused")


# --- R48: batches ---------------------------------------------------------------------------


def test_answers_come_in_request_order_with_duplicates_answered_each_time(
    customer, client_factory, professional_factory, grant
):
    granted = client_factory()
    grant(granted, "email")
    pro = professional_factory()
    asked = [
        pro.client_number,
        customer.client_number,
        "UNKNOWN-1",
        granted.client_number,
        customer.client_number,
        pro.client_number,
    ]
    answers = eligibility("email", asked)
    assert [a.client_number for a in answers] == asked
    assert [(a.eligible, a.reason) for a in answers] == [
        (True, "b2b_no_objection"),
        (False, "no_consent"),
        (False, "unknown_client"),
        (True, "granted"),
        (False, "no_consent"),
        (True, "b2b_no_objection"),
    ]


def test_an_empty_batch_gets_an_empty_answer(db):
    assert eligibility("email", []) == []


def test_a_batch_of_10000_numbers_is_answered(customer):
    numbers = [f"UNKNOWN-{i}" for i in range(MAX_ELIGIBILITY_BATCH - 1)]
    numbers.append(customer.client_number)
    answers = eligibility("sms_push", numbers)
    assert len(answers) == 10_000
    assert answers[-1].reason == "no_consent"


def test_more_than_10000_numbers_are_refused_without_a_partial_answer(customer):
    numbers = [customer.client_number] * (MAX_ELIGIBILITY_BATCH + 1)
    with pytest.raises(DomainError) as caught:
        eligibility("email", numbers)
    assert "10" in caught.value.message


@pytest.mark.parametrize("channel", ["phone", "EMAIL", "sms", ""])
def test_a_wrong_channel_is_refused(customer, channel):
    with pytest.raises(DomainError) as caught:
        eligibility(channel, [customer.client_number])
    assert caught.value.code == ErrorCode.WRONG_CHANNEL


# --- R42: effect in time ---------------------------------------------------------------------


def test_a_withdrawal_is_reflected_at_once(customer, grant, decide):
    grant(customer, "email")
    grant(customer, "sms_push")
    assert answer("email", customer) == (True, "granted")
    decide(customer, "email", "withdraw")
    assert answer("email", customer) == (False, "withdrawn")
    assert answer("sms_push", customer) == (True, "granted")  # R1: one channel only
