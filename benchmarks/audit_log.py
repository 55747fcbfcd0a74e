"""Benchmark of the audit log on PostgreSQL: recording decisions, verifying the whole log.

    python benchmarks/audit_log.py [--entries N] [--decisions N] [--keep] [--no-docs]

Run from the project root (``make benchmark``). DATABASE_URL names a scratch PostgreSQL
database whose name starts with ``optin_bench`` (default
postgres://postgres@127.0.0.1:5432/optin_bench); it is dropped, created afresh and migrated,
and dropped again at the end unless ``--keep``.

1. Recording: decisions per second through ``optin.services.record_decision`` (digital grants
   and withdrawals alternating, one transaction each) against a plain ORM insert of one row per
   transaction (``SuppressionEntry.objects.create()`` in autocommit); ``optin.audit.append``
   alone is measured alongside, to tell the log's share. Rounds whose order rotates.
2. Verification: ``optin.integrity.verify_log()`` entries per second against merely streaming
   the same rows with ``optin.audit.stream_rows()``. The log is first filled with a synthetic
   history (client creations and consent decisions on many clients, chained in Python with
   ``audit.header_json``/``audit.chain_hash``, loaded with COPY, consent states matching the last
   entry of each client and channel); the recording benchmark then appends to it through the
   services, so that the log holds ``--entries`` entries when it is verified.

Prints a Markdown report, writes it into docs/PERFORMANCE.md (section "Audit log", the other
sections are kept) and exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import itertools
import os
import platform
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dj_database_url
import psycopg
from psycopg import sql
from report import PROJECT_DIR, conclude, wrap

if TYPE_CHECKING:
    from clients.models import Client

SECTION_TITLE = "## Audit log"

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/optin_bench"
SCRATCH_PREFIX = "optin_bench"

# Targets (shared notes on the audit log, section 4).
RECORD_RATIO_TARGET = 0.5  # record_decision vs a plain insert, one transaction each
VERIFY_RATIO_TARGET = 0.5  # verify_log vs streaming the same rows
VERIFY_SECONDS_TARGET = 20.0  # for 1,000,000 entries
MILLION = 1_000_000

POOL_SIZE = 200  # clients the recording benchmark decides on; also its warm-up count
DECISION_ROUNDS = 4  # the writes measured take turns, in this many rounds
VERIFY_ROUNDS = 2  # streaming and verification alternate; the best time of each is kept
ENTRIES_PER_CLIENT = 20  # 1,000,000 entries: 50,000 clients
BRANCHES = 40
COPY_BATCH = 100_000  # log entries per COPY, one transaction each
SEED = 20_261_123

CHANNELS = ("email", "sms_push")
HISTORY_START = dt.datetime(2024, 1, 2, 7, 0, tzinfo=dt.UTC)
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
DIGITAL_GRANT_JOURNEYS = (
    "digital_self_service",
    "digital_self_service",
    "digital_contact_update",
    "digital_account_opening",
)

# (seq, recorded_at, occurred_at, actor_type, actor_id, action, client_id, client_number,
#  channel, wording_version, payload, prev_hash, hash): the order of audit.ROW_FIELDS.
LogRow = tuple[
    int, dt.datetime, dt.datetime, str, str, str, int | None, str, str, str, str, str, str
]
# (actor_type, actor_id, branch)
ActorRef = tuple[str, str, str]
WEB: ActorRef = ("api_client", "api:web", "")


class BenchmarkError(Exception):
    """The benchmark could not measure what it claims (bad setup, an invalid log...)."""


STARTED = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


# --- scratch database and settings ----------------------------------------------------------


def scratch_database(url: str) -> dict[str, Any]:
    """The connection parameters of DATABASE_URL, refused unless a scratch PostgreSQL DB."""
    params = dict(dj_database_url.parse(url))
    if params.get("ENGINE") != "django.db.backends.postgresql":
        raise BenchmarkError(f"DATABASE_URL must name a PostgreSQL database, not {url!r}.")
    name = str(params.get("NAME") or "")
    if not name.startswith(SCRATCH_PREFIX):
        raise BenchmarkError(
            f"Refusing to use database {name!r}: the benchmark drops and recreates its "
            f"database, whose name must start with {SCRATCH_PREFIX!r}."
        )
    return params


def _maintenance(params: dict[str, Any]) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=params.get("HOST") or None,
        port=params.get("PORT") or None,
        user=params.get("USER") or None,
        password=params.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )


def drop_database(params: dict[str, Any]) -> None:
    name = str(params["NAME"])
    if not name.startswith(SCRATCH_PREFIX):  # checked again right where it matters
        raise BenchmarkError(f"Refusing to drop database {name!r}.")
    with _maintenance(params) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def create_database(params: dict[str, Any]) -> None:
    drop_database(params)
    with _maintenance(params) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(params["NAME"]))))


def configure_django(database_url: str, var_dir: Path) -> None:
    """Settings that work outside the tests: a benchmark-only secret, a fresh master key."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "optin.settings"
    os.environ["DATABASE_URL"] = database_url
    os.environ["DEBUG"] = "false"
    os.environ["SECRET_KEY"] = "benchmark-only-" + secrets.token_urlsafe(32)
    os.environ["OPTIN_AUDIT_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode("ascii")
    os.environ["OPTIN_SUPPRESSION_KEY"] = "benchmark-only-" + secrets.token_urlsafe(32)
    os.environ["OPTIN_EMAIL_DOUBLE_OPTIN"] = "false"
    # The benchmarks speak plain HTTP on 127.0.0.1: TLS is a load balancer's work in production.
    os.environ["SECURE_SSL_REDIRECT"] = "false"
    # Benchmarks measure the service, not its rate limits (one API client sends all the load).
    os.environ["OPTIN_API_RATE_PER_MINUTE"] = "100000000"
    # Keys and exported checkpoints of this run live in its own directory.
    os.environ["OPTIN_VAR_DIR"] = str(var_dir)
    for name in (
        "OPTIN_CHECKPOINT_KEY_PATH",
        "OPTIN_CHECKPOINT_PUBLIC_KEY_PATH",
        "OPTIN_CHECKPOINT_DIR",
    ):
        os.environ.pop(name, None)
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()


def close_connections() -> None:
    if "django.db" in sys.modules:
        from django.db import connections

        connections.close_all()


# --- the synthetic history --------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryClient:
    id: int
    number: str
    email: str
    mobile: str
    branch: str
    key_id: str  # of the client's data key, named in each sealed value
    identity_length: int  # length of the canonical JSON of the identity sealed at creation


@dataclass
class Projection:
    """What the log says of one client and channel, as ConsentState stores it."""

    status: str = "none"
    prior: str = ""
    since: dt.datetime | None = None
    journey: str = ""
    wording_version: str = ""
    last_seq: int | None = None


class HistoryBuilder:
    """Produces valid, chained log rows shaped like those of the services.

    Consent entries follow the state machine (`optin.transitions.decide`) and carry the payload
    of `optin.services.apply_event`; personal data are random bytes of the length the sealed
    ciphertext would have. `states` ends with the projection of every client and channel.
    """

    def __init__(self, rng: random.Random, wordings: dict[str, tuple[str, str]]) -> None:
        from optin import audit
        from optin.models import ConsentStatus
        from optin.transitions import Event, decide

        self.rng = rng
        self.wordings = wordings  # channel -> (version, sha256)
        self.seq = 0
        self.head = audit.GENESIS_HASH
        self._state_key = audit.STATE_KEY
        self.states: dict[tuple[int, str], Projection] = {}
        self._canonical = audit.canonical_json
        self._header = audit.header_json
        self._chain = audit.chain_hash
        self._iso = audit.iso_or_none
        self._decide = decide
        self._status = ConsentStatus
        self._events = {
            "grant": Event.DIGITAL_GRANT,
            "refuse": Event.REFUSE,
            "withdraw": Event.WITHDRAW,
        }

    def rows(
        self, clients: Sequence[HistoryClient], count: int, start: dt.datetime, end: dt.datetime
    ) -> Iterator[LogRow]:
        """`count` entries from `start` to `end`: each client's creation spread over the
        history, before its decisions."""
        if count and not clients:
            raise BenchmarkError("a history needs clients")
        step_us = max(1, int((end - start).total_seconds() * 1_000_000) // max(count, 1))
        created = 0
        for i in range(count):
            moment = start + dt.timedelta(microseconds=i * step_us)
            pending = len(clients) - created
            if pending and (created == 0 or self.rng.random() * (count - i) < pending):
                yield self._creation(clients[created], moment)
                created += 1
            else:
                yield self._decision(clients[self.rng.randrange(created)], moment)

    def _sealed(self, client: HistoryClient, plain_length: int) -> str:
        # "v1.<key id>.<base64(nonce 12 bytes + AES-GCM ciphertext + tag 16 bytes)>", the
        # shape of crypto.seal's values
        raw = self.rng.randbytes(12 + plain_length + 16)
        return f"v1.{client.key_id}.{base64.b64encode(raw).decode('ascii')}"

    def _advisor(self, branch: str) -> ActorRef:
        return ("advisor", f"staff:{self.rng.randrange(1, 400)}", branch)

    def _append(
        self,
        *,
        moment: dt.datetime,
        occurred: dt.datetime,
        actor: ActorRef,
        action: str,
        client: HistoryClient,
        channel: str,
        wording_version: str,
        payload: dict[str, Any],
    ) -> LogRow:
        actor_type, actor_id, branch = actor
        if branch:
            payload["actor_branch"] = branch
        text = self._canonical(payload)
        self.seq += 1
        header = self._header(
            self.seq,
            moment,
            occurred,
            actor_type,
            actor_id,
            action,
            client.id,
            client.number,
            channel,
            wording_version,
        )
        digest = self._chain(self.head, header, text)
        row: LogRow = (
            self.seq,
            moment,
            occurred,
            actor_type,
            actor_id,
            action,
            client.id,
            client.number,
            channel,
            wording_version,
            text,
            self.head,
            digest,
        )
        self.head = digest
        return row

    def _creation(self, client: HistoryClient, moment: dt.datetime) -> LogRow:
        actor = self._advisor(client.branch) if self.rng.random() < 0.6 else WEB
        payload: dict[str, Any] = {
            "kind": "individual",
            "is_legal_entity": False,
            "branch": client.branch,
            "status": "customer",
            "legal_capacity": "full",
            "protection_measure": "",
            "objection_notice_shown": False,
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
        rng = self.rng
        channel = "email" if rng.random() < 0.6 else "sms_push"
        state = self.states.get((client.id, channel)) or Projection()
        draw = rng.random()
        if state.status == "granted":
            kind = "withdraw" if draw < 0.8 else "grant"  # a grant again refreshes the proof
        elif state.status == "withdrawn":
            kind = "grant" if draw < 0.7 else "refuse"
        else:
            kind = "grant" if draw < 0.6 else "refuse" if draw < 0.85 else "withdraw"
        contact = client.email if channel == "email" else client.mobile
        personal: dict[str, Any] = {"contact_point": contact}
        data: dict[str, Any] = {"decision": kind}
        wording: tuple[str, str] | None = None
        occurred = moment
        if kind == "grant":
            journey, actor = rng.choice(DIGITAL_GRANT_JOURNEYS), WEB
            wording = self.wordings[channel]
            personal |= {"ip": f"203.0.113.{rng.randrange(1, 255)}", "user_agent": USER_AGENT}
            occurred = moment - dt.timedelta(microseconds=rng.randrange(3_000_000))
        elif kind == "refuse":
            journey, actor = "branch_contact_update", self._advisor(client.branch)
            wording = self.wordings[channel]
            data["evidence"] = {"identity_document": "cni"}
        else:
            draw = rng.random()
            if draw < 0.5 and channel == "email":
                journey, actor = "unsubscribe_link", ("customer", f"client:{client.number}", "")
            elif draw < 0.5:
                journey, actor = "sms_stop", ("system", "sms_stop", "")
            elif draw < 0.8:
                journey, actor = "digital_self_service", WEB
                personal |= {"ip": f"198.51.100.{rng.randrange(1, 255)}", "user_agent": USER_AGENT}
            else:
                journey, actor = "branch_request", self._advisor(client.branch)
                data["evidence"] = {"request_means": "in_person"}

        status = self._status
        step = self._decide(
            status(state.status),
            status(state.prior) if state.prior else None,
            self._events[kind],
            double_optin=False,
        )
        if not step.writes:
            raise BenchmarkError(f"{kind} in state {state.status} writes nothing")
        changed = step.status != state.status
        since = occurred if changed or state.since is None else state.since
        if wording is not None:
            wording_version = wording[0]
        else:
            wording_version = "" if changed else state.wording_version
        prior = str(step.prior) if step.prior else ""
        projection = {
            "from": state.status,
            "to": str(step.status),
            "prior": prior,
            "since": self._iso(since),
            "journey": journey,
            "wording_version": wording_version,
        }
        payload: dict[str, Any] = {"journey": journey, self._state_key: projection, **data}
        if wording is not None:
            payload["wording_sha256"] = wording[1]
        if step.effects:
            payload["effects"] = sorted(str(e) for e in step.effects)
        payload["personal"] = self._sealed(client, len(self._canonical(personal)))
        row = self._append(
            moment=moment,
            occurred=occurred,
            actor=actor,
            action=step.action,
            client=client,
            channel=channel,
            wording_version=wording[0] if wording else "",
            payload=payload,
        )
        self.states[client.id, channel] = Projection(
            status=str(step.status),
            prior=prior,
            since=since,
            journey=journey,
            wording_version=wording_version,
            last_seq=row[0],
        )
        return row


@dataclass(frozen=True)
class BuildFigures:
    entries: int
    clients: int
    seconds: float


def build_history(entries: int, client_count: int, end: dt.datetime) -> BuildFigures:
    """Branches, clients with their consent states, and `entries` chained log entries."""
    from django.db import connection, transaction

    from clients.models import Branch, Client
    from optin import audit
    from optin.models import AuditEntry, ConsentState, Wording, text_sha256

    started = time.perf_counter()
    rng = random.Random(SEED)
    branches = Branch.objects.bulk_create(
        [Branch(code=f"A{n:03d}", name=f"Agence {n}") for n in range(BRANCHES)]
    )
    wordings: dict[str, tuple[str, str]] = {}
    for channel in CHANNELS:
        text = f"Formulation {channel} en vigueur avant la version 1 (benchmark)."
        wording = Wording.objects.create(
            channel=channel,
            version=f"{channel}-v0",
            text=text,
            sha256=text_sha256(text),
            published_at=HISTORY_START - dt.timedelta(days=30),
            active=False,
        )
        wordings[channel] = (wording.version, wording.sha256)

    clients = [
        Client(
            client_number=f"H{n:07d}",
            kind="individual",
            first_name=rng.choice(("Jeanne", "Louis", "Camille", "Hugo", "Léa", "Nathalie")),
            last_name=f"Martin-{n}",
            birth_date=dt.date(1945 + n % 60, 1 + n % 12, 1 + n % 28),
            email=f"client.{n}@exemple.fr",
            mobile=f"+336{n:08d}",
            branch=branches[n % BRANCHES],
            status="customer",
        )
        for n in range(client_count)
    ]
    Client.objects.bulk_create(clients, batch_size=5_000)
    history_clients = [
        HistoryClient(
            id=client.pk,
            number=client.client_number,
            email=client.email,
            mobile=client.mobile,
            branch=client.branch.code,
            key_id=rng.randbytes(8).hex(),
            identity_length=len(audit.canonical_json(client.as_identity())),
        )
        for client in clients
    ]

    builder = HistoryBuilder(rng, wordings)
    rows = builder.rows(history_clients, entries, HISTORY_START, end)
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(AuditEntry._meta.db_table),
        sql.SQL(", ").join(sql.Identifier(name) for name in audit.ROW_FIELDS),
    )
    for first in range(0, entries, COPY_BATCH):
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.cursor.copy(copy_sql) as copy,
        ):
            for row in itertools.islice(rows, COPY_BATCH):
                copy.write_row(row)
        log(f"  log entries {min(first + COPY_BATCH, entries):,} / {entries:,}")

    states = []
    for client in history_clients:
        for channel in CHANNELS:
            p = builder.states.get((client.id, channel)) or Projection()
            states.append(
                ConsentState(
                    client_id=client.id,
                    channel=channel,
                    status=p.status,
                    prior_status=p.prior,
                    since=p.since,
                    journey=p.journey,
                    wording_version=p.wording_version,
                    last_seq=p.last_seq,
                )
            )
    ConsentState.objects.bulk_create(states, batch_size=10_000)
    seconds = time.perf_counter() - started
    return BuildFigures(entries=entries, clients=client_count, seconds=seconds)


def settle_database() -> None:
    """Statistics up to date and dirty pages flushed, so that no maintenance run by the
    server itself lands in the middle of a measurement."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


# --- recording --------------------------------------------------------------------------------


@dataclass
class DecisionDriver:
    """Alternates digital grants and withdrawals on each client and channel of a pool."""

    record: Callable[..., Any]
    actor: Any  # optin.audit.Actor
    numbers: list[str]
    granted: set[tuple[str, str]] = field(default_factory=set)
    calls: int = 0

    def next(self) -> None:
        size = len(self.numbers)
        number = self.numbers[self.calls % size]
        channel = CHANNELS[(self.calls // size) % len(CHANNELS)]
        self.calls += 1
        self.decide(number, channel)

    def decide(self, number: str, channel: str) -> str:
        grant = (number, channel) not in self.granted
        result = self.record(
            client_number=number,
            channel=channel,
            decision="grant" if grant else "withdraw",
            journey="digital_self_service",
            actor=self.actor,
            wording_version=f"{channel}-v1" if grant else None,
            affirmative_action=True if grant else None,
            evidence={"ip": "203.0.113.7", "user_agent": USER_AGENT},
        )
        if not result.recorded:
            raise BenchmarkError(f"decision on {number} {channel} wrote nothing")
        (self.granted.add if grant else self.granted.discard)((number, channel))
        return "grant" if grant else "withdraw"


@dataclass(frozen=True)
class RecordingFigures:
    count: int  # of each kind of write
    seconds: dict[str, float]  # "record", "append", "plain"
    queries: dict[str, list[str]]  # SQL of one grant and of one withdrawal

    def rate(self, kind: str) -> float:
        return self.count / self.seconds[kind]


def create_pool() -> list[Client]:
    from clients.models import Branch
    from clients.services import create_client
    from optin.audit import Actor

    branch = Branch.objects.create(code="BENCH", name="Agence du benchmark")
    system = Actor.system("benchmark")
    return [
        create_client(
            actor=system,
            client_number=f"P{n:06d}",
            kind="individual",
            first_name="Jeanne",
            last_name=f"Dupont-{n}",
            birth_date=dt.date(1980, 5, 17),
            email=f"jeanne.dupont.{n}@exemple.fr",
            mobile=f"+336{99_000_000 + n}",
            branch=branch,
            status="customer",
        )
        for n in range(POOL_SIZE)
    ]


def bench_recording(count: int) -> RecordingFigures:
    """record_decision, audit.append alone and SuppressionEntry.objects.create(), one
    transaction each, in rounds whose order rotates."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from optin import audit
    from optin.models import ActorType, SuppressionEntry
    from optin.services import record_decision

    web = audit.Actor(ActorType.API_CLIENT, "api:web")
    pool = create_pool()
    driver = DecisionDriver(record_decision, web, [client.client_number for client in pool])
    digests = iter([secrets.token_hex(32) for _ in range(count + POOL_SIZE)])
    appended = itertools.count()

    def plain_inserts(n: int) -> None:
        for digest in itertools.islice(digests, n):
            SuppressionEntry.objects.create(channel="email", digest=digest)

    def appends(n: int) -> None:
        # The entry of a confirmed e-mail address (clients.services.change_contact_details).
        for _ in range(n):
            client = pool[next(appended) % len(pool)]
            with transaction.atomic():
                audit.append(
                    action="client.contact_confirmed",
                    actor=web,
                    client_id=client.pk,
                    client_number=client.client_number,
                    channel="email",
                    data={"journey": "digital_contact_update", "removed": False},
                    personal={"old": client.email, "new": client.email},
                )

    def decisions(n: int) -> None:
        for _ in range(n):
            driver.next()

    runs: list[tuple[str, Callable[[int], None]]] = [
        ("plain", plain_inserts),
        ("append", appends),
        ("record", decisions),
    ]
    for _name, run in runs:  # warm-up
        run(POOL_SIZE)
    seconds = dict.fromkeys((name for name, _run in runs), 0.0)
    for round_no in range(DECISION_ROUNDS):
        size = count // DECISION_ROUNDS + (1 if round_no < count % DECISION_ROUNDS else 0)
        shift = round_no % len(runs)
        for name, run in runs[shift:] + runs[:shift]:
            started = time.perf_counter()
            run(size)
            seconds[name] += time.perf_counter() - started
        log(f"  round {round_no + 1}/{DECISION_ROUNDS}: {size:,} of each")

    queries: dict[str, list[str]] = {}
    number, channel = driver.numbers[0], CHANNELS[0]
    for _ in range(2):
        with CaptureQueriesContext(connection) as captured:
            kind = driver.decide(number, channel)
        queries[kind] = [query["sql"] for query in captured.captured_queries]
        log(f"  statements of one {kind}:")
        for statement in queries[kind]:
            log(f"    {statement[:110]}")
    return RecordingFigures(count, seconds, queries)


def decision_phase_entries(decisions: int) -> int:
    """Log entries the recording benchmark appends: pool creations, warm-up decisions and
    appends, measured decisions and appends, the two decisions whose queries are captured."""
    return 3 * POOL_SIZE + 2 * decisions + 2


# --- verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VerificationFigures:
    entries: int
    verify_seconds: float
    read_seconds: float
    checkpoints: int
    states: int


def stream_only() -> int:
    from optin import audit

    count = 0
    for _row in audit.stream_rows():
        count += 1
    return count


def bench_verification() -> VerificationFigures:
    from optin.integrity import head_seq, verify_log
    from optin.models import ConsentState

    expected_entries = head_seq()
    expected_states = ConsentState.objects.count()
    stream_only()  # warm-up: the same pages cached for both
    read_times, verify_times = [], []
    for round_no in range(VERIFY_ROUNDS):
        started = time.perf_counter()
        read = stream_only()
        read_times.append(time.perf_counter() - started)
        if read != expected_entries:
            raise BenchmarkError(f"streamed {read:,} rows, the log has {expected_entries:,}")

        started = time.perf_counter()
        result = verify_log()
        verify_times.append(time.perf_counter() - started)
        if not result.ok:
            raise BenchmarkError(f"verification failed on the built log: {result.first_bad}")
        if (result.entries, result.states, result.checkpoints) != (
            expected_entries,
            expected_states,
            1,
        ):
            raise BenchmarkError(f"verification did not cover the whole log: {result.as_dict()}")
        log(
            f"  round {round_no + 1}/{VERIFY_ROUNDS}: read {read_times[-1]:.1f} s, "
            f"verify {verify_times[-1]:.1f} s"
        )
    return VerificationFigures(
        entries=expected_entries,
        verify_seconds=min(verify_times),
        read_seconds=min(read_times),
        checkpoints=1,
        states=expected_states,
    )


# --- report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Results:
    history: BuildFigures
    recording: RecordingFigures
    verification: VerificationFigures
    machine: str
    date: str
    load: tuple[float, float]  # 1-minute load average when recording and verifying began

    @property
    def record_ratio(self) -> float:
        return self.recording.rate("record") / self.recording.rate("plain")

    @property
    def append_ratio(self) -> float:
        return self.recording.rate("append") / self.recording.rate("plain")

    @property
    def verify_rate(self) -> float:
        return self.verification.entries / self.verification.verify_seconds

    @property
    def read_rate(self) -> float:
        return self.verification.entries / self.verification.read_seconds

    @property
    def verify_ratio(self) -> float:
        return self.verify_rate / self.read_rate

    @property
    def seconds_per_million(self) -> float:
        return MILLION / self.verify_rate

    def targets(self) -> list[tuple[str, str, bool]]:
        """(target, measured, met)."""
        million = self.seconds_per_million
        projected = "" if self.verification.entries == MILLION else " (projected)"
        return [
            (
                f"Recording ≥ {RECORD_RATIO_TARGET:.1f}x plain insert",
                f"{self.record_ratio:.2f}x",
                self.record_ratio >= RECORD_RATIO_TARGET,
            ),
            (
                f"Verification ≥ {VERIFY_RATIO_TARGET:.1f}x plain read",
                f"{self.verify_ratio:.2f}x",
                self.verify_ratio >= VERIFY_RATIO_TARGET,
            ),
            (
                f"{MILLION:,} entries verified in ≤ {VERIFY_SECONDS_TARGET:.0f} s",
                f"{million:.1f} s{projected}",
                million <= VERIFY_SECONDS_TARGET,
            ),
        ]


def machine_description() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        settings = {}
        for name in ("server_version", "synchronous_commit", "fsync", "shared_buffers"):
            cursor.execute("SELECT current_setting(%s)", [name])
            settings[name] = cursor.fetchone()[0]
    import django

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpu_model = _proc_value("/proc/cpuinfo", "model name") or platform.processor() or "CPU"
    memory_kb = _proc_value("/proc/meminfo", "MemTotal")
    memory = f"{int(memory_kb.split()[0]) / 1024**2:.1f} GiB RAM" if memory_kb else "RAM unknown"
    try:
        system = platform.freedesktop_os_release().get("PRETTY_NAME", platform.system())
    except OSError:
        system = platform.platform()
    return (
        f"{cpus} CPU ({cpu_model}), {memory}, {system}; "
        f"PostgreSQL {settings['server_version'].split()[0]} on the same machine "
        f"(fsync {settings['fsync']}, synchronous_commit {settings['synchronous_commit']}, "
        f"shared_buffers {settings['shared_buffers']}); "
        f"Python {platform.python_version()}, Django {django.get_version()}, "
        f"psycopg {psycopg.__version__}"
    )


def _proc_value(path: str, key: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as file:
            for line in file:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        return None
    return None


def render(results: Results) -> str:
    r, rec, ver = results, results.recording, results.verification
    grant_q, withdraw_q = (
        sum(statement not in ("BEGIN", "COMMIT") for statement in rec.queries.get(kind, []))
        for kind in ("grant", "withdraw")
    )
    appended = ver.entries - r.history.entries
    lines = [
        SECTION_TITLE,
        "",
        "`make benchmark` runs `benchmarks/audit_log.py` (options `--entries N`, default "
        "1,000,000; `--decisions N`, default 2,000; `--keep`; `--no-docs`). It needs PostgreSQL: "
        "`DATABASE_URL` names a scratch database whose name must start with `optin_bench` "
        "(default `postgres://postgres@127.0.0.1:5432/optin_bench`). The script drops it, "
        "creates and migrates it, runs, and drops it at the end unless `--keep`. It rewrites "
        "this section and exits 1 when a target is missed.",
        "",
        "### Results",
        "",
        f"Measured on {r.date}: {r.machine}. Load average (1 min) when recording and "
        f"verification began: {r.load[0]:.2f} and {r.load[1]:.2f}.",
        "",
        "| Measure | Count | Seconds | Rate | Ratio |",
        "|---|---:|---:|---:|---:|",
        f"| `record_decision`, one transaction each | {rec.count:,} | "
        f"{rec.seconds['record']:.2f} | {rec.rate('record'):,.0f} decisions/s | "
        f"{r.record_ratio:.2f}x plain insert |",
        f"| `audit.append` alone, one transaction each | {rec.count:,} | "
        f"{rec.seconds['append']:.2f} | {rec.rate('append'):,.0f} entries/s | "
        f"{r.append_ratio:.2f}x plain insert |",
        f"| Plain insert (`SuppressionEntry.objects.create()`, autocommit) | {rec.count:,} | "
        f"{rec.seconds['plain']:.2f} | {rec.rate('plain'):,.0f} rows/s | reference |",
        f"| `verify_log()` | {ver.entries:,} | {ver.verify_seconds:.2f} | "
        f"{r.verify_rate:,.0f} entries/s | {r.verify_ratio:.2f}x plain read |",
        f"| Plain read (`stream_rows()`, rows consumed) | {ver.entries:,} | "
        f"{ver.read_seconds:.2f} | {r.read_rate:,.0f} entries/s | reference |",
        "",
        f"- Recording: digital grants and withdrawals alternating on {POOL_SIZE} clients and "
        f"both channels (journey `digital_self_service`, IP address and user agent as "
        f"evidence), after {POOL_SIZE} warm-up writes of each kind; {DECISION_ROUNDS} rounds "
        f"whose order rotates. `audit.append` alone writes the entry of a confirmed e-mail "
        f"address (personal data sealed). SQL statements per decision "
        f"(`CaptureQueriesContext`): {grant_q} for a grant, {withdraw_q} for a withdrawal, "
        f"between BEGIN and COMMIT; the plain insert is one statement.",
        f"- Verification: chain, {ver.checkpoints} signed checkpoint, replay compared with "
        f"{ver.states:,} consent states; both measures stream in autocommit, like "
        f"`manage.py verify_audit`, after one unmeasured read; best of {VERIFY_ROUNDS} each. "
        f"The log holds {r.history.entries:,} entries of synthetic history on "
        f"{r.history.clients:,} clients (creations and consent decisions shaped like the "
        f"services', states matching the log; chained in Python and loaded with COPY, "
        f"{r.history.seconds:.0f} s with the clients and states) followed by the "
        f"{appended:,} entries written through the services by the recording benchmark.",
        "",
        "### Targets",
        "",
        "| Target | Measured | Met |",
        "|---|---:|---|",
    ]
    for target, measured, met in r.targets():
        lines.append(f"| {target} | {measured} | {'yes' if met else '**no**'} |")
    return "\n".join(wrap(line) for line in lines) + "\n"


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=MILLION, help="log size to verify")
    parser.add_argument("--decisions", type=int, default=2_000, help="decisions to time")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--no-docs", action="store_true", help="do not write the report")
    args = parser.parse_args(argv)
    if args.entries < 1 or args.decisions < DECISION_ROUNDS:
        parser.error(f"--entries must be positive and --decisions at least {DECISION_ROUNDS}")
    return args


def run(args: argparse.Namespace, var_dir: Path) -> Results:
    from django.core.management import call_command
    from django.utils import timezone

    from optin import checkpoints

    log("migrating")
    call_command("migrate", interactive=False, verbosity=0)

    history = max(0, args.entries - decision_phase_entries(args.decisions))
    clients = min(history, max(1, args.entries // ENTRIES_PER_CLIENT - POOL_SIZE))
    log(f"building a log of {history:,} entries on {clients:,} clients")
    built = build_history(history, clients, end=timezone.now() - dt.timedelta(hours=1))
    log(f"  built in {built.seconds:.1f} s; VACUUM ANALYZE, CHECKPOINT")
    settle_database()

    log(f"recording {args.decisions:,} decisions, appends and plain inserts")
    load_recording = os.getloadavg()[0]
    recording = bench_recording(args.decisions)

    checkpoints.write_local_keys(var_dir / "keys")
    if checkpoints.create_checkpoint() is None:
        raise BenchmarkError("no checkpoint could be signed")
    settle_database()
    log("verifying the log against streaming it")
    load_verification = os.getloadavg()[0]
    verification = bench_verification()
    return Results(
        history=built,
        recording=recording,
        verification=verification,
        machine=machine_description(),
        date=dt.datetime.now(dt.UTC).date().isoformat(),
        load=(load_recording, load_verification),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    try:
        params = scratch_database(database_url)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    var_dir = Path(tempfile.mkdtemp(prefix="optin-bench-"))
    log(f"database {params['NAME']} on {params.get('HOST') or 'the local socket'}")
    create_database(params)
    try:
        configure_django(database_url, var_dir)
        results = run(args, var_dir)
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
