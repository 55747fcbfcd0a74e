"""Benchmark of the retention purge on PostgreSQL: ``manage.py purge_retention`` on 200,000 clients.

    python benchmarks/retention.py [--clients N] [--due N] [--suppression N] [--plans N]
                                   [--profile] [--keep] [--no-docs]

Run from the project root (``make benchmark``). DATABASE_URL names the PostgreSQL server and a
scratch database name starting with ``optin_bench`` (default
postgres://postgres@127.0.0.1:5432/optin_bench); this benchmark works in its own database, that
name followed by ``_retention``, which it drops, creates afresh and migrates, and drops again at
the end unless ``--keep``. Keys (master key, checkpoint key) come from ``manage.py
create_local_keys`` in a temporary directory.

1. Data: ``--clients`` clients (default 200,000) in 40 branches, their history spread over the
   four and a half years before today (after the five years of R63's proof: no key or form of
   R63 is due). ``--due`` of them (default 10,000) are due today: four in five are prospects
   collected more than three years ago whose last contact is too (R60), one in five former
   customers whose relationship ended more than three years ago (R61). Lookalikes that are not
   due: as many prospects collected two years ago and recontacted lately, and prospects
   collected over three years ago who came back within them (half as many each), and former
   customers whose relationship ended two years ago (one in five of ``--due``). The others are
   customers. The log is the synthetic history of ``benchmarks/audit_log.py``
   (``HistoryBuilder``: creations and consent decisions shaped like the services', personal
   values as ciphertext of their length), here in time order, with the status each client was
   created with and a ``client.identity_changed`` entry when a relationship ended; it is
   chained in Python and loaded with COPY, then the clients (``last_contact_at``: their latest
   decision, R60), both consent states of each (matching the log), their data keys (wrapped
   by the master key, named by the log's sealed values) and ``--suppression`` suppression-list
   entries older than three years (default 3,000) beside as many recent ones; one client in ten
   has an entry in the Django admin's history (which an erasure renames). A signed checkpoint,
   then VACUUM ANALYZE.
2. Dry run: ``privacy.retention.plan()`` (what ``purge_retention --dry-run`` lists), ``--plans``
   times (default 3), its statements counted; it must find exactly what the data made due.
3. Purge: ``privacy.retention.purge_retention()`` once, as the command runs it: wall time,
   erasures per second (over the whole run, and in its first and last tenth), statements by
   kind per erasure and their time in the driver, the commits' time, the process's CPU time,
   a ``SELECT 1`` round trip just before (the machine's state), peak memory growth (the
   process's resident set: its high-water mark is reset before, on Linux); then the erased
   clients, the lookalikes and the suppression list are checked. ``--profile`` runs it under
   cProfile (slower) and lists where the time goes.
4. Second run: ``manage.py purge_retention`` again the same day: it must purge nothing, write
   no row and append no log entry.
5. ``manage.py verify_audit``: the chain, the checkpoint and every consent state.

Prints a Markdown report, writes it into docs/PERFORMANCE.md (section "Retention purge", the
other sections are kept) and exits 1 when a target is missed: dry run ≤ 10 s, ≥ 50 erasures per
second, peak memory growth ≤ 300 MB, a second run that changes nothing, a log that verifies.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import ctypes
import ctypes.util
import datetime as dt
import gc
import io
import itertools
import os
import pstats
import random
import re
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from audit_log import (
    BRANCHES,
    CHANNELS,
    COPY_BATCH,
    DEFAULT_DATABASE_URL,
    WEB,
    BenchmarkError,
    HistoryBuilder,
    HistoryClient,
    LogRow,
    Projection,
    close_connections,
    configure_django,
    create_database,
    drop_database,
    log,
    machine_description,
    scratch_database,
    settle_database,
)
from psycopg import sql
from report import conclude, wrap

SECTION_TITLE = "## Retention purge"
DATABASE_SUFFIX = "_retention"

# Targets.
DRY_RUN_TARGET_S = 10.0  # the slowest of the dry runs
ERASURE_RATE_TARGET = 50.0  # erasures per second over the whole purge
MEMORY_TARGET_MB = 300.0  # growth of the resident set during the purge

SEED = 20_261_207
DAY = dt.timedelta(days=1)
# The history starts this long before today: after the cutoff of R63's proof (five years), so
# that the purge's erasures are all it finds (no signed form, no key of an ended consent due).
HISTORY_YEARS = 4.5
FORMER_SHARE = 0.2  # of the due clients, and of --due for the former customers not due
MARGIN = 30 * DAY  # between any date of the data and the cutoff it must fall on one side of
ADMIN_HISTORY_EVERY = 10  # one client in ten has been changed once through the Django admin
PROFILE_LINES = 12


# --- the clients and their history ---------------------------------------------------------


@dataclass(frozen=True)
class Group:
    name: str
    status: str  # at the end: former customers are created as customers
    due: bool
    label: str  # as the report describes it


GROUPS = {
    group.name: group
    for group in (
        Group(
            "prospect_due",
            "prospect",
            True,
            "prospects collected 3.5-4.5 years ago, last contact over 3 years ago (R60)",
        ),
        Group(
            "former_due",
            "former_customer",
            True,
            "former customers whose relationship ended over 3 years ago (R61)",
        ),
        Group(
            "prospect_young",
            "prospect",
            False,
            "prospects collected 2 years ago, last contact in the last 6 months",
        ),
        Group(
            "prospect_back",
            "prospect",
            False,
            "prospects collected over 3 years ago, last contact within 3 years",
        ),
        Group(
            "former_recent",
            "former_customer",
            False,
            "former customers whose relationship ended 2 years ago",
        ),
        Group("customer", "customer", False, "customers, collected any time in the history"),
    )
}


@dataclass(slots=True)
class Planned:
    """One client's life: when collected, when they made decisions, when the relationship
    ended (former customers)."""

    index: int
    group: str
    created: dt.datetime
    decisions: list[dt.datetime]
    ended: dt.date | None = None


def group_counts(clients: int, due: int) -> dict[str, int]:
    former_due = round(due * FORMER_SHARE)
    counts = {
        "prospect_due": due - former_due,
        "former_due": former_due,
        "prospect_young": due // 2,
        "prospect_back": due // 2,
        "former_recent": round(due * FORMER_SHARE),
    }
    counts["customer"] = clients - sum(counts.values())
    return counts


def between(rng: random.Random, low: dt.datetime, high: dt.datetime) -> dt.datetime:
    if high <= low:
        return low
    return low + dt.timedelta(seconds=rng.uniform(0, (high - low).total_seconds()))


def moments(rng: random.Random, count: int, low: dt.datetime, high: dt.datetime) -> list[Any]:
    if count <= 0 or high <= low:
        return []
    return sorted(between(rng, low, high) for _ in range(count))


def at_ten(day: dt.date) -> dt.datetime:
    """The moment a relationship's end is recorded: that day, 10:00 Paris."""
    from clients.models import PARIS

    return dt.datetime.combine(day, dt.time(10), tzinfo=PARIS)


