"""Reads of the compliance officers' dashboard: opt-in rates per channel and branch over time,
decisions per journey, pending signatures by age, withdrawals by path (R11-R15, R27, R31-R41,
R53, R56).

Every figure is a handful of aggregate statements (GROUP BY month, channel, branch, journey)
whatever the size of the log or of the customer base: seven statements for the whole page,
none per customer or per entry.

Months are Europe/Paris months (R56); a month's figures "at its end" are those before the
first instant of the next month, and the month in progress is shown as of now. An entry
belongs to the month of its `recorded_at`: the state projection changes when the entry is
written, whatever the time of the person's act (`occurred_at`, R21).

The opt-in rate is read from the log. A consent entry opens its payload with the state change
`_state: {from, to, …}` (optin.audit); an entry *enters* `granted` when it goes to `granted`
from another state, and *leaves* it when it goes from `granted` to another state. The customers
granted at the end of a month are those granted now (`ConsentState`, which `verify_audit`
checks against the log, R53) minus the entries entering and plus those leaving since then: only
the entries of the period are read, however long the log.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Count, IntegerField, Min, Q
from django.db.models.expressions import RawSQL
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from clients.models import PARIS, Branch, Client
from optin.compliance.selectors import payload_key
from optin.models import (
    BRANCH_JOURNEYS,
    DIGITAL_JOURNEYS,
    AuditEntry,
    Channel,
    ConsentState,
    ConsentStatus,
    Journey,
)
from optin.selectors import marketing_database
from signatures.models import ConsentForm

PERIODS = (3, 6, 12, 24)  # months the page offers
DEFAULT_PERIOD = 12


def _alias() -> str:
    """The dashboard reads the replica when one is configured (DESIGN §7: read-heavy work)."""
    return marketing_database()


def _connection() -> BaseDatabaseWrapper:
    return connections[_alias()]


# The actions of consent entries, those that carry a `_state` (docs/AUDIT.md).
CONSENT_ACTIONS = (
    "consent.requested",
    "consent.granted",
    "consent.refused",
    "consent.withdrawn",
    "consent.pending_confirmation",
    "consent.confirmed",
    "consent.restored",
    "consent.lapsed",
)
# Decisions per journey: a grant is a signed form or a digital grant (consent.granted) or a
# confirmed double opt-in (consent.confirmed); a "no" that takes back a yes is a withdrawal
# (R14), as the log records it.
GRANT_ACTIONS = ("consent.granted", "consent.confirmed")
REFUSAL_ACTIONS = ("consent.refused",)
WITHDRAWAL_ACTIONS = ("consent.withdrawn",)


def state_key(key: str) -> RawSQL:
    """A text value of the payload's `_state` object (`from`, `to`, `prior`, `journey`…), per
    database like `selectors.payload_key`. `key` is a constant of the code, never user
    input."""
    if not key.isidentifier():
        raise ValueError(f"not a state key: {key!r}")
    if _connection().vendor == "postgresql":
        return RawSQL(f"((payload::jsonb) -> '_state' ->> '{key}')", [])  # noqa: S611
    return RawSQL(f"json_extract(payload, '$._state.{key}')", [])  # noqa: S611


def _state_change_sql(table: str) -> tuple[str, str, str]:
    """(joined source, `from` expression, `to` expression) reading the state change of the
    entries of `table` (an alias).

    PostgreSQL: each `state_key` would parse the payload again (three times per entry here);
    one `jsonb_to_record` per entry, in a LATERAL join the planner cannot inline, reads both
    values from a single parse: a third of the time on a log of 400,000 entries. SQLite keeps
    its parsed JSON between calls on the same text.
    """
    if _connection().vendor == "postgresql":
        source = (
            f"CROSS JOIN LATERAL jsonb_to_record(({table}.payload::jsonb) -> '_state') "
            'AS s("from" text, "to" text)'
        )
        return source, 's."from"', 's."to"'
    return "", state_key("from").sql, state_key("to").sql


def _db_time(moment: dt.datetime) -> Any:
    """A time as a raw statement's parameter: what the ORM would bind for a DateTimeField
    (SQLite compares UTC text, so an aware datetime must not be bound as is)."""
    return _connection().ops.adapt_datetimefield_value(moment)


def _passed_sql(column: str, bounds: Sequence[dt.datetime]) -> tuple[str, list[Any]]:
    """SQL numbering a time by how many of the (ascending) bounds it has reached: 0 before
    the first, len(bounds) from the last on. The bounds are months' first instants, so this
    groups by Paris month without any time zone arithmetic in the database."""
    if not bounds:
        return "0", []
    whens = " ".join(f"WHEN {column} >= %s THEN {i}" for i in range(len(bounds), 0, -1))
    return f"CASE {whens} ELSE 0 END", [_db_time(b) for b in reversed(bounds)]


# --- months ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Month:
    """A Europe/Paris month: from `start` (00:00 on the 1st) to `end` (the next month's
    start, excluded). Figures "at the month's end" are those before `end`."""

    start: dt.datetime
    end: dt.datetime
    in_progress: bool  # the current month: its figures are as of now

    @property
    def label(self) -> str:
        """The month as "nov. 2026", in the page's language."""
        return formats.date_format(self.start.date(), "N Y")

    @property
    def short_label(self) -> str:
        """The month as "nov. 26", for narrow columns."""
        return formats.date_format(self.start.date(), "N y")


