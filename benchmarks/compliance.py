"""Benchmark of the compliance pages on PostgreSQL: the audit trail and a customer's proof bundle.

    python benchmarks/compliance.py [--entries N] [--loads N] [--bundles N] [--keep] [--no-docs]

Run from the project root (``make benchmark``). DATABASE_URL names the PostgreSQL server and a
scratch database name starting with ``optin_bench`` (default
postgres://postgres@127.0.0.1:5432/optin_bench); this benchmark works in its own database, that
name followed by ``_compliance``, which it drops, creates afresh and migrates, and drops again
at the end unless ``--keep``. Keys (master key, checkpoint key, a self-signed development seal)
come from ``manage.py create_local_keys`` in a temporary directory.

1. Data: a log of ``--entries`` entries (default 1,000,000). The synthetic history of
   ``benchmarks/audit_log.py`` (``build_history``: 40 branches, a client for every 20 entries,
   creations and consent decisions shaped like the services', advisors ``staff:1`` to
   ``staff:399`` with their branch in the payload, chained in Python and loaded with COPY,
   consent states matching the log); then, through the services, the 399 advisors the history
   names and a compliance officer; then one customer whose 200 entries are written by the
   services themselves: answers given in branch on forms signed on the tablet (sealed PDFs),
   refusals in branch, digital grants and withdrawals with their evidence, unsubscribe links,
   SMS STOP, a withdrawal asked in branch, a contact change. A signed checkpoint
   (``manage.py audit_checkpoint``), then VACUUM ANALYZE.
2. Audit trail: ``GET /conformite/journal/`` through Django's test client in this process,
   logged in as the compliance officer with a verified second factor: the first page, with no
   filter, for the customer and for an advisor named by user name, then deep pages
   (``before=`` the entry that has 500,000 entries of the log newer than it) filtered by action,
   by the acting staff member's branch and by journey (those two read the payload through the
   expression indexes of migration 0005), and the first page of the month that entry was
   recorded in (``since``/``until``), alone and with an action and a channel. ``--loads`` loads
   of each (default 20), interleaved, after one warm-up round; the selectors alone alongside
   (``trail_page`` and ``trail_rows``); the statements of one load captured, and those reading
   the log run again under ``EXPLAIN (ANALYZE, BUFFERS)``.
3. Proof bundle: ``POST /conformite/clients/<number>/preuve/`` for that customer, ``--bundles``
   times (default 5) after one warm-up; the ZIP read whole, its sealed PDFs verified and its
   attestation's pages counted; one more bundle under ``cProfile`` tells where the time goes.

Prints a Markdown report, writes it into docs/PERFORMANCE.md (section "Compliance pages", the
other sections are kept) and exits 1 when a target is missed (every trail page ≤ 100 ms median,
the bundle ≤ 2 s median) or could not be measured.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import os
import pstats
import re
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from audit_log import (
    BRANCHES,
    DEFAULT_DATABASE_URL,
    ENTRIES_PER_CLIENT,
    USER_AGENT,
    BenchmarkError,
    build_history,
    close_connections,
    configure_django,
    create_database,
    drop_database,
    log,
    machine_description,
    scratch_database,
    settle_database,
)
from report import PROJECT_DIR, conclude, wrap
from search import percentile

SECTION_TITLE = "## Compliance pages"
DATABASE_SUFFIX = "_compliance"

# Targets.
PAGE_TARGET_MS = 100.0  # every audit trail page, median of its loads
BUNDLE_TARGET_S = 2.0  # the proof bundle of a customer with 200 entries, median
MILLION = 1_000_000

DEEP_NEWER = 500_000  # a deep page starts below the entry that has this many entries newer
# The synthetic history's advisors are staff:1 to staff:399 (audit_log.HistoryBuilder._advisor),
# created here through the service in that order, so that each id names a staff member.
ADVISORS = 399
PAGE_ROWS = 50  # entries on a page of the trail (optin.compliance.selectors.PAGE_SIZE)
CUSTOMER_NUMBER = "K0000001"
CUSTOMER_ENTRIES = 200
SIGNED_FORMS = 6
OFFICER = "conformite"
DEEP_BRANCH = "A007"
DEEP_JOURNEY = "digital_contact_update"
PROFILE_LINES = 25


@dataclass(frozen=True)
class PageSpec:
    label: str
    query: dict[str, str]


@dataclass
class PageFigures:
    spec: PageSpec
    url: str
    times_ms: list[float] = field(default_factory=list)
    selector_ms: list[float] = field(default_factory=list)
    rows: int = 0  # entries on the page, per the selector
    html_kb: float = 0.0
    statements: int = 0
    sql_ms: float = 0.0  # time in the database driver during one load
    plans: list[tuple[str, str]] = field(default_factory=list)  # (SQL, plan) reading the log
    error: str = ""  # why the page could not be measured
    links: list[str] = field(default_factory=list)  # to its first and last entries

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def met(self) -> bool:
        return not self.error and bool(self.times_ms) and self.median <= PAGE_TARGET_MS


@dataclass
class BundleFigures:
    url: str
    entries: int  # of the customer when the bundle is first produced
    forms: int  # forms signed on the tablet
    times_s: list[float] = field(default_factory=list)
    zip_kb: float = 0.0
    members: Counter[str] = field(default_factory=Counter)  # by extension
    sealed_ok: int = 0  # signed PDFs of the ZIP whose seal verifies
    statements: int = 0
    sql_ms: float = 0.0
    attestation_pages: int = 0
    profiled_s: float = 0.0  # one bundle under cProfile
    by_package: list[tuple[str, float]] = field(default_factory=list)  # own time
    project_calls: list[tuple[str, float]] = field(default_factory=list)  # cumulative
    top_functions: list[tuple[str, float]] = field(default_factory=list)  # own time
    error: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times_s)

    @property
    def met(self) -> bool:
        return not self.error and bool(self.times_s) and self.median <= BUNDLE_TARGET_S


@dataclass
class DataFigures:
    entries: int = 0  # of the log once loaded
    history: int = 0  # synthetic entries
    clients: int = 0  # synthetic clients
    history_seconds: float = 0.0
    staff_seconds: float = 0.0
    customer_seconds: float = 0.0
    customer: Counter[str] = field(default_factory=Counter)  # the customer's actions
    deep_before: int = 0
    deep_newer: int = 0
    month: tuple[dt.date, dt.date] | None = None  # the month of the deep page's first entry
    log_mb: float = 0.0
    indexes_mb: float = 0.0


# --- the database -----------------------------------------------------------------------------


def compliance_database_url(url: str) -> str:
    """The URL of this benchmark's own database: DATABASE_URL's name followed by _compliance."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.endswith(DATABASE_SUFFIX):
        name += DATABASE_SUFFIX
    return urlunsplit(parts._replace(path=f"/{name}"))


