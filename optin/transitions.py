"""The consent state machine of R11-R16, as one table read by one pure function.

Every path that changes a consent state (digital journeys, branch answers, signatures, expiry,
double opt-in, STOP, unsubscribe, capacity changes) goes through `decide`. The table holds the
cells of R12 verbatim; a missing cell is a "—" of R12: the event cannot happen in that state
and is refused without writing anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from optin.models import ConsentStatus as S


class Event(StrEnum):
    BRANCH_YES = "branch_yes"
    REFUSE = "refuse"  # a "no", in branch or digital
    FORM_SIGNED = "form_signed"
    FORM_ENDED = "form_ended"  # cancelled or expired
    DIGITAL_GRANT = "digital_grant"
    WITHDRAW = "withdraw"  # any path: digital, branch request, link, STOP, erasure
    DOI_CONFIRMED = "doi_confirmed"
    DOI_EXPIRED = "doi_expired"
    LAPSE = "lapse"  # R7: a protection measure or a correction to a minor


class Effect(StrEnum):
    """What the caller must do besides changing the state, in the same transaction."""

    NEW_FORM = "new_form"
    CANCEL_FORM = "cancel_form"
    NEW_LINK = "new_link"
    INVALIDATE_LINK = "invalidate_link"


# Targets that are not a fixed state.
PRIOR = "prior"  # back to the state before the pending episode (R13)
NO_OR_WITHDRAWN = "no_or_withdrawn"  # R14: refused, or withdrawn if it takes back a yes
GRANT_OR_CONFIRM = "grant_or_confirm"  # granted, or pending_confirmation under R36


@dataclass(frozen=True)
class Cell:
    target: str
    action: str
    effects: frozenset[Effect] = frozenset()
    writes: bool = True  # False: answers success and writes nothing (R15)


@dataclass(frozen=True)
class Step:
    """The outcome of one event: the new state and its prior, the log action, the effects."""

    status: S
    prior: S | None
    action: str
    effects: frozenset[Effect]
    writes: bool


class InvalidTransition(Exception):
    def __init__(self, status: str, event: Event) -> None:
        super().__init__(f"{event} cannot happen in state {status}")
        self.status = status
        self.event = event


def _fx(*effects: Effect) -> frozenset[Effect]:
    return frozenset(effects)


_OPEN = (S.NONE, S.REFUSED, S.WITHDRAWN)  # states outside a pending episode, not granted

TABLE: dict[tuple[S, Event], Cell] = {}
for _s in _OPEN:
    TABLE[_s, Event.BRANCH_YES] = Cell(
        S.PENDING_SIGNATURE, "consent.requested", _fx(Effect.NEW_FORM)
    )
    TABLE[_s, Event.REFUSE] = Cell(S.REFUSED, "consent.refused")
    TABLE[_s, Event.DIGITAL_GRANT] = Cell(GRANT_OR_CONFIRM, "consent.granted")
    TABLE[_s, Event.WITHDRAW] = Cell(S.WITHDRAWN, "consent.withdrawn")
    TABLE[_s, Event.LAPSE] = Cell(_s, "consent.lapsed", writes=False)  # R7: objections stay
# R15: withdrawing what is already withdrawn changes nothing and writes nothing.
TABLE[S.WITHDRAWN, Event.WITHDRAW] = Cell(S.WITHDRAWN, "consent.withdrawn", writes=False)

TABLE |= {
    # pending_signature: a newer form supersedes the older one and keeps its prior (R13).
    (S.PENDING_SIGNATURE, Event.BRANCH_YES): Cell(
        S.PENDING_SIGNATURE, "consent.requested", _fx(Effect.NEW_FORM, Effect.CANCEL_FORM)
    ),
    (S.PENDING_SIGNATURE, Event.REFUSE): Cell(
        NO_OR_WITHDRAWN, "consent.refused", _fx(Effect.CANCEL_FORM)
    ),
    (S.PENDING_SIGNATURE, Event.FORM_SIGNED): Cell(S.GRANTED, "consent.granted"),
    (S.PENDING_SIGNATURE, Event.FORM_ENDED): Cell(PRIOR, "consent.restored"),
    (S.PENDING_SIGNATURE, Event.DIGITAL_GRANT): Cell(
        GRANT_OR_CONFIRM, "consent.granted", _fx(Effect.CANCEL_FORM)
    ),
    (S.PENDING_SIGNATURE, Event.WITHDRAW): Cell(
        S.WITHDRAWN, "consent.withdrawn", _fx(Effect.CANCEL_FORM)
    ),
    (S.PENDING_SIGNATURE, Event.LAPSE): Cell(S.NONE, "consent.lapsed", _fx(Effect.CANCEL_FORM)),
    # pending_confirmation (double opt-in, R36)
    (S.PENDING_CONFIRMATION, Event.BRANCH_YES): Cell(
        S.PENDING_SIGNATURE, "consent.requested", _fx(Effect.NEW_FORM, Effect.INVALIDATE_LINK)
    ),
    (S.PENDING_CONFIRMATION, Event.REFUSE): Cell(
        NO_OR_WITHDRAWN, "consent.refused", _fx(Effect.INVALIDATE_LINK)
    ),
    (S.PENDING_CONFIRMATION, Event.DIGITAL_GRANT): Cell(
        GRANT_OR_CONFIRM, "consent.granted", _fx(Effect.INVALIDATE_LINK)
    ),
    (S.PENDING_CONFIRMATION, Event.WITHDRAW): Cell(
        S.WITHDRAWN, "consent.withdrawn", _fx(Effect.INVALIDATE_LINK)
    ),
    (S.PENDING_CONFIRMATION, Event.DOI_CONFIRMED): Cell(S.GRANTED, "consent.confirmed"),
    (S.PENDING_CONFIRMATION, Event.DOI_EXPIRED): Cell(PRIOR, "consent.restored"),
    (S.PENDING_CONFIRMATION, Event.LAPSE): Cell(
        S.NONE, "consent.lapsed", _fx(Effect.INVALIDATE_LINK)
    ),
    # granted: a branch yes is not asked (S0); a digital grant refreshes the proof (R15).
    (S.GRANTED, Event.BRANCH_YES): Cell(S.GRANTED, "consent.requested", writes=False),
    (S.GRANTED, Event.REFUSE): Cell(S.WITHDRAWN, "consent.withdrawn"),
    (S.GRANTED, Event.DIGITAL_GRANT): Cell(S.GRANTED, "consent.granted"),
    (S.GRANTED, Event.WITHDRAW): Cell(S.WITHDRAWN, "consent.withdrawn"),
    (S.GRANTED, Event.LAPSE): Cell(S.NONE, "consent.lapsed"),
}

PENDING = frozenset({S.PENDING_SIGNATURE, S.PENDING_CONFIRMATION})


def decide(status: S, prior: S | None, event: Event, *, double_optin: bool = False) -> Step:
    """The next state for `event` in `status` (R12-R15); raises InvalidTransition for "—".

    `prior` is the state before the current pending episode (R13); `double_optin` says whether
    a digital grant must first be confirmed (R36: e-mail, digital, setting on).
    """
    status, event = S(status), Event(event)
    cell = TABLE.get((status, event))
    if cell is None:
        raise InvalidTransition(status, event)
    action = cell.action
    effects = cell.effects
    if cell.target == PRIOR:
        target = prior or S.NONE
    elif cell.target == NO_OR_WITHDRAWN:
        taking_back = prior == S.GRANTED
        target = S.WITHDRAWN if taking_back else S.REFUSED
        action = "consent.withdrawn" if taking_back else "consent.refused"
    elif cell.target == GRANT_OR_CONFIRM:
        if double_optin and status != S.GRANTED:
            target = S.PENDING_CONFIRMATION
            action = "consent.pending_confirmation"
            effects = effects | {Effect.NEW_LINK}
        else:
            target = S.GRANTED
    else:
        target = S(cell.target)
    new_prior: S | None = None
    if target in PENDING:
        # Entering a pending episode records where it began; staying in one keeps that.
        new_prior = (prior or S.NONE) if status in PENDING else status
    return Step(status=target, prior=new_prior, action=action, effects=effects, writes=cell.writes)
