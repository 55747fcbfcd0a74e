"""R66: e-mail addresses are trimmed, checked against a strict subset of RFC 5321/5322, and
stored with the domain lower-cased and the local part as typed; a bad one is a field error
that records nothing (R68, R71)."""

import pytest
from django.core.exceptions import ValidationError

from clients.models import Client
from clients.validators import normalize_email
from tests.clients.helpers import log_size

# 64 + 1 + 189 = 254 characters, every label within 63.
LOCAL_64 = "a" * 64
DOMAIN_189 = "b" * 63 + "." + "c" * 63 + "." + "d" * 50 + ".exemple.fr"
ADDRESS_254 = f"{LOCAL_64}@{DOMAIN_189}"

REFUSED = {
    "empty": "",
    "only spaces": "   ",
    "internal space": "jean dupont@exemple.fr",
    "space in the domain": "jean@exemple .fr",
    "NUL character": "jean\x00dupont@exemple.fr",
    "tab character": "jean\tdupont@exemple.fr",
    "line break": "jean\r\ndupont@exemple.fr",
    "DEL character": "jean\x7f@exemple.fr",
    "trailing NUL": "jean@exemple.fr\x00",
    "missing @": "jean.dupont.exemple.fr",
    "doubled @": "jean@@exemple.fr",
    "two @": "jean@dupont@exemple.fr",
    "local part starts with a dot": ".jean@exemple.fr",
    "local part ends with a dot": "jean.@exemple.fr",
    "two dots in a row": "jean..dupont@exemple.fr",
    "quoted local part": '"jean"@exemple.fr',
    "quoted local part with a space": '"jean dupont"@exemple.fr',
    "IPv4 literal": "jean@[192.0.2.1]",
    "IPv6 literal": "jean@[IPv6:2001:db8::1]",
    "domain without a dot": "jean@exemple",
    "reserved .invalid": "jean@exemple.invalid",
    "reserved .test": "jean@exemple.test",
    "localhost": "jean@localhost",
    "under localhost": "jean@mail.localhost",
    "255 characters": "a" + ADDRESS_254,
}


@pytest.mark.parametrize("value", REFUSED.values(), ids=REFUSED.keys())
def test_an_invalid_address_is_refused(value):
    with pytest.raises(ValidationError):
        normalize_email(value)


def test_surrounding_spaces_are_trimmed():
    assert normalize_email("  jean.dupont@exemple.fr \t") == "jean.dupont@exemple.fr"


def test_the_domain_is_lower_cased_and_the_local_part_kept_as_typed():
    assert normalize_email("Jean.DUPONT@Exemple.FR") == "Jean.DUPONT@exemple.fr"


def test_a_plus_tag_is_accepted():
    assert normalize_email("jean+promo@exemple.fr") == "jean+promo@exemple.fr"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("jean@exämple.fr", "jean@exämple.fr"),
        ("Jean@BÜCHER.de", "Jean@bücher.de"),
        ("jean@société-générale.fr", "jean@société-générale.fr"),
    ],
)
def test_an_internationalised_domain_is_accepted_and_lower_cased(value, expected):
    assert normalize_email(value) == expected


def test_254_characters_are_accepted():
    assert len(ADDRESS_254) == 254
    assert normalize_email(ADDRESS_254) == ADDRESS_254


def test_the_length_limit_applies_after_trimming():
    assert normalize_email(f"  {ADDRESS_254}  ") == ADDRESS_254


def test_an_empty_address_is_refused_as_required():
    with pytest.raises(ValidationError) as caught:
        normalize_email("  ")
    assert caught.value.code == "required"


@pytest.mark.parametrize(
    "value",
    [v for k, v in REFUSED.items() if k not in ("empty", "only spaces")],
    ids=[k for k in REFUSED if k not in ("empty", "only spaces")],
)
def test_creating_a_client_with_an_invalid_address_is_a_field_error_and_writes_nothing(
    db, create, value
):
    before = log_size()
    with pytest.raises(ValidationError) as caught:
        create(email=value)
    assert set(caught.value.message_dict) == {"email"}
    assert not Client.objects.exists()
    assert log_size() == before


def test_creating_a_client_stores_the_normalised_address(db, create):
    client = create(email="  Paul.Martin+banque@Exemple.FR ")
    client.refresh_from_db()
    assert client.email == "Paul.Martin+banque@exemple.fr"


def test_a_client_may_be_created_without_an_address(db, create):
    assert create(email="").email == ""