def last_months(now: dt.datetime, count: int) -> list[Month]:
    """The `count` Paris months ending with the current one, oldest first."""
    local = now.astimezone(PARIS)
    current = local.year * 12 + local.month - 1
    starts = [
        dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=PARIS)
        for index in range(current - count + 1, current + 2)
    ]
    return [
        Month(start=starts[i], end=starts[i + 1], in_progress=i == count - 1) for i in range(count)
    ]


# --- 1. opt-in rates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelRate:
    channel: str
    granted: int  # customers whose state for the channel is `granted` at the month's end
    customers: int  # customers on record at the month's end

    @property
    def label(self) -> str:
        return str(Channel(self.channel).label)

    @property
    def rate(self) -> float | None:
        return self.granted / self.customers if self.customers else None

    @property
    def percent(self) -> float | None:
        return None if self.rate is None else 100 * self.rate


@dataclass(frozen=True)
class RatePoint:
    month: Month
    customers: int
    channels: list[ChannelRate]  # in Channel order


@dataclass(frozen=True)
class RateSeries:
    """The opt-in rates of one scope (a branch, or every branch when `branch` is None)."""

    branch: Branch | None
    points: list[RatePoint]

    @property
    def by_channel(self) -> list[list[ChannelRate]]:
        """The rates of each channel, month after month (a table's rows)."""
        return [[point.channels[i] for point in self.points] for i in range(len(Channel.values))]


def _granted_now(branch: Branch | None) -> dict[tuple[str, int], int]:
    """Customers granted now, per (channel, current branch of the customer)."""
    states = ConsentState.objects.using(_alias()).filter(status=ConsentStatus.GRANTED)
    if branch is not None:
        states = states.filter(client__branch=branch)
    rows = states.order_by().values_list("channel", "client__branch_id").annotate(n=Count("pk"))
    return {(channel, branch_id): n for channel, branch_id, n in rows}