def plan_clients(counts: dict[str, int], now: dt.datetime, rng: random.Random) -> list[Planned]:
    """Every client's schedule, group by group, each at least MARGIN from the cutoffs."""
    from privacy.retention import Cutoffs, start_of_day

    cut = Cutoffs.on(now)
    start = now - dt.timedelta(days=round(365.25 * HISTORY_YEARS))
    prospect = cut.prospect  # R60: collection and last contact before it
    former = start_of_day(cut.former_customer)  # R61: relationship ended on or before it
    two_years = now - dt.timedelta(days=730)
    recent = now - 180 * DAY
    planned: list[Planned] = []

    def add(group: str, created: dt.datetime, decisions: list[Any], ended: Any = None) -> None:
        planned.append(Planned(len(planned), group, created, decisions, ended))

    for _ in range(counts["prospect_due"]):
        created = between(rng, start, prospect - 200 * DAY)
        count = rng.choices((0, 1, 2, 3), weights=(1, 2, 2, 1))[0]
        add("prospect_due", created, moments(rng, count, created + DAY, prospect - MARGIN))
    for _ in range(counts["former_due"]):
        created = between(rng, start, former - 400 * DAY)
        ended = between(rng, created + 60 * DAY, former - MARGIN)
        count = rng.randrange(5)
        add("former_due", created, moments(rng, count, created + DAY, ended), ended.date())
    for _ in range(counts["prospect_young"]):
        created = between(rng, two_years - 60 * DAY, two_years + 60 * DAY)
        last = between(rng, recent, now - DAY)
        count = rng.randrange(3)
        add("prospect_young", created, [*moments(rng, count, created + DAY, recent), last])
    for _ in range(counts["prospect_back"]):
        created = between(rng, start, prospect - 100 * DAY)
        last = between(rng, prospect + MARGIN, now - DAY)
        count = rng.randrange(3)
        add("prospect_back", created, [*moments(rng, count, created + DAY, last), last])
    for _ in range(counts["former_recent"]):
        created = between(rng, start, two_years - 200 * DAY)
        ended = between(rng, two_years - 60 * DAY, two_years + 60 * DAY)
        count = rng.randrange(5)
        add("former_recent", created, moments(rng, count, created + DAY, ended), ended.date())
    for _ in range(counts["customer"]):
        created = between(rng, start, now - 2 * DAY)
        count = rng.randrange(5)
        add("customer", created, moments(rng, count, created + DAY, now - dt.timedelta(hours=1)))
    return planned


class RetentionHistory(HistoryBuilder):
    """audit_log's HistoryBuilder, with the creation entry of today's `create_client` (the
    status the client was created with, `on_suppression_list`), the end of a relationship, and
    each client's latest decision (R60's last contact coming from them)."""

    def __init__(
        self, rng: random.Random, wordings: dict[str, tuple[str, str]], statuses: dict[int, str]
    ) -> None:
        super().__init__(rng, wordings)
        self.statuses = statuses  # client id -> status at creation
        self.last_contact: dict[int, dt.datetime] = {}

    def _creation(self, client: HistoryClient, moment: dt.datetime) -> LogRow:
        actor = self._advisor(client.branch) if self.rng.random() < 0.6 else WEB
        payload: dict[str, Any] = {
            "kind": "individual",
            "is_legal_entity": False,
            "branch": client.branch,
            "status": self.statuses[client.id],
            "legal_capacity": "full",
            "protection_measure": "",
            "objection_notice_shown": False,
            "on_suppression_list": [],
            "personal": self._sealed(client, client.identity_length),
        }
        return self._append(
            moment=moment,
            occurred=moment,
            actor=actor,
            action="client.created",
            client=client,
            channel="",
            wording_version="",
            payload=payload,
        )

    def _decision(self, client: HistoryClient, moment: dt.datetime) -> LogRow:
        row = super()._decision(client, moment)
        self.last_contact[client.id] = row[2]  # occurred_at: a decision is a contact (R60)
        return row

    def relationship_ended(self, client: HistoryClient, day: dt.date) -> LogRow:
        # What clients.services.update_client_identity logs (status and end date in clear).
        return self._append(
            moment=at_ten(day),
            occurred=at_ten(day),
            actor=self._advisor(client.branch),
            action="client.identity_changed",
            client=client,
            channel="",
            wording_version="",
            payload={
                "changed": ["relationship_ended_on", "status"],
                "relationship_ended_on": day.isoformat(),
                "status": "former_customer",
            },
        )


FIRST_NAMES = ("Jeanne", "Louis", "Camille", "Hugo", "Léa", "Nathalie", "Karim", "Inès")


def identity(n: int) -> dict[str, Any]:
    """The personal fields of client n, shaped like Client.as_identity()."""
    return {
        "civility": "",
        "first_name": FIRST_NAMES[n % len(FIRST_NAMES)],
        "last_name": f"Martin-{n}",
        "birth_date": dt.date(1945 + n % 60, 1 + n % 12, 1 + n % 28).isoformat(),
        "email": f"client.{n}@exemple.fr",
        "mobile": f"+336{n:08d}",
    }


