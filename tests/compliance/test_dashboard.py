"""The compliance dashboard's figures equal what a known history gives, counted apart: opt-in
rates per channel and branch at each Paris month's end (R11-R14, R56), decisions per journey
(R22-R41), pending signatures by age (R27, R28), withdrawals by path (R38-R41, R64), in a
bounded number of statements whatever the size of the log (STYLE.md §2).

The history runs from December 2026 to 15 June 2027 through the services, in two branches,
on both channels and through every withdrawal path. The expected figures are written out by
hand from it (`RATES`, `DECISIONS`…) and, for every period and scope, also replayed from the
log entry by entry (`replay`), with none of the dashboard's SQL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from clients.models import Branch, Client
from clients.roles import actor_for
from clients.services import change_legal_capacity
from optin import services
from optin.audit import Actor
from optin.compliance import dashboard as reads
from optin.models import AuditEntry
from tests.conftest import paris

PARIS = ZoneInfo("Europe/Paris")
NOW = paris(2027, 6, 15, 10)


@contextmanager
def at(*when: int) -> Iterator[None]:
    """Everything inside happens at that Paris time."""
    with time_machine.travel(paris(*when), tick=False):
        yield


@pytest.fixture
def history(
    client_factory: Callable[..., Client],
    branch: Branch,
    other_branch: Branch,
    advisor_other_branch: Any,
    decide: Callable[..., Any],
    collect: Callable[..., Any],
    sign_tablet: Callable[..., Any],
) -> dict[str, Client]:
    return make_history(
        client_factory, branch, other_branch, advisor_other_branch, decide, collect, sign_tablet
    )


def make_history(
    client_factory: Callable[..., Client],
    branch: Branch,
    other_branch: Branch,
    bob: Any,
    decide: Callable[..., Any],
    collect: Callable[..., Any],
    sign_tablet: Callable[..., Any],
) -> dict[str, Client]:
    """Ten customers: c1, c2, c5, c7, c8, c10 in `branch` (B001, advisor alice, who `collect`
    acts as by default), c3, c4, c6, c9 in `other_branch` (B002, advisor bob)."""
    c: dict[str, Client] = {}

    def new(name: str, where: Branch) -> Client:
        c[name] = client_factory(branch=where, last_name=name)
        return c[name]

    with at(2026, 12, 5, 9):
        new("c1", branch)
        new("c2", branch)
    with at(2026, 12, 6, 11):
        form = collect(new("c3", other_branch), by=bob, email="yes").form
        sign_tablet(form, by=bob)  # email granted, branch_account_opening
    with at(2026, 12, 10, 15):
        decide(c["c1"], "email", "grant")
        decide(c["c2"], "sms_push", "grant")
        decide(c["c2"], "email", "refuse")
    with at(2027, 1, 3, 10):
        new("c4", other_branch)
        decide(c["c4"], "email", "grant", journey="digital_account_opening")
        decide(c["c4"], "sms_push", "grant", journey="digital_account_opening")
    with at(2027, 1, 20, 8):
        services.unsubscribe(client_id=c["c1"].pk, channel="email", evidence={"one_click": True})
    with at(2027, 2, 2, 12):
        decide(c["c1"], "email", "grant")
    with at(2027, 2, 14, 16):
        decide(
            c["c3"],
            "email",
            "withdraw",
            journey="branch_request",
            actor=actor_for(bob),
            evidence={"means": "phone"},
        )
    with at(2027, 2, 20, 19):
        services.sms_stop(mobile=c["c2"].mobile, text="STOP", message_id="m-1", gateway="test")
    with at(2027, 3, 1, 10):
        collect(new("c5", branch), journey="branch_contact_update", email="yes", sms_push="no")
    with at(2027, 3, 5, 10):
        decide(c["c4"], "email", "grant")  # a refresh: granted stays granted (R15)
    with at(2027, 4, 2, 10):
        collect(new("c6", other_branch), by=bob, sms_push="yes")
    with at(2027, 4, 10, 10):
        decide(c["c4"], "sms_push", "withdraw")
    with at(2027, 5, 5, 10):  # R7: email lapses to none, a change that is not a withdrawal
        change_legal_capacity(
            actor=actor_for(bob),
            client_number=c["c4"].client_number,
            legal_capacity="protected",
            protection_measure="tutelle",
            reference="RG 27/00123",
        )
    with at(2027, 5, 10, 10):  # a "Non" in branch takes back the yes (R14)
        collect(c["c1"], journey="branch_contact_update", email="no")
    with at(2027, 5, 20, 10):
        new("c7", branch)
    with at(2027, 5, 25, 10):
        for channel in ("email", "sms_push"):
            decide(
                c["c7"],
                channel,
                "withdraw",
                journey="erasure_request",
                actor=Actor.system("erasure"),
            )
    with at(2027, 6, 1, 0, 30):  # Paris June, still 31 May in UTC
        decide(c["c2"], "email", "grant")
    with at(2027, 6, 1, 10):
        collect(new("c10", branch), sms_push="yes")
    with at(2027, 6, 10, 10):
        collect(new("c9", other_branch), by=bob, email="yes")
    with at(2027, 6, 14, 20):
        collect(new("c8", branch), email="yes")
    return c


# --- the figures, written out from the history -----------------------------------------------

MONTHS_2027 = ["2027-01", "2027-02", "2027-03", "2027-04", "2027-05", "2027-06"]
# Per month's end: customers, email granted, SMS granted; overall, B001, B002.
RATES = {
    "all": [(4, 2, 2), (4, 2, 1), (5, 2, 1), (6, 2, 0), (7, 0, 0), (10, 1, 0)],
    "B001": [(2, 0, 1), (2, 1, 0), (3, 1, 0), (3, 1, 0), (4, 0, 0), (6, 1, 0)],
    "B002": [(2, 2, 1), (2, 1, 1), (2, 1, 1), (3, 1, 0), (3, 0, 0), (4, 0, 0)],
}
DECEMBER = {"all": (3, 2, 1), "B001": (2, 1, 1), "B002": (1, 1, 0)}
# Since 1 January 2027: journey -> (grants, refusals, withdrawals).
DECISIONS = {
    "digital_self_service": (3, 0, 1),
    "digital_account_opening": (2, 0, 0),
    "branch_contact_update": (0, 1, 1),
    "branch_request": (0, 0, 1),
    "unsubscribe_link": (0, 0, 1),
    "sms_stop": (0, 0, 1),
    "erasure_request": (0, 0, 2),
}
# Per month: customer space, unsubscribe link, SMS STOP, branch, other.
WITHDRAWALS = [
    [0, 1, 0, 0, 0],
    [0, 0, 1, 1, 0],
    [0, 0, 0, 0, 0],
    [1, 0, 0, 0, 0],
    [0, 0, 0, 1, 2],
    [0, 0, 0, 0, 0],
]
# Per branch and advisor: count, oldest form, < 1 day, 1-7, 7-30, > 30 days.
PENDING = {
    "B001": (3, paris(2027, 3, 1, 10), [1, 0, 1, 1]),
    "B002": (2, paris(2027, 4, 2, 10), [0, 1, 0, 1]),
}


def rates_of(series: reads.RateSeries) -> list[tuple[int, int, int]]:
    return [
        (point.customers, point.channels[0].granted, point.channels[1].granted)
        for point in series.points
    ]


def by_code(data: reads.Dashboard) -> dict[str, reads.RateSeries]:
    return {series.branch.code: series for series in data.rates_by_branch if series.branch}


# --- an independent count: the log replayed entry by entry -----------------------------------


def month_ends(now: dt.datetime, count: int) -> list[dt.datetime]:
    """The first instant after each of the last `count` Paris months (the current one last)."""
    local = now.astimezone(PARIS)
    ends = []
    year, month = local.year, local.month
    for _ in range(count):
        ends.append(dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=PARIS))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return ends[::-1]


def replay(now: dt.datetime, count: int, branch: Branch | None) -> list[tuple[int, int, int]]:
    """Customers and granted per channel at each month's end, from every consent entry's
    declared new state, in log order: the state at a moment is the `to` of the last entry
    recorded before it."""
    clients = {c.pk: c for c in Client.objects.all()}
    entries = [
        (e.recorded_at, e.client_id, e.channel, json.loads(e.payload)["_state"]["to"])
        for e in AuditEntry.objects.filter(action__startswith="consent.").order_by("seq")
    ]
    figures = []
    for end in month_ends(now, count):
        states: dict[tuple[int, str], str] = {}
        for recorded_at, client_id, channel, to in entries:
            if recorded_at < end:
                states[client_id, channel] = to
        present = [
            c
            for c in clients.values()
            if c.created_at < end
            and (c.erased_at is None or c.erased_at >= end)
            and (branch is None or c.branch_id == branch.pk)
        ]
        figures.append(
            (
                len(present),
                sum(states.get((c.pk, "email")) == "granted" for c in present),
                sum(states.get((c.pk, "sms_push")) == "granted" for c in present),
            )
        )
    return figures


# --- months ------------------------------------------------------------------------------------


def test_the_period_is_made_of_paris_months_ending_with_the_current_one() -> None:
    months = reads.last_months(NOW, 6)
    assert [m.start.strftime("%Y-%m") for m in months] == MONTHS_2027
    assert months[0].start == dt.datetime(2027, 1, 1, tzinfo=PARIS)
    assert months[0].start.utcoffset() == dt.timedelta(hours=1)
    # March ends at midnight summer time: 31 March 22:00 UTC.
    assert months[2].end.astimezone(dt.UTC) == dt.datetime(2027, 3, 31, 22, tzinfo=dt.UTC)
    assert [m.in_progress for m in months] == [False] * 5 + [True]
    assert [m.end for m in months] == month_ends(NOW, 6)
    # 00:30 on 1 January in Paris is still 31 December in UTC: the month is Paris's.
    new_year = reads.last_months(paris(2027, 1, 1, 0, 30), 24)
    assert new_year[-1].start == dt.datetime(2027, 1, 1, tzinfo=PARIS)
    assert new_year[0].start == dt.datetime(2025, 2, 1, tzinfo=PARIS)


# --- 1. rates ----------------------------------------------------------------------------------


def test_rates_at_each_month_end_match_the_history(history: dict[str, Client]) -> None:
    data = reads.dashboard(months=6, now=NOW)

    assert [m.start.strftime("%Y-%m") for m in data.months] == MONTHS_2027
    assert rates_of(data.rates) == RATES["all"]
    branches = by_code(data)
    assert sorted(branches) == ["B001", "B002"]
    assert rates_of(branches["B001"]) == RATES["B001"]
    assert rates_of(branches["B002"]) == RATES["B002"]
    january = data.rates.points[0].channels
    assert (january[0].rate, january[1].rate) == (0.5, 0.5)
    assert data.rates.points[-1].channels[0].percent == pytest.approx(10.0)


def test_a_twelve_month_period_starts_before_any_customer(history: dict[str, Client]) -> None:
    data = reads.dashboard(months=12, now=NOW)

    points = rates_of(data.rates)
    assert points[:5] == [(0, 0, 0)] * 5  # July to November 2026
    assert points[5] == DECEMBER["all"]
    assert points[6:] == RATES["all"]
    assert data.rates.points[0].channels[0].rate is None  # no customer: no rate
    assert rates_of(by_code(data)["B002"])[5] == DECEMBER["B002"]


def test_rates_equal_a_replay_of_the_log(history: dict[str, Client]) -> None:
    for months in reads.PERIODS:
        for chosen in (None, *Branch.objects.all()):
            data = reads.dashboard(months=months, branch=chosen, now=NOW)

            assert rates_of(data.rates) == replay(NOW, months, chosen), (months, chosen)
            for series in data.rates_by_branch:
                assert rates_of(series) == replay(NOW, months, series.branch)
            if chosen is not None:
                assert [s.branch for s in data.rates_by_branch] == [chosen]


def test_rates_at_any_moment_equal_a_replay(history: dict[str, Client]) -> None:
    """Looking back from the middle of the history: entries after `now` are future ones."""
    for moment in (paris(2027, 2, 1, 0, 0), paris(2027, 5, 31, 23, 59), paris(2027, 6, 1, 1)):
        data = reads.dashboard(months=3, now=moment)
        assert rates_of(data.rates) == replay(moment, 3, None), moment


def test_an_erased_customer_leaves_the_count_at_their_erasure(
    history: dict[str, Client],
) -> None:
    # Erasure (R64) is not a service yet: its outcome on the record is set here directly.
    Client.objects.filter(pk=history["c7"].pk).update(erased_at=paris(2027, 6, 3, 10))

    data = reads.dashboard(months=6, now=NOW)

    assert [p.customers for p in data.rates.points] == [4, 4, 5, 6, 7, 9]
    assert rates_of(data.rates) == replay(NOW, 6, None)


def test_a_customer_counts_in_their_current_branch(
    history: dict[str, Client], other_branch: Branch
) -> None:
    Client.objects.filter(pk=history["c2"].pk).update(branch=other_branch)

    data = reads.dashboard(months=6, now=NOW)

    branches = by_code(data)
    assert rates_of(branches["B001"]) == replay(NOW, 6, branches["B001"].branch)
    assert rates_of(branches["B002"])[0] == (3, 2, 2)  # c2 and its SMS consent moved along
    assert rates_of(data.rates) == RATES["all"]


# --- 2. decisions ------------------------------------------------------------------------------


def test_decisions_per_journey_match_the_history(history: dict[str, Client]) -> None:
    data = reads.dashboard(months=6, now=NOW)

    found = {d.journey: (d.grants, d.refusals, d.withdrawals) for d in data.decisions}
    assert found == DECISIONS
    # In the order of the journeys' declaration, labelled as they are.
    assert [d.journey for d in data.decisions] == [
        "branch_contact_update",
        "branch_request",
        "digital_self_service",
        "digital_account_opening",
        "unsubscribe_link",
        "sms_stop",
        "erasure_request",
    ]
    assert data.decisions[0].label == "agence : connaissance client"
    assert data.decisions[0].total == 2


def test_decisions_of_a_longer_period_include_december(history: dict[str, Client]) -> None:
    data = reads.dashboard(months=12, now=NOW)

    found = {d.journey: (d.grants, d.refusals, d.withdrawals) for d in data.decisions}
    assert found == {
        **DECISIONS,
        "digital_self_service": (3 + 2, 1, 1),
        "branch_account_opening": (1, 0, 0),  # the signed form; pending ones are no grant
    }


def test_decisions_of_one_branch(history: dict[str, Client], other_branch: Branch) -> None:
    data = reads.dashboard(months=6, branch=other_branch, now=NOW)

    found = {d.journey: (d.grants, d.refusals, d.withdrawals) for d in data.decisions}
    assert found == {
        "digital_self_service": (1, 0, 1),  # c4's refresh and SMS withdrawal
        "digital_account_opening": (2, 0, 0),
        "branch_request": (0, 0, 1),
    }


# --- 3. pending signatures ---------------------------------------------------------------------


def test_pending_signatures_per_branch_and_advisor(history: dict[str, Client]) -> None:
    data = reads.dashboard(months=6, now=NOW)

    rows = {row.label.split()[0]: row for row in data.pending_by_branch}
    assert {code: (r.count, r.oldest, r.buckets) for code, r in rows.items()} == PENDING
    # 105 days and 23 hours: summer time began in between.
    assert rows["B001"].age == dt.timedelta(days=105, hours=23)
    assert rows["B001"].label == "B001 Agence Paris Opéra"
    advisors = [(row.label, row.branch, row.count, row.buckets) for row in data.pending_by_advisor]
    # The oldest first.
    assert advisors == [  # named by their user name when they have no name on record
        ("alice", "Agence Paris Opéra", 3, [1, 0, 1, 1]),
        ("bob", "Agence Lyon Bellecour", 2, [0, 1, 0, 1]),
    ]
    assert (data.pending.count, data.pending.buckets) == (5, [1, 1, 1, 2])
    assert data.pending.oldest == paris(2027, 3, 1, 10)


def test_the_age_buckets_have_exact_bounds(history: dict[str, Client]) -> None:
    """A form is in "< 1 day" until exactly 24 hours, then "1-7 days"... (c8's form was made on
    14 June at 20:00)."""

    def buckets(now: dt.datetime) -> list[int]:
        return next(
            row.buckets
            for row in reads.dashboard(months=3, now=now).pending_by_branch
            if row.label.startswith("B001")
        )

    assert buckets(paris(2027, 6, 15, 19, 59)) == [1, 0, 1, 1]
    assert buckets(paris(2027, 6, 15, 20, 0)) == [0, 1, 1, 1]
    assert buckets(paris(2027, 7, 1, 10, 0)) == [0, 0, 1, 2]  # c10's form: 30 days old


def test_pending_signatures_of_one_branch(
    history: dict[str, Client], branch: Branch, advisor: Any
) -> None:
    type(advisor).objects.filter(pk=advisor.pk).update(first_name="Alice", last_name="Martin")

    data = reads.dashboard(months=6, branch=branch, now=NOW)

    assert [row.label for row in data.pending_by_branch] == ["B001 Agence Paris Opéra"]
    assert [(row.label, row.count) for row in data.pending_by_advisor] == [("Alice Martin", 3)]
    assert data.pending.count == 3


# --- 4. withdrawals ----------------------------------------------------------------------------


def test_withdrawals_by_path_and_month(history: dict[str, Client]) -> None:
    data = reads.dashboard(months=6, now=NOW)

    assert [w.counts for w in data.withdrawals] == WITHDRAWALS
    assert [w.month.start.strftime("%Y-%m") for w in data.withdrawals] == MONTHS_2027
    assert sum(w.total for w in data.withdrawals) == sum(d[2] for d in DECISIONS.values())


def test_every_journey_has_a_withdrawal_path() -> None:
    paths = {journey: reads.withdrawal_path(journey) for journey in reads.Journey.values}
    assert paths == {
        "branch_account_opening": "branch",
        "branch_contact_update": "branch",
        "branch_request": "branch",
        "digital_self_service": "customer_space",
        "digital_contact_update": "customer_space",
        "digital_account_opening": "customer_space",
        "unsubscribe_link": "unsubscribe_link",
        "sms_stop": "sms_stop",
        "double_optin_confirmation": "other",
        "system_expiry": "other",
        "system_capacity": "other",
        "erasure_request": "other",
    }
    assert reads.withdrawal_path("") == "other"


# --- empty log, bounded statements -------------------------------------------------------------


def test_an_empty_database_gives_zeros(db: None) -> None:
    data = reads.dashboard(months=3, now=NOW)

    assert rates_of(data.rates) == [(0, 0, 0)] * 3
    assert data.rates_by_branch == []
    assert data.decisions == []
    assert data.pending.count == 0
    assert data.pending_by_branch == data.pending_by_advisor == []
    assert [w.counts for w in data.withdrawals] == [[0] * 5] * 3


def test_a_period_not_offered_is_refused(db: None) -> None:
    with pytest.raises(ValueError, match="7 months"):
        reads.dashboard(months=7, now=NOW)


@pytest.mark.parametrize("months", [3, 24])
def test_the_statements_do_not_grow_with_the_data(
    history: dict[str, Client],
    client_factory: Callable[..., Client],
    other_branch: Branch,
    decide: Callable[..., Any],
    collect: Callable[..., Any],
    advisor_other_branch: Any,
    django_assert_num_queries: Any,
    months: int,
) -> None:
    with django_assert_num_queries(7):
        reads.dashboard(months=months, now=NOW)
    known = reads.branches()
    with django_assert_num_queries(6):  # the branches given
        reads.dashboard(months=months, branch=other_branch, all_branches=known, now=NOW)

    with at(2027, 6, 12, 10):
        for _ in range(15):
            more = client_factory(branch=other_branch)
            decide(more, "email", "grant")
            decide(more, "sms_push", "refuse")
            decide(more, "email", "withdraw")
            collect(more, by=advisor_other_branch, email="yes")
    with django_assert_num_queries(7):
        data = reads.dashboard(months=months, now=NOW)
    assert rates_of(data.rates) == replay(NOW, months, None)


@pytest.mark.postgres
@pytest.mark.committed
def test_on_postgresql_the_figures_are_read_in_one_snapshot(committed: None) -> None:
    """Outside any transaction the reads share one REPEATABLE READ snapshot: the states and
    the log cannot disagree about a decision committed in between."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert not connection.in_atomic_block
    with CaptureQueriesContext(connection) as queries:
        data = reads.dashboard(months=3)

    statements = [q["sql"] for q in queries.captured_queries]
    snapshot = statements.index("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    assert statements[snapshot - 1] == "BEGIN"
    assert statements[snapshot + 7] == "COMMIT"  # after the six reads
    assert rates_of(data.rates) == replay(data.now, 3, None)
    assert not connection.in_atomic_block