def _granted_changes(
    months: Sequence[Month], branch: Branch | None
) -> dict[tuple[str, int, int], int]:
    """Net changes of the granted count per (channel, branch, months passed): +1 per entry
    entering `granted`, -1 per entry leaving it, for the entries recorded since the end of the
    first month; "months passed" counts the month ends the entry is at or after.

    One statement. The log has no foreign key to customers (it outlives them, STYLE.md): it is
    joined to their current branch by id.
    """
    ends = [month.end for month in months]
    passed, passed_params = _passed_sql("e.recorded_at", ends)
    source, from_state, to_state = _state_change_sql("e")
    actions = ", ".join(["%s"] * len(CONSENT_ACTIONS))
    branch_clause = "AND c.branch_id = %s" if branch is not None else ""
    sql = (
        f"SELECT e.channel, c.branch_id, {passed} AS passed, "  # noqa: S608 (constants only)
        f"SUM(CASE WHEN {to_state} = %s THEN 1 ELSE -1 END) "
        f"FROM {AuditEntry._meta.db_table} e {source} "
        f"JOIN {Client._meta.db_table} c ON c.id = e.client_id "
        f"WHERE e.recorded_at >= %s AND e.action IN ({actions}) "
        f"AND ({to_state} = %s) <> ({from_state} = %s) {branch_clause} "
        "GROUP BY 1, 2, 3"
    )
    granted = ConsentStatus.GRANTED.value
    params: list[Any] = [
        *passed_params,
        granted,
        _db_time(ends[0]),
        *CONSENT_ACTIONS,
        granted,
        granted,
    ]
    if branch is not None:
        params.append(branch.pk)
    with _connection().cursor() as cursor:
        cursor.execute(sql, params)
        return {(channel, branch_id, n): int(delta) for channel, branch_id, n, delta in cursor}


def _customers(months: Sequence[Month], branch: Branch | None) -> dict[int, list[int]]:
    """Customers on record at each month's end, per current branch: created before the end
    and not erased by then. One statement: one filtered count per month."""
    clients = Client.objects.using(_alias()).all()
    if branch is not None:
        clients = clients.filter(branch=branch)
    counts = {
        f"m{i}": Count(
            "pk",
            filter=Q(created_at__lt=month.end)
            & (Q(erased_at__isnull=True) | Q(erased_at__gte=month.end)),
        )
        for i, month in enumerate(months)
    }
    rows = clients.order_by().values_list("branch_id").annotate(**counts)
    return {row[0]: [int(n) for n in row[1:]] for row in rows}


def _series(
    branch: Branch | None,
    months: Sequence[Month],
    customers: Sequence[int],
    granted_now: dict[str, int],
    changes: dict[tuple[str, int], int],
) -> RateSeries:
    """`changes[(channel, passed)]`: net change of the entries having passed `passed` ends;
    the granted count at the end of month i is the count now minus the changes since (those
    having passed more than i ends)."""
    points = []
    for i, month in enumerate(months):
        channels = [
            ChannelRate(
                channel,
                granted_now.get(channel, 0)
                - sum(
                    changes.get((channel, passed), 0) for passed in range(i + 1, len(months) + 1)
                ),
                customers[i],
            )
            for channel in Channel.values
        ]
        points.append(RatePoint(month=month, customers=customers[i], channels=channels))
    return RateSeries(branch=branch, points=points)


