"""R5 (with R4, R44, R47): a person is an adult from 00:00 Europe/Paris on their 18th birthday
(1 March for a 29 February birth in a common year); without a birth date, never. A minor's grant
is refused with `ineligible_person` / `minor` and writes nothing."""

import datetime as dt

import pytest
import time_machine

from clients import services
from clients.models import Client, adulthood_date
from optin import policy
from optin.errors import DomainError
from optin.selectors import eligibility
from tests.clients.helpers import REFERENCE_DAY, log_size, states_of
from tests.conftest import paris
from tests.factories import SYSTEM

# 18 years old on REFERENCE_DAY (10 December 2026, winter time in Paris: UTC+1).
BORN = REFERENCE_DAY.replace(year=REFERENCE_DAY.year - 18)


def test_adulthood_is_the_18th_birthday():
    assert adulthood_date(dt.date(2008, 6, 15)) == dt.date(2026, 6, 15)


def test_a_29_february_birth_becomes_adult_on_1_march_in_a_common_year():
    assert adulthood_date(dt.date(2008, 2, 29)) == dt.date(2026, 3, 1)


def test_a_29_february_birth_becomes_adult_on_29_february_in_a_leap_year(monkeypatch):
    # 18 years after a leap year is never a leap year; the rule is checked with an age that
    # lands on one, since the age is a policy constant (D2).
    monkeypatch.setattr(policy, "ADULT_AGE", 16)
    assert adulthood_date(dt.date(2008, 2, 29)) == dt.date(2024, 2, 29)


def test_a_29_february_birth_is_a_minor_on_28_february_and_adult_on_1_march():
    person = Client(kind="individual", birth_date=dt.date(2008, 2, 29))
    assert person.is_minor(dt.date(2026, 2, 28))
    assert not person.is_minor(dt.date(2026, 3, 1))


def test_a_person_is_a_minor_the_day_before_the_18th_birthday_and_adult_on_it():
    person = Client(kind="individual", birth_date=dt.date(2008, 6, 15))
    assert person.is_minor(dt.date(2026, 6, 14))
    assert not person.is_minor(dt.date(2026, 6, 15))
    assert not person.is_minor(dt.date(2026, 6, 16))


@pytest.mark.parametrize(
    ("moment", "minor"),
    [
        (paris(2026, 6, 14, 23, 59, 59), True),
        # 22:30 UTC on 14 June is already 15 June in Paris (summer time, UTC+2)
        (dt.datetime(2026, 6, 14, 22, 30, tzinfo=dt.UTC), False),
        (paris(2026, 6, 15, 0, 0, 0), False),
        # 21:59 UTC on 14 June is 23:59 in Paris: still the 14th
        (dt.datetime(2026, 6, 14, 21, 59, tzinfo=dt.UTC), True),
    ],
)
def test_age_is_computed_on_the_calendar_date_in_paris(moment, minor):
    person = Client(kind="individual", birth_date=dt.date(2008, 6, 15))
    with time_machine.travel(moment, tick=False):
        assert person.is_minor() is minor


def test_without_a_birth_date_a_person_is_never_adult():
    person = Client(kind="individual", birth_date=None)
    assert person.is_minor()
    assert person.is_minor(dt.date(2100, 1, 1))


def test_the_digital_majority_of_15_does_not_lower_the_threshold():
    person = Client(kind="individual", birth_date=dt.date(2009, 6, 15))
    assert person.is_minor(dt.date(2026, 6, 15))  # 17 years old
    assert person.is_minor(dt.date(2027, 6, 14))
    assert not person.is_minor(dt.date(2027, 6, 15))


@pytest.fixture
def teenager(client_factory):
    return client_factory(client_number="C-TEEN", birth_date=BORN)


def test_a_grant_the_day_before_the_18th_birthday_is_refused_and_writes_nothing(teenager, grant):
    with time_machine.travel(paris(2026, 12, 9, 23, 59, 30), tick=False):
        before = log_size()
        with pytest.raises(DomainError) as caught:
            grant(teenager, "email")
    assert caught.value.code == "ineligible_person"
    assert caught.value.extra == {"reason": "minor"}
    assert log_size() == before
    assert states_of(teenager) == {"email": "none", "sms_push": "none"}


def test_a_grant_at_midnight_paris_on_the_18th_birthday_is_accepted(teenager, grant):
    # 23:00:30 UTC on 9 December is 00:00:30 on 10 December in Paris (winter time, UTC+1).
    with time_machine.travel(dt.datetime(2026, 12, 9, 23, 0, 30, tzinfo=dt.UTC), tick=False):
        assert grant(teenager, "sms_push").status == "granted"
    assert states_of(teenager)["sms_push"] == "granted"


def test_the_age_is_taken_on_the_day_the_person_acted(teenager, grant):
    # Recorded on the birthday, but the act happened the evening before: still a minor then.
    with (
        time_machine.travel(paris(2026, 12, 10, 9, 0), tick=False),
        pytest.raises(DomainError) as caught,
    ):
        grant(teenager, "email", occurred_at=paris(2026, 12, 9, 23, 50))
    assert (caught.value.code, caught.value.extra["reason"]) == ("ineligible_person", "minor")
    assert states_of(teenager)["email"] == "none"


def test_a_branch_grant_by_a_minor_is_refused(teenager, advisor_as_actor, decide):
    with (
        time_machine.travel(paris(2026, 12, 9, 12, 0), tick=False),
        pytest.raises(DomainError) as caught,
    ):
        decide(teenager, "email", "grant", journey="branch_account_opening", actor=advisor_as_actor)
    assert caught.value.extra == {"reason": "minor"}
    assert states_of(teenager)["email"] == "none"


def test_a_minor_may_still_refuse_and_stays_not_eligible_for_being_a_minor(teenager, decide):
    with time_machine.travel(paris(2026, 12, 9, 12, 0), tick=False):
        assert decide(teenager, "email", "refuse").status == "refused"
        answer = eligibility("email", [teenager.client_number])[0]
    assert (answer.eligible, answer.reason) == (False, "minor")


def test_eligibility_answers_minor_until_midnight_paris_of_the_birthday(teenager):
    with time_machine.travel(paris(2026, 12, 9, 23, 59), tick=False):
        assert eligibility("email", [teenager.client_number])[0].reason == "minor"
    with time_machine.travel(paris(2026, 12, 10, 0, 1), tick=False):
        assert eligibility("email", [teenager.client_number])[0].reason == "no_consent"


def test_reaching_18_revives_nothing_but_the_next_contact_change_invites(teenager, decide):
    with time_machine.travel(paris(2026, 12, 9, 12, 0), tick=False):
        decide(teenager, "email", "refuse")
        before = services.change_contact_details(
            actor=SYSTEM, client_number=teenager.client_number, email="teen@exemple.fr"
        )
    with time_machine.travel(paris(2026, 12, 10, 12, 0), tick=False):
        after = services.change_contact_details(
            actor=SYSTEM, client_number=teenager.client_number, email="adult@exemple.fr"
        )
    assert before.optin_invitation == []
    assert after.optin_invitation == ["email"]
    assert states_of(teenager)["email"] == "refused"
