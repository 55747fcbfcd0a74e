"""R11-R16: the state machine, cell by cell.

The expected table below is written out from RULES.md R12 (with R7 for `lapse`, R13 for the
prior state, R14 for "no" that takes back a yes, R15 for repeats and R36 for double opt-in),
independently of `optin.transitions.TABLE`: all 6 states x 9 events, then the cells whose
outcome depends on the prior state or on double opt-in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from clients.models import Client
from optin.audit import Actor
from optin.integrity import verify_log
from optin.models import ConsentState, Journey
from optin.selectors import eligibility
from optin.services import apply_event, record_decision
from optin.transitions import Event, InvalidTransition, decide

STATES = (
    "none",
    "refused",
    "withdrawn",
    "pending_signature",
    "pending_confirmation",
    "granted",
)
EVENTS = (
    "branch_yes",
    "refuse",
    "form_signed",
    "form_ended",
    "digital_grant",
    "withdraw",
    "doi_confirmed",
    "doi_expired",
    "lapse",
)


@dataclass(frozen=True)
class Expect:
    status: str
    prior: str | None = None  # the prior kept for a pending state (R13), else None
    action: str | None = None  # the log action; None when nothing is written
    effects: frozenset[str] = frozenset()
    writes: bool = True


def fx(*names: str) -> frozenset[str]:
    return frozenset(names)


def no_write(status: str) -> Expect:
    return Expect(status, action=None, writes=False)


INVALID = None  # a "—" cell of R12

# In pending states the prior is set to something other than `none`, so that "prior kept"
# cannot pass by accident of a default.
PRIOR_OF = {"pending_signature": "refused", "pending_confirmation": "withdrawn"}

# (state, event) -> expected outcome, double opt-in off.
TABLE: dict[tuple[str, str], Expect | None] = {
    # --- none ---------------------------------------------------------------------------
    ("none", "branch_yes"): Expect(
        "pending_signature", "none", "consent.requested", fx("new_form")
    ),
    ("none", "refuse"): Expect("refused", None, "consent.refused"),
    ("none", "form_signed"): INVALID,
    ("none", "form_ended"): INVALID,
    ("none", "digital_grant"): Expect("granted", None, "consent.granted"),
    ("none", "withdraw"): Expect("withdrawn", None, "consent.withdrawn"),
    ("none", "doi_confirmed"): INVALID,
    ("none", "doi_expired"): INVALID,
    ("none", "lapse"): no_write("none"),  # R7: nothing to end
    # --- refused ------------------------------------------------------------------------
    ("refused", "branch_yes"): Expect(
        "pending_signature", "refused", "consent.requested", fx("new_form")
    ),
    ("refused", "refuse"): Expect("refused", None, "consent.refused"),  # a new entry
    ("refused", "form_signed"): INVALID,
    ("refused", "form_ended"): INVALID,
    ("refused", "digital_grant"): Expect("granted", None, "consent.granted"),
    ("refused", "withdraw"): Expect("withdrawn", None, "consent.withdrawn"),
    ("refused", "doi_confirmed"): INVALID,
    ("refused", "doi_expired"): INVALID,
    ("refused", "lapse"): no_write("refused"),  # R7: an objection stays an objection
    # --- withdrawn ----------------------------------------------------------------------
    ("withdrawn", "branch_yes"): Expect(
        "pending_signature", "withdrawn", "consent.requested", fx("new_form")
    ),
    ("withdrawn", "refuse"): Expect("refused", None, "consent.refused"),
    ("withdrawn", "form_signed"): INVALID,
    ("withdrawn", "form_ended"): INVALID,
    ("withdrawn", "digital_grant"): Expect("granted", None, "consent.granted"),
    ("withdrawn", "withdraw"): no_write("withdrawn"),  # R15
    ("withdrawn", "doi_confirmed"): INVALID,
    ("withdrawn", "doi_expired"): INVALID,
    ("withdrawn", "lapse"): no_write("withdrawn"),  # R7
    # --- pending_signature (prior: refused) ---------------------------------------------
    ("pending_signature", "branch_yes"): Expect(
        "pending_signature", "refused", "consent.requested", fx("new_form", "cancel_form")
    ),
    ("pending_signature", "refuse"): Expect("refused", None, "consent.refused", fx("cancel_form")),
    ("pending_signature", "form_signed"): Expect("granted", None, "consent.granted"),
    ("pending_signature", "form_ended"): Expect("refused", None, "consent.restored"),
    ("pending_signature", "digital_grant"): Expect(
        "granted", None, "consent.granted", fx("cancel_form")
    ),
    ("pending_signature", "withdraw"): Expect(
        "withdrawn", None, "consent.withdrawn", fx("cancel_form")
    ),
    ("pending_signature", "doi_confirmed"): INVALID,
    ("pending_signature", "doi_expired"): INVALID,
    ("pending_signature", "lapse"): Expect("none", None, "consent.lapsed", fx("cancel_form")),
    # --- pending_confirmation (prior: withdrawn) ----------------------------------------
    ("pending_confirmation", "branch_yes"): Expect(
        "pending_signature",
        "withdrawn",
        "consent.requested",
        fx("new_form", "invalidate_link"),
    ),
    ("pending_confirmation", "refuse"): Expect(
        "refused", None, "consent.refused", fx("invalidate_link")
    ),
    ("pending_confirmation", "form_signed"): INVALID,
    ("pending_confirmation", "form_ended"): INVALID,
    # Double opt-in switched off meanwhile: the new grant is effective and the link dies.
    ("pending_confirmation", "digital_grant"): Expect(
        "granted", None, "consent.granted", fx("invalidate_link")
    ),
    ("pending_confirmation", "withdraw"): Expect(
        "withdrawn", None, "consent.withdrawn", fx("invalidate_link")
    ),
    ("pending_confirmation", "doi_confirmed"): Expect("granted", None, "consent.confirmed"),
    ("pending_confirmation", "doi_expired"): Expect("withdrawn", None, "consent.restored"),
    ("pending_confirmation", "lapse"): Expect(
        "none", None, "consent.lapsed", fx("invalidate_link")
    ),
    # --- granted ------------------------------------------------------------------------
    ("granted", "branch_yes"): no_write("granted"),  # not asked, no form, no entry
    ("granted", "refuse"): Expect("withdrawn", None, "consent.withdrawn"),  # R14
    ("granted", "form_signed"): INVALID,
    ("granted", "form_ended"): INVALID,
    ("granted", "digital_grant"): Expect("granted", None, "consent.granted"),  # R15
    ("granted", "withdraw"): Expect("withdrawn", None, "consent.withdrawn"),
    ("granted", "doi_confirmed"): INVALID,
    ("granted", "doi_expired"): INVALID,
    ("granted", "lapse"): Expect("none", None, "consent.lapsed"),  # R7
}

# A digital grant under double opt-in (R36) waits for confirmation, except on a channel
# already granted, which stays granted (R15).
DOUBLE_OPTIN_GRANT: dict[str, Expect] = {
    "none": Expect("pending_confirmation", "none", "consent.pending_confirmation", fx("new_link")),
    "refused": Expect(
        "pending_confirmation", "refused", "consent.pending_confirmation", fx("new_link")
    ),
    "withdrawn": Expect(
        "pending_confirmation", "withdrawn", "consent.pending_confirmation", fx("new_link")
    ),
    "pending_signature": Expect(
        "pending_confirmation",
        "refused",
        "consent.pending_confirmation",
        fx("cancel_form", "new_link"),
    ),
    "pending_confirmation": Expect(
        "pending_confirmation",
        "withdrawn",
        "consent.pending_confirmation",
        fx("invalidate_link", "new_link"),
    ),
    "granted": Expect("granted", None, "consent.granted"),
}


def assert_step(status: str, prior: str | None, event: str, expected: Expect, **kw: Any) -> None:
    step = decide(status, prior, event, **kw)
    outcome = {
        "status": str(step.status),
        "prior": str(step.prior) if step.prior is not None else None,
        "effects": frozenset(str(e) for e in step.effects),
        "writes": step.writes,
    }
    assert outcome == {
        "status": expected.status,
        "prior": expected.prior,
        "effects": expected.effects,
        "writes": expected.writes,
    }
    if expected.writes:
        # The action names the log entry; a cell that writes nothing has none to check.
        assert step.action == expected.action


def test_the_expected_table_covers_every_state_and_event() -> None:
    assert set(TABLE) == {(s, e) for s in STATES for e in EVENTS}
    assert len(TABLE) == 54
    assert set(DOUBLE_OPTIN_GRANT) == set(STATES)


@pytest.mark.parametrize(("status", "event"), list(TABLE), ids=[f"{s}-{e}" for s, e in TABLE])
def test_each_cell_gives_what_r12_says(status: str, event: str) -> None:
    expected = TABLE[status, event]
    prior = PRIOR_OF.get(status)
    if expected is None:
        with pytest.raises(InvalidTransition) as caught:
            decide(status, prior, event)
        assert (str(caught.value.status), str(caught.value.event)) == (status, event)
    else:
        assert_step(status, prior, event, expected)


@pytest.mark.parametrize("status", STATES)
def test_digital_grant_under_double_optin_waits_for_confirmation(status: str) -> None:
    assert_step(
        status, PRIOR_OF.get(status), "digital_grant", DOUBLE_OPTIN_GRANT[status], double_optin=True
    )


@pytest.mark.parametrize(
    ("status", "event"),
    [(s, e) for s, e in TABLE if TABLE[s, e] is None],
)
def test_impossible_events_are_refused_even_under_double_optin(status: str, event: str) -> None:
    with pytest.raises(InvalidTransition):
        decide(status, PRIOR_OF.get(status), event, double_optin=True)


@pytest.mark.parametrize("status", ["none", "refused", "withdrawn", "granted"])
def test_double_optin_changes_nothing_but_digital_grants(status: str) -> None:
    for event in EVENTS:
        if event == "digital_grant" or TABLE[status, event] is None:
            continue
        assert decide(status, None, event, double_optin=True) == decide(status, None, event)


# --- cells that depend on the prior state (R13, R14) ---------------------------------------


@pytest.mark.parametrize("pending", ["pending_signature", "pending_confirmation"])
def test_refuse_while_pending_with_prior_granted_is_a_withdrawal(pending: str) -> None:
    effect = "cancel_form" if pending == "pending_signature" else "invalidate_link"
    assert_step(
        pending,
        "granted",
        "refuse",
        Expect("withdrawn", None, "consent.withdrawn", fx(effect)),
    )


@pytest.mark.parametrize("prior", ["none", "refused", "withdrawn"])
@pytest.mark.parametrize("pending", ["pending_signature", "pending_confirmation"])
def test_refuse_while_pending_with_any_other_prior_is_a_refusal(pending: str, prior: str) -> None:
    effect = "cancel_form" if pending == "pending_signature" else "invalidate_link"
    assert_step(pending, prior, "refuse", Expect("refused", None, "consent.refused", fx(effect)))


@pytest.mark.parametrize("prior", ["none", "refused", "withdrawn", "granted"])
@pytest.mark.parametrize(
    ("pending", "event"),
    [("pending_signature", "form_ended"), ("pending_confirmation", "doi_expired")],
)
def test_ending_a_pending_episode_restores_its_prior(pending: str, event: str, prior: str) -> None:
    assert_step(pending, prior, event, Expect(prior, None, "consent.restored"))


@pytest.mark.parametrize(
    ("pending", "event"),
    [("pending_signature", "form_ended"), ("pending_confirmation", "doi_expired")],
)
def test_a_pending_episode_without_a_known_prior_restores_none(pending: str, event: str) -> None:
    assert_step(pending, None, event, Expect("none", None, "consent.restored"))


@pytest.mark.parametrize("prior", ["none", "refused", "withdrawn", "granted"])
def test_a_newer_form_inherits_the_prior_of_the_one_it_supersedes(prior: str) -> None:
    step = decide("pending_signature", prior, "branch_yes")
    assert (step.status, step.prior) == ("pending_signature", prior)


def test_r13_example_a_superseded_form_then_expiry_returns_to_none() -> None:
    """none -> yes (form A) -> yes again (form B supersedes A) -> B expires -> none."""
    form_a = decide("none", None, Event.BRANCH_YES)
    assert (form_a.status, form_a.prior) == ("pending_signature", "none")
    form_b = decide(form_a.status, form_a.prior, Event.BRANCH_YES)
    # B inherits A's prior, not `pending_signature`.
    assert (form_b.status, form_b.prior) == ("pending_signature", "none")
    assert {str(e) for e in form_b.effects} == {"new_form", "cancel_form"}
    ended = decide(form_b.status, form_b.prior, Event.FORM_ENDED)
    assert (ended.status, ended.prior, ended.action) == ("none", None, "consent.restored")


def test_r13_example_through_the_services_keeps_none_as_the_stored_prior(
    customer: Client, advisor_as_actor: Any
) -> None:
    def branch_yes() -> Any:
        return record_decision(
            client_number=customer.client_number,
            channel="email",
            decision="grant",
            journey=Journey.BRANCH_ACCOUNT_OPENING,
            actor=advisor_as_actor,
            wording_version="email-v1",
            affirmative_action=True,
            branch_form=True,
        )

    def stored() -> tuple[str, str]:
        state = ConsentState.objects.get(client=customer, channel="email")
        return state.status, state.prior_status

    assert branch_yes().effects == ["new_form"]
    assert stored() == ("pending_signature", "none")
    assert branch_yes().effects == ["cancel_form", "new_form"]
    assert stored() == ("pending_signature", "none")

    with transaction.atomic():
        _step, _state, entry = apply_event(
            client=Client.objects.select_for_update().get(pk=customer.pk),
            channel="email",
            event=Event.FORM_ENDED,
            actor=Actor.system("tests"),
            journey=Journey.SYSTEM_EXPIRY,
            occurred_at=timezone.now(),
        )
    assert entry is not None and entry.action == "consent.restored"
    assert stored() == ("none", "")
    # R11: the stored state is what replaying the log gives.
    assert verify_log().ok


def test_r16_a_granted_consent_does_not_expire_with_time(
    customer: Client, grant: Any, time_machine: Any
) -> None:
    grant(customer, "email")
    time_machine.move_to(dt.datetime(2036, 11, 23, 12, 0, tzinfo=dt.UTC))
    answer = eligibility("email", [customer.client_number])[0]
    assert (answer.eligible, answer.reason) == (True, "granted")
    assert ConsentState.objects.get(client=customer, channel="email").status == "granted"