def copy_into(model: Any, names: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY `rows` into the model's table, one transaction: the columns `names`, then every
    other column but an automatic id with its model default (COPY applies none of Django's)."""
    from django.db import connection, transaction

    columns, defaults = list(names), []
    for f in model._meta.concrete_fields:
        if f.column in names or f.primary_key:
            continue
        if f.has_default():
            defaults.append(f.get_default())
        elif f.null:
            defaults.append(None)
        else:
            raise BenchmarkError(f"no value for the column {f.column} of {model._meta.db_table}")
        columns.append(f.column)
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(model._meta.db_table),
        sql.SQL(", ").join(sql.Identifier(name) for name in columns),
    )
    written = 0
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(copy_sql) as copy:
        for row in rows:
            copy.write_row([*row, *defaults])
            written += 1
    return written


@dataclass
class DataFigures:
    groups: dict[str, int] = field(default_factory=dict)
    entries: int = 0  # of the log once loaded
    states: int = 0
    keys: int = 0
    granted_due: int = 0  # channels of due clients in use: the purge logs their lapse
    suppression_old: int = 0
    suppression_recent: int = 0
    admin_history: int = 0  # django_admin_log rows of clients
    seconds: float = 0.0
    history_start: dt.date | None = None
    due_ids: frozenset[int] = frozenset()
    client_mb: float = 0.0
    log_mb: float = 0.0

    @property
    def clients(self) -> int:
        return sum(self.groups.values())

    def due(self, *groups: str) -> int:
        return sum(self.groups[g] for g in groups)


def create_wordings(published_at: dt.datetime) -> dict[str, tuple[str, str]]:
    """Migration 0003's wordings are published on 2026-11-23, after most of this history: the
    decisions name wordings of their own, published before it (as audit_log's history does)."""
    from optin.models import Wording, text_sha256

    wordings: dict[str, tuple[str, str]] = {}
    for channel in CHANNELS:
        text = f"Formulation {channel} en vigueur avant la version 1 (benchmark)."
        wording = Wording.objects.create(
            channel=channel,
            version=f"{channel}-v0",
            text=text,
            sha256=text_sha256(text),
            published_at=published_at,
            active=False,
        )
        wordings[channel] = (wording.version, wording.sha256)
    return wordings


def load_log(planned: Sequence[Planned], people: Sequence[HistoryClient], builder: Any) -> int:
    """Every client's collection, decisions and end of relationship, in time order, chained
    by `builder` and loaded with COPY (COPY_BATCH entries per transaction)."""
    from django.db import connection, transaction

    from optin import audit
    from optin.models import AuditEntry

    # (moment, tie-break, kind, client index): 0 collected, 1 a decision, 2 relationship ended
    events: list[tuple[dt.datetime, int, int, int]] = []
    order = itertools.count()
    for p in planned:
        events.append((p.created, next(order), 0, p.index))
        events.extend((moment, next(order), 1, p.index) for moment in p.decisions)
        if p.ended is not None:
            events.append((at_ten(p.ended), next(order), 2, p.index))
    events.sort()

    def rows() -> Iterator[LogRow]:
        for moment, _order, kind, index in events:
            if kind == 0:
                yield builder._creation(people[index], moment)
            elif kind == 1:
                yield builder._decision(people[index], moment)
            else:
                ended = planned[index].ended
                assert ended is not None  # noqa: S101 (kind 2 is only scheduled with it)
                yield builder.relationship_ended(people[index], ended)

    log(f"log: {len(events):,} entries on {len(planned):,} clients")
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(AuditEntry._meta.db_table),
        sql.SQL(", ").join(sql.Identifier(name) for name in audit.ROW_FIELDS),
    )
    stream = rows()
    for first in range(0, len(events), COPY_BATCH):
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.cursor.copy(copy_sql) as copy,
        ):
            for row in itertools.islice(stream, COPY_BATCH):
                copy.write_row(row)
        log(f"  log entries {min(first + COPY_BATCH, len(events)):,} / {len(events):,}")
    return len(events)


def load_clients(
    planned: Sequence[Planned],
    people: Sequence[HistoryClient],
    branch_ids: Sequence[int],
    last_contact: dict[int, dt.datetime],
) -> int:
    """The client rows, with the ids the log names: `last_contact_at` is the latest decision
    (R60: a contact coming from the person), `updated_at` that or the collection."""
    from django.db import connection

    from clients.models import Client, search_key

    def rows() -> Iterator[list[Any]]:
        for p, person in zip(planned, people, strict=True):
            who = identity(p.index)
            yield [
                person.id,
                person.number,
                "individual",
                who["first_name"],
                who["last_name"],
                search_key(f"{who['last_name']} {who['first_name']}"),
                dt.date.fromisoformat(who["birth_date"]),
                person.email,
                person.mobile,
                branch_ids[p.index % BRANCHES],
                GROUPS[p.group].status,
                p.ended,
                last_contact.get(person.id),
                p.created,
                last_contact.get(person.id, p.created),
            ]

    columns = (
        "id",
        "client_number",
        "kind",
        "first_name",
        "last_name",
        "search_name",
        "birth_date",
        "email",
        "mobile",
        "branch_id",
        "status",
        "relationship_ended_on",
        "last_contact_at",
        "created_at",
        "updated_at",
    )
    written = copy_into(Client, columns, rows())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('clients_client', 'id'), "
            "(SELECT max(id) FROM clients_client))"
        )
    return written


IN_USE = frozenset({"granted", "pending_signature", "pending_confirmation"})


def load_states(
    planned: Sequence[Planned], states: dict[tuple[int, str], Projection], figures: DataFigures
) -> None:
    """Both consent states of every client, as the log leaves them."""
    from optin.models import ConsentState

    def rows() -> Iterator[list[Any]]:
        for p in planned:
            for channel in CHANNELS:
                s = states.get((p.index + 1, channel)) or Projection()
                if GROUPS[p.group].due and s.status in IN_USE:
                    figures.granted_due += 1
                yield [
                    p.index + 1,
                    channel,
                    s.status,
                    s.prior,
                    s.since,
                    s.journey,
                    s.wording_version,
                    s.last_seq,
                ]

    columns = (
        "client_id",
        "channel",
        "status",
        "prior_status",
        "since",
        "journey",
        "wording_version",
        "last_seq",
    )
    figures.states = copy_into(ConsentState, columns, rows())


