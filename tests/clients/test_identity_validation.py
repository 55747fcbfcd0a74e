"""R68 (with R6, R9): the identity fields of a new client are checked field by field; a refused
creation writes nothing (R71)."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError

from clients.models import Client
from optin.models import AuditEntry, ConsentState
from tests.clients.helpers import log_size
from tests.conftest import paris


def refused_fields(create, **kwargs):
    """Attempt a creation that must fail; return its field errors after checking nothing
    was written."""
    before = log_size()
    with pytest.raises(ValidationError) as caught:
        create(**kwargs)
    assert not Client.objects.exists()
    assert not ConsentState.objects.exists()
    assert log_size() == before
    return caught.value.message_dict


@pytest.mark.parametrize("number", ["A", "C-000123", "abc-DEF-123", "9" * 32, "-"])
def test_a_client_number_of_1_to_32_letters_digits_or_dashes_is_accepted(db, create, number):
    assert create(client_number=number).client_number == number


@pytest.mark.parametrize(
    "number",
    ["", "9" * 33, "C 000123", "C_000123", "C/000123", "C.000123", "Cé0001", "C000123;"],
    ids=["empty", "33 chars", "space", "underscore", "slash", "dot", "accent", "semicolon"],
)
def test_any_other_client_number_is_refused(db, create, number):
    assert set(refused_fields(create, client_number=number)) == {"client_number"}


def test_surrounding_spaces_of_the_client_number_are_trimmed(db, create):
    assert create(client_number="  C-42 ").client_number == "C-42"


def test_a_duplicate_client_number_is_refused_with_code_duplicate_and_writes_nothing(db, create):
    first = create(client_number="C-000001")
    before = log_size()
    with pytest.raises(ValidationError) as caught:
        create(client_number="C-000001", last_name="Autre", email="autre@exemple.fr")
    assert [e.code for e in caught.value.error_dict["client_number"]] == ["duplicate"]
    assert list(Client.objects.values_list("pk", flat=True)) == [first.pk]
    assert ConsentState.objects.count() == 2
    assert log_size() == before


def test_a_duplicate_given_with_spaces_is_still_a_duplicate(db, create):
    create(client_number="C-000001")
    with pytest.raises(ValidationError) as caught:
        create(client_number=" C-000001 ")
    assert [e.code for e in caught.value.error_dict["client_number"]] == ["duplicate"]
    assert Client.objects.count() == 1


def test_a_new_client_is_logged_with_both_channels_at_none(db, create):
    client = create()
    states = dict(ConsentState.objects.filter(client=client).values_list("channel", "status"))
    assert states == {"email": "none", "sms_push": "none"}
    assert AuditEntry.objects.filter(action="client.created", client_id=client.pk).count() == 1


def test_the_birth_date_is_required_for_an_individual(db, create):
    assert set(refused_fields(create, birth_date=None)) == {"birth_date"}


def test_a_professional_may_have_no_birth_date(db, create):
    assert create(kind="professional", birth_date=None).birth_date is None


@time_machine.travel(paris(2026, 6, 14, 23, 30), tick=False)
def test_the_birth_date_may_not_be_after_today_in_paris(db, create):
    # 21:30 UTC on 14 June: still 14 June in Paris, so 15 June is in the future.
    assert set(refused_fields(create, birth_date=dt.date(2026, 6, 15))) == {"birth_date"}


@time_machine.travel(dt.datetime(2026, 6, 14, 22, 30, tzinfo=dt.UTC), tick=False)
def test_a_birth_date_of_today_in_paris_is_accepted_even_when_utc_is_still_yesterday(db, create):
    # 22:30 UTC on 14 June is 00:30 on 15 June in Paris.
    assert create(birth_date=dt.date(2026, 6, 15)).birth_date == dt.date(2026, 6, 15)


@pytest.mark.parametrize("kind", ["", "company", "INDIVIDUAL"])
def test_the_kind_is_individual_or_professional(db, create, kind):
    assert "kind" in refused_fields(create, kind=kind)


def test_a_protected_adult_needs_a_measure(db, create):
    errors = refused_fields(create, legal_capacity="protected", protection_measure="")
    assert set(errors) == {"protection_measure"}


def test_a_person_of_full_capacity_has_no_measure(db, create):
    errors = refused_fields(create, legal_capacity="full", protection_measure="tutelle")
    assert set(errors) == {"protection_measure"}


@pytest.mark.parametrize(
    "measure", ["mesure_accompagnement_judiciaire", "masp", "curatelle_simple_", "autre"]
)
def test_only_the_measures_of_r6_make_a_person_protected(db, create, measure):
    # A MAJ or a MASP is not a capacity measure (CC 495-3).
    errors = refused_fields(create, legal_capacity="protected", protection_measure=measure)
    assert set(errors) == {"protection_measure"}


def test_the_legal_capacity_is_full_or_protected(db, create):
    assert "legal_capacity" in refused_fields(create, legal_capacity="partial")


def test_an_individual_cannot_be_a_legal_entity(db, create):
    assert set(refused_fields(create, is_legal_entity=True)) == {"is_legal_entity"}


def test_a_professional_may_be_a_legal_entity(db, create):
    client = create(kind="professional", is_legal_entity=True, birth_date=None)
    assert client.is_legal_entity


def test_names_are_stored_as_typed_in_unicode(db, create):
    client = create(first_name="Zoë-Åsa", last_name="N'Guessan <b>Ñúñez</b>")
    client.refresh_from_db()
    assert (client.first_name, client.last_name) == ("Zoë-Åsa", "N'Guessan <b>Ñúñez</b>")


@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_a_name_longer_than_150_characters_is_refused(db, create, field):
    assert set(refused_fields(create, **{field: "é" * 151})) == {field}


def test_the_last_name_is_required(db, create):
    assert set(refused_fields(create, last_name="  ")) == {"last_name"}
