"""R67: mobile numbers are parsed as French (metropolitan, then overseas) or foreign mobiles and
stored in E.164; landlines, special and unallocated ranges, wrong lengths, extensions and
letters are refused as a field error that records nothing (R68, R71)."""

import pytest
from django.core.exceptions import ValidationError

from clients.models import Client
from clients.validators import normalize_mobile
from tests.clients.helpers import log_size

# Every accepted example of R67, with the E.164 value it states.
ACCEPTED = [
    ("06 12 34 56 78", "+33612345678"),
    ("06.12.34.56.78", "+33612345678"),
    ("06-12-34-56-78", "+33612345678"),
    ("0612345678", "+33612345678"),
    ("+33 6 12 34 56 78", "+33612345678"),
    ("+33 (0)6 12 34 56 78", "+33612345678"),
    ("0033612345678", "+33612345678"),
    ("0033 6 12 34 56 78", "+33612345678"),
    ("07 81 23 45 67", "+33781234567"),
    ("0690 12 34 56", "+590690123456"),
    ("0692 12 34 56", "+262692123456"),
    ("0696 12 34 56", "+596696123456"),
    ("+32 470 12 34 56", "+32470123456"),
    ("0032 470 12 34 56", "+32470123456"),
]

# The overseas mobile prefixes of the PHONE source that R67's examples do not spell out.
OVERSEAS = [
    ("0694 12 34 56", "+594694123456"),  # French Guiana
    ("0697 12 34 56", "+596697123456"),  # Martinique
    ("0693 12 34 56", "+262693123456"),  # Réunion
    ("0639 01 23 45", "+262639012345"),  # Mayotte
]

# Every refused example of R67 ("0800 …", "089…", "07 00 …" and "… ext 2" completed).
REFUSED = {
    "landline": "01 23 45 67 89",
    "overseas landline": "0590 12 34 56",
    "freephone": "0800 12 34 56",
    "premium rate": "0899 12 34 56",
    "unallocated 07 12": "07 12 34 56 78",
    "unallocated 07 00": "07 00 12 34 56",
    "too short": "06 12 34 56 7",
    "too long": "06 12 34 56 789",
    "extension": "06 12 34 56 78 ext 2",
    "letters": "06 12 AB 56 78",
    "letter O for zero": "06 12 34 56 7O",
    "international landline": "+33 1 23 45 67 89",
    "foreign landline": "+32 2 123 45 67",
    "empty": "",
}


@pytest.mark.parametrize(("value", "expected"), ACCEPTED + OVERSEAS)
def test_a_mobile_number_is_stored_in_e164(value, expected):
    assert normalize_mobile(value) == expected


@pytest.mark.parametrize("value", REFUSED.values(), ids=REFUSED.keys())
def test_a_number_that_is_not_a_valid_mobile_is_refused(value):
    with pytest.raises(ValidationError):
        normalize_mobile(value)


@pytest.mark.parametrize(("value", "expected"), ACCEPTED)
def test_creating_a_client_stores_the_mobile_in_e164(db, create, value, expected):
    assert create(mobile=value).mobile == expected
    assert Client.objects.get().mobile == expected


@pytest.mark.parametrize(
    "value",
    [v for k, v in REFUSED.items() if k != "empty"],
    ids=[k for k in REFUSED if k != "empty"],
)
def test_creating_a_client_with_a_bad_mobile_is_a_field_error_and_writes_nothing(db, create, value):
    before = log_size()
    with pytest.raises(ValidationError) as caught:
        create(mobile=value)
    assert set(caught.value.message_dict) == {"mobile"}
    assert not Client.objects.exists()
    assert log_size() == before


def test_a_bad_email_and_a_bad_mobile_are_both_reported(db, create):
    with pytest.raises(ValidationError) as caught:
        create(email="jean@@exemple.fr", mobile="01 23 45 67 89")
    assert set(caught.value.message_dict) == {"email", "mobile"}
    assert not Client.objects.exists()
