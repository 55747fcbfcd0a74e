"""POST /api/v1/clients: a client created by a digital journey or the core-banking feed.

R3: a new client starts with both channels at `none`, not effective.
R51: the creation is logged with the API client as actor (`api_client`, `api:<name>`).
R66: e-mail addresses are trimmed, their domain lower-cased, bad ones refused as field errors.
R67: mobiles are stored in E.164; landlines, premium and unallocated numbers are refused.
R68: client number 1-32 letters, digits or '-', unique (409 `duplicate_client_number`); birth
date real, not in the future, required for individuals; kind and legal capacity from their
lists, a protected adult with a measure. A 400 names the fields.
R71: a refused creation writes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from clients.models import Branch, Client, today_in_paris
from optin.audit import personal_data
from optin.models import AuditEntry, ConsentState
from tests.api.conftest import error

URL = "/api/v1/clients"


def body(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "client_number": "WEB-0001",
        "kind": "individual",
        "civility": "MME",
        "first_name": "Léa",
        "last_name": "Martin",
        "birth_date": "1990-04-02",
        "email": "lea.martin@exemple.fr",
        "mobile": "06 12 34 56 78",
        "branch": "B001",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not ...}


def snapshot() -> tuple[Any, ...]:
    return (
        list(AuditEntry.objects.order_by("seq").values_list("seq", "hash")),
        list(Client.objects.order_by("pk").values_list("pk", "client_number", "version")),
        list(ConsentState.objects.order_by("pk").values_list("pk", "status")),
    )


def test_a_new_client_is_created_with_both_channels_at_none(api: APIClient, branch: Branch) -> None:
    response = api.post(URL, body(), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert {k: data[k] for k in body()} == {
        **body(),
        "mobile": "+33612345678",  # R67: E.164
    }
    assert data["legal_capacity"] == "full"
    assert data["protection_measure"] == ""
    assert data["status"] == "prospect"
    assert data["version"] == 1
    assert data["erased"] is False
    assert response["ETag"] == '"1"'
    none = {
        "status": "none",
        "effective": False,
        "since": None,
        "journey": "",
        "wording_version": "",
    }
    assert data["consents"] == {"email": none, "sms_push": none}

    client = Client.objects.get(client_number="WEB-0001")
    assert (client.branch, client.email, client.mobile) == (
        branch,
        "lea.martin@exemple.fr",
        "+33612345678",
    )
    assert client.birth_date == dt.date(1990, 4, 2)
    states = ConsentState.objects.filter(client=client).order_by("channel")
    assert [(s.channel, s.status) for s in states] == [("email", "none"), ("sms_push", "none")]


def test_the_creation_is_logged_with_the_api_client_as_actor(
    api: APIClient, branch: Branch
) -> None:
    api.post(URL, body(), format="json")
    client = Client.objects.get(client_number="WEB-0001")
    entry = AuditEntry.objects.get(action="client.created", client_id=client.pk)
    assert (entry.actor_type, entry.actor_id) == ("api_client", "api:web")
    assert entry.client_number == "WEB-0001"
    payload = json.loads(entry.payload)
    assert payload["branch"] == "B001"
    assert payload["kind"] == "individual"
    # The identity is sealed, not in clear.
    assert "Martin" not in entry.payload
    assert "lea.martin@exemple.fr" not in entry.payload
    identity = personal_data(entry)
    assert identity is not None
    assert (identity["last_name"], identity["email"]) == ("Martin", "lea.martin@exemple.fr")


def test_the_actor_is_the_calling_api_client(api_client: Any, branch: Branch) -> None:
    http = api_client("consents:write", name="core-banking")
    assert http.post(URL, body(), format="json").status_code == 201
    entry = AuditEntry.objects.get(action="client.created", client_number="WEB-0001")
    assert entry.actor_id == "api:core-banking"


def test_the_created_client_reads_back_the_same(api: APIClient, branch: Branch) -> None:
    created = api.post(URL, body(), format="json").json()
    read = api.get(f"{URL}/WEB-0001")
    assert read.status_code == 200
    assert read.json() == created


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
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
        ("", ""),
    ],
)
def test_the_mobile_is_stored_in_e164(
    api: APIClient, branch: Branch, typed: str, stored: str
) -> None:
    response = api.post(URL, body(mobile=typed), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["mobile"] == stored
    assert Client.objects.get(client_number="WEB-0001").mobile == stored


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("  lea.martin@exemple.fr  ", "lea.martin@exemple.fr"),
        ("Lea.Martin@Exemple.FR", "Lea.Martin@exemple.fr"),
        ("lea+promo@exemple.fr", "lea+promo@exemple.fr"),
        ("", ""),
    ],
)
def test_the_email_is_trimmed_and_its_domain_lower_cased(
    api: APIClient, branch: Branch, typed: str, stored: str
) -> None:
    response = api.post(URL, body(email=typed), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["email"] == stored


def test_names_are_stored_as_typed(api: APIClient, branch: Branch) -> None:
    name = "N'Guyễn-<b>Ølsen</b> & Cie"
    response = api.post(URL, body(last_name=name, first_name="Zoë"), format="json")
    assert response.status_code == 201
    assert response.json()["last_name"] == name
    assert Client.objects.get(client_number="WEB-0001").last_name == name


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"kind": "professional", "birth_date": ...}, id="professional-no-birth"),
        pytest.param(
            {"kind": "professional", "is_legal_entity": True, "birth_date": None},
            id="legal-entity",
        ),
        pytest.param(
            {"legal_capacity": "protected", "protection_measure": "curatelle"}, id="protected"
        ),
        pytest.param({"status": "customer"}, id="customer"),
        pytest.param({"email": "", "mobile": ""}, id="no-contact-point"),
        pytest.param({"client_number": "A" * 32}, id="32-characters"),
        pytest.param({"client_number": "7"}, id="1-character"),
    ],
)
def test_other_valid_clients_are_created_at_none(
    api: APIClient, branch: Branch, overrides: dict[str, Any]
) -> None:
    response = api.post(URL, body(**overrides), format="json")
    assert response.status_code == 201, response.content
    consents = response.json()["consents"]
    assert {c["status"] for c in consents.values()} == {"none"}


def _tomorrow() -> str:
    return (today_in_paris() + dt.timedelta(days=1)).isoformat()


FIELD_ERRORS = [
    # R66
    *(
        pytest.param({"email": value}, "email", id=f"email-{label}")
        for label, value in [
            ("internal-space", "lea martin@exemple.fr"),
            ("no-at", "lea.martin.exemple.fr"),
            ("two-ats", "lea@martin@exemple.fr"),
            ("leading-dot", ".lea@exemple.fr"),
            ("trailing-dot", "lea.@exemple.fr"),
            ("two-dots", "lea..martin@exemple.fr"),
            ("quoted", '"lea"@exemple.fr'),
            ("ip-literal", "lea@[192.0.2.1]"),
            ("no-dot-in-domain", "lea@exemple"),
            ("invalid-tld", "lea@exemple.invalid"),
            ("test-tld", "lea@exemple.test"),
            ("localhost", "lea@localhost"),
            ("control-character", "lea\u0007@exemple.fr"),
            ("255-characters", "l" * 64 + "@" + ("d" * 60 + ".") * 3 + "d" * 7 + ".fr"),
        ]
    ),
    # R67
    *(
        pytest.param({"mobile": value}, "mobile", id=f"mobile-{label}")
        for label, value in [
            ("landline", "01 23 45 67 89"),
            ("overseas-landline", "0590 12 34 56"),
            ("free-number", "0800 12 34 56"),
            ("premium", "0899 12 34 56"),
            ("unallocated-07", "07 12 34 56 78"),
            ("unallocated-0700", "07 00 12 34 56"),
            ("too-short", "06 12 34 56 7"),
            ("too-long", "06 12 34 56 789"),
            ("extension", "06 12 34 56 78 ext 2"),
            ("letters", "06 12 AB 56 78"),
        ]
    ),
    # R68
    pytest.param({"client_number": "WEB 0001"}, "client_number", id="number-with-space"),
    pytest.param({"client_number": "A" * 33}, "client_number", id="number-33-characters"),
    pytest.param({"client_number": "WEB_0001"}, "client_number", id="number-underscore"),
    pytest.param({"client_number": "WEB/0001"}, "client_number", id="number-slash"),
    pytest.param({"client_number": ""}, "client_number", id="number-empty"),
    pytest.param({"client_number": ...}, "client_number", id="number-missing"),
    pytest.param({"birth_date": "tomorrow"}, "birth_date", id="birth-date-in-the-future"),
    pytest.param({"birth_date": ...}, "birth_date", id="individual-without-birth-date"),
    pytest.param({"birth_date": None}, "birth_date", id="individual-with-null-birth-date"),
    pytest.param({"legal_capacity": "protected"}, "protection_measure", id="protected-no-measure"),
    pytest.param({"protection_measure": "tutelle"}, "protection_measure", id="measure-when-full"),
    pytest.param({"legal_capacity": "partial"}, "legal_capacity", id="unknown-capacity"),
    pytest.param(
        {"legal_capacity": "protected", "protection_measure": "maj"},
        "protection_measure",
        id="unknown-measure",
    ),
    pytest.param({"kind": "company"}, "kind", id="unknown-kind"),
    pytest.param({"kind": ...}, "kind", id="kind-missing"),
    pytest.param({"is_legal_entity": True}, "is_legal_entity", id="individual-legal-entity"),
    pytest.param({"branch": "B999"}, "branch", id="unknown-branch"),
    pytest.param({"branch": ...}, "branch", id="branch-missing"),
    pytest.param({"last_name": ""}, "last_name", id="last-name-empty"),
    pytest.param({"last_name": "   "}, "last_name", id="last-name-blank"),
    pytest.param({"last_name": "x" * 151}, "last_name", id="last-name-too-long"),
    pytest.param({"civility": "Dr"}, "civility", id="unknown-civility"),
    pytest.param({"status": "vip"}, "status", id="unknown-status"),
]


@pytest.mark.parametrize(("overrides", "field"), FIELD_ERRORS)
def test_a_bad_field_is_a_400_naming_it_and_writes_nothing(
    api: APIClient, branch: Branch, overrides: dict[str, Any], field: str
) -> None:
    if overrides.get("birth_date") == "tomorrow":
        overrides = {**overrides, "birth_date": _tomorrow()}
    before = snapshot()
    response = api.post(URL, body(**overrides), format="json")
    assert response.status_code == 400, response.content
    problem = error(response)
    assert problem["code"] == "invalid"
    assert field in problem["fields"], problem
    assert problem["fields"][field]  # a message
    assert snapshot() == before
    assert not Client.objects.filter(client_number="WEB-0001").exists()


def test_a_birth_date_of_today_is_accepted(api: APIClient, branch: Branch) -> None:
    response = api.post(URL, body(birth_date=today_in_paris().isoformat()), format="json")
    assert response.status_code == 201, response.content


def test_several_bad_fields_are_all_named(api: APIClient, branch: Branch) -> None:
    response = api.post(URL, body(email="lea@@exemple.fr", mobile="01 23 45 67 89"), format="json")
    assert response.status_code == 400
    assert {"email", "mobile"} <= set(error(response)["fields"])


@pytest.mark.parametrize(
    "number", ["WEB-0001", " WEB-0001 "], ids=["same", "same-with-spaces-around"]
)
def test_a_duplicate_client_number_is_a_409_and_writes_nothing(
    api: APIClient, branch: Branch, number: str
) -> None:
    first = api.post(URL, body(), format="json")
    assert first.status_code == 201
    before = snapshot()
    again = api.post(
        URL,
        body(client_number=number, last_name="Autre", email="autre@exemple.fr"),
        format="json",
    )
    assert again.status_code == 409, again.content
    problem = error(again)
    assert problem["code"] == "duplicate_client_number"
    assert "client_number" in problem["fields"]
    assert snapshot() == before
    kept = Client.objects.get(client_number="WEB-0001")
    assert (kept.last_name, kept.email) == ("Martin", "lea.martin@exemple.fr")


def test_a_duplicate_of_an_existing_customer_changes_nothing_of_it(
    api: APIClient, customer: Client
) -> None:
    before = snapshot()
    response = api.post(URL, body(client_number=customer.client_number), format="json")
    assert response.status_code == 409
    assert snapshot() == before
    customer.refresh_from_db()
    assert customer.last_name != "Martin"
