"""POST /api/v1/clients/{n}/consents: a decision taken in a digital journey.

R32, R33, R34: grant, refuse and withdraw from each digital journey, effective at once.
R35: only the digital journeys come through the API; branch journeys and the system's own
journeys are refused (`journey_not_allowed`, 422).
R4-R6: a minor, a protected adult or a legal entity cannot grant (`ineligible_person` with its
reason). R17: only the JSON `true` is an affirmative act (`not_affirmative`).
R18: the wording version must exist, be for the channel and active (`unknown_wording`,
`wrong_channel`, `inactive_wording`). R21: the act is not in the future (2 minutes of skew
allowed), not more than 24 hours old, not before its wording (`occurred_in_future`,
`occurred_too_old`, `occurred_before_wording`).
R15: a repeated withdrawal answers 200 with `recorded` false and writes nothing.
R51, R52: the entry's actor is the API client; the evidence is kept, IP and user agent sealed.
R71: every refusal writes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from clients.models import Client
from optin.audit import Actor, personal_data
from optin.models import (
    AuditEntry,
    ConsentState,
    IdempotencyRecord,
    SuppressionEntry,
    Wording,
)
from optin.services import publish_wording, set_wording_active
from tests.api.conftest import error

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)  # after the v1 wordings
DIGITAL = ["digital_self_service", "digital_contact_update", "digital_account_opening"]
BRANCH = ["branch_account_opening", "branch_contact_update", "branch_request"]
SYSTEM = [
    "unsubscribe_link",
    "sms_stop",
    "double_optin_confirmation",
    "system_expiry",
    "system_capacity",
    "erasure_request",
]
CHANNELS = ["email", "sms_push"]


@pytest.fixture
def now(time_machine: Any) -> dt.datetime:
    time_machine.move_to(NOW, tick=False)
    return NOW


def body(channel: str = "email", decision: str = "grant", **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "channel": channel,
        "decision": decision,
        "journey": "digital_self_service",
        "evidence": {"ip": "192.0.2.1", "user_agent": "Mozilla/5.0 (pytest)"},
    }
    if decision in ("grant", "refuse"):
        values["wording_version"] = f"{channel}-v1"
    if decision == "grant":
        values["affirmative_action"] = True
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not ...}


def post(http: APIClient, client: Client, data: dict[str, Any], **headers: Any) -> Any:
    return http.post(
        f"/api/v1/clients/{client.client_number}/consents", data, format="json", **headers
    )


def snapshot() -> tuple[Any, ...]:
    """Everything a decision could write."""
    return (
        list(AuditEntry.objects.order_by("seq").values_list("seq", "hash")),
        list(
            ConsentState.objects.order_by("pk").values_list(
                "pk", "status", "prior_status", "since", "journey", "wording_version", "last_seq"
            )
        ),
        list(Client.objects.order_by("pk").values_list("pk", "last_contact_at", "version")),
        list(SuppressionEntry.objects.values_list("channel", "digest")),
        IdempotencyRecord.objects.count(),
    )


def status_of(client: Client, channel: str) -> str:
    return ConsentState.objects.get(client=client, channel=channel).status


def assert_refused(response: Any, status: int, code: str, before: tuple[Any, ...]) -> Any:
    assert response.status_code == status, response.content
    problem = error(response)
    assert problem["code"] == code
    assert snapshot() == before
    return problem


# --- what is recorded ------------------------------------------------------------------------


@pytest.mark.parametrize("journey", DIGITAL)
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_digital_grant_is_recorded_and_effective_at_once(
    now: dt.datetime, api: APIClient, customer: Client, channel: str, journey: str
) -> None:
    response = post(api, customer, body(channel, "grant", journey=journey))
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["client_number"] == customer.client_number
    assert (data["channel"], data["status"], data["effective"]) == (channel, "granted", True)
    assert (data["journey"], data["wording_version"]) == (journey, f"{channel}-v1")
    assert data["recorded"] is True
    assert dt.datetime.fromisoformat(data["since"].replace("Z", "+00:00")) == NOW
    assert "Idempotent-Replayed" not in response
    entry = AuditEntry.objects.get(seq=data["seq"])
    assert (entry.action, entry.channel, entry.client_id) == (
        "consent.granted",
        channel,
        customer.pk,
    )
    assert entry.wording_version == f"{channel}-v1"
    assert json.loads(entry.payload)["journey"] == journey
    assert status_of(customer, channel) == "granted"
    other = "sms_push" if channel == "email" else "email"
    assert status_of(customer, other) == "none"  # R1: the other channel is untouched


@pytest.mark.parametrize("journey", DIGITAL)
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_digital_refusal_is_recorded_as_refused(
    api: APIClient, customer: Client, channel: str, journey: str
) -> None:
    response = post(api, customer, body(channel, "refuse", journey=journey))
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["status"], data["effective"], data["recorded"]) == ("refused", False, True)
    assert AuditEntry.objects.get(seq=data["seq"]).action == "consent.refused"
    assert status_of(customer, channel) == "refused"


@pytest.mark.parametrize("journey", DIGITAL)
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_digital_withdrawal_takes_back_a_grant_at_once(
    api: APIClient, customer: Client, channel: str, journey: str
) -> None:
    post(api, customer, body(channel, "grant"))
    response = post(api, customer, body(channel, "withdraw", journey=journey))
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["status"], data["effective"], data["journey"]) == ("withdrawn", False, journey)
    assert AuditEntry.objects.get(seq=data["seq"]).action == "consent.withdrawn"
    assert status_of(customer, channel) == "withdrawn"


def test_a_refusal_after_a_grant_is_a_withdrawal(api: APIClient, customer: Client) -> None:
    """R14: a "no" that takes back a yes is a withdrawal."""
    post(api, customer, body("email", "grant"))
    response = post(api, customer, body("email", "refuse"))
    assert response.json()["status"] == "withdrawn"


def test_a_repeated_withdrawal_answers_200_and_writes_nothing(
    api: APIClient, customer: Client
) -> None:
    post(api, customer, body("sms_push", "withdraw"))
    before = snapshot()
    response = post(api, customer, body("sms_push", "withdraw", journey="digital_contact_update"))
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["status"], data["recorded"], data["seq"]) == ("withdrawn", False, None)
    assert data["journey"] == "digital_self_service"  # the state's, unchanged
    # No entry, no state change (the person's last contact may move: R60).
    after = snapshot()
    assert (after[0], after[1], after[3], after[4]) == (before[0], before[1], before[3], before[4])


def test_the_entry_s_actor_is_the_api_client(
    api_client: Callable[..., APIClient], customer: Client
) -> None:
    http = api_client("consents:write", name="customer-space")
    seq = post(http, customer, body()).json()["seq"]
    entry = AuditEntry.objects.get(seq=seq)
    assert (entry.actor_type, entry.actor_id) == ("api_client", "api:customer-space")


def test_the_evidence_is_kept_with_ip_and_user_agent_sealed(
    api: APIClient, customer: Client
) -> None:
    evidence = {
        "ip": "2001:db8::7",
        "user_agent": "Mozilla/5.0 (pytest)",
        "auth_level": "sca",
        "session_id": "s-4f1e",
    }
    seq = post(api, customer, body(evidence=evidence)).json()["seq"]
    entry = AuditEntry.objects.get(seq=seq)
    payload = json.loads(entry.payload)
    assert payload["evidence"] == {"auth_level": "sca", "session_id": "s-4f1e"}
    assert "2001:db8::7" not in entry.payload
    assert "Mozilla" not in entry.payload
    sealed = personal_data(entry)
    assert sealed is not None
    assert (sealed["ip"], sealed["user_agent"]) == ("2001:db8::7", "Mozilla/5.0 (pytest)")
    assert sealed["contact_point"] == customer.email


def test_the_occurred_at_given_is_the_time_of_the_act(
    now: dt.datetime, api: APIClient, customer: Client
) -> None:
    acted = NOW - dt.timedelta(hours=23, minutes=59)
    seq = post(api, customer, body(occurred_at=acted.isoformat())).json()["seq"]
    entry = AuditEntry.objects.get(seq=seq)
    assert entry.occurred_at == acted
    assert entry.recorded_at == NOW


def test_an_occurred_at_in_another_offset_is_the_same_instant(
    now: dt.datetime, api: APIClient, customer: Client
) -> None:
    in_paris = (NOW - dt.timedelta(minutes=30)).astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert in_paris.isoformat().endswith("+01:00")
    seq = post(api, customer, body(occurred_at=in_paris.isoformat())).json()["seq"]
    assert AuditEntry.objects.get(seq=seq).occurred_at == NOW - dt.timedelta(minutes=30)


# --- journeys (R35) --------------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["grant", "refuse", "withdraw"])
@pytest.mark.parametrize("journey", BRANCH)
def test_a_branch_journey_is_refused_through_the_api(
    api: APIClient, customer: Client, journey: str, decision: str
) -> None:
    before = snapshot()
    response = post(api, customer, body("email", decision, journey=journey))
    assert_refused(response, 422, "journey_not_allowed", before)


@pytest.mark.parametrize("decision", ["grant", "withdraw"])
@pytest.mark.parametrize("journey", SYSTEM)
def test_a_system_journey_is_refused_through_the_api(
    api: APIClient, customer: Client, journey: str, decision: str
) -> None:
    post(api, customer, body("email", "grant"))
    before = snapshot()
    response = post(api, customer, body("email", decision, journey=journey))
    assert_refused(response, 422, "journey_not_allowed", before)


@pytest.mark.parametrize("journey", ["", "web", "DIGITAL_SELF_SERVICE"])
def test_an_unknown_journey_is_a_400(api: APIClient, customer: Client, journey: str) -> None:
    before = snapshot()
    problem = assert_refused(post(api, customer, body(journey=journey)), 400, "invalid", before)
    assert set(problem["fields"]) == {"journey"}


@pytest.mark.parametrize("decision", ["accept", "", "GRANT", "confirm"])
def test_an_unknown_decision_is_a_400(api: APIClient, customer: Client, decision: str) -> None:
    before = snapshot()
    data = body(decision=decision, wording_version="email-v1", affirmative_action=True)
    problem = assert_refused(post(api, customer, data), 400, "invalid", before)
    assert set(problem["fields"]) == {"decision"}


# --- who may consent (R4-R6) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        pytest.param({"birth_date": dt.date(2010, 1, 1)}, "minor", id="minor"),
        pytest.param({"birth_date": dt.date(2008, 11, 26)}, "minor", id="adult-tomorrow"),
        *(
            pytest.param(
                {"legal_capacity": "protected", "protection_measure": measure},
                "protected_adult",
                id=measure,
            )
            for measure in (
                "tutelle",
                "curatelle",
                "sauvegarde_de_justice",
                "habilitation_familiale",
                "mandat_de_protection_future",
            )
        ),
        pytest.param(
            {"kind": "professional", "is_legal_entity": True, "birth_date": None},
            "not_natural_person",
            id="legal-entity",
        ),
    ],
)
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_person_who_may_not_consent_cannot_grant(
    now: dt.datetime,
    api: APIClient,
    client_factory: Callable[..., Client],
    overrides: dict[str, Any],
    reason: str,
    channel: str,
) -> None:
    person = client_factory(**overrides)
    before = snapshot()
    problem = assert_refused(
        post(api, person, body(channel, "grant")), 422, "ineligible_person", before
    )
    assert problem["reason"] == reason
    assert status_of(person, channel) == "none"


def test_an_adult_since_this_morning_may_grant(
    now: dt.datetime, api: APIClient, client_factory: Callable[..., Client]
) -> None:
    """R5: an adult from 00:00 Europe/Paris on their 18th birthday."""
    person = client_factory(birth_date=dt.date(2008, 11, 25))
    assert post(api, person, body()).status_code == 201


@pytest.mark.parametrize("decision", ["refuse", "withdraw"])
def test_a_minor_may_still_object(
    api: APIClient, client_factory: Callable[..., Client], decision: str
) -> None:
    minor = client_factory(birth_date=dt.date(2012, 6, 1))
    response = post(api, minor, body("email", decision))
    assert response.status_code == 201, response.content


# --- affirmative act (R17) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(..., id="absent"),
        pytest.param(False, id="false"),
        pytest.param("true", id="string-true"),
        pytest.param(1, id="one"),
        pytest.param("on", id="on"),
        pytest.param([], id="empty-list"),
    ],
)
def test_a_grant_without_the_boolean_true_is_not_affirmative(
    api: APIClient, customer: Client, value: object
) -> None:
    before = snapshot()
    response = post(api, customer, body(affirmative_action=value))
    assert_refused(response, 422, "not_affirmative", before)
    assert status_of(customer, "email") == "none"


def test_a_grant_with_a_null_affirmative_action_is_not_affirmative(
    api: APIClient, customer: Client
) -> None:
    before = snapshot()
    response = post(api, customer, body(affirmative_action=None))
    assert response.status_code in (400, 422)
    assert error(response)["code"] == "not_affirmative"
    assert snapshot() == before


@pytest.mark.parametrize("decision", ["refuse", "withdraw"])
def test_an_objection_needs_no_affirmative_action(
    api: APIClient, customer: Client, decision: str
) -> None:
    assert post(api, customer, body("email", decision)).status_code == 201


# --- wording (R18) ---------------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["grant", "refuse"])
@pytest.mark.parametrize(
    ("channel", "version"), [("email", "sms_push-v1"), ("sms_push", "email-v1")]
)
def test_a_wording_of_the_other_channel_is_wrong_channel(
    api: APIClient, customer: Client, channel: str, version: str, decision: str
) -> None:
    before = snapshot()
    response = post(api, customer, body(channel, decision, wording_version=version))
    assert_refused(response, 422, "wrong_channel", before)


@pytest.mark.parametrize("version", ["email-v9", "EMAIL-V1", "v1", ...])
@pytest.mark.parametrize("decision", ["grant", "refuse"])
def test_an_unknown_or_missing_wording_is_unknown_wording(
    api: APIClient, customer: Client, decision: str, version: object
) -> None:
    before = snapshot()
    response = post(api, customer, body("email", decision, wording_version=version))
    assert_refused(response, 422, "unknown_wording", before)


@pytest.mark.parametrize("decision", ["grant", "refuse"])
def test_an_inactive_wording_is_refused(api: APIClient, customer: Client, decision: str) -> None:
    set_wording_active(
        actor=Actor.system("tests"), wording=Wording.objects.get(version="email-v1"), active=False
    )
    before = snapshot()
    response = post(api, customer, body("email", decision))
    assert_refused(response, 422, "inactive_wording", before)


@pytest.mark.parametrize("decision", ["grant", "refuse"])
def test_an_empty_wording_version_is_a_400(api: APIClient, customer: Client, decision: str) -> None:
    before = snapshot()
    response = post(api, customer, body("email", decision, wording_version=""))
    problem = assert_refused(response, 400, "invalid", before)
    assert set(problem["fields"]) == {"wording_version"}


def test_a_withdrawal_needs_no_wording(api: APIClient, customer: Client) -> None:
    set_wording_active(
        actor=Actor.system("tests"), wording=Wording.objects.get(version="email-v1"), active=False
    )
    assert post(api, customer, body("email", "withdraw")).status_code == 201


# --- time of the act (R21) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "code"),
    [
        pytest.param(dt.timedelta(seconds=121), "occurred_in_future", id="beyond-the-skew"),
        pytest.param(dt.timedelta(days=1), "occurred_in_future", id="tomorrow"),
        pytest.param(-dt.timedelta(hours=24, seconds=1), "occurred_too_old", id="over-24h"),
        pytest.param(-dt.timedelta(days=30), "occurred_too_old", id="a-month-ago"),
    ],
)
@pytest.mark.parametrize("decision", ["grant", "refuse", "withdraw"])
def test_an_implausible_time_of_the_act_is_refused(
    now: dt.datetime,
    api: APIClient,
    customer: Client,
    decision: str,
    offset: dt.timedelta,
    code: str,
) -> None:
    before = snapshot()
    response = post(api, customer, body("email", decision, occurred_at=(NOW + offset).isoformat()))
    assert_refused(response, 422, code, before)


@pytest.mark.parametrize(
    "offset",
    [dt.timedelta(seconds=120), dt.timedelta(0), -dt.timedelta(hours=24)],
    ids=["within-the-skew", "now", "24h-ago"],
)
def test_a_plausible_time_of_the_act_is_accepted(
    now: dt.datetime, api: APIClient, customer: Client, offset: dt.timedelta
) -> None:
    response = post(api, customer, body(occurred_at=(NOW + offset).isoformat()))
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("decision", ["grant", "refuse"])
def test_an_act_before_its_wording_was_published_is_refused(
    now: dt.datetime, api: APIClient, customer: Client, decision: str
) -> None:
    publish_wording(
        actor=Actor.system("tests"),
        channel="email",
        version="email-v2",
        text="J'accepte de recevoir par e-mail les offres de Banque Exemple (v2).",
        checklist=dict.fromkeys(
            (
                "bank_identity",
                "channel",
                "commercial_purpose",
                "withdrawal_any_time_free",
                "how_to_withdraw",
                "contractual_unaffected",
            ),
            True,
        ),
        published_at=NOW - dt.timedelta(hours=1),
    )
    before = snapshot()
    early = (NOW - dt.timedelta(hours=2)).isoformat()
    response = post(
        api, customer, body("email", decision, wording_version="email-v2", occurred_at=early)
    )
    assert_refused(response, 422, "occurred_before_wording", before)
    later = (NOW - dt.timedelta(minutes=30)).isoformat()
    response = post(
        api, customer, body("email", decision, wording_version="email-v2", occurred_at=later)
    )
    assert response.status_code == 201


# --- evidence --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "evidence",
    [
        pytest.param(..., id="missing"),
        pytest.param({}, id="empty"),
        pytest.param({"user_agent": "pytest"}, id="no-ip"),
        pytest.param({"ip": "192.0.2.1"}, id="no-user-agent"),
        pytest.param({"ip": "192.0.2.300", "user_agent": "pytest"}, id="bad-ip"),
        pytest.param({"ip": "localhost", "user_agent": "pytest"}, id="host-name"),
        pytest.param({"ip": "192.0.2.1", "user_agent": ""}, id="empty-user-agent"),
        pytest.param({"ip": "192.0.2.1", "user_agent": "x" * 1001}, id="long-user-agent"),
    ],
)
@pytest.mark.parametrize("decision", ["grant", "refuse", "withdraw"])
def test_a_decision_without_valid_evidence_is_a_400(
    api: APIClient, customer: Client, decision: str, evidence: object
) -> None:
    before = snapshot()
    response = post(api, customer, body("email", decision, evidence=evidence))
    problem = assert_refused(response, 400, "invalid", before)
    assert set(problem["fields"]) == {"evidence"}


@pytest.mark.parametrize("field", ["channel", "decision", "journey"])
def test_a_decision_without_a_required_field_is_a_400_naming_it(
    api: APIClient, customer: Client, field: str
) -> None:
    before = snapshot()
    response = post(api, customer, body(**{field: ...}))
    problem = assert_refused(response, 400, "invalid", before)
    assert set(problem["fields"]) == {field}


def test_a_refused_decision_leaves_the_previous_consent_as_it_was(
    now: dt.datetime, api: APIClient, customer: Client
) -> None:
    """R71: a bad request never corrupts the record, whatever it tried."""
    post(api, customer, body("email", "grant"))
    before = snapshot()
    for data in (
        body("email", "withdraw", journey="branch_request"),
        body("email", "refuse", wording_version="sms_push-v1"),
        body("email", "withdraw", occurred_at=(NOW + dt.timedelta(hours=1)).isoformat()),
        body("email", "withdraw", evidence={"ip": "x", "user_agent": "y"}),
    ):
        assert post(api, customer, data).status_code in (400, 422)
    assert snapshot() == before
    assert status_of(customer, "email") == "granted"
