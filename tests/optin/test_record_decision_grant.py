"""R3, R4, R8, R9, R17, R18: a grant is an affirmative act of a person who may consent.

Only the boolean True is an affirmative act (R17); a legal entity has no consent to give
(R4, R9) but may still object; a professional natural person may grant (R8); until a grant
is effective, nobody is eligible (R3). Every refusal writes nothing (R71).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from clients.models import Client
from optin.errors import DomainError
from optin.models import (
    AuditEntry,
    ConsentState,
    IdempotencyRecord,
    Journey,
    SuppressionEntry,
)
from optin.selectors import eligibility
from optin.services import record_decision

NOT_TRUE = [
    pytest.param(None, id="absent-or-null"),
    pytest.param(False, id="false"),
    pytest.param("true", id="string-true"),
    pytest.param(1, id="one"),
    pytest.param(1.0, id="one-float"),
    pytest.param("yes", id="yes"),
    pytest.param("on", id="on"),
    pytest.param([], id="empty-list"),
    pytest.param([True], id="list-of-true"),
    pytest.param({}, id="empty-dict"),
]


def snapshot() -> tuple[Any, ...]:
    """Everything a decision could write."""
    return (
        AuditEntry.objects.count(),
        list(
            ConsentState.objects.order_by("client_id", "channel").values_list(
                "client_id", "channel", "status", "prior_status", "since", "journey",
                "wording_version", "last_seq",
            )
        ),
        list(SuppressionEntry.objects.values_list("channel", "digest")),
        IdempotencyRecord.objects.count(),
        list(Client.objects.order_by("pk").values_list("pk", "last_contact_at")),
    )  # fmt: skip


@pytest.mark.parametrize("value", NOT_TRUE)
@pytest.mark.parametrize("channel", ["email", "sms_push"])
def test_a_grant_without_the_boolean_true_is_not_affirmative_and_writes_nothing(
    customer: Client, grant: Callable[..., Any], channel: str, value: object
) -> None:
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        grant(customer, channel, affirmative_action=value)
    assert caught.value.code == "not_affirmative"
    assert caught.value.http_status == 422
    assert snapshot() == before


def test_a_grant_with_no_affirmative_action_argument_is_refused(customer: Client, web: Any) -> None:
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        record_decision(
            client_number=customer.client_number,
            channel="email",
            decision="grant",
            journey=Journey.DIGITAL_SELF_SERVICE,
            actor=web,
            wording_version="email-v1",
        )
    assert caught.value.code == "not_affirmative"
    assert snapshot() == before


@pytest.mark.parametrize("value", NOT_TRUE)
def test_a_branch_yes_also_needs_the_boolean_true(
    customer: Client, decide: Callable[..., Any], advisor_as_actor: Any, value: object
) -> None:
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        decide(
            customer,
            "email",
            "grant",
            journey=Journey.BRANCH_ACCOUNT_OPENING,
            actor=advisor_as_actor,
            affirmative_action=value,
        )
    assert caught.value.code == "not_affirmative"
    assert snapshot() == before


def test_a_not_affirmative_grant_on_a_granted_channel_changes_nothing(
    customer: Client, grant: Callable[..., Any]
) -> None:
    grant(customer, "email")
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        grant(customer, "email", affirmative_action=False)
    assert caught.value.code == "not_affirmative"
    assert snapshot() == before


@pytest.mark.parametrize("decision", ["yes", "oui", "GRANT", "accept", "", "grant "])
def test_an_unknown_decision_is_refused_and_writes_nothing(
    customer: Client, grant: Callable[..., Any], decision: str
) -> None:
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        grant(customer, "email", decision=decision)
    assert caught.value.code == "invalid_decision"
    assert snapshot() == before


def test_the_boolean_true_records_the_grant(customer: Client, grant: Callable[..., Any]) -> None:
    result = grant(customer, "email", affirmative_action=True)
    assert (result.status, result.recorded) == ("granted", True)
    entry = AuditEntry.objects.get(seq=result.seq)
    assert (entry.action, entry.client_number, entry.channel) == (
        "consent.granted",
        customer.client_number,
        "email",
    )


# --- who may consent (R4, R9) --------------------------------------------------------------


@pytest.fixture
def legal_entity(client_factory: Callable[..., Client]) -> Client:
    return client_factory(
        kind="professional",
        is_legal_entity=True,
        first_name="",
        last_name="Exemple SARL",
        birth_date=None,
        email="contact@exemple-sarl.fr",
    )


@pytest.fixture
def professional(client_factory: Callable[..., Client]) -> Client:
    """A natural person contacted at a professional address, about their profession."""
    return client_factory(
        kind="professional",
        first_name="Paul",
        last_name="Martin",
        birth_date=dt.date(1975, 3, 2),
        email="paul.martin@cabinet-martin.fr",
        objection_notice_shown=True,
    )


@pytest.mark.parametrize("channel", ["email", "sms_push"])
@pytest.mark.parametrize("journey", ["digital", "branch"])
def test_a_legal_entity_cannot_grant_and_nothing_is_written(
    legal_entity: Client,
    decide: Callable[..., Any],
    advisor_as_actor: Any,
    channel: str,
    journey: str,
) -> None:
    extra: dict[str, Any] = {}
    if journey == "branch":
        extra = {"journey": Journey.BRANCH_ACCOUNT_OPENING, "actor": advisor_as_actor}
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        decide(legal_entity, channel, "grant", **extra)
    assert caught.value.code == "ineligible_person"
    assert caught.value.extra == {"reason": "not_natural_person"}
    assert caught.value.as_dict()["reason"] == "not_natural_person"
    assert snapshot() == before


def test_a_legal_entity_may_still_object(legal_entity: Client, decide: Callable[..., Any]) -> None:
    assert decide(legal_entity, "email", "refuse").status == "refused"
    assert decide(legal_entity, "sms_push", "withdraw").status == "withdrawn"


def test_a_minor_cannot_grant(client_factory: Callable[..., Client], grant: Any) -> None:
    minor = client_factory(birth_date=dt.date(2010, 1, 1))
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        grant(minor, "email")
    assert (caught.value.code, caught.value.extra) == ("ineligible_person", {"reason": "minor"})
    assert snapshot() == before


def test_a_protected_adult_cannot_grant(client_factory: Callable[..., Client], grant: Any) -> None:
    protected = client_factory(legal_capacity="protected", protection_measure="curatelle")
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        grant(protected, "sms_push")
    assert (caught.value.code, caught.value.extra) == (
        "ineligible_person",
        {"reason": "protected_adult"},
    )
    assert snapshot() == before


def test_age_is_judged_on_the_day_of_the_decision_in_paris(
    client_factory: Callable[..., Client], grant: Any, time_machine: Any
) -> None:
    """R4-R5: born 24 Nov 2008, adult from 00:00 Paris on 24 Nov 2026 (23:00 UTC the 23rd)."""
    time_machine.move_to(dt.datetime(2026, 11, 23, 22, 59, tzinfo=dt.UTC), tick=False)
    person = client_factory(birth_date=dt.date(2008, 11, 24))
    with pytest.raises(DomainError) as caught:
        grant(person, "email")
    assert caught.value.extra == {"reason": "minor"}
    time_machine.move_to(dt.datetime(2026, 11, 23, 23, 1, tzinfo=dt.UTC), tick=False)
    assert grant(person, "email").status == "granted"


# --- professionals (R8) --------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["email", "sms_push"])
def test_a_professional_natural_person_may_grant_and_it_is_recorded(
    professional: Client, grant: Callable[..., Any], channel: str
) -> None:
    result = grant(professional, channel)
    assert (result.status, result.recorded) == ("granted", True)
    entry = AuditEntry.objects.get(seq=result.seq)
    assert (entry.action, entry.channel, entry.wording_version) == (
        "consent.granted",
        channel,
        f"{channel}-v1",
    )
    answer = eligibility(channel, [professional.client_number])[0]
    assert (answer.eligible, answer.reason) == (True, "granted")


def test_a_professional_grant_in_branch_waits_for_the_signature(
    professional: Client, decide: Callable[..., Any], advisor_as_actor: Any
) -> None:
    result = decide(
        professional,
        "sms_push",
        "grant",
        journey=Journey.BRANCH_ACCOUNT_OPENING,
        actor=advisor_as_actor,
    )
    assert (result.status, result.effects) == ("pending_signature", ["new_form"])


# --- "if I have not said yes, it is no" (R3) -----------------------------------------------


def test_an_existing_customer_who_never_said_yes_is_not_eligible(
    client_factory: Callable[..., Client],
) -> None:
    old_customer = client_factory(status="customer")
    for channel in ("email", "sms_push"):
        answer = eligibility(channel, [old_customer.client_number])[0]
        assert (answer.eligible, answer.reason) == (False, "no_consent")


def test_refusal_withdrawal_and_a_pending_signature_are_not_eligible(
    client_factory: Callable[..., Client], decide: Callable[..., Any], advisor_as_actor: Any
) -> None:
    refused, withdrawn, pending = (client_factory() for _ in range(3))
    decide(refused, "email", "refuse")
    decide(withdrawn, "email", "withdraw")
    decide(
        pending,
        "email",
        "grant",
        journey=Journey.BRANCH_ACCOUNT_OPENING,
        actor=advisor_as_actor,
    )
    answers = eligibility(
        "email", [refused.client_number, withdrawn.client_number, pending.client_number]
    )
    assert [(a.eligible, a.reason) for a in answers] == [
        (False, "refused"),
        (False, "withdrawn"),
        (False, "pending_signature"),
    ]