def load_keys(planned: Sequence[Planned], people: Sequence[HistoryClient]) -> int:
    """The key each client's sealed values name, wrapped like crypto.ensure_client_key does:
    the purge seals the lapse entries' contact points with it before destroying it."""
    from optin import crypto
    from optin.models import ClientKey

    master_id = crypto.master_key_id()
    return copy_into(
        ClientKey,
        ("client_id", "key_id", "wrapped_key", "master_key_id", "created_at"),
        (
            [person.id, person.key_id, crypto.wrap(person.id, os.urandom(32)), master_id, p.created]
            for p, person in zip(planned, people, strict=True)
        ),
    )


def load_suppression(count: int, start: dt.datetime, now: dt.datetime, rng: random.Random) -> None:
    """`count` entries whose latest objection is older than OPTIN_SUPPRESSION_YEARS, as many
    recent ones; contact points of people who are not clients (any more)."""
    from optin.models import SuppressionEntry
    from optin.services import suppression_digest
    from privacy.retention import Cutoffs

    cutoff = Cutoffs.on(now).suppression

    def rows() -> Iterator[list[Any]]:
        for n in range(2 * count):
            channel = CHANNELS[n % 2]
            point = f"ancien.{n}@exemple.fr" if channel == "email" else f"+3367{n:08d}"
            if n < count:
                when = between(rng, start, cutoff - MARGIN)
            else:
                when = between(rng, cutoff + MARGIN, now - DAY)
            yield [channel, suppression_digest(point), when]

    copy_into(SuppressionEntry, ("channel", "digest", "created_at"), rows())


def load_admin_history(planned: Sequence[Planned], rng: random.Random) -> int:
    """One client in ADMIN_HISTORY_EVERY changed once through the Django admin: the history
    an erasure renames (privacy.services._scrub_admin_history)."""
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.auth.models import User
    from django.contrib.contenttypes.models import ContentType

    from clients.models import Client

    admin = User.objects.create(username="admin", is_staff=True, is_superuser=True)
    client_type = ContentType.objects.get_for_model(Client)
    message = '[{"changed": {"fields": ["E-mail", "Mobile (E.164)"]}}]'
    return copy_into(
        LogEntry,
        (
            "action_time",
            "user_id",
            "content_type_id",
            "object_id",
            "object_repr",
            "action_flag",
            "change_message",
        ),
        (
            [
                between(rng, p.created, p.created + 30 * DAY),
                admin.pk,
                client_type.pk,
                str(p.index + 1),
                f"R{p.index + 1:07d} {identity(p.index)['first_name']} Martin-{p.index}",
                CHANGE,
                message,
            ]
            for p in planned
            if p.index % ADMIN_HISTORY_EVERY == 0
        ),
    )


def load(clients: int, due: int, suppression: int) -> DataFigures:
    """The clients, their log, states and keys, the suppression list and the admin's history
    (module docstring)."""
    from django.utils import timezone

    from clients.models import Branch
    from optin import audit

    started = time.perf_counter()
    now = timezone.now()
    rng = random.Random(SEED)
    figures = DataFigures(groups=group_counts(clients, due))
    planned = plan_clients(figures.groups, now, rng)
    start = min(p.created for p in planned)
    figures.history_start = start.date()
    branches = Branch.objects.bulk_create(
        [Branch(code=f"A{n:03d}", name=f"Agence {n}") for n in range(BRANCHES)]
    )
    wordings = create_wordings(published_at=start - 30 * DAY)

    # Ids are given here (the table is empty): the log names the clients before they are loaded.
    people = [
        HistoryClient(
            id=p.index + 1,
            number=f"R{p.index + 1:07d}",
            email=f"client.{p.index}@exemple.fr",
            mobile=f"+336{p.index:08d}",
            branch=branches[p.index % BRANCHES].code,
            key_id=rng.randbytes(8).hex(),
            identity_length=len(audit.canonical_json(identity(p.index))),
        )
        for p in planned
    ]
    # Former customers were customers when collected.
    statuses = {
        p.index + 1: "prospect" if GROUPS[p.group].status == "prospect" else "customer"
        for p in planned
    }
    builder = RetentionHistory(rng, wordings, statuses)
    figures.entries = load_log(planned, people, builder)
    load_clients(planned, people, [b.pk for b in branches], builder.last_contact)
    log(f"  clients {len(planned):,}")
    load_states(planned, builder.states, figures)
    log(f"  consent states {figures.states:,}")
    figures.keys = load_keys(planned, people)
    log(f"  client keys {figures.keys:,}")
    load_suppression(suppression, start, now, rng)
    figures.suppression_old = figures.suppression_recent = suppression
    figures.admin_history = load_admin_history(planned, rng)
    figures.due_ids = frozenset(p.index + 1 for p in planned if GROUPS[p.group].due)
    figures.seconds = time.perf_counter() - started
    log(
        f"  suppression entries {2 * suppression:,}, admin history {figures.admin_history:,}; "
        f"data loaded in {figures.seconds:.1f} s"
    )
    return figures


