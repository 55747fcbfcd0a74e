"""R1, R14, R15: one consent per channel, "no" and its repeats.

Only `email` and `sms_push` exist (R1, anything else is `wrong_channel`) and an answer on one
channel never changes the other. "No" is a refusal unless it takes back a yes (R14). A
withdrawal of what is withdrawn, or a branch yes on a granted channel, writes nothing; a
digital grant on a granted channel refreshes the proof and keeps `since` (R15).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from clients.models import Client
from optin.audit import Actor
from optin.errors import DomainError
from optin.models import AuditEntry, ConsentState, Journey
from optin.services import WORDING_CHECKLIST, publish_wording

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def now(time_machine: Any) -> dt.datetime:
    time_machine.move_to(NOW, tick=False)
    return NOW


def state(client: Client, channel: str) -> dict[str, Any]:
    return (
        ConsentState.objects.filter(client=client, channel=channel)
        .values("status", "prior_status", "since", "journey", "wording_version", "last_seq")
        .get()
    )


def entries_for(client: Client) -> list[tuple[str, str]]:
    return list(
        AuditEntry.objects.filter(client_id=client.pk, action__startswith="consent.")
        .order_by("seq")
        .values_list("action", "channel")
    )


# --- R1: two channels -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "channel",
    ["sms", "push", "EMAIL", "Email", "e-mail", "mail", "phone", "postal", "", " email", "both"],
)
@pytest.mark.parametrize("decision", ["grant", "refuse", "withdraw"])
def test_any_other_channel_is_refused_and_nothing_is_written(
    customer: Client, decide: Callable[..., Any], channel: str, decision: str
) -> None:
    count = AuditEntry.objects.count()
    states = list(ConsentState.objects.values_list("channel", "status"))
    with pytest.raises(DomainError) as caught:
        decide(customer, channel, decision, wording_version="email-v1")
    assert caught.value.code == "wrong_channel"
    assert AuditEntry.objects.count() == count
    assert list(ConsentState.objects.values_list("channel", "status")) == states


def test_a_new_client_has_exactly_the_two_channels(customer: Client) -> None:
    assert sorted(
        ConsentState.objects.filter(client=customer).values_list("channel", flat=True)
    ) == ["email", "sms_push"]


@pytest.mark.parametrize(("channel", "other"), [("email", "sms_push"), ("sms_push", "email")])
def test_an_answer_on_one_channel_never_changes_the_other(
    now: dt.datetime,
    customer: Client,
    decide: Callable[..., Any],
    advisor_as_actor: Any,
    time_machine: Any,
    channel: str,
    other: str,
) -> None:
    untouched = state(customer, other)
    branch = {"journey": Journey.BRANCH_ACCOUNT_OPENING, "actor": advisor_as_actor}
    for decision, extra in [
        ("grant", {}),
        ("grant", {}),
        ("refuse", {}),
        ("withdraw", {}),
        ("refuse", {}),
        ("grant", branch),
        ("refuse", branch),
        ("grant", {}),
    ]:
        time_machine.shift(60)
        decide(customer, channel, decision, **extra)
        assert state(customer, other) == untouched
    assert {c for _a, c in entries_for(customer)} == {channel}


def test_the_two_channels_hold_different_answers(
    customer: Client, decide: Callable[..., Any]
) -> None:
    decide(customer, "email", "grant")
    decide(customer, "sms_push", "refuse")
    assert state(customer, "email")["status"] == "granted"
    assert state(customer, "sms_push")["status"] == "refused"


# --- R14: "no" --------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["email", "sms_push"])
def test_no_is_recorded_as_refused(
    customer: Client, decide: Callable[..., Any], channel: str
) -> None:
    result = decide(customer, channel, "refuse")
    assert (result.status, result.recorded) == ("refused", True)
    assert entries_for(customer) == [("consent.refused", channel)]


def test_no_in_branch_is_recorded_as_refused_at_once(
    customer: Client, decide: Callable[..., Any], advisor_as_actor: Any
) -> None:
    result = decide(
        customer,
        "email",
        "refuse",
        journey=Journey.BRANCH_ACCOUNT_OPENING,
        actor=advisor_as_actor,
    )
    assert (result.status, result.effects) == ("refused", [])


@pytest.mark.parametrize("channel", ["email", "sms_push"])
def test_no_after_a_grant_is_a_withdrawal(
    customer: Client, decide: Callable[..., Any], channel: str
) -> None:
    decide(customer, channel, "grant")
    result = decide(customer, channel, "refuse")
    assert result.status == "withdrawn"
    assert entries_for(customer) == [("consent.granted", channel), ("consent.withdrawn", channel)]


def test_no_in_branch_after_a_digital_grant_is_a_withdrawal(
    customer: Client, decide: Callable[..., Any], advisor_as_actor: Any
) -> None:
    decide(customer, "email", "grant")
    result = decide(
        customer,
        "email",
        "refuse",
        journey=Journey.BRANCH_CONTACT_UPDATE,
        actor=advisor_as_actor,
    )
    assert result.status == "withdrawn"


def test_no_after_a_withdrawal_is_a_refusal(customer: Client, decide: Callable[..., Any]) -> None:
    decide(customer, "email", "grant")
    decide(customer, "email", "withdraw")
    assert decide(customer, "email", "refuse").status == "refused"


def test_no_repeated_writes_a_new_refusal(customer: Client, decide: Callable[..., Any]) -> None:
    first = decide(customer, "email", "refuse")
    again = decide(customer, "email", "refuse")
    assert (again.status, again.recorded) == ("refused", True)
    assert again.seq > first.seq


def test_no_while_a_branch_form_is_pending_cancels_it_and_refuses(
    customer: Client, decide: Callable[..., Any], advisor_as_actor: Any
) -> None:
    branch = {"journey": Journey.BRANCH_ACCOUNT_OPENING, "actor": advisor_as_actor}
    decide(customer, "email", "grant", **branch)
    result = decide(customer, "email", "refuse", **branch)
    assert (result.status, result.effects) == ("refused", ["cancel_form"])


# --- R15: repeats ---------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["email", "sms_push"])
def test_withdrawing_what_is_withdrawn_writes_nothing_and_succeeds(
    customer: Client, decide: Callable[..., Any], channel: str
) -> None:
    decide(customer, channel, "grant")
    decide(customer, channel, "withdraw")
    before = (AuditEntry.objects.count(), state(customer, channel))
    result = decide(customer, channel, "withdraw")
    assert (result.status, result.recorded, result.seq, result.effects) == (
        "withdrawn",
        False,
        None,
        [],
    )
    assert (AuditEntry.objects.count(), state(customer, channel)) == before


def test_a_withdrawal_in_branch_of_what_is_withdrawn_also_writes_nothing(
    customer: Client, decide: Callable[..., Any], advisor_as_actor: Any
) -> None:
    decide(customer, "sms_push", "withdraw")
    count = AuditEntry.objects.count()
    result = decide(
        customer, "sms_push", "withdraw", journey=Journey.BRANCH_REQUEST, actor=advisor_as_actor
    )
    assert (result.status, result.recorded) == ("withdrawn", False)
    assert AuditEntry.objects.count() == count


@pytest.mark.parametrize("channel", ["email", "sms_push"])
def test_a_digital_grant_on_a_granted_channel_refreshes_the_proof_and_keeps_since(
    now: dt.datetime,
    customer: Client,
    grant: Callable[..., Any],
    time_machine: Any,
    channel: str,
) -> None:
    first = grant(customer, channel)
    time_machine.move_to(now + dt.timedelta(days=40), tick=False)
    again = grant(customer, channel, evidence={"ip": "198.51.100.7", "user_agent": "app"})
    assert (again.status, again.recorded) == ("granted", True)
    assert again.seq > first.seq
    assert AuditEntry.objects.get(seq=again.seq).action == "consent.granted"
    assert AuditEntry.objects.get(seq=again.seq).occurred_at == now + dt.timedelta(days=40)
    assert state(customer, channel)["since"] == now
    assert again.since == first.since
    assert state(customer, channel)["last_seq"] == again.seq


def test_a_digital_grant_on_a_branch_granted_channel_keeps_since_too(
    now: dt.datetime,
    customer: Client,
    grant: Callable[..., Any],
    decide: Callable[..., Any],
    time_machine: Any,
) -> None:
    grant(customer, "email")
    decide(customer, "email", "withdraw")
    time_machine.move_to(now + dt.timedelta(days=1), tick=False)
    grant(customer, "email")
    time_machine.move_to(now + dt.timedelta(days=2), tick=False)
    grant(customer, "email")
    # `since` is when the current granted state began, not the first grant ever.
    assert state(customer, "email")["since"] == now + dt.timedelta(days=1)


@pytest.mark.parametrize(
    "journey",
    [Journey.BRANCH_ACCOUNT_OPENING, Journey.BRANCH_CONTACT_UPDATE, Journey.BRANCH_REQUEST],
)
def test_a_branch_yes_on_a_granted_channel_writes_nothing(
    customer: Client,
    grant: Callable[..., Any],
    decide: Callable[..., Any],
    advisor_as_actor: Any,
    journey: str,
) -> None:
    grant(customer, "email")
    before = (AuditEntry.objects.count(), state(customer, "email"))
    result = decide(customer, "email", "grant", journey=journey, actor=advisor_as_actor)
    assert (result.status, result.recorded, result.effects) == ("granted", False, [])
    assert (AuditEntry.objects.count(), state(customer, "email")) == before


def test_a_refreshing_grant_may_name_a_newer_wording_and_still_keeps_since(
    now: dt.datetime, customer: Client, grant: Callable[..., Any], time_machine: Any
) -> None:
    grant(customer, "email")
    time_machine.move_to(now + dt.timedelta(days=3), tick=False)
    publish_wording(
        actor=Actor.system("tests-wordings"),
        channel="email",
        version="email-v2",
        text="Texte complet de test : banque, e-mail, offres, retrait gratuit, contrats.",
        checklist=dict.fromkeys(WORDING_CHECKLIST, True),
    )
    time_machine.move_to(now + dt.timedelta(days=4), tick=False)
    again = grant(customer, "email", wording_version="email-v2")
    assert (again.status, again.recorded, again.wording_version) == ("granted", True, "email-v2")
    current = state(customer, "email")
    assert (current["since"], current["wording_version"]) == (now, "email-v2")
    assert AuditEntry.objects.get(seq=again.seq).wording_version == "email-v2"