def log_sizes() -> tuple[float, float]:
    """The log's table and its indexes, in MB."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_table_size('optin_auditentry'), pg_indexes_size('optin_auditentry')"
        )
        table, indexes = cursor.fetchone()
    return table / 1024**2, indexes / 1024**2


def month_of(seq: int) -> tuple[dt.date, dt.date]:
    """The first and last days (Paris) of the month the entry `seq` was recorded in."""
    from clients.models import PARIS
    from optin.models import AuditEntry

    recorded = AuditEntry.objects.values_list("recorded_at", flat=True).get(seq=seq)
    first = recorded.astimezone(PARIS).date().replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return first, following - dt.timedelta(days=1)


def head_seq() -> int:
    from optin.models import AuditEntry

    return AuditEntry.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


# --- staff and the customer -------------------------------------------------------------------


def create_staff() -> Any:
    """The advisors the synthetic history names (staff:1 to staff:399, each in a branch) and
    the compliance officer, through the service; returns the officer."""
    from clients.models import Branch, Role
    from clients.services import create_staff_member
    from optin.audit import Actor

    system = Actor.system("benchmark")
    branches = {branch.code: branch for branch in Branch.objects.all()}
    for n in range(1, ADVISORS + 1):
        user = create_staff_member(
            actor=system,
            username=f"conseiller{n:03d}",
            password=None,
            role=Role.ADVISOR,
            branch=branches[f"A{(n - 1) % BRANCHES:03d}"],
            first_name="Conseiller",
            last_name=f"N° {n}",
        )
        if user.pk != n:
            raise BenchmarkError(f"advisor {n} got the id {user.pk}: the log names staff:{n}")
    return create_staff_member(
        actor=system,
        username=OFFICER,
        password=None,
        role=Role.COMPLIANCE,
        first_name="Claire",
        last_name="Conformité",
    )


class CustomerStory:
    """One customer's history written by the services: forms signed on the tablet, refusals
    in branch, digital decisions with evidence, unsubscribe links, SMS STOP, a contact change."""

    def __init__(self, advisor: Any) -> None:
        from clients.roles import actor_for
        from optin.audit import Actor
        from optin.models import ActorType
        from signatures.services import SignerContext
        from tests.signatures.drawing import tablet_input  # the project is on sys.path

        self.advisor = advisor
        self.advisor_actor = actor_for(advisor)
        self.web = Actor(ActorType.API_CLIENT, "api:web")
        self.signer = SignerContext(
            ip="198.51.100.7", user_agent=USER_AGENT, session_ref="bench", second_factor=True
        )
        self.drawn = tablet_input()
        self.states = {"email": "none", "sms_push": "none"}
        self.forms = 0
        self.ip = 0
        self.client: Any = None

    def entries(self) -> int:
        from optin.models import AuditEntry

        return AuditEntry.objects.filter(client_number=CUSTOMER_NUMBER).count()

    def evidence(self) -> dict[str, str]:
        self.ip += 1
        return {"ip": f"203.0.113.{1 + self.ip % 250}", "user_agent": USER_AGENT}

    def create(self) -> None:
        from clients.services import create_client

        self.client = create_client(
            actor=self.advisor_actor,
            client_number=CUSTOMER_NUMBER,
            kind="individual",
            civility="MME",
            first_name="Camille",
            last_name="Lefèvre-Durand",
            birth_date=dt.date(1974, 3, 9),
            email="camille.lefevre-durand@exemple.fr",
            mobile="+33612345678",
            branch=self.advisor.staff_profile.branch,
            status="customer",
        )

    def digital(self, channel: str, grant: bool, journey: str = "digital_self_service") -> None:
        from optin.services import record_decision

        result = record_decision(
            client_number=CUSTOMER_NUMBER,
            channel=channel,
            decision="grant" if grant else "withdraw",
            journey=journey,
            actor=self.web,
            wording_version=f"{channel}-v1" if grant else None,
            affirmative_action=True if grant else None,
            evidence=self.evidence(),
        )
        self._recorded(result)

    def _recorded(self, result: Any) -> None:
        if not result.recorded:
            raise BenchmarkError(f"{result.channel}: nothing written in state {result.status}")
        self.states[result.channel] = result.status

    def withdraw(self, channel: str, way: int) -> None:
        """A withdrawal in one of the ways a customer takes back a consent."""
        from optin.services import record_decision, sms_stop, unsubscribe

        if way % 3 == 0 and channel == "email":
            done = unsubscribe(client_id=self.client.pk, channel="email", evidence=self.evidence())
            if done.channels != ["email"]:
                raise BenchmarkError("the unsubscribe link withdrew nothing")
            self.states["email"] = "withdrawn"
        elif way % 3 == 0:
            stop = sms_stop(
                mobile=self.client.mobile,
                text="STOP",
                message_id=f"gw-{self.ip:06d}",
                gateway="bench-gateway",
            )
            self.ip += 1
            if stop.withdrawn != 1:
                raise BenchmarkError("the SMS STOP withdrew nothing")
            self.states["sms_push"] = "withdrawn"
        elif way % 3 == 1:
            self._recorded(
                record_decision(
                    client_number=CUSTOMER_NUMBER,
                    channel=channel,
                    decision="withdraw",
                    journey="branch_request",
                    actor=self.advisor_actor,
                    evidence={"request_means": "in_person"},
                )
            )
        else:
            self.digital(channel, grant=False)

    def branch_answers(self, answer: str, journey: str) -> Any:
        from signatures.services import BranchAnswer, collect_branch_answers

        collected = collect_branch_answers(
            client=self.client,
            answers={c: BranchAnswer(answer, f"{c}-v1") for c in ("email", "sms_push")},
            advisor=self.advisor,
            journey=journey,
        )
        for result in collected.decisions:
            self._recorded(result)
        return collected

    def signed_form(self, journey: str) -> None:
        """Both channels answered "Oui" in branch, the form signed on the tablet."""
        from signatures.services import sign_on_tablet

        collected = self.branch_answers("yes", journey)
        if collected.form is None:
            raise BenchmarkError("the branch answers produced no form")
        sign_on_tablet(
            client_number=CUSTOMER_NUMBER,
            reference=collected.form.reference,
            advisor=self.advisor,
            identity_document="id_card",
            context=self.signer,
            **self.drawn,
        )
        self.states = {"email": "granted", "sms_push": "granted"}
        self.forms += 1

    def contact_change(self) -> None:
        from clients.services import change_contact_details

        change_contact_details(
            actor=self.advisor_actor,
            client_number=CUSTOMER_NUMBER,
            email=f"camille.lefevre{self.forms}@exemple.fr",
            journey="branch_contact_update",
        )
        self.client.refresh_from_db()

    def write(self, entries: int, forms: int) -> None:
        """`entries` entries in all (the creation included), `forms` of them signed forms."""
        self.create()
        # A round: a signed form (6 entries) and both channels withdrawn (2), then digital
        # cycles (4 each); rounds 1-3 add a contact change, refusals in branch, a branch
        # withdrawal (5 in all). The last few entries are single decisions.
        cycles = max(0, (entries - 1 - 8 * forms - 5) // (4 * forms))
        for round_no in range(forms):
            self.signed_form("branch_account_opening" if round_no == 0 else "branch_contact_update")
            self.withdraw("email", round_no)
            self.withdraw("sms_push", round_no + 1)
            if round_no == 1:
                self.contact_change()
            elif round_no == 2:
                self.branch_answers("no", "branch_contact_update")  # refused on both
            elif round_no == 3:
                self.digital("email", grant=True)
                self.withdraw("email", 1)  # asked in branch
            for cycle in range(cycles):
                for channel in ("email", "sms_push"):
                    self.digital(channel, grant=True, journey=_digital_journey(cycle))
                self.withdraw("email", cycle + round_no)
                self.withdraw("sms_push", cycle + round_no + 2)
        written = self.entries()
        if written > entries:
            raise BenchmarkError(f"the customer has {written} entries, more than {entries}")
        for n in range(entries - written):
            channel = ("email", "sms_push")[n % 2]
            self.digital(channel, grant=self.states[channel] != "granted")
        if self.entries() != entries:
            raise BenchmarkError(f"the customer has {self.entries()} entries, not {entries}")


def _digital_journey(cycle: int) -> str:
    return ("digital_self_service", "digital_contact_update", "digital_account_opening")[cycle % 3]


def customer_actions() -> Counter[str]:
    from optin.models import AuditEntry

    return Counter(
        AuditEntry.objects.filter(client_number=CUSTOMER_NUMBER).values_list("action", flat=True)
    )


def load(entries: int, var_dir: Path) -> tuple[DataFigures, Any]:
    """The log, its staff and the customer; the officer who reads them."""
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.utils import timezone

    figures = DataFigures()
    history = entries - (ADVISORS + 1) - CUSTOMER_ENTRIES
    figures.clients = max(1, history // ENTRIES_PER_CLIENT)
    log(f"synthetic history: {history:,} entries on {figures.clients:,} clients")
    built = build_history(history, figures.clients, end=timezone.now() - dt.timedelta(hours=1))
    figures.history, figures.history_seconds = built.entries, built.seconds
    log(f"  built in {built.seconds:.1f} s")

    started = time.perf_counter()
    officer = create_staff()
    figures.staff_seconds = time.perf_counter() - started
    log(f"{ADVISORS} advisors and the compliance officer in {figures.staff_seconds:.1f} s")

    quiet = io.StringIO()
    call_command("create_local_keys", stdout=quiet)  # under var_dir: OPTIN_VAR_DIR
    started = time.perf_counter()
    story = CustomerStory(User.objects.get(username="conseiller001"))
    story.write(CUSTOMER_ENTRIES, SIGNED_FORMS)
    figures.customer_seconds = time.perf_counter() - started
    figures.customer = customer_actions()
    log(
        f"customer {CUSTOMER_NUMBER}: {CUSTOMER_ENTRIES} entries, {story.forms} forms signed, "
        f"in {figures.customer_seconds:.1f} s"
    )

    call_command("audit_checkpoint", stdout=quiet)
    log(quiet.getvalue().strip().replace(str(var_dir), "<tmp>"))
    figures.entries = head_seq()
    if figures.entries != entries:
        raise BenchmarkError(f"the log holds {figures.entries:,} entries, not {entries:,}")
    figures.deep_newer = min(DEEP_NEWER, entries // 2)
    figures.deep_before = figures.entries - figures.deep_newer + 1
    figures.month = month_of(figures.deep_before - 1)
    log("VACUUM ANALYZE, CHECKPOINT")
    settle_database()
    figures.log_mb, figures.indexes_mb = log_sizes()
    return figures, officer


# --- measuring --------------------------------------------------------------------------------

# (SQL, parameters, milliseconds in the driver)
Statement = tuple[str, Any, float]


@contextmanager
def captured_statements() -> Iterator[list[Statement]]:
    """The statements run through Django's connection meanwhile, with their parameters."""
    from django.db import connection

    seen: list[Statement] = []

    def wrapper(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            seen.append((sql, params, (time.perf_counter() - started) * 1000))

    with connection.execute_wrapper(wrapper):
        yield seen


def explain(statement: str, params: Any) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def reads_log(statement: str) -> bool:
    return statement.lstrip().upper().startswith("SELECT") and '"optin_auditentry"' in statement


_NODE = re.compile(r"^\s*(?:->\s*)?([A-Z][^(]*?)\s+\(cost=")
_REMOVED = re.compile(r"Rows Removed by (?:Filter|Index Recheck): (\d+)")
_EXECUTION = re.compile(r"Execution Time: ([\d.]+) ms")
_RELATION = re.compile(r" (?:using|on) (\w+)")


def _relation(match: re.Match[str]) -> str:
    name = match.group(1)
    return "" if name == "optin_auditentry" else f" `{name}`"


def plan_nodes(plan: str) -> str:
    """The nodes of a plan, top down, index names in code, and the rows read for nothing."""
    nodes = []
    for line in plan.splitlines():
        match = _NODE.match(line)
        if match:
            nodes.append(_RELATION.sub(_relation, match.group(1)))
    text = " / ".join(nodes) or "?"
    removed = sum(int(n) for n in _REMOVED.findall(plan))
    if removed:
        text += f" ({removed:,} rows read and dropped)"
    return text


def plan_ms(plan: str) -> float:
    executed = _EXECUTION.search(plan)
    return float(executed.group(1)) if executed else float("nan")


def main_plan(plans: Sequence[tuple[str, str]]) -> str:
    """The plan of the page's own query: the one that reads one entry more than a page."""
    for statement, plan in plans:
        if re.search(rf"\bLIMIT {PAGE_ROWS + 1}\b", statement):
            return plan
    return ""


def other_plans(plans: Sequence[tuple[str, str]]) -> list[str]:
    main = main_plan(plans)
    return [plan for _statement, plan in plans if plan != main]


def read_body(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


def not_written(exc: BaseException) -> str:
    if isinstance(exc, NotImplementedError):
        return "the view is not written yet (NotImplementedError)"
    return f"{type(exc).__name__}: {exc}"


def trail_specs(data: DataFigures) -> list[PageSpec]:
    deep = str(data.deep_before)
    assert data.month is not None  # noqa: S101 (set by load)
    month = {"since": data.month[0].isoformat(), "until": data.month[1].isoformat()}
    return [
        PageSpec("First page, no filter", {}),
        PageSpec("First page, one customer", {"client": CUSTOMER_NUMBER}),
        PageSpec("First page, one advisor (user name)", {"actor": "conseiller001"}),
        PageSpec("Deep page, action", {"action": "consent.granted", "before": deep}),
        PageSpec("Deep page, staff member's branch", {"branch": DEEP_BRANCH, "before": deep}),
        PageSpec("Deep page, journey", {"journey": DEEP_JOURNEY, "before": deep}),
        PageSpec("First page of a month", month),
        PageSpec(
            "First page of a month, SMS withdrawals",
            {"action": "consent.withdrawn", "channel": "sms_push", **month},
        ),
    ]


def selector_call(query: dict[str, str]) -> Callable[[], Any]:
    """`trail_page` with the filters the page reads from `query`."""
    from optin.compliance.selectors import (
        TrailFilters,
        actor_filter_value,
        trail_page,
        trail_rows,
    )

    actor = actor_filter_value(query.get("actor", "")) or ""
    filters = TrailFilters(
        client_number=query.get("client", ""),
        actor_id=actor,
        branch=query.get("branch", ""),
        action=query.get("action", ""),
        channel=query.get("channel", ""),
        journey=query.get("journey", ""),
        since=dt.date.fromisoformat(query["since"]) if query.get("since") else None,
        until=dt.date.fromisoformat(query["until"]) if query.get("until") else None,
    )
    before = int(query["before"]) if "before" in query else None

    def call() -> Any:
        if query.get("actor"):
            actor_filter_value(query["actor"])  # the page resolves the user name each time
        page = trail_page(filters, before=before)
        trail_rows(page.entries)
        return page

    return call


def browser(officer: Any) -> Any:
    """Django's test client, logged in as `officer` with a verified second factor."""
    from django.test import Client as HttpClient

    from tests.auth import login_verified

    http = HttpClient()
    login_verified(http, officer)
    return http


def bench_trail(officer: Any, data: DataFigures, loads: int) -> list[PageFigures]:
    from django.urls import reverse

    from optin.compliance.selectors import PAGE_SIZE

    if PAGE_SIZE != PAGE_ROWS:
        raise BenchmarkError(f"a page of the trail holds {PAGE_SIZE} entries, not {PAGE_ROWS}")
    http = browser(officer)
    path = reverse("compliance:trail")
    pages = [
        PageFigures(spec, f"{path}?{urlencode(spec.query)}" if spec.query else path)
        for spec in trail_specs(data)
    ]
    selectors = {page.spec.label: selector_call(page.spec.query) for page in pages}
    for round_no in range(loads + 1):  # the first round warms up
        for page in pages:
            started = time.perf_counter()
            rows = selectors[page.spec.label]()
            selector_ms = (time.perf_counter() - started) * 1000
            if round_no == 0:
                page.rows = len(rows.entries)
                if not page.rows:
                    raise BenchmarkError(f"{page.spec.label}: the selector found no entry")
                page.links = [
                    reverse("compliance:entry", args=[entry.seq])
                    for entry in (rows.entries[0], rows.entries[-1])
                ]
            else:
                page.selector_ms.append(selector_ms)
            if page.error:
                continue
            try:
                started = time.perf_counter()
                response = http.get(page.url)
                body = read_body(response)
                elapsed = (time.perf_counter() - started) * 1000
            except Exception as exc:  # reported; the other pages go on
                page.error = not_written(exc)
                log(f"  {page.spec.label}: {page.error}")
                continue
            if response.status_code != 200:
                raise BenchmarkError(f"{page.url}: HTTP {response.status_code}")
            if round_no == 0:
                page.html_kb = len(body) / 1024
                text = body.decode("utf-8")
                if not all(f'href="{link}"' in text for link in page.links):
                    raise BenchmarkError(f"{page.url}: the page does not list the entries")
            else:
                page.times_ms.append(elapsed)
        if round_no:
            log(f"  round {round_no}/{loads}")

    for page in pages:
        if page.error:
            call: Callable[[], Any] = selectors[page.spec.label]
        else:

            def call(url: str = page.url) -> Any:
                return read_body(http.get(url))

        with captured_statements() as statements:
            call()
        page.statements = len(statements)
        page.sql_ms = sum(ms for _sql, _params, ms in statements)
        page.plans = [
            (sql, explain(sql, params)) for sql, params, _ms in statements if reads_log(sql)
        ]
        log(f"  {page.spec.label} ({page.url}): {page.statements} statements")
        for sql, _params, ms in statements:
            log(f"    {ms:6.1f} ms  {sql[:150]}")
        log(main_plan(page.plans))
    return pages


def profile_text(stats: pstats.Stats) -> str:
    """The project's functions by cumulative time, then every function by its own time."""
    out = io.StringIO()
    stats.stream = out
    stats.sort_stats("cumulative").print_stats(r"/(optin|signatures|clients)/", PROFILE_LINES)
    stats.sort_stats("tottime").print_stats(PROFILE_LINES)
    return out.getvalue()


_SITE_PACKAGE = re.compile(r"[/\\]site-packages[/\\]([A-Za-z0-9_]+)")


def package_of(filename: str) -> str:
    """Who owns a profiled function: a project app, an installed package, the standard
    library or a built-in."""
    match = _SITE_PACKAGE.search(filename)
    if match:
        return match.group(1)
    path = Path(filename)
    if path.is_absolute() and PROJECT_DIR in path.parents:
        return "project: " + path.relative_to(PROJECT_DIR).parts[0]
    if filename == "~":
        return "C built-ins"
    return "standard library"


def own_time_by_package(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Seconds of own time (not counting callees) per package, largest first."""
    totals: Counter[str] = Counter()
    for (filename, _line, _name), row in stats.stats.items():
        totals[package_of(filename)] += row[2]
    return [(name, seconds) for name, seconds in totals.most_common() if seconds >= 0.005]


def top_functions(stats: pstats.Stats, count: int = 4) -> list[tuple[str, float]]:
    """The functions of the largest own time, named with their package."""
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:count]
    found = []
    for (filename, _line, name), row in rows:
        package = package_of(filename)
        label = name if filename == "~" else f"{package.removeprefix('project: ')} {name}"
        found.append((label.strip("{}"), row[2]))
    return found


def project_cumulative(stats: pstats.Stats) -> list[tuple[str, float]]:
    """The project's functions below the view, by cumulative seconds, largest first."""
    found = []
    for (filename, _line, name), row in stats.stats.items():
        package = package_of(filename)
        if (
            package.startswith("project: ")
            and package != "project: benchmarks"
            and not filename.endswith(("middleware.py", "views.py", f"views{os.sep}bundle.py"))
        ):
            module = Path(filename).relative_to(PROJECT_DIR).with_suffix("")
            found.append((f"{'.'.join(module.parts)}.{name}", row[3]))
    return sorted(found, key=lambda item: -item[1])[:PROFILE_LINES]


ATTESTATION = "attestation.pdf"  # the bundle's own summary, rendered with WeasyPrint


def pdf_pages(content: bytes) -> int:
    from pyhanko.pdf_utils.reader import PdfFileReader

    return int(PdfFileReader(io.BytesIO(content)).root["/Pages"]["/Count"])


def bench_bundle(officer: Any, runs: int) -> BundleFigures:
    from django.urls import reverse

    from optin.models import AuditEntry
    from signatures.models import ConsentForm
    from signatures.sealing import verify_sealed_pdf

    http = browser(officer)
    url = reverse("compliance:bundle", args=[CUSTOMER_NUMBER])
    figures = BundleFigures(
        url=url,
        entries=AuditEntry.objects.filter(client_number=CUSTOMER_NUMBER).count(),
        forms=ConsentForm.objects.filter(
            client__client_number=CUSTOMER_NUMBER, status="signed"
        ).count(),
    )

    def produce() -> bytes:
        response = http.post(url)
        body = read_body(response)
        if response.status_code != 200:
            raise BenchmarkError(f"POST {url}: HTTP {response.status_code}")
        return body

    try:
        body = produce()  # warm-up
    except BenchmarkError:
        raise
    except Exception as exc:  # reported as not measured
        figures.error = not_written(exc)
        log(f"  proof bundle: {figures.error}")
        return figures
    figures.zip_kb = len(body) / 1024
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        for name in archive.namelist():
            figures.members[Path(name).suffix.lstrip(".") or name] += 1
            if name.lower().endswith(".pdf"):
                content = archive.read(name)
                figures.sealed_ok += verify_sealed_pdf(content).ok
                if name == ATTESTATION:
                    figures.attestation_pages = pdf_pages(content)
    for run_no in range(runs):
        started = time.perf_counter()
        produce()
        figures.times_s.append(time.perf_counter() - started)
        log(f"  bundle {run_no + 1}/{runs}: {figures.times_s[-1]:.2f} s")

    with captured_statements() as statements:
        produce()
    figures.statements = len(statements)
    figures.sql_ms = sum(ms for _sql, _params, ms in statements)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    produce()
    profiler.disable()
    figures.profiled_s = time.perf_counter() - started
    stats = pstats.Stats(profiler, stream=io.StringIO())
    figures.by_package = own_time_by_package(stats)
    figures.project_calls = project_cumulative(stats)
    figures.top_functions = top_functions(stats)
    log(profile_text(stats))
    return figures


# --- report -----------------------------------------------------------------------------------


@dataclass
class Results:
    data: DataFigures
    pages: list[PageFigures]
    bundle: BundleFigures
    machine: str
    date: str
    load: dict[str, float]  # 1-minute load average when each measure began
    loads: int

    def targets(self) -> list[tuple[str, str, bool]]:
        """(target, measured, met); a page or bundle not measured is not met."""
        measured = [page for page in self.pages if not page.error]
        if measured:
            slowest = max(measured, key=lambda page: page.median)
            pages = (
                f"{sum(page.met for page in self.pages)} of {len(self.pages)}; slowest "
                f"{slowest.median:.1f} ms"
            )
        else:
            pages = "not measured: " + self.pages[0].error
        if len(measured) < len(self.pages) and measured:
            pages += f"; {len(self.pages) - len(measured)} not measured"
        b = self.bundle
        bundle = f"{b.median:.2f} s" if not b.error else f"not measured: {b.error}"
        return [
            (
                f"every audit trail page ≤ {PAGE_TARGET_MS:.0f} ms median",
                pages,
                all(page.met for page in self.pages),
            ),
            (
                f"proof bundle of a customer with {CUSTOMER_ENTRIES} entries ≤ "
                f"{BUNDLE_TARGET_S:.0f} s median",
                bundle,
                b.met,
            ),
        ]


def query_text(query: dict[str, str]) -> str:
    if not query:
        return "(none)"
    return "`" + "&".join(f"{key}={value}" for key, value in query.items()) + "`"


def ms_or_dash(values: Sequence[float], fn: Callable[[Sequence[float]], float]) -> str:
    return f"{fn(values):.1f}" if values else "—"


def render(r: Results) -> str:
    d, b = r.data, r.bundle
    actions = ", ".join(f"{action} {n}" for action, n in sorted(d.customer.items()))
    lines = [
        SECTION_TITLE,
        "",
        "`make benchmark` also runs `benchmarks/compliance.py` (options `--entries N`, default "
        "1,000,000; `--loads N`, default 20; `--bundles N`, default 5; `--keep`; `--no-docs`). "
        "It needs PostgreSQL: it works "
        "in its own database, the name of `DATABASE_URL`'s database followed by `_compliance` "
        "(default `optin_bench_compliance`), which it drops, creates and migrates, and drops at "
        "the end unless `--keep`. Pages are requested through Django's test client in the "
        "benchmark's process (every middleware, the session, the second factor and the "
        "template; no HTTP server), logged in as a compliance officer whose second factor is "
        "verified. It rewrites this section and exits 1 when a target is missed.",
        "",
        "### Results",
        "",
        f"Measured on {r.date}: {r.machine}. Load average (1 min) when the trail and the bundle "
        f"measures began: {r.load['trail']:.2f} and {r.load['bundle']:.2f}.",
        "",
        f"Data: a log of {d.entries:,} entries (table {d.log_mb:,.0f} MB, its indexes "
        f"{d.indexes_mb:,.0f} MB). {d.history:,} of synthetic history on {d.clients:,} clients "
        f"in {BRANCHES} branches (`build_history` of `benchmarks/audit_log.py`: creations and "
        f"consent decisions shaped like the services', journey, actor's branch and state "
        f"change in each payload; chained in Python and loaded with COPY in "
        f"{d.history_seconds:.0f} s), then through the services the {ADVISORS} advisors it "
        f"names (`staff:1` to `staff:{ADVISORS}`) and the compliance officer "
        f"({d.staff_seconds:.0f} s), then the {CUSTOMER_ENTRIES} entries of customer "
        f"`{CUSTOMER_NUMBER}`, written by the services in {d.customer_seconds:.0f} s: "
        f"{actions}. One signed checkpoint, then VACUUM ANALYZE.",
        "",
        "#### Audit trail (`GET /conformite/journal/`)",
        "",
        "| Page | Query | Entries | HTML KB | Median ms | p95 ms | Selector alone, median ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for page in r.pages:
        lines.append(
            f"| {page.spec.label} | {query_text(page.spec.query)} | {page.rows} | "
            f"{page.html_kb:.0f} | {ms_or_dash(page.times_ms, statistics.median)} | "
            f"{ms_or_dash(page.times_ms, lambda v: percentile(v, 0.95))} | "
            f"{ms_or_dash(page.selector_ms, statistics.median)} |"
        )
    not_measured = sorted({page.error for page in r.pages if page.error})
    lines += [
        "",
        f"- {r.loads} loads of each page after one warm-up round, the pages interleaved, the "
        f"page read whole. Deep pages start at `before={d.deep_before}`: {d.deep_newer:,} "
        f"entries of the log are newer; the month pages filter on the month (Paris time) in "
        f"which entry #{d.deep_before - 1:,} was recorded, so that their entries lie as deep. "
        f'"Selector alone": `trail_page` and `trail_rows` of '
        f"`optin.compliance.selectors` in-process (the page's SQL and the rows it shows; no "
        f"request, form or template).",
    ]
    if not_measured:
        lines.append(
            "- **Not measured through the page**: " + "; ".join(not_measured) + ". Statements "
            "and plans below are then those of the selector alone."
        )
    lines += [
        "",
        "| Page | Statements | Their time, ms | Page's query, ms | Plan of the page's query |",
        "|---|---:|---:|---:|---|",
    ]
    for page in r.pages:
        plan = main_plan(page.plans)
        lines.append(
            f"| {page.spec.label} | {page.statements} | {page.sql_ms:.1f} | "
            f"{plan_ms(plan):.2f} | {plan_nodes(plan)} |"
        )
    others = sorted({plan_nodes(plan) for page in r.pages for plan in other_plans(page.plans)})
    lines += [
        "",
        "- Statements: those of one load (session, user, permissions, second factor, the "
        "form's branch list included), their time as the driver saw it; \"page's query\": the "
        "statement returning the page (`LIMIT 51`) run again under `EXPLAIN (ANALYZE, BUFFERS)`, "
        "its execution time and plan (rows an index scan read and its filter dropped in "
        "brackets).",
    ]
    if others:
        lines.append("- The other statements reading the log: " + "; ".join(others) + ".")
    for page in r.pages:
        if page.met or page.error:
            continue
        plan = main_plan(page.plans)
        removed = sum(int(n) for n in _REMOVED.findall(plan))
        lines.append(
            f"- **{page.spec.label}** misses the target ({page.median:.0f} ms): its query takes "
            f"{plan_ms(plan):.0f} ms, reading and dropping {removed:,} entries of the log "
            f"before it has the {PAGE_ROWS + 1} it returns."
            if removed
            else f"- **{page.spec.label}** misses the target ({page.median:.0f} ms); its query "
            f"takes {plan_ms(plan):.0f} ms."
        )
    lines += [
        "",
        f"#### Proof bundle (`POST /conformite/clients/{CUSTOMER_NUMBER}/preuve/`)",
        "",
    ]
    if b.error:
        lines.append(f"**Not measured**: {b.error}.")
    else:
        members = ", ".join(f"{n} {ext}" for ext, n in sorted(b.members.items()))
        lines += [
            "| Customer's entries | Signed forms | ZIP KB | Median s | Max s | Statements |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {b.entries} | {b.forms} | {b.zip_kb:,.0f} | {b.median:.2f} | "
            f"{max(b.times_s):.2f} | {b.statements} |",
            "",
            f"- {len(b.times_s)} bundle{'s' if len(b.times_s) > 1 else ''} after one warm-up, "
            f"the ZIP read whole; each one is "
            f"logged (`proof_bundle.produced`) and recorded in the access log. The ZIP holds "
            f"{members}: `{ATTESTATION}` of {b.attestation_pages} pages; {b.sealed_ok} PDFs "
            f"whose seal verifies (`verify_sealed_pdf`). Statements of one bundle: "
            f"{b.statements}, {b.sql_ms:.0f} ms in the driver.",
        ]
        if b.by_package:
            total = sum(seconds for _name, seconds in b.by_package)
            shares = ", ".join(
                f"{name} {100 * seconds / total:.0f} %"
                for name, seconds in b.by_package[:6]
                if seconds / total >= 0.01
            )
            calls = ", ".join(
                f"`{name}` {100 * seconds / b.profiled_s:.0f} %"
                for name, seconds in b.project_calls[:6]
                if seconds / b.profiled_s >= 0.01
            )
            top = ", ".join(f"`{name}` {seconds:.2f} s" for name, seconds in b.top_functions)
            lines.append(
                f"- Where the time goes: one more bundle under `cProfile` "
                f"({b.profiled_s:.1f} s with the profiler's overhead). Own time by package: "
                f"{shares}; the largest own times: {top}. The project's functions, time with "
                f"their callees: {calls}."
            )
    lines += ["", "### Targets", "", "| Target | Measured | Met |", "|---|---:|---|"]
    for target, measured, met in r.targets():
        lines.append(f"| {target} | {measured} | {'yes' if met else '**no**'} |")
    return "\n".join(wrap(line) for line in lines) + "\n"


# --- main -------------------------------------------------------------------------------------


KEPT_SETTINGS = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "DEBUG",
    "SECRET_KEY",
    "OPTIN_AUDIT_MASTER_KEY",
    "OPTIN_SUPPRESSION_KEY",
    "OPTIN_EMAIL_DOUBLE_OPTIN",
    "OPTIN_VAR_DIR",
    "ALLOWED_HOSTS",
    "SECURE_SSL_REDIRECT",
    "OPTIN_API_RATE_PER_MINUTE",
)


def write_environment(path: Path) -> None:
    """The benchmark's settings (its throwaway keys among them), so that a kept database can
    be read again: `set -a; . <path>; set +a` before `manage.py`."""
    lines = [f"{name}='{os.environ[name]}'" for name in KEPT_SETTINGS if name in os.environ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=MILLION, help="log entries to load")
    parser.add_argument("--loads", type=int, default=20, help="timed loads of each trail page")
    parser.add_argument("--bundles", type=int, default=5, help="timed proof bundles")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--no-docs", action="store_true", help="do not write the report")
    args = parser.parse_args(argv)
    if args.entries < 10_000 or args.loads < 2 or args.bundles < 1:
        parser.error("--entries must be at least 10,000, --loads at least 2, --bundles 1")
    return args


def run(args: argparse.Namespace, var_dir: Path) -> Results:
    from django.core.management import call_command

    log("migrating")
    call_command("migrate", interactive=False, verbosity=0)
    (var_dir / "static").mkdir(exist_ok=True)  # STATIC_ROOT, which WhiteNoise looks for
    data, officer = load(args.entries, var_dir)
    load_average = {"trail": os.getloadavg()[0]}
    log(f"audit trail: {args.loads} loads of each page")
    pages = bench_trail(officer, data, args.loads)
    load_average["bundle"] = os.getloadavg()[0]
    log(f"proof bundle: {args.bundles} runs")
    bundle = bench_bundle(officer, args.bundles)
    return Results(
        data=data,
        pages=pages,
        bundle=bundle,
        machine=machine_description(),
        date=dt.datetime.now(dt.UTC).date().isoformat(),
        load=load_average,
        loads=args.loads,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    database_url = compliance_database_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    try:
        params = scratch_database(database_url)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    var_dir = Path(tempfile.mkdtemp(prefix="optin-compliance-bench-"))
    log(f"database {params['NAME']} on {params.get('HOST') or 'the local socket'}")
    create_database(params)
    os.environ["ALLOWED_HOSTS"] = "testserver"  # the test client's host
    try:
        configure_django(database_url, var_dir)
        if args.keep:
            write_environment(var_dir / "benchmark.env")
        results = run(args, var_dir)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        close_connections()
        if args.keep:
            log(
                f"kept database {params['NAME']}; its keys in {var_dir}, and the settings "
                f"that read it in {var_dir / 'benchmark.env'}"
            )
        else:
            drop_database(params)
            shutil.rmtree(var_dir, ignore_errors=True)

    report = render(results)
    return conclude(SECTION_TITLE, report, results.targets(), write_docs=not args.no_docs)


if __name__ == "__main__":
    sys.exit(main())