def table_sizes() -> tuple[float, float]:
    """clients_client and the log, tables with their indexes, in MB."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size('clients_client'), "
            "pg_total_relation_size('optin_auditentry')"
        )
        clients, entries = cursor.fetchone()
    return clients / 1024**2, entries / 1024**2


# --- measuring ------------------------------------------------------------------------------

_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', re.IGNORECASE)
_FUNCTION = re.compile(r"^SELECT\s+(\w+)\(", re.IGNORECASE)
WRITES = ("INSERT", "UPDATE", "DELETE")


@dataclass
class Statements:
    """Statements run through Django's connection, by kind ("SELECT clients_client"): how
    many, their time in the driver, and the rows the writes changed."""

    count: Counter[str] = field(default_factory=Counter)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    rows_written: int = 0
    commits: int = 0
    commit_seconds: float = 0.0
    _shapes: dict[str, str] = field(default_factory=dict)

    def shape(self, statement: str) -> str:
        found = self._shapes.get(statement)
        if found is None:
            text = statement.lstrip()
            verb = text.split(None, 1)[0].upper()
            if verb in ("SAVEPOINT", "RELEASE", "ROLLBACK"):
                found = "SAVEPOINT" if verb == "SAVEPOINT" else f"{verb} SAVEPOINT"
            elif (function := _FUNCTION.match(text)) and " FROM " not in text.upper():
                found = f"SELECT {function.group(1)}()"
            else:
                table = _TABLE.search(text)
                found = f"{verb} {table.group(1) if table else '?'}"
            self._shapes[statement] = found
        return found

    def __call__(
        self, execute: Callable[..., Any], statement: str, params: Any, many: bool, context: Any
    ) -> Any:
        started = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            kind = self.shape(statement)
            self.count[kind] += 1
            self.seconds[kind] += time.perf_counter() - started
            if kind.startswith(WRITES):
                self.rows_written += max(0, context["cursor"].rowcount or 0)

    @property
    def total(self) -> int:
        return sum(self.count.values())

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


@contextlib.contextmanager
def counting() -> Iterator[Statements]:
    """Statements counted meanwhile, and the commits timed: an execute wrapper sees no
    COMMIT, which Django sends through the driver's own method."""
    from django.db import connection

    statements = Statements()
    commit = connection.commit

    def timed_commit() -> None:
        started = time.perf_counter()
        try:
            commit()
        finally:
            statements.commits += 1
            statements.commit_seconds += time.perf_counter() - started

    connection.commit = timed_commit  # type: ignore[method-assign]
    try:
        with connection.execute_wrapper(statements):
            yield statements
    finally:
        del connection.commit  # the class's method again


def head() -> int:
    from optin.integrity import head_seq

    return head_seq()


