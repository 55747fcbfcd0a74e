"""R21: the time of the act must be plausible.

`occurred_at` defaults to the recording time; it may not be more than 2 minutes in the future,
may not precede the publication of its wording (the initial wordings were published on
2026-11-22T23:00Z), and on digital journeys may not be more than OPTIN_DIGITAL_MAX_AGE_HOURS
(24) before the recording. A refusal writes nothing (R71).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from clients.models import Client
from optin.audit import Actor
from optin.errors import DomainError
from optin.models import AuditEntry, ConsentState, Journey
from optin.services import WORDING_CHECKLIST, publish_wording

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PUBLISHED = dt.datetime(2026, 11, 22, 23, 0, tzinfo=UTC)  # email-v1 and sms_push-v1


@pytest.fixture
def now(time_machine: Any) -> dt.datetime:
    time_machine.move_to(NOW, tick=False)
    return NOW


def snapshot() -> tuple[Any, ...]:
    return (
        AuditEntry.objects.count(),
        list(
            ConsentState.objects.order_by("client_id", "channel").values_list(
                "client_id", "channel", "status", "since", "last_seq"
            )
        ),
    )


def refusal_code(run: Callable[[], Any]) -> str:
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        run()
    assert snapshot() == before
    return str(caught.value.code)


def branch(advisor_as_actor: Any, journey: str = Journey.BRANCH_CONTACT_UPDATE) -> dict[str, Any]:
    return {"journey": journey, "actor": advisor_as_actor}


# --- the default ----------------------------------------------------------------------------


def test_occurred_at_defaults_to_the_recording_time(
    now: dt.datetime, customer: Client, grant: Callable[..., Any]
) -> None:
    result = grant(customer, "email")
    entry = AuditEntry.objects.get(seq=result.seq)
    assert entry.occurred_at == entry.recorded_at == now
    assert ConsentState.objects.get(client=customer, channel="email").since == now


def test_a_given_occurred_at_is_kept_apart_from_the_recording_time(
    now: dt.datetime, customer: Client, grant: Callable[..., Any]
) -> None:
    acted = now - dt.timedelta(minutes=5)
    result = grant(customer, "email", occurred_at=acted)
    entry = AuditEntry.objects.get(seq=result.seq)
    assert (entry.occurred_at, entry.recorded_at) == (acted, now)
    assert ConsentState.objects.get(client=customer, channel="email").since == acted


# --- the future -----------------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["grant", "refuse", "withdraw"])
def test_an_act_more_than_two_minutes_in_the_future_is_refused(
    now: dt.datetime, customer: Client, decide: Callable[..., Any], decision: str
) -> None:
    future = now + dt.timedelta(minutes=2, seconds=1)
    code = refusal_code(lambda: decide(customer, "email", decision, occurred_at=future))
    assert code == "occurred_in_future"


def test_an_act_far_in_the_future_is_refused_in_branch_too(
    now: dt.datetime, customer: Client, decide: Callable[..., Any], advisor_as_actor: Any
) -> None:
    future = now + dt.timedelta(days=1)
    code = refusal_code(
        lambda: decide(customer, "email", "refuse", occurred_at=future, **branch(advisor_as_actor))
    )
    assert code == "occurred_in_future"


@pytest.mark.parametrize("ahead", [dt.timedelta(seconds=30), dt.timedelta(minutes=2)])
def test_clock_skew_of_up_to_two_minutes_is_accepted(
    now: dt.datetime, customer: Client, grant: Callable[..., Any], ahead: dt.timedelta
) -> None:
    result = grant(customer, "email", occurred_at=now + ahead)
    assert result.status == "granted"
    assert AuditEntry.objects.get(seq=result.seq).occurred_at == now + ahead


def test_the_skew_tolerance_is_a_setting(
    now: dt.datetime, customer: Client, grant: Callable[..., Any], settings: Any
) -> None:
    settings.OPTIN_CLOCK_SKEW_SECONDS = 10
    ahead = now + dt.timedelta(seconds=11)
    assert refusal_code(lambda: grant(customer, "email", occurred_at=ahead)) == (
        "occurred_in_future"
    )


@pytest.mark.parametrize("decision", ["grant", "refuse"])
def test_an_occurred_at_in_another_time_zone_is_the_same_instant(
    now: dt.datetime, customer: Client, decide: Callable[..., Any], decision: str
) -> None:
    in_paris = (now - dt.timedelta(minutes=1)).astimezone(ZoneInfo("Europe/Paris"))
    result = decide(customer, "email", decision, occurred_at=in_paris)
    assert AuditEntry.objects.get(seq=result.seq).occurred_at == now - dt.timedelta(minutes=1)


# --- before the wording ---------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["grant", "refuse"])
@pytest.mark.parametrize("channel", ["email", "sms_push"])
def test_an_act_before_the_initial_wordings_were_published_is_refused(
    time_machine: Any,
    customer: Client,
    decide: Callable[..., Any],
    decision: str,
    channel: str,
) -> None:
    time_machine.move_to(dt.datetime(2026, 11, 23, 10, 0, tzinfo=UTC), tick=False)
    before = PUBLISHED - dt.timedelta(seconds=1)
    code = refusal_code(lambda: decide(customer, channel, decision, occurred_at=before))
    assert code == "occurred_before_wording"


def test_an_act_at_the_publication_instant_is_accepted(
    time_machine: Any, customer: Client, grant: Callable[..., Any]
) -> None:
    time_machine.move_to(dt.datetime(2026, 11, 23, 10, 0, tzinfo=UTC), tick=False)
    assert grant(customer, "email", occurred_at=PUBLISHED).status == "granted"


def test_an_act_before_the_wording_is_refused_in_branch_too(
    time_machine: Any, customer: Client, decide: Callable[..., Any], advisor_as_actor: Any
) -> None:
    time_machine.move_to(dt.datetime(2026, 11, 26, 10, 0, tzinfo=UTC), tick=False)
    before = PUBLISHED - dt.timedelta(hours=1)
    code = refusal_code(
        lambda: decide(customer, "email", "refuse", occurred_at=before, **branch(advisor_as_actor))
    )
    assert code == "occurred_before_wording"


def test_an_act_before_a_newly_published_wording_is_refused(
    now: dt.datetime, customer: Client, grant: Callable[..., Any]
) -> None:
    published_at = now - dt.timedelta(hours=1)
    publish_wording(
        actor=Actor.system("tests-wordings"),
        channel="email",
        version="email-v2",
        text="Texte de test complet (banque, canal, finalité, retrait, contrats).",
        checklist=dict.fromkeys(WORDING_CHECKLIST, True),
        published_at=published_at,
    )
    early = published_at - dt.timedelta(minutes=1)
    assert refusal_code(
        lambda: grant(customer, "email", wording_version="email-v2", occurred_at=early)
    ) == ("occurred_before_wording")
    # The same moment is fine with the older version, which was published before it.
    assert grant(customer, "email", wording_version="email-v1", occurred_at=early).recorded


def test_a_wording_published_in_the_future_cannot_be_answered_yet(
    now: dt.datetime, customer: Client, grant: Callable[..., Any], time_machine: Any
) -> None:
    publish_wording(
        actor=Actor.system("tests-wordings"),
        channel="email",
        version="email-v2",
        text="Texte de test complet (banque, canal, finalité, retrait, contrats).",
        checklist=dict.fromkeys(WORDING_CHECKLIST, True),
        published_at=now + dt.timedelta(hours=1),
    )
    assert refusal_code(lambda: grant(customer, "email", wording_version="email-v2")) == (
        "occurred_before_wording"
    )
    time_machine.move_to(now + dt.timedelta(hours=1), tick=False)
    assert grant(customer, "email", wording_version="email-v2").status == "granted"


# --- too old --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "journey",
    [
        Journey.DIGITAL_SELF_SERVICE,
        Journey.DIGITAL_CONTACT_UPDATE,
        Journey.DIGITAL_ACCOUNT_OPENING,
    ],
)
@pytest.mark.parametrize("decision", ["grant", "refuse", "withdraw"])
def test_a_digital_act_more_than_24_hours_old_is_refused(
    now: dt.datetime,
    customer: Client,
    decide: Callable[..., Any],
    journey: str,
    decision: str,
) -> None:
    old = now - dt.timedelta(hours=24, seconds=1)
    code = refusal_code(
        lambda: decide(customer, "email", decision, journey=journey, occurred_at=old)
    )
    assert code == "occurred_too_old"


def test_a_digital_act_just_within_24_hours_is_accepted(
    now: dt.datetime, customer: Client, grant: Callable[..., Any]
) -> None:
    within = now - dt.timedelta(hours=24)
    assert grant(customer, "email", occurred_at=within).status == "granted"


@pytest.mark.parametrize(
    "journey",
    [
        Journey.BRANCH_CONTACT_UPDATE,
        Journey.BRANCH_ACCOUNT_OPENING,
        Journey.BRANCH_REQUEST,
    ],
)
def test_an_older_act_in_branch_is_accepted(
    now: dt.datetime,
    customer: Client,
    decide: Callable[..., Any],
    advisor_as_actor: Any,
    journey: str,
) -> None:
    """A refusal noted on a paper file two days ago is still recorded as what it was."""
    old = now - dt.timedelta(days=2)
    result = decide(
        customer, "email", "refuse", occurred_at=old, **branch(advisor_as_actor, journey)
    )
    assert result.status == "refused"
    entry = AuditEntry.objects.get(seq=result.seq)
    assert (entry.occurred_at, entry.recorded_at) == (old, now)


def test_the_maximum_age_of_a_digital_act_is_a_setting(
    now: dt.datetime, customer: Client, grant: Callable[..., Any], settings: Any
) -> None:
    settings.OPTIN_DIGITAL_MAX_AGE_HOURS = 48
    assert grant(customer, "email", occurred_at=now - dt.timedelta(hours=30)).recorded
    too_old = now - dt.timedelta(hours=48, seconds=1)
    assert refusal_code(lambda: grant(customer, "sms_push", occurred_at=too_old)) == (
        "occurred_too_old"
    )
    settings.OPTIN_DIGITAL_MAX_AGE_HOURS = 1
    two_hours = now - dt.timedelta(hours=2)
    assert refusal_code(lambda: grant(customer, "sms_push", occurred_at=two_hours)) == (
        "occurred_too_old"
    )


# --- naive datetimes ------------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["grant", "refuse", "withdraw"])
def test_a_naive_occurred_at_is_refused(
    now: dt.datetime, customer: Client, decide: Callable[..., Any], decision: str
) -> None:
    naive = dt.datetime(2026, 11, 25, 11, 0)  # noqa: DTZ001 - the point of the test
    before = snapshot()
    with pytest.raises(ValidationError) as refused:
        decide(customer, "email", decision, occurred_at=naive)
    assert "occurred_at" in refused.value.message_dict
    assert snapshot() == before


def test_a_naive_occurred_at_is_refused_in_branch_too(
    now: dt.datetime, customer: Client, decide: Callable[..., Any], advisor_as_actor: Any
) -> None:
    naive = dt.datetime(2026, 11, 25, 11, 0)  # noqa: DTZ001 - the point of the test
    before = snapshot()
    with pytest.raises(ValidationError):
        decide(customer, "email", "refuse", occurred_at=naive, **branch(advisor_as_actor))
    assert snapshot() == before