def optin_rates(
    months: Sequence[Month], branch: Branch | None, branches: Iterable[Branch]
) -> tuple[RateSeries, list[RateSeries]]:
    """The rates of the scope (every branch, or `branch`) and of each branch with customers
    in the period (only `branch` when one is chosen). Three statements."""
    granted_now = _granted_now(branch)
    changes = _granted_changes(months, branch)
    customers = _customers(months, branch)
    by_id = {b.pk: b for b in branches}

    # Regrouped per branch in one pass each (None: the whole scope).
    now: dict[int | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    later: dict[int | None, dict[tuple[str, int], int]] = defaultdict(lambda: defaultdict(int))
    for (channel, branch_id), n in granted_now.items():
        now[branch_id][channel] += n
        now[None][channel] += n
    for (channel, branch_id, passed), delta in changes.items():
        later[branch_id][channel, passed] += delta
        later[None][channel, passed] += delta

    total = [sum(column) for column in zip(*customers.values(), strict=True)] or [0] * len(months)
    scope = _series(branch, months, total, now[None], later[None])
    rows = [
        _series(by_id[branch_id], months, counts, now[branch_id], later[branch_id])
        for branch_id, counts in customers.items()
        if any(counts) and branch_id in by_id
    ]
    rows.sort(key=lambda series: series.branch.code if series.branch else "")
    return scope, rows


# --- 2 and 4. decisions per journey, withdrawals by path ----------------------------------------


@dataclass(frozen=True)
class JourneyDecisions:
    journey: str
    label: str
    grants: int
    refusals: int
    withdrawals: int

    @property
    def total(self) -> int:
        return self.grants + self.refusals + self.withdrawals


class WithdrawalPath(models.TextChoices):
    CUSTOMER_SPACE = "customer_space", _("espace client")
    UNSUBSCRIBE_LINK = "unsubscribe_link", _("lien de désabonnement")
    SMS_STOP = "sms_stop", _("STOP SMS")
    BRANCH = "branch", _("agence")
    OTHER = "other", _("autre (effacement, système…)")


def withdrawal_path(journey: str) -> WithdrawalPath:
    """R38: the path a withdrawal took, from its journey."""
    if journey in DIGITAL_JOURNEYS:
        return WithdrawalPath.CUSTOMER_SPACE
    if journey == Journey.UNSUBSCRIBE_LINK:
        return WithdrawalPath.UNSUBSCRIBE_LINK
    if journey == Journey.SMS_STOP:
        return WithdrawalPath.SMS_STOP
    if journey in BRANCH_JOURNEYS:
        return WithdrawalPath.BRANCH
    return WithdrawalPath.OTHER


@dataclass(frozen=True)
class MonthWithdrawals:
    month: Month
    counts: list[int]  # in WithdrawalPath order

    @property
    def total(self) -> int:
        return sum(self.counts)


# (month index in the period, action, journey, entries)
DecisionCount = tuple[int, str, str, int]


def decision_counts(months: Sequence[Month], branch: Branch | None) -> list[DecisionCount]:
    """The grants, refusals and withdrawals recorded in the period, counted per month, action
    and journey (the payload's `journey`): what both figures are made of. One statement, so the
    period's entries are read once."""
    entries = (
        AuditEntry.objects.using(_alias())
        .order_by()
        .filter(
            recorded_at__gte=months[0].start,
            recorded_at__lt=months[-1].end,
            action__in=GRANT_ACTIONS + REFUSAL_ACTIONS + WITHDRAWAL_ACTIONS,
        )
    )
    if branch is not None:
        # The customers of the branch now, like the rates (no foreign key: by id).
        entries = entries.filter(
            client_id__in=Client.objects.using(_alias()).filter(branch=branch).values("pk")
        )
    month, params = _passed_sql("recorded_at", [m.start for m in months[1:]])
    rows = (
        entries.annotate(
            month=RawSQL(month, params, output_field=IntegerField()),  # noqa: S611
            journey=payload_key("journey"),
        )
        .values_list("month", "action", "journey")
        .annotate(n=Count("pk"))
    )
    return [(int(m), action, journey or "", int(n)) for m, action, journey, n in rows]


def _journey_label(journey: str) -> str:
    return str(Journey(journey).label) if journey in Journey.values else journey or "—"


def decisions_by_journey(counts: Iterable[DecisionCount]) -> list[JourneyDecisions]:
    """Grants (a signed form, a digital grant, a confirmed double opt-in), refusals and
    withdrawals per journey, in the order of `Journey`; journeys without any left out."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for _month, action, journey, n in counts:
        if action in GRANT_ACTIONS:
            totals[journey][0] += n
        elif action in REFUSAL_ACTIONS:
            totals[journey][1] += n
        elif action in WITHDRAWAL_ACTIONS:
            totals[journey][2] += n
    order = {journey: i for i, journey in enumerate(Journey.values)}
    return [
        JourneyDecisions(journey, _journey_label(journey), *totals[journey])
        for journey in sorted(totals, key=lambda j: (order.get(j, len(order)), j))
    ]


def withdrawals_by_path(
    months: Sequence[Month], counts: Iterable[DecisionCount]
) -> list[MonthWithdrawals]:
    """Withdrawals per month and path (R38-R41)."""
    paths = list(WithdrawalPath.values)
    table = [[0] * len(paths) for _month in months]
    for month, action, journey, n in counts:
        if action in WITHDRAWAL_ACTIONS:
            table[month][paths.index(withdrawal_path(journey))] += n
    return [MonthWithdrawals(month, table[i]) for i, month in enumerate(months)]


# --- 3. pending signatures ---------------------------------------------------------------------


class AgeBucket(models.TextChoices):
    UNDER_A_DAY = "day", _("moins d'un jour")
    UNDER_A_WEEK = "week", _("1 à 7 jours")
    UNDER_A_MONTH = "month", _("7 à 30 jours")
    OVER_A_MONTH = "older", _("plus de 30 jours")


# The ages at which each bucket begins, after the first (R28: a form expires after 30 days).
AGE_LIMITS = (dt.timedelta(days=1), dt.timedelta(days=7), dt.timedelta(days=30))


@dataclass(frozen=True)
class PendingAges:
    """Pending forms of a branch or an advisor: how many, since when, by age."""

    label: str
    branch: str  # the branch's name (an advisor's row: their own branch)
    count: int
    oldest: dt.datetime | None
    age: dt.timedelta | None  # of the oldest
    buckets: list[int]  # in AgeBucket order


def _age_counts(now: dt.datetime) -> dict[str, Any]:
    """Filtered counts per age bucket: < 1 day, 1-7 days, 7-30 days, > 30 days."""
    day, week, month = (now - limit for limit in AGE_LIMITS)
    return {
        "n": Count("pk"),
        "oldest": Min("created_at"),
        AgeBucket.UNDER_A_DAY: Count("pk", filter=Q(created_at__gt=day)),
        AgeBucket.UNDER_A_WEEK: Count("pk", filter=Q(created_at__lte=day, created_at__gt=week)),
        AgeBucket.UNDER_A_MONTH: Count("pk", filter=Q(created_at__lte=week, created_at__gt=month)),
        AgeBucket.OVER_A_MONTH: Count("pk", filter=Q(created_at__lte=month)),
    }


def _pending_row(label: str, branch: str, row: Mapping[str, Any], now: dt.datetime) -> PendingAges:
    oldest = row["oldest"]
    return PendingAges(
        label=label,
        branch=branch,
        count=row["n"],
        oldest=oldest,
        age=now - oldest if oldest is not None else None,
        buckets=[row[bucket] for bucket in AgeBucket.values],
    )


def _staff_name(first: str, last: str, username: str) -> str:
    return " ".join(part for part in (first, last) if part) or username


def pending_signatures(
    now: dt.datetime, branch: Branch | None
) -> tuple[PendingAges, list[PendingAges], list[PendingAges]]:
    """Pending forms (R27) in total, per branch (the customer's current branch, as the
    pending forms page scopes them) and per advisor who collected the answers. Two
    statements."""
    now = now.astimezone(dt.UTC)  # exact ages across a change of summer time
    forms = ConsentForm.objects.using(_alias()).pending().order_by()
    if branch is not None:
        forms = forms.filter(client__branch=branch)
    counts = _age_counts(now)
    by_branch = [
        _pending_row(f"{row['client__branch__code']} {row['client__branch__name']}", "", row, now)
        for row in forms.values(
            "client__branch_id", "client__branch__code", "client__branch__name"
        ).annotate(**counts)
    ]
    by_branch.sort(key=lambda row: row.label)
    by_advisor = [
        _pending_row(
            _staff_name(
                row["advisor__first_name"], row["advisor__last_name"], row["advisor__username"]
            ),
            row["advisor__staff_profile__branch__name"] or "",
            row,
            now,
        )
        for row in forms.values(
            "advisor_id",
            "advisor__first_name",
            "advisor__last_name",
            "advisor__username",
            "advisor__staff_profile__branch__name",
        ).annotate(**counts)
    ]
    # Most urgent first (R27: oldest first).
    by_advisor.sort(key=lambda row: (row.oldest or now, row.label))
    oldest = min((row.oldest for row in by_branch if row.oldest), default=None)
    total = PendingAges(
        label=str(_("Toutes les agences")) if branch is None else str(branch),
        branch="",
        count=sum(row.count for row in by_branch),
        oldest=oldest,
        age=now - oldest if oldest is not None else None,
        buckets=[sum(column) for column in zip(*(row.buckets for row in by_branch), strict=True)]
        or [0] * len(AgeBucket.values),
    )
    return total, by_branch, by_advisor


# --- the page ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    now: dt.datetime
    months: list[Month]
    branch: Branch | None  # the branch chosen, None for every branch
    rates: RateSeries  # the scope: every branch, or the branch chosen
    rates_by_branch: list[RateSeries]
    decisions: list[JourneyDecisions]
    pending: PendingAges
    pending_by_branch: list[PendingAges]
    pending_by_advisor: list[PendingAges]
    withdrawals: list[MonthWithdrawals]

    @property
    def since(self) -> dt.datetime:
        return self.months[0].start

    @property
    def decisions_total(self) -> JourneyDecisions:
        return JourneyDecisions(
            journey="",
            label=str(_("Total")),
            grants=sum(d.grants for d in self.decisions),
            refusals=sum(d.refusals for d in self.decisions),
            withdrawals=sum(d.withdrawals for d in self.decisions),
        )


def branches() -> list[Branch]:
    """Every branch, by code (the page's filter, and the names of its rows)."""
    return list(Branch.objects.using(_alias()).order_by("code"))


def dashboard(
    *,
    months: int = DEFAULT_PERIOD,
    branch: Branch | None = None,
    all_branches: Sequence[Branch] | None = None,
    now: dt.datetime | None = None,
) -> Dashboard:
    """The dashboard's figures over the last `months` months, for every branch or one.

    Six statements (seven without `all_branches`; on PostgreSQL one more opens the snapshot),
    whatever the number of customers, forms or log entries.
    """
    if months not in PERIODS:
        raise ValueError(f"period of {months} months not offered")
    # In UTC: an aware datetime minus a timedelta counts in its own zone's wall-clock time,
    # which across a change of summer time is an hour off.
    now = (now or timezone.now()).astimezone(dt.UTC)
    known = list(all_branches) if all_branches is not None else branches()
    if _connection().vendor == "postgresql" and not _connection().in_atomic_block:
        # The rates subtract the log from the states: both must be read in one snapshot, or a
        # decision committed in between would be counted once in one and not in the other.
        # (SQLite reads are not worth a transaction: its transactions take the write lock.)
        with transaction.atomic(using=_alias()):
            with _connection().cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return _dashboard(last_months(now, months), branch, known, now)
    return _dashboard(last_months(now, months), branch, known, now)


def _dashboard(
    period: list[Month], branch: Branch | None, known: Sequence[Branch], now: dt.datetime
) -> Dashboard:
    rates, rates_by_branch = optin_rates(period, branch, known)
    counts = decision_counts(period, branch)
    pending, pending_by_branch, pending_by_advisor = pending_signatures(now, branch)
    return Dashboard(
        now=now,
        months=period,
        branch=branch,
        rates=rates,
        rates_by_branch=rates_by_branch,
        decisions=decisions_by_journey(counts),
        pending=pending,
        pending_by_branch=pending_by_branch,
        pending_by_advisor=pending_by_advisor,
        withdrawals=withdrawals_by_path(period, counts),
    )
