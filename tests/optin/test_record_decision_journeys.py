"""R35: who may record which journey.

Digital journeys come only from an API client, branch journeys only from an advisor; system
journeys only from the system's own code paths; compliance and administrators record no
decision at all. The unsubscribe link only withdraws (R40). A refusal is
`journey_not_allowed` and writes nothing (R71).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clients.models import Client
from clients.roles import actor_for
from optin.audit import Actor
from optin.errors import DomainError
from optin.models import ActorType, AuditEntry, ConsentState, IdempotencyRecord, Journey

DIGITAL = [
    Journey.DIGITAL_SELF_SERVICE,
    Journey.DIGITAL_CONTACT_UPDATE,
    Journey.DIGITAL_ACCOUNT_OPENING,
]
BRANCH = [Journey.BRANCH_ACCOUNT_OPENING, Journey.BRANCH_CONTACT_UPDATE, Journey.BRANCH_REQUEST]
SYSTEM = [
    Journey.SYSTEM_EXPIRY,
    Journey.SYSTEM_CAPACITY,
    Journey.SMS_STOP,
    Journey.UNSUBSCRIBE_LINK,
    Journey.DOUBLE_OPTIN_CONFIRMATION,
    Journey.ERASURE_REQUEST,
]
ALL_JOURNEYS = [*DIGITAL, *BRANCH, *SYSTEM]
DECISIONS = ["grant", "refuse", "withdraw"]


def snapshot() -> tuple[Any, ...]:
    return (
        AuditEntry.objects.count(),
        list(ConsentState.objects.order_by("pk").values_list("pk", "status", "last_seq")),
        IdempotencyRecord.objects.count(),
    )


def assert_not_allowed(run: Callable[[], Any]) -> None:
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        run()
    assert caught.value.code == "journey_not_allowed"
    assert caught.value.http_status == 422  # a rule refusal, not a missing scope
    assert snapshot() == before


def customer_actor(client: Client) -> Actor:
    return Actor(ActorType.CUSTOMER, client.client_number)


@pytest.mark.parametrize("decision", DECISIONS)
@pytest.mark.parametrize("journey", [*BRANCH, *SYSTEM])
def test_an_api_client_records_only_digital_journeys(
    customer: Client, decide: Callable[..., Any], journey: str, decision: str
) -> None:
    assert_not_allowed(lambda: decide(customer, "email", decision, journey=journey))


@pytest.mark.parametrize("decision", DECISIONS)
@pytest.mark.parametrize("journey", [*DIGITAL, *SYSTEM])
def test_an_advisor_records_only_branch_journeys(
    customer: Client,
    decide: Callable[..., Any],
    advisor_as_actor: Actor,
    journey: str,
    decision: str,
) -> None:
    assert_not_allowed(
        lambda: decide(customer, "email", decision, journey=journey, actor=advisor_as_actor)
    )


@pytest.mark.parametrize("decision", DECISIONS)
@pytest.mark.parametrize("journey", ALL_JOURNEYS)
@pytest.mark.parametrize("role", ["compliance", "administrator"])
def test_compliance_and_administrators_record_nothing(
    request: pytest.FixtureRequest,
    customer: Client,
    decide: Callable[..., Any],
    role: str,
    journey: str,
    decision: str,
) -> None:
    actor = actor_for(request.getfixturevalue(role))
    assert actor.type == role
    assert_not_allowed(lambda: decide(customer, "email", decision, journey=journey, actor=actor))


@pytest.mark.parametrize("decision", DECISIONS)
def test_a_superuser_without_a_staff_profile_records_nothing(
    customer: Client, decide: Callable[..., Any], django_user_model: Any, decision: str
) -> None:
    root = django_user_model.objects.create_superuser("root", "root@exemple.fr", "pw")
    actor = actor_for(root)
    for journey in ALL_JOURNEYS:
        assert_not_allowed(
            lambda j=journey: decide(customer, "email", decision, journey=j, actor=actor)
        )


@pytest.mark.parametrize("decision", DECISIONS)
@pytest.mark.parametrize("journey", [*DIGITAL, *BRANCH])
def test_a_customer_actor_records_no_digital_or_branch_journey(
    customer: Client, decide: Callable[..., Any], journey: str, decision: str
) -> None:
    actor = customer_actor(customer)
    assert_not_allowed(lambda: decide(customer, "email", decision, journey=journey, actor=actor))


@pytest.mark.parametrize("decision", DECISIONS)
@pytest.mark.parametrize("journey", [*DIGITAL, *BRANCH])
def test_the_system_records_no_digital_or_branch_journey(
    customer: Client, decide: Callable[..., Any], journey: str, decision: str
) -> None:
    actor = Actor.system("tests")
    assert_not_allowed(lambda: decide(customer, "email", decision, journey=journey, actor=actor))


@pytest.mark.parametrize("journey", ["", "digital", "branch", "api", "DIGITAL_SELF_SERVICE"])
def test_an_unknown_journey_is_not_allowed(
    customer: Client, decide: Callable[..., Any], journey: str
) -> None:
    assert_not_allowed(lambda: decide(customer, "email", "grant", journey=journey))


# --- what is allowed ------------------------------------------------------------------------


@pytest.mark.parametrize("decision", DECISIONS)
@pytest.mark.parametrize("journey", DIGITAL)
def test_an_api_client_records_every_digital_journey(
    customer: Client, decide: Callable[..., Any], journey: str, decision: str
) -> None:
    result = decide(customer, "email", decision, journey=journey)
    assert result.recorded
    assert result.journey == journey
    assert AuditEntry.objects.get(seq=result.seq).actor_type == "api_client"


@pytest.mark.parametrize("decision", DECISIONS)
@pytest.mark.parametrize("journey", BRANCH)
def test_an_advisor_records_every_branch_journey(
    customer: Client,
    decide: Callable[..., Any],
    advisor_as_actor: Actor,
    journey: str,
    decision: str,
) -> None:
    result = decide(customer, "sms_push", decision, journey=journey, actor=advisor_as_actor)
    assert result.recorded
    entry = AuditEntry.objects.get(seq=result.seq)
    assert (entry.actor_type, entry.actor_id) == ("advisor", advisor_as_actor.id)


# --- the unsubscribe link only withdraws (R40) ----------------------------------------------


@pytest.mark.parametrize("decision", ["grant", "refuse"])
def test_the_unsubscribe_link_cannot_grant_or_refuse(
    customer: Client, decide: Callable[..., Any], decision: str
) -> None:
    actor = customer_actor(customer)
    assert_not_allowed(
        lambda: decide(customer, "email", decision, journey=Journey.UNSUBSCRIBE_LINK, actor=actor)
    )


def test_the_unsubscribe_link_withdraws(
    customer: Client, grant: Callable[..., Any], decide: Callable[..., Any]
) -> None:
    grant(customer, "email")
    result = decide(
        customer,
        "email",
        "withdraw",
        journey=Journey.UNSUBSCRIBE_LINK,
        actor=customer_actor(customer),
    )
    assert (result.status, result.recorded, result.journey) == (
        "withdrawn",
        True,
        "unsubscribe_link",
    )
    assert AuditEntry.objects.get(seq=result.seq).actor_type == "customer"
    assert ConsentState.objects.get(client=customer, channel="sms_push").status == "none"