def _status_kb(name: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise OSError(f"no {name} in /proc/self/status")


@dataclass
class MemoryProbe:
    """Growth of the resident set over a measure: the kernel's high-water mark (VmHWM),
    reset first through /proc/self/clear_refs (Linux); elsewhere getrusage's maxrss, which
    cannot be reset (the growth is then only what exceeds the earlier peak)."""

    method: str = ""
    before_kb: int = 0

    def start(self) -> None:
        gc.collect()
        # Memory freed by the loading goes back to the system first, so that the purge's
        # allocations show in the resident set rather than reusing the heap's free lists.
        libc_name = ctypes.util.find_library("c")
        if libc_name:
            with contextlib.suppress(OSError, AttributeError):
                ctypes.CDLL(libc_name).malloc_trim(0)
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
                refs.write("5")
            self.before_kb = _status_kb("VmRSS")
            self.method = "VmHWM after a reset"
        except OSError:
            self.before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            self.method = "maxrss (not reset)"

    def growth_mb(self) -> float:
        if self.method.startswith("VmHWM"):
            peak = _status_kb("VmHWM")
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return max(0, peak - self.before_kb) / 1024


@dataclass
class DryRunFigures:
    times_s: list[float] = field(default_factory=list)
    statements: int = 0
    sql_s: float = 0.0
    by_kind: list[tuple[str, int, float]] = field(default_factory=list)  # of the last run
    counts: dict[str, int] = field(default_factory=dict)
    matches: bool = False  # found exactly what the data made due

    @property
    def slowest(self) -> float:
        return max(self.times_s)


def expected_counts(data: DataFigures) -> dict[str, int]:
    return {
        "prospects": data.groups["prospect_due"],
        "former_customers": data.groups["former_due"],
        "unsigned_pdfs": 0,
        "signed_forms": 0,
        "keys": 0,
        "suppression_entries": data.suppression_old,
    }


def bench_dry_run(runs: int, data: DataFigures) -> DryRunFigures:
    from privacy import retention

    figures = DryRunFigures()
    for run_no in range(runs):
        with counting() as statements:
            started = time.perf_counter()
            planned = retention.plan()
            figures.times_s.append(time.perf_counter() - started)
        figures.statements, figures.sql_s = statements.total, statements.total_seconds
        figures.by_kind = sorted(
            ((kind, n, statements.seconds[kind]) for kind, n in statements.count.items()),
            key=lambda item: -item[2],
        )
        figures.counts = planned.counts()
        log(
            f"  dry run {run_no + 1}/{runs}: {figures.times_s[-1]:.2f} s, "
            f"{figures.statements} statements, {figures.counts}"
        )
    figures.matches = figures.counts == expected_counts(data)
    if not figures.matches:
        log(f"  the dry run expected {expected_counts(data)}")
    return figures


@dataclass
class PurgeFigures:
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    statements: Statements = field(default_factory=Statements)
    memory_mb: float = 0.0
    memory_method: str = ""
    entries: Counter[str] = field(default_factory=Counter)  # log entries appended, by action
    first_rate: float = 0.0  # erasures per second over the first tenth of them
    last_rate: float = 0.0  # and the last tenth
    erased_right: bool = False  # the due clients and only them
    lookalikes_erased: int = 0
    due_left: int = 0
    suppression_left: int = 0
    cpu_seconds: float = 0.0  # this process's CPU time (user and system) during the purge
    round_trip_ms: float = 0.0  # a SELECT 1, median, just before the purge
    profiled: bool = False
    profile: list[tuple[str, float, int]] = field(default_factory=list)  # name, cumul. s, calls
    profile_own: list[tuple[str, float]] = field(default_factory=list)
    day: dt.date | None = None

    @property
    def erasures(self) -> int:
        return self.counts.get("prospects", 0) + self.counts.get("former_customers", 0)

    @property
    def rate(self) -> float:
        return self.erasures / self.seconds if self.seconds else 0.0


def tenth_rates(marks: Sequence[float], start: float, erasures: int) -> tuple[float, float]:
    """Erasures per second over the first and the last tenth of them (progress marks)."""
    tenth = max(1, erasures // 10)
    if erasures < 2 * tenth or len(marks) < erasures:
        return 0.0, 0.0
    first = tenth / (marks[tenth - 1] - start)
    last = tenth / (marks[erasures - 1] - marks[erasures - tenth - 1])
    return first, last


def bench_purge(data: DataFigures, profile: bool) -> PurgeFigures:
    from clients.models import Client
    from optin.models import AuditEntry, SuppressionEntry
    from privacy import retention

    figures = PurgeFigures(profiled=profile)
    before = head()
    marks: list[float] = []

    def progress(n: int) -> None:
        marks.extend([time.perf_counter()] * n)

    figures.round_trip_ms = round_trip_ms()
    probe = MemoryProbe()
    probe.start()
    profiler = cProfile.Profile() if profile else None
    cpu_before = cpu_seconds()
    with counting() as statements:
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        done = retention.purge_retention(progress=progress)
        if profiler is not None:
            profiler.disable()
        figures.seconds = time.perf_counter() - started
    figures.cpu_seconds = cpu_seconds() - cpu_before
    figures.memory_mb, figures.memory_method = probe.growth_mb(), probe.method
    figures.statements, figures.counts, figures.day = statements, done.counts(), done.today
    figures.first_rate, figures.last_rate = tenth_rates(marks, started, figures.erasures)
    log(
        f"  purged in {figures.seconds:.1f} s: {figures.counts}; {figures.rate:.1f} erasures/s "
        f"(first tenth {figures.first_rate:.1f}, last {figures.last_rate:.1f}); "
        f"{statements.total:,} statements ({statements.total_seconds:.1f} s), "
        f"{statements.commits:,} commits ({statements.commit_seconds:.1f} s), "
        f"CPU {figures.cpu_seconds:.1f} s; memory +{figures.memory_mb:.0f} MB "
        f"({probe.method}, from {probe.before_kb / 1024:.0f} MB)"
    )
    if profiler is not None:
        stats = pstats.Stats(profiler, stream=io.StringIO())
        figures.profile, figures.profile_own = profile_summary(stats)
        log(profile_text(stats))

    figures.entries = Counter(
        AuditEntry.objects.filter(seq__gt=before).values_list("action", flat=True)
    )
    erased = set(Client.objects.filter(erased_at__isnull=False).values_list("pk", flat=True))
    figures.erased_right = erased == data.due_ids
    figures.lookalikes_erased = len(erased - data.due_ids)
    figures.due_left = len(data.due_ids - erased)
    figures.suppression_left = SuppressionEntry.objects.count()
    return figures


def round_trip_ms(count: int = 200) -> float:
    """The median time of a `SELECT 1`: what one statement costs on this machine now."""
    from django.db import connection

    times = []
    with connection.cursor() as cursor:
        for _ in range(count):
            started = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            times.append(time.perf_counter() - started)
    return 1000 * sorted(times)[count // 2]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def profile_summary(
    stats: pstats.Stats,
) -> tuple[list[tuple[str, float, int]], list[tuple[str, float]]]:
    """The project's functions by cumulative time (with their calls), and every function by
    its own time."""
    from report import PROJECT_DIR

    project, own = [], []
    for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        path = Path(filename)
        calls, own_s, cumulative_s = row[1], row[2], row[3]
        if path.is_absolute() and PROJECT_DIR in path.parents:
            module = path.relative_to(PROJECT_DIR).with_suffix("")
            if module.parts[0] in ("optin", "clients", "signatures", "privacy"):
                project.append((f"{'.'.join(module.parts)}.{name}", cumulative_s, calls))
        label = name if filename == "~" else f"{Path(filename).stem}.{name}"
        own.append((label.strip("{}"), own_s))
    project.sort(key=lambda item: -item[1])
    own.sort(key=lambda item: -item[1])
    return project[:PROFILE_LINES], own[:PROFILE_LINES]


def profile_text(stats: pstats.Stats) -> str:
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(r"/(optin|signatures|clients|privacy)/", 25)
    stats.sort_stats("tottime").print_stats(25)
    return out.getvalue()


@dataclass
class SecondRunFigures:
    seconds: float = 0.0
    statements: int = 0
    rows_written: int = 0
    entries_appended: int = 0
    output: str = ""  # the command's first line
    nothing_due: bool = False  # every count it printed is 0
    same_day: bool = True

    @property
    def unchanged(self) -> bool:
        return (
            self.rows_written == 0
            and self.entries_appended == 0
            and self.nothing_due
            and self.same_day
        )


def bench_second_run(first_day: dt.date | None) -> SecondRunFigures:
    from django.core.management import call_command
    from django.utils import timezone

    from clients.models import PARIS

    figures = SecondRunFigures()
    before = head()
    out = io.StringIO()
    with counting() as statements:
        started = time.perf_counter()
        call_command("purge_retention", "--progress", "never", stdout=out)
        figures.seconds = time.perf_counter() - started
    figures.statements, figures.rows_written = statements.total, statements.rows_written
    figures.entries_appended = head() - before
    printed = out.getvalue()
    figures.output = printed.splitlines()[0] if printed else ""
    figures.nothing_due = all(n == "0" for n in re.findall(r"^\s*(\d+) ", printed, re.MULTILINE))
    figures.same_day = first_day == timezone.now().astimezone(PARIS).date()
    log(
        f"  second run in {figures.seconds:.2f} s: {figures.statements} statements, "
        f"{figures.rows_written} rows written, {figures.entries_appended} entries appended"
    )
    return figures


@dataclass
class VerifyFigures:
    ok: bool = False
    seconds: float = 0.0
    output: str = ""


def bench_verify() -> VerifyFigures:
    from django.core.management import CommandError, call_command

    figures = VerifyFigures()
    out = io.StringIO()
    started = time.perf_counter()
    try:
        call_command("verify_audit", "--progress", "never", stdout=out)
        figures.ok = True
    except CommandError as exc:
        out.write(str(exc))
    figures.seconds = time.perf_counter() - started
    figures.output = " ".join(out.getvalue().split())
    log(f"  verify_audit in {figures.seconds:.1f} s: {figures.output}")
    return figures


# --- report -----------------------------------------------------------------------------------


@dataclass
class Results:
    data: DataFigures
    dry: DryRunFigures
    purge: PurgeFigures
    second: SecondRunFigures
    verify: VerifyFigures
    machine: str
    date: str
    load: float  # 1-minute load average when the purge began

    def targets(self) -> list[tuple[str, str, bool]]:
        p, s = self.purge, self.second
        rate = f"{p.rate:.1f} erasures/s" + (" (under cProfile)" if p.profiled else "")
        exact = (
            f"{p.erasures:,} of {len(self.data.due_ids):,} due clients erased, "
            f"{p.lookalikes_erased} lookalikes, {p.suppression_left:,} suppression entries left"
        )
        return [
            (
                f"dry run (`retention.plan()`) ≤ {DRY_RUN_TARGET_S:.0f} s",
                f"{self.dry.slowest:.2f} s (slowest of {len(self.dry.times_s)})",
                self.dry.slowest <= DRY_RUN_TARGET_S,
            ),
            (
                f"purge ≥ {ERASURE_RATE_TARGET:.0f} erasures per second",
                rate,
                p.rate >= ERASURE_RATE_TARGET,
            ),
            (
                f"peak memory growth during the purge ≤ {MEMORY_TARGET_MB:.0f} MB",
                f"{p.memory_mb:.0f} MB",
                p.memory_mb <= MEMORY_TARGET_MB,
            ),
            (
                "the purge removes what is due and only that",
                exact,
                self.dry.matches
                and p.erased_right
                and p.suppression_left == self.data.suppression_recent,
            ),
            (
                "a second run the same day changes nothing",
                f"{s.rows_written} rows written, {s.entries_appended} log entries"
                + ("" if s.same_day else " (not the same Paris day)"),
                s.unchanged,
            ),
            (
                "the log verifies afterwards (`verify_audit`)",
                "OK" if self.verify.ok else "FAIL",
                self.verify.ok,
            ),
        ]


def render(r: Results) -> str:
    d, dry, p, s, v = r.data, r.dry, r.purge, r.second, r.verify
    erasures = max(1, p.erasures)
    group_lines = [
        f"| {GROUPS[name].label} | {'yes' if GROUPS[name].due else 'no'} | {count:,} |"
        for name, count in d.groups.items()
    ]
    lapsed = p.entries.get("consent.lapsed", 0)
    lines = [
        SECTION_TITLE,
        "",
        "`make benchmark` also runs `benchmarks/retention.py` (options `--clients N`, default "
        "200,000; `--due N`, default 10,000; `--suppression N`, default 3,000; `--plans N`, "
        "default 3; `--profile`; `--keep`; `--no-docs`; `--clients 5000 --due 500 --no-docs` "
        "for a quick try). It needs PostgreSQL: it works in its own database, the name of "
        "`DATABASE_URL`'s database followed by `_retention` (default `optin_bench_retention`), "
        "which it drops, creates and migrates, and drops at the end unless `--keep`. It calls "
        "`privacy.retention` in its own process, as `manage.py purge_retention` does, rewrites "
        "this section and exits 1 when a target is missed.",
        "",
        "### Results",
        "",
        f"Measured on {r.date}: {r.machine}. Load average (1 min) when the purge began: "
        f"{r.load:.2f}.",
        "",
        f"Data: {d.clients:,} clients in {BRANCHES} branches, history from {d.history_start} "
        f"(after the cutoff of R63's five-year proof, so nothing of R63 is due); "
        f"{d.entries:,} log entries (`HistoryBuilder` of `benchmarks/audit_log.py` in time "
        f"order: creations with the status of the day, consent decisions shaped like the "
        f"services' on wordings published before them, ends of relationships), "
        f"{d.states:,} consent states matching the log, {d.keys:,} client keys, "
        f"{d.suppression_old + d.suppression_recent:,} suppression-list entries, "
        f"{d.admin_history:,} entries of the admin's history of clients; clients "
        f"{d.client_mb:,.0f} MB and log {d.log_mb:,.0f} MB with their indexes; loaded with "
        f"COPY in {d.seconds:.0f} s. A signed checkpoint, then VACUUM ANALYZE.",
        "",
        "| Clients | Due | Count |",
        "|---|---|---:|",
        *group_lines,
        f"| suppression-list entries, latest objection over 3 years ago (R62) | yes | "
        f"{d.suppression_old:,} |",
        f"| suppression-list entries, latest objection within 3 years | no | "
        f"{d.suppression_recent:,} |",
        "",
        "| Measure | Items | Seconds | Rate | Statements | Peak memory growth |",
        "|---|---:|---:|---:|---:|---:|",
        f"| Dry run, `retention.plan()` (slowest of {len(dry.times_s)}) | "
        f"{sum(dry.counts.values()):,} due | {dry.slowest:.2f} | — | {dry.statements} | — |",
        f"| Purge, `retention.purge_retention()` | {p.erasures:,} erasures, "
        f"{p.counts.get('suppression_entries', 0):,} suppression entries | {p.seconds:.1f} | "
        f"{p.rate:,.1f} erasures/s | {p.statements.total:,} | {p.memory_mb:,.0f} MB |",
        f"| Second run, `manage.py purge_retention` | {s.rows_written} rows written | "
        f"{s.seconds:.2f} | — | {s.statements} | — |",
        f"| `manage.py verify_audit` | {d.entries + sum(p.entries.values()):,} entries | "
        f"{v.seconds:.1f} | — | — | — |",
        "",
        f"- Dry run: {len(dry.times_s)} runs after VACUUM ANALYZE: "
        + ", ".join(f"{t:.2f} s" for t in dry.times_s)
        + f"; {dry.statements} statements per run, {dry.sql_s * 1000:.0f} ms in the driver ("
        + ", ".join(f"`{kind}` {n}x {1000 * sec:.0f} ms" for kind, n, sec in dry.by_kind)
        + "). "
        + (
            "It found exactly what the data made due."
            if dry.matches
            else f"**It did not find what the data made due**: {dry.counts}."
        ),
        f"- Purge: {p.erasures:,} erasures (reason `retention`, one transaction each) then "
        f"the suppression list's DELETE and the run's `retention.purged` entry; "
        f"{p.first_rate:,.1f} erasures/s over the first tenth of them, {p.last_rate:,.1f} over "
        f"the last. Log entries appended: "
        + ", ".join(f"`{action}` {n:,}" for action, n in sorted(p.entries.items()))
        + f" ({lapsed:,} lapses for the {d.granted_due:,} consents of due clients in use). "
        f"Statements: {p.statements.total / erasures:.1f} per erasure, "
        f"{p.statements.total_seconds:.1f} s in the driver "
        f"({100 * p.statements.total_seconds / p.seconds:.0f} % of the wall time); "
        f"{p.statements.commits:,} commits, {p.statements.commit_seconds:.1f} s "
        f"({100 * p.statements.commit_seconds / p.seconds:.0f} %); the process's own CPU "
        f"time {p.cpu_seconds:.1f} s ({100 * p.cpu_seconds / p.seconds:.0f} %). A `SELECT 1` "
        f"round trip took {p.round_trip_ms:.2f} ms (median of 200) just before. Memory: the "
        f"resident set's growth ({p.memory_method}).",
        f"- Second run the same day (Paris), `manage.py purge_retention`: `{s.output}`, "
        + ("every count 0" if s.nothing_due else "**something was due again**")
        + f"; {s.statements} statements, {s.rows_written} rows written, "
        f"{s.entries_appended} log entries appended.",
        f"- `verify_audit`: `{v.output}`",
        "",
        "| Statement (per erasure, whole run divided by erasures) | Count | Driver ms |",
        "|---|---:|---:|",
    ]
    for kind, count in p.statements.count.most_common():
        lines.append(
            f"| `{kind}` | {count / erasures:.2f} | "
            f"{1000 * p.statements.seconds[kind] / erasures:.2f} |"
        )
    if p.profiled and p.profile:
        lines += [
            "",
            "Under cProfile (timings above include its overhead): the project's functions by "
            "time with their callees: "
            + ", ".join(f"`{name}` {sec:.1f} s ({calls:,} calls)" for name, sec, calls in p.profile)
            + "; the largest own times: "
            + ", ".join(f"`{name}` {sec:.1f} s" for name, sec in p.profile_own[:6])
            + ".",
        ]
    if p.erasures and p.rate < ERASURE_RATE_TARGET:
        lines += ["", missed_rate(p)]
    lines += ["", "### Targets", "", "| Target | Measured | Met |", "|---|---:|---|"]
    for target, measured, met in r.targets():
        lines.append(f"| {target} | {measured} | {'yes' if met else '**no**'} |")
    return "\n".join(wrap(line) for line in lines) + "\n"


def missed_rate(p: PurgeFigures) -> str:
    """Where an erasure's time goes, when the purge is too slow."""
    per_ms = 1000 * p.seconds / p.erasures
    sql_ms = 1000 * p.statements.total_seconds / p.erasures
    commit_ms = 1000 * p.statements.commit_seconds / p.erasures
    costliest = sorted(p.statements.seconds.items(), key=lambda item: -item[1])[:4]
    return (
        f"**The purge misses its target** ({p.rate:.1f} erasures/s for "
        f"{ERASURE_RATE_TARGET:.0f}): an erasure takes {per_ms:.1f} ms, of which "
        f"{sql_ms:.1f} ms in its {p.statements.total / p.erasures:.0f} statements (the "
        f"costliest: "
        + ", ".join(f"`{kind}` {1000 * sec / p.erasures:.1f} ms" for kind, sec in costliest)
        + f"), {commit_ms:.1f} ms in its commit and {per_ms - sql_ms - commit_ms:.1f} ms in "
        f"Python between them (the ORM building the statements, the models, the log's "
        f"hashing and sealing)." + (" Timings under cProfile." if p.profiled else "")
    )


# --- main -------------------------------------------------------------------------------------


def retention_database_url(url: str) -> str:
    """The URL of this benchmark's own database: DATABASE_URL's name followed by _retention."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.endswith(DATABASE_SUFFIX):
        name += DATABASE_SUFFIX
    return urlunsplit(parts._replace(path=f"/{name}"))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200_000, help="clients to load")
    parser.add_argument("--due", type=int, default=10_000, help="of them due for erasure")
    parser.add_argument(
        "--suppression", type=int, default=3_000, help="old suppression entries (as many recent)"
    )
    parser.add_argument("--plans", type=int, default=3, help="timed dry runs")
    parser.add_argument("--profile", action="store_true", help="run the purge under cProfile")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--no-docs", action="store_true", help="do not write the report")
    args = parser.parse_args(argv)
    if args.due < 10 or args.plans < 1 or args.suppression < 0:
        parser.error("--due must be at least 10, --plans at least 1, --suppression positive")
    if args.clients < 2.5 * args.due:
        parser.error("--clients must be at least 2.5 times --due (lookalikes and customers)")
    return args


def run(args: argparse.Namespace) -> Results:
    from django.core.management import call_command

    log("migrating")
    call_command("migrate", interactive=False, verbosity=0)
    quiet = io.StringIO()
    call_command("create_local_keys", stdout=quiet)  # under the temporary OPTIN_VAR_DIR
    log(f"loading {args.clients:,} clients, {args.due:,} of them due")
    data = load(args.clients, args.due, args.suppression)
    call_command("audit_checkpoint", stdout=quiet)
    log("VACUUM ANALYZE, CHECKPOINT")
    settle_database()
    data.client_mb, data.log_mb = table_sizes()

    log(f"dry run: {args.plans} runs")
    dry = bench_dry_run(args.plans, data)
    log("purge" + (" under cProfile" if args.profile else ""))
    load_average = os.getloadavg()[0]
    purge = bench_purge(data, args.profile)
    log("second run")
    second = bench_second_run(purge.day)
    log("verify_audit")
    verify = bench_verify()
    return Results(
        data=data,
        dry=dry,
        purge=purge,
        second=second,
        verify=verify,
        machine=machine_description(),
        date=dt.datetime.now(dt.UTC).date().isoformat(),
        load=load_average,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    database_url = retention_database_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    try:
        params = scratch_database(database_url)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    var_dir = Path(tempfile.mkdtemp(prefix="optin-retention-bench-"))
    log(f"database {params['NAME']} on {params.get('HOST') or 'the local socket'}")
    create_database(params)
    try:
        configure_django(database_url, var_dir)
        results = run(args)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        close_connections()
        if args.keep:
            log(f"kept database {params['NAME']} and its keys in {var_dir}")
        else:
            drop_database(params)
            shutil.rmtree(var_dir, ignore_errors=True)

    report = render(results)
    return conclude(SECTION_TITLE, report, results.targets(), write_docs=not args.no_docs)


if __name__ == "__main__":
    sys.exit(main())
