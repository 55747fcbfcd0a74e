"""GET and PATCH /api/v1/clients/{n}, GET /api/v1/clients/{n}/consents.

R11: each channel is read with its state, whether it is effective, since when, the journey and
the wording version of the state.
R43: changing an address keeps the channel's state: a granted consent stays granted and is not
asked again.
R44 (R33): the answer to a contact change lists in `optin_invitation` the channels whose contact
point was added, changed or confirmed, that are not granted, for a person who may consent;
removing a contact point invites nothing; a minor or a protected adult is never invited.
R45: `If-Match` with the record's version (its ETag) makes a stale change a 409 `conflict`
with the current values, and nothing is overwritten; consent decisions do not move the version.
R51: the change is logged with the API client as actor and the journey digital_contact_update.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from clients.models import Client
from optin.audit import personal_data
from optin.models import AuditEntry, ConsentState
from tests.api.conftest import error

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def now(time_machine: Any) -> dt.datetime:
    time_machine.move_to(NOW, tick=False)
    return NOW


def url(client: Client) -> str:
    return f"/api/v1/clients/{client.client_number}"


def decision(
    api: APIClient, client: Client, channel: str, what: str, **overrides: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": channel,
        "decision": what,
        "journey": "digital_self_service",
        "evidence": {"ip": "192.0.2.1", "user_agent": "pytest"},
    }
    if what in ("grant", "refuse"):
        body["wording_version"] = f"{channel}-v1"
    if what == "grant":
        body["affirmative_action"] = True
    body.update(overrides)
    response = api.post(f"{url(client)}/consents", body, format="json")
    assert response.status_code in (200, 201), response.content
    return dict(response.json())


def state(client: Client, channel: str) -> tuple[Any, ...]:
    row = ConsentState.objects.get(client=client, channel=channel)
    return (row.status, row.prior_status, row.since, row.journey, row.wording_version, row.last_seq)


def snapshot() -> tuple[Any, ...]:
    return (
        list(AuditEntry.objects.order_by("seq").values_list("seq", "hash")),
        list(Client.objects.order_by("pk").values_list("pk", "email", "mobile", "version")),
        list(ConsentState.objects.order_by("pk").values_list("pk", "status", "last_seq")),
    )


def when(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- reading ---------------------------------------------------------------------------------


def test_a_client_is_read_with_its_fields_consents_and_version(
    api: APIClient, customer: Client
) -> None:
    response = api.get(url(customer))
    assert response.status_code == 200
    data = response.json()
    assert {k: data[k] for k in ("client_number", "kind", "first_name", "last_name")} == {
        "client_number": customer.client_number,
        "kind": "individual",
        "first_name": "Jeanne",
        "last_name": "Dupont",
    }
    assert data["birth_date"] == "1980-05-17"
    assert (data["email"], data["mobile"], data["branch"]) == (
        customer.email,
        customer.mobile,
        "B001",
    )
    assert (data["legal_capacity"], data["erased"]) == ("full", False)
    assert data["version"] == 1
    assert response["ETag"] == '"1"'
    assert set(data["consents"]) == {"email", "sms_push"}


def test_the_consents_show_state_effect_since_journey_and_wording(
    now: dt.datetime, api: APIClient, customer: Client, time_machine: Any
) -> None:
    acted = NOW - dt.timedelta(minutes=5)
    decision(api, customer, "email", "grant", occurred_at=acted.isoformat())
    time_machine.shift(60)
    decision(api, customer, "sms_push", "refuse", journey="digital_contact_update")

    consents = api.get(url(customer)).json()["consents"]
    assert consents["email"]["status"] == "granted"
    assert consents["email"]["effective"] is True
    assert when(consents["email"]["since"]) == acted
    assert consents["email"]["journey"] == "digital_self_service"
    assert consents["email"]["wording_version"] == "email-v1"
    assert consents["sms_push"] == {
        "status": "refused",
        "effective": False,
        "since": consents["sms_push"]["since"],
        "journey": "digital_contact_update",
        "wording_version": "sms_push-v1",
    }
    assert when(consents["sms_push"]["since"]) == NOW + dt.timedelta(seconds=60)


def test_the_consents_endpoint_answers_the_client_s_consents(
    api: APIClient, customer: Client
) -> None:
    decision(api, customer, "email", "grant")
    decision(api, customer, "sms_push", "withdraw")
    alone = api.get(f"{url(customer)}/consents")
    assert alone.status_code == 200
    assert alone.json() == api.get(url(customer)).json()["consents"]
    assert alone.json()["sms_push"]["status"] == "withdrawn"
    assert alone.json()["sms_push"]["effective"] is False


def test_since_keeps_the_start_of_the_state_on_a_repeated_grant(
    now: dt.datetime, api: APIClient, customer: Client, time_machine: Any
) -> None:
    """R15: a new grant refreshes the proof; `since` keeps the date the state began."""
    decision(api, customer, "email", "grant")
    time_machine.shift(3600)
    decision(api, customer, "email", "grant", journey="digital_contact_update")
    email = api.get(f"{url(customer)}/consents").json()["email"]
    assert when(email["since"]) == NOW
    assert email["journey"] == "digital_contact_update"


# --- changing contact data -------------------------------------------------------------------


def change(http: APIClient, client: Client, body: dict[str, Any], **headers: Any) -> Any:
    return http.patch(url(client), body, format="json", **headers)


def test_changing_the_email_of_a_granted_channel_keeps_it_and_invites_nothing(
    api: APIClient, customer: Client
) -> None:
    decision(api, customer, "email", "grant")
    before = state(customer, "email")
    response = change(api, customer, {"email": "Jeanne.Nouvelle@Exemple.FR"})
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["email"] == "Jeanne.Nouvelle@exemple.fr"
    assert data["optin_invitation"] == []
    assert data["consents"]["email"]["status"] == "granted"
    assert state(customer, "email") == before  # R43: no new state entry
    assert not AuditEntry.objects.filter(
        client_id=customer.pk, action__startswith="consent.", seq__gt=before[-1]
    ).exists()


def test_changing_the_mobile_when_sms_push_is_none_invites_sms_push(
    api: APIClient, customer: Client
) -> None:
    decision(api, customer, "email", "grant")
    response = change(api, customer, {"mobile": "07 81 23 45 67"})
    assert response.status_code == 200
    assert response.json()["optin_invitation"] == ["sms_push"]
    assert response.json()["mobile"] == "+33781234567"
    assert state(customer, "sms_push")[0] == "none"


@pytest.mark.parametrize("status", ["refused", "withdrawn"])
def test_a_new_address_on_an_objecting_channel_keeps_the_objection_and_invites(
    api: APIClient, customer: Client, status: str
) -> None:
    decision(api, customer, "email", "refuse" if status == "refused" else "withdraw")
    before = state(customer, "email")
    response = change(api, customer, {"email": "autre@exemple.fr"})
    assert response.json()["optin_invitation"] == ["email"]
    assert state(customer, "email") == before
    assert before[0] == status


def test_adding_both_contact_points_invites_both(
    api: APIClient, client_factory: Callable[..., Client]
) -> None:
    bare = client_factory(email="", mobile="")
    response = change(api, bare, {"email": "neuf@exemple.fr", "mobile": "0612345678"})
    assert response.status_code == 200
    assert sorted(response.json()["optin_invitation"]) == ["email", "sms_push"]


@pytest.mark.parametrize("field", ["email", "mobile"])
def test_removing_a_contact_point_invites_nothing_and_keeps_the_state(
    api: APIClient, customer: Client, field: str
) -> None:
    channel = "email" if field == "email" else "sms_push"
    decision(api, customer, channel, "grant")
    before = state(customer, channel)
    response = change(api, customer, {field: ""})
    assert response.status_code == 200
    assert response.json()["optin_invitation"] == []
    assert response.json()[field] == ""
    assert state(customer, channel) == before
    customer.refresh_from_db()
    assert getattr(customer, field) == ""


def test_confirming_an_unchanged_email_invites_when_not_granted(
    api: APIClient, customer: Client
) -> None:
    version = customer.version
    response = change(api, customer, {"email": customer.email, "confirmed": True})
    assert response.status_code == 200
    assert response.json()["optin_invitation"] == ["email"]
    assert response.json()["version"] == version  # nothing changed in the record
    entry = AuditEntry.objects.filter(client_id=customer.pk).order_by("-seq").first()
    assert entry is not None
    assert (entry.action, entry.channel) == ("client.contact_confirmed", "email")


def test_confirming_a_granted_email_invites_nothing(api: APIClient, customer: Client) -> None:
    decision(api, customer, "email", "grant")
    response = change(api, customer, {"email": customer.email, "confirmed": True})
    assert response.json()["optin_invitation"] == []


def test_an_unchanged_email_without_confirmation_invites_nothing_and_logs_nothing(
    api: APIClient, customer: Client
) -> None:
    before = snapshot()
    response = change(api, customer, {"email": customer.email})
    assert response.status_code == 200
    assert response.json()["optin_invitation"] == []
    assert snapshot() == before


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"birth_date": dt.date(2010, 1, 1)}, id="minor"),
        pytest.param(
            {"legal_capacity": "protected", "protection_measure": "tutelle"}, id="protected-adult"
        ),
        pytest.param(
            {"kind": "professional", "is_legal_entity": True, "birth_date": None},
            id="legal-entity",
        ),
    ],
)
@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"email": "neuf@exemple.fr"}, id="new-email"),
        pytest.param({"mobile": "06 98 76 54 32"}, id="new-mobile"),
        pytest.param({"email": "same", "confirmed": True}, id="confirmed"),
    ],
)
def test_a_person_who_may_not_consent_is_never_invited(
    api: APIClient,
    client_factory: Callable[..., Client],
    overrides: dict[str, Any],
    body: dict[str, Any],
) -> None:
    person = client_factory(**overrides)
    if body.get("email") == "same":
        body = {**body, "email": person.email}
    response = change(api, person, body)
    assert response.status_code == 200, response.content
    assert response.json()["optin_invitation"] == []


def test_the_change_is_logged_with_the_api_actor_and_the_journey(
    api: APIClient, customer: Client
) -> None:
    old = customer.email
    change(api, customer, {"email": "nouvelle@exemple.fr"})
    entry = AuditEntry.objects.get(client_id=customer.pk, action="client.contact_changed")
    assert (entry.actor_type, entry.actor_id, entry.channel) == ("api_client", "api:web", "email")
    assert json.loads(entry.payload)["journey"] == "digital_contact_update"
    # R43: the old and new addresses are kept, sealed as personal data.
    assert "nouvelle@exemple.fr" not in entry.payload
    assert personal_data(entry) == {"old": old, "new": "nouvelle@exemple.fr"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "jeanne@@exemple.fr"}, "email"),
        ({"email": "jeanne@exemple.invalid"}, "email"),
        ({"mobile": "01 23 45 67 89"}, "mobile"),
        ({"email": "ok@exemple.fr", "mobile": "06 12"}, "mobile"),
    ],
)
def test_a_bad_contact_point_is_a_400_and_changes_nothing(
    api: APIClient, customer: Client, body: dict[str, Any], field: str
) -> None:
    before = snapshot()
    response = change(api, customer, body)
    assert response.status_code == 400
    assert set(error(response)["fields"]) == {field}
    assert snapshot() == before


# --- R45: If-Match ---------------------------------------------------------------------------


def test_if_match_with_the_current_version_changes_and_moves_the_version(
    api: APIClient, customer: Client
) -> None:
    etag = api.get(url(customer))["ETag"]
    response = change(api, customer, {"email": "nouvelle@exemple.fr"}, HTTP_IF_MATCH=etag)
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2
    assert response["ETag"] == '"2"'
    assert api.get(url(customer))["ETag"] == '"2"'
    customer.refresh_from_db()
    assert (customer.email, customer.version) == ("nouvelle@exemple.fr", 2)


@pytest.mark.parametrize("form", ["1", '"1"', 'W/"1"'])
def test_if_match_accepts_the_version_bare_quoted_or_weak(
    api: APIClient, customer: Client, form: str
) -> None:
    response = change(api, customer, {"email": "nouvelle@exemple.fr"}, HTTP_IF_MATCH=form)
    assert response.status_code == 200


def test_a_stale_if_match_is_a_409_with_the_current_values_and_changes_nothing(
    api: APIClient, customer: Client
) -> None:
    etag = api.get(url(customer))["ETag"]
    change(api, customer, {"email": "premiere@exemple.fr"})  # another journey, meanwhile
    before = snapshot()
    response = change(
        api,
        customer,
        {"email": "seconde@exemple.fr", "mobile": "0781234567"},
        HTTP_IF_MATCH=etag,
    )
    assert response.status_code == 409, response.content
    problem = error(response)
    assert problem["code"] == "conflict"
    assert problem["current"] == {
        "version": 2,
        "email": "premiere@exemple.fr",
        "mobile": customer.mobile,
    }
    assert snapshot() == before
    customer.refresh_from_db()
    assert customer.email == "premiere@exemple.fr"


def test_a_version_from_the_future_is_a_conflict_too(api: APIClient, customer: Client) -> None:
    before = snapshot()
    response = change(api, customer, {"email": "n@exemple.fr"}, HTTP_IF_MATCH='"7"')
    assert response.status_code == 409
    assert snapshot() == before


def test_a_consent_decision_does_not_make_the_record_stale(
    api: APIClient, customer: Client
) -> None:
    """R45: consent decisions are not blocked by, and do not block, contact changes."""
    etag = api.get(url(customer))["ETag"]
    decision(api, customer, "email", "grant")
    response = change(api, customer, {"email": "nouvelle@exemple.fr"}, HTTP_IF_MATCH=etag)
    assert response.status_code == 200


def test_without_if_match_the_last_change_wins(api: APIClient, customer: Client) -> None:
    change(api, customer, {"email": "premiere@exemple.fr"})
    response = change(api, customer, {"email": "seconde@exemple.fr"})
    assert response.status_code == 200
    assert response.json()["version"] == 3


def test_the_client_s_times_carry_their_offset(api: APIClient, customer: Client) -> None:
    data = api.get(url(customer)).json()
    for name in ("created_at", "updated_at"):
        moment = when(data[name])
        assert moment is not None and moment.utcoffset() is not None, data[name]
