"""Benchmark of the REST API on PostgreSQL: the opt-in list, eligibility batches, decisions.

    python benchmarks/api.py [--customers N] [--calls N] [--seconds N] [--keep] [--no-docs]

Run from the project root (``make benchmark``). DATABASE_URL names the PostgreSQL server and a
scratch database name starting with ``optin_bench`` (default
postgres://postgres@127.0.0.1:5432/optin_bench); this benchmark works in its own database, that
name followed by ``_api``, which it drops, creates afresh and migrates, and drops again at the
end unless ``--keep``. The API is served by gunicorn (``optin.wsgi``, the production settings
``optin.settings`` with DEBUG off and benchmark-only keys in a temporary directory) on
127.0.0.1 and called over HTTP with ``http.client``; every server is stopped before the end.

1. Data: ``--customers`` customers (default 1,000,000) spread over 50 branches, loaded with
   COPY: 8 % professionals (half of them legal entities), 4 % of the individuals minors, 1.5 %
   of the adults under a protection measure; French names, seven customers in eight with an
   e-mail address, five in six with a mobile. Both consent states of every customer: of those
   who may consent and have the contact point, 42 % granted by e-mail (wording ``email-v1``,
   about a third of all customers), 12 % refused, 8 % withdrawn, the rest ``none``; on SMS/push
   25 % granted (``sms_push-v1``), 8 % refused, 6 % withdrawn. Each state other than ``none``
   has its log entry (chained in Python with ``audit.header_json``/``audit.chain_hash``, loaded
   with COPY) and each objection its suppression entry; the customers the decisions are
   recorded for have their data key, as customers created through the services do. A signed
   checkpoint of the head, then VACUUM ANALYZE.
2. Opt-in list: ``GET /api/v1/optin-list?channel=email`` as CSV and as NDJSON (one gunicorn
   worker), each downloaded whole, against ``COPY (<query>) TO STDOUT WITH (FORMAT csv)`` read
   whole through psycopg; the query is the SQL of ``optin.selectors.optin_list_query``, which
   ``optin.selectors.optin_list`` runs (``sql_with_params()``, bound by psycopg's
   ``mogrify``). Rows per second of each, best of two rounds whose order rotates, after one
   unmeasured COPY; the selector alone (its chunks consumed in this process) and the query's
   ``EXPLAIN ANALYZE`` tell where the time goes.
3. Eligibility: ``POST /api/v1/eligibility`` of 10,000 client numbers drawn at random (5 %
   unknown) on the e-mail channel, same server: ``--calls`` calls (default 20) after one
   warm-up, a new batch for each call; ``optin.selectors.eligibility`` alone and the plan of
   its statement alongside.
4. Decisions: ``POST /api/v1/clients/{number}/consents`` from 8 threads, each with its own
   HTTP connection, to gunicorn with 4 workers of 2 threads, for ``--seconds`` seconds
   (default 15) after 5 warm-up requests per thread: digital grants and withdrawals
   alternating, a different customer for every request, a new Idempotency-Key each;
   ``pg_stat_activity`` sampled meanwhile (sessions waiting for the log's lock) and the CPUs'
   idle time alongside. Then ``optin.integrity.verify_log()`` must find the chain, the
   checkpoint and every consent state intact.

Prints a Markdown report, writes it into docs/PERFORMANCE.md (section "REST API", the other
sections are kept) and exits 1 when a target is missed (opt-in list through the API ≥ 0.3x
COPY's rows per second, in both formats; eligibility median ≤ 150 ms; ≥ 300 decisions per
second; the log verified afterwards).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import itertools
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from audit_log import (
    DEFAULT_DATABASE_URL,
    USER_AGENT,
    BenchmarkError,
    close_connections,
    configure_django,
    create_database,
    drop_database,
    log,
    machine_description,
    scratch_database,
)
from psycopg import ClientCursor, sql
from report import PROJECT_DIR, conclude, wrap
from search import DOMAINS, FIRST_NAMES, LAST_NAMES, percentile

SECTION_TITLE = "## REST API"
DATABASE_SUFFIX = "_api"

# Targets.
EXPORT_RATIO_TARGET = 0.3  # opt-in list through the API vs COPY of its query, rows per second
ELIGIBILITY_MEDIAN_TARGET_MS = 150.0  # a batch of 10,000 numbers
DECISIONS_TARGET = 300.0  # decisions per second, 8 concurrent clients
MILLION = 1_000_000

BRANCHES = 50
COPY_BATCH = 100_000  # customers per COPY transaction (with their states, entries, suppressions)
SEED = 20_261_125
CHANNELS = ("email", "sms_push")
# Shares of the customers (see the module's docstring).
PROFESSIONAL_SHARE, LEGAL_ENTITY_SHARE = 0.08, 0.5
MINOR_SHARE, PROTECTED_SHARE = 0.04, 0.015
# Cumulated thresholds of granted, refused, withdrawn among those who may consent and have the
# channel's contact point; the rest is none.
STATE_DRAWS = {"email": (0.42, 0.54, 0.62), "sms_push": (0.25, 0.33, 0.39)}
HISTORY_JOURNEY = "digital_self_service"
HISTORY_ACTOR = ("api_client", "api:web")

EXPORT_CHANNEL = "email"
EXPORT_ROUNDS = 2  # CSV, NDJSON and COPY take turns; the best time of each is kept
ELIGIBILITY_BATCH = 10_000
UNKNOWN_SHARE = 0.05
DECISION_THREADS = 8
DECISION_WORKERS, DECISION_WORKER_THREADS = 4, 2
WARMUP_PER_THREAD = 5
DECISION_POOL = 16_000  # customers set aside for the decisions, one request each at most
EVIDENCE = {"ip": "203.0.113.7", "user_agent": USER_AGENT}


# --- the database -----------------------------------------------------------------------------


def api_database_url(url: str) -> str:
    """The URL of this benchmark's own database: DATABASE_URL's name followed by _api."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.endswith(DATABASE_SUFFIX):
        name += DATABASE_SUFFIX
    return urlunsplit(parts._replace(path=f"/{name}"))


def client_number(client_id: int) -> str:
    return f"C{client_id:08d}"


@dataclass
class LoadFigures:
    customers: int
    seconds: float = 0.0
    people: Counter[str] = field(default_factory=Counter)  # kinds, minors, protected
    states: dict[str, Counter[str]] = field(default_factory=dict)  # channel -> status -> n
    entries: int = 0  # log entries of the history
    suppressed: int = 0
    sizes_mb: dict[str, float] = field(default_factory=dict)  # table with its indexes
    # (client number, channel, decision) of the decision benchmark, grants and withdrawals
    # alternating, one customer each.
    pool: list[tuple[str, str, str]] = field(default_factory=list)


class History:
    """One log entry per consent state other than none, chained in sequence order; shaped
    like the entries `optin.services.apply_event` writes (without the sealed personal data)."""

    def __init__(self, wordings: dict[str, tuple[str, str]]) -> None:
        from optin import audit

        self.wordings = wordings  # channel -> (version, sha256)
        self.seq = 0
        self.head = audit.GENESIS_HASH
        self._canonical = audit.canonical_json
        self._header = audit.header_json
        self._chain = audit.chain_hash
        self._iso = audit.iso_or_none
        self._state_key = audit.STATE_KEY

    def entry(
        self,
        client_id: int,
        number: str,
        channel: str,
        status: str,
        moment: dt.datetime,
        occurred: dt.datetime,
    ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """The log row and the consent state row of one decision from `none` to `status`."""
        decision = {"granted": "grant", "refused": "refuse", "withdrawn": "withdraw"}[status]
        wording = self.wordings[channel] if decision != "withdraw" else None
        version = wording[0] if wording else ""
        projection = {
            "from": "none",
            "to": status,
            "prior": "",
            "since": self._iso(occurred),
            "journey": HISTORY_JOURNEY,
            "wording_version": version,
        }
        payload: dict[str, Any] = {
            self._state_key: projection,
            "decision": decision,
            "journey": HISTORY_JOURNEY,
        }
        if wording:
            payload["wording_sha256"] = wording[1]
        text = self._canonical(payload)
        self.seq += 1
        actor_type, actor_id = HISTORY_ACTOR
        action = f"consent.{status}"
        header = self._header(
            self.seq,
            moment,
            occurred,
            actor_type,
            actor_id,
            action,
            client_id,
            number,
            channel,
            version,
        )
        digest = self._chain(self.head, header, text)
        row = (
            self.seq,
            moment,
            occurred,
            actor_type,
            actor_id,
            action,
            client_id,
            number,
            channel,
            version,
            text,
            self.head,
            digest,
        )
        self.head = digest
        state = (client_id, channel, status, "", occurred, HISTORY_JOURNEY, version, self.seq)
        return row, state


CLIENT_COLUMNS = (
    "id",
    "client_number",
    "kind",
    "is_legal_entity",
    "first_name",
    "last_name",
    "search_name",
    "birth_date",
    "legal_capacity",
    "protection_measure",
    "email",
    "mobile",
    "branch_id",
    "status",
    "objection_notice_shown",
)
STATE_COLUMNS = (
    "client_id",
    "channel",
    "status",
    "prior_status",
    "since",
    "journey",
    "wording_version",
    "last_seq",
)


def client_columns() -> tuple[list[str], list[Any]]:
    """Every column of clients_client: those `load` writes, then the others with their model
    defaults (COPY does not apply Django's defaults)."""
    from clients.models import Client

    names = list(CLIENT_COLUMNS)
    defaults: list[Any] = []
    for model_field in Client._meta.concrete_fields:
        if model_field.column is None or model_field.column in CLIENT_COLUMNS:
            continue
        if model_field.has_default():
            value = model_field.get_default()
        elif model_field.null:
            value = None
        else:
            raise BenchmarkError(f"no value for the column {model_field.column} of clients_client")
        names.append(model_field.column)
        defaults.append(value)
    return names, defaults


def copy_statement(table: str, columns: Sequence[str]) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )


def load(count: int) -> LoadFigures:
    """Branches, customers, their consent states, the log entries and suppression entries
    behind them, the data keys of the decision pool; COPY, one transaction per batch."""
    from django.db import connection, transaction
    from django.utils import timezone

    from clients.models import Branch, search_key, today_in_paris
    from optin import audit
    from optin.models import Wording
    from optin.services import suppression_digest

    started = time.perf_counter()
    figures = LoadFigures(customers=count, states={c: Counter() for c in CHANNELS})
    rng = random.Random(SEED)
    branches = Branch.objects.bulk_create(
        [Branch(code=f"B{n:03d}", name=f"Agence {n}") for n in range(BRANCHES)]
    )
    branch_ids = [branch.pk for branch in branches]
    wordings = {
        channel: Wording.objects.filter(version=f"{channel}-v1")
        .values_list("version", "sha256", "published_at")
        .get()
        for channel in CHANNELS
    }
    history = History({c: (w[0], w[1]) for c, w in wordings.items()})
    end = timezone.now() - dt.timedelta(minutes=5)
    start = max(w[2] for w in wordings.values())
    if start >= end - dt.timedelta(hours=1):
        start = end - dt.timedelta(hours=1)
    step_us = int((end - start).total_seconds() * 1_000_000) // count

    names, defaults = client_columns()
    copies = {
        "clients": copy_statement("clients_client", names),
        "states": copy_statement("optin_consentstate", STATE_COLUMNS),
        "entries": copy_statement("optin_auditentry", audit.ROW_FIELDS),
        "suppression": copy_statement(
            "optin_suppressionentry", ("channel", "digest", "created_at")
        ),
    }
    cumulated = list(itertools.accumulate(1 / (rank + 10) for rank in range(len(LAST_NAMES))))
    keys: dict[tuple[str, str], str] = {}
    plain: dict[str, str] = {}

    def ascii_part(name: str) -> str:
        if name not in plain:
            plain[name] = search_key(name).replace(" ", "-")
        return plain[name]

    today = today_in_paris()
    now = timezone.now()
    pool_every = max(1, count // int(DECISION_POOL * 1.5))
    grants: list[tuple[str, str, str]] = []
    withdrawals: list[tuple[str, str, str]] = []
    people = figures.people

    for first_id in range(1, count + 1, COPY_BATCH):
        clients, states, entries, suppression = [], [], [], []
        for client_id in range(first_id, min(first_id + COPY_BATCH, count + 1)):
            n = client_id - 1
            number = client_number(client_id)
            last = rng.choices(LAST_NAMES, cum_weights=cumulated)[0]
            first = rng.choice(FIRST_NAMES)
            professional = rng.random() < PROFESSIONAL_SHARE
            legal_entity = professional and rng.random() < LEGAL_ENTITY_SHARE
            minor = not professional and rng.random() < MINOR_SHARE
            protected = not professional and not minor and rng.random() < PROTECTED_SHARE
            people["professional" if professional else "individual"] += 1
            people["legal entity"] += legal_entity
            people["minor"] += minor
            people["protected adult"] += protected
            if legal_entity:
                first_name, last_name, birth_date = "", f"{last} Conseil SARL", None
            else:
                first_name, last_name = first, last
                days = (
                    rng.randrange(2 * 365, 17 * 365) if minor else rng.randrange(18 * 366, 95 * 365)
                )
                birth_date = today - dt.timedelta(days=days)
            key = keys.get((last_name, first_name))
            if key is None:
                key = keys[last_name, first_name] = search_key(f"{last_name} {first_name}")
            local = f"{ascii_part(first)}.{ascii_part(last)}{n}"
            email = f"{local}@{DOMAINS[n % len(DOMAINS)]}" if n % 8 else ""
            mobile = f"+3361{(n * 7_919 + 1_234_567) % 10_000_000:07d}" if n % 6 else ""
            clients.append(
                [
                    client_id,
                    number,
                    "professional" if professional else "individual",
                    legal_entity,
                    first_name,
                    last_name,
                    key,
                    birth_date,
                    "protected" if protected else "full",
                    "curatelle" if protected else "",
                    email,
                    mobile,
                    branch_ids[rng.randrange(BRANCHES)],
                    "customer" if n % 5 else "prospect",
                    professional,
                    *defaults,
                ]
            )
            may_consent = not (legal_entity or minor or protected)
            moment = start + dt.timedelta(microseconds=n * step_us)
            statuses = {}
            for k, (channel, contact) in enumerate((("email", email), ("sms_push", mobile))):
                status = "none"
                if may_consent and contact:
                    draw = rng.random()
                    granted, refused, withdrawn = STATE_DRAWS[channel]
                    if draw < granted:
                        status = "granted"
                    elif draw < refused:
                        status = "refused"
                    elif draw < withdrawn:
                        status = "withdrawn"
                statuses[channel] = status
                figures.states[channel][status] += 1
                if status == "none":
                    states.append((client_id, channel, "none", "", None, "", "", None))
                    continue
                recorded = moment + dt.timedelta(microseconds=k)
                occurred = recorded - dt.timedelta(microseconds=rng.randrange(2_000_000))
                entry, state = history.entry(client_id, number, channel, status, recorded, occurred)
                entries.append(entry)
                states.append(state)
                if status in ("refused", "withdrawn"):
                    suppression.append((channel, suppression_digest(contact), now))
            if may_consent and email and mobile and n % pool_every == 0:
                # A grant where a channel is not granted, a withdrawal where one is; as many
                # of each.
                open_channels = [c for c in CHANNELS if statuses[c] != "granted"]
                granted_channels = [c for c in CHANNELS if statuses[c] == "granted"]
                if open_channels and (len(grants) <= len(withdrawals) or not granted_channels):
                    grants.append((number, rng.choice(open_channels), "grant"))
                elif granted_channels:
                    withdrawals.append((number, rng.choice(granted_channels), "withdraw"))
        with transaction.atomic(), connection.cursor() as cursor:
            for name, rows in (
                ("clients", clients),
                ("states", states),
                ("entries", entries),
                ("suppression", suppression),
            ):
                with cursor.cursor.copy(copies[name]) as copy:
                    for row in rows:
                        copy.write_row(row)
        figures.entries += len(entries)
        figures.suppressed += len(suppression)
        log(f"  customers {min(first_id + COPY_BATCH - 1, count):,} / {count:,}")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('clients_client', 'id'), max(id)) "
            "FROM clients_client"
        )
    pairs = min(len(grants), len(withdrawals), DECISION_POOL // 2)
    figures.pool = [
        item for pair in zip(grants[:pairs], withdrawals[:pairs], strict=True) for item in pair
    ]
    create_client_keys([int(number[1:]) for number, _c, _d in figures.pool])
    figures.seconds = time.perf_counter() - started
    return figures


def create_client_keys(client_ids: Sequence[int]) -> None:
    """The data key of each customer of the decision pool, wrapped by the master key as
    `optin.crypto.ensure_client_key` writes it (a customer created by the services has one)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from django.db import connection, transaction
    from django.utils import timezone

    from optin import crypto

    master_id = crypto.master_key_id()
    now = timezone.now()
    statement = copy_statement(
        "optin_clientkey", ("client_id", "key_id", "wrapped_key", "master_key_id", "created_at")
    )
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for client_id in client_ids:
            wrapped = crypto.wrap(client_id, AESGCM.generate_key(bit_length=256))
            copy.write_row((client_id, os.urandom(8).hex(), wrapped, master_id, now))


def settle_database() -> None:
    """Statistics up to date and dirty pages flushed before measuring."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


def table_sizes() -> dict[str, float]:
    from django.db import connection

    sizes = {}
    with connection.cursor() as cursor:
        for table in ("clients_client", "optin_consentstate", "optin_auditentry"):
            cursor.execute("SELECT pg_total_relation_size(%s)", [table])
            sizes[table] = cursor.fetchone()[0] / 1024**2
    return sizes


# --- gunicorn ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gunicorn(var_dir: Path, name: str, workers: int, threads: int) -> Iterator[tuple[str, int]]:
    """A gunicorn serving optin.wsgi with this process's environment (settings, keys,
    database); yields its address and stops it, with its workers, on the way out."""
    port = free_port()
    log_path = var_dir / f"gunicorn-{name}.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "optin.wsgi",
        "--chdir",
        str(PROJECT_DIR),
        "--bind",
        f"127.0.0.1:{port}",
        "--worker-class",
        "gthread",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--timeout",
        "600",
        "--graceful-timeout",
        "10",
        "--keep-alive",
        "60",
        "--error-logfile",
        str(log_path),
        "--no-control-socket",  # by default one socket in the home directory, for any server
        "--preload",  # Django loaded once, before the workers are forked
    ]
    with open(var_dir / f"gunicorn-{name}.out", "wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    log(f"  gunicorn ({name}) pid {process.pid}: {workers} worker(s) x {threads} thread(s)")
    try:
        wait_until_serving(process, port, log_path)
        yield ("127.0.0.1", port)
    finally:
        stop_gunicorn(process)


def wait_until_serving(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            raise BenchmarkError(f"gunicorn exited with status {process.returncode}:\n{tail}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/api/v1/wordings")  # no token: a 401 from Django
            status = conn.getresponse().status
            conn.close()
            if status == 401:
                return
            raise BenchmarkError(f"gunicorn answered {status} to a request without a token")
        except OSError:
            time.sleep(0.2)
    raise BenchmarkError("gunicorn did not answer within 60 s")


def stop_gunicorn(process: subprocess.Popen[bytes]) -> None:
    """SIGQUIT to the master (a quick shutdown: every request has been answered), SIGKILL to
    its process group if it or a worker lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            log(f"  gunicorn {process.pid} did not stop: killing its process group")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):  # a worker left behind by its master
        os.killpg(process.pid, 0)
        time.sleep(1)
        os.killpg(process.pid, signal.SIGKILL)
        log(f"  killed workers left by gunicorn {process.pid}")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


# --- 1. the opt-in list -----------------------------------------------------------------------


@dataclass
class Transfer:
    rows: int
    seconds: float
    megabytes: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def download(address: tuple[str, int], token: str, fmt: str) -> Transfer:
    """The whole opt-in list through the API, every byte read; rows are its lines (less the
    header of the CSV)."""
    conn = http.client.HTTPConnection(*address, timeout=600)
    started = time.perf_counter()
    conn.request(
        "GET", f"/api/v1/optin-list?channel={EXPORT_CHANNEL}&format={fmt}", None, auth(token)
    )
    response = conn.getresponse()
    if response.status != 200:
        raise BenchmarkError(
            f"opt-in list ({fmt}): HTTP {response.status} {response.read()[:500]!r}"
        )
    lines = size = 0
    last = b""
    while block := response.read(1 << 20):
        lines += block.count(b"\n")
        size += len(block)
        last = block
    seconds = time.perf_counter() - started
    conn.close()
    if not last.endswith(b"\n"):
        raise BenchmarkError(f"opt-in list ({fmt}): the download ends within a line")
    return Transfer(lines - (fmt == "csv"), seconds, size / 1024**2)


def optin_list_sql(channel: str) -> str:
    """The SQL `optin.selectors.optin_list` runs (`optin_list_query`), its parameters bound."""
    from django.db import connection

    from optin import selectors

    query, params = selectors.optin_list_query(channel).query.sql_with_params()
    connection.ensure_connection()
    return ClientCursor(connection.connection).mogrify(query, params)


def copy_out(query: str) -> Transfer:
    """COPY (query) TO STDOUT WITH (FORMAT csv), every block read."""
    from django.db import connection

    statement = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv)").format(sql.SQL(query))
    connection.ensure_connection()
    lines = size = 0
    started = time.perf_counter()
    with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
        for block in copy:
            data = bytes(block)
            lines += data.count(b"\n")
            size += len(data)
    return Transfer(lines, time.perf_counter() - started, size / 1024**2)


def selector_alone(channel: str) -> Transfer:
    """`optin_list`'s chunks consumed in this process: the database and the ORM, without
    tokens, formatting or HTTP."""
    from optin import selectors

    rows = 0
    started = time.perf_counter()
    for chunk in selectors.optin_list(channel):
        rows += len(chunk)
    return Transfer(rows, time.perf_counter() - started, 0.0)


def explain(query: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query}")
        return "\n".join(row[0] for row in cursor.fetchall())


_NODE = re.compile(r"^\s*(?:->\s*)?([A-Z][^(]*?)\s+\(cost=")
_LIST = re.compile(r"\{[^{}]{200,}\}")  # the numbers of an eligibility batch, in a plan
_EXECUTION = re.compile(r"Execution Time: ([\d.]+) ms")


def plan_summary(plan: str) -> str:
    """The nodes of a plan, top down, and its execution time."""
    nodes = [m.group(1) for line in plan.splitlines() if (m := _NODE.match(line))]
    executed = _EXECUTION.search(plan)
    text = " / ".join(nodes) or "?"
    if executed:
        text += f"; {float(executed.group(1)):,.0f} ms"
    return text


def plan_ms(plan: str) -> float:
    executed = _EXECUTION.search(plan)
    return float(executed.group(1)) if executed else float("nan")


@dataclass
class ExportFigures:
    csv: Transfer
    ndjson: Transfer
    copy: Transfer
    selector: Transfer
    plan: str
    logged_rows: int  # rows the export's closing log entry counts

    def ratio(self, fmt: str) -> float:
        return getattr(self, fmt).rate / self.copy.rate


def bench_export(address: tuple[str, int], token: str) -> ExportFigures:
    from optin.models import AuditEntry

    query = optin_list_sql(EXPORT_CHANNEL)
    log(f"  the query of optin_list:\n{query}")
    copy_out(query)  # warm-up: the same pages cached for every measure
    best: dict[str, Transfer] = {}
    runs = [
        ("csv", lambda: download(address, token, "csv")),
        ("ndjson", lambda: download(address, token, "ndjson")),
        ("copy", lambda: copy_out(query)),
    ]
    for round_no in range(EXPORT_ROUNDS):
        shift = round_no % len(runs)
        for name, run in runs[shift:] + runs[:shift]:
            transfer = run()
            log(
                f"  round {round_no + 1}/{EXPORT_ROUNDS} {name}: {transfer.rows:,} rows in "
                f"{transfer.seconds:.2f} s ({transfer.rate:,.0f} rows/s, "
                f"{transfer.megabytes:,.1f} MB)"
            )
            if name not in best or transfer.seconds < best[name].seconds:
                best[name] = transfer
    rows = {name: transfer.rows for name, transfer in best.items()}
    if len(set(rows.values())) != 1 or not rows["copy"]:
        raise BenchmarkError(f"the exports do not hold the same rows: {rows}")
    last = AuditEntry.objects.filter(action="optin_list.exported").order_by("-seq").first()
    payload = json.loads(last.payload) if last else {}
    if not payload.get("complete") or payload.get("rows") != rows["copy"]:
        raise BenchmarkError(f"the last export was logged as {payload}")
    selector = selector_alone(EXPORT_CHANNEL)
    log(f"  selector alone: {selector.rows:,} rows in {selector.seconds:.2f} s")
    plan = explain(query)
    log(f"  plan of the opt-in list's query:\n{plan}")
    return ExportFigures(
        best["csv"], best["ndjson"], best["copy"], selector, plan, int(payload["rows"])
    )


# --- 2. eligibility ---------------------------------------------------------------------------


@dataclass
class EligibilityFigures:
    calls: int
    times_ms: list[float]
    selector_ms: list[float]  # optin.selectors.eligibility in this process
    plan: str
    reasons: Counter[str]  # of the first measured batch
    request_kb: float
    response_kb: float

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        return percentile(self.times_ms, 0.95)


def eligibility_batches(customers: int, calls: int) -> list[list[str]]:
    rng = random.Random(f"{SEED}-eligibility")
    batches = []
    for _ in range(calls):
        batch = []
        for _ in range(ELIGIBILITY_BATCH):
            if rng.random() < UNKNOWN_SHARE:
                batch.append(client_number(customers + 1 + rng.randrange(customers)))
            else:
                batch.append(client_number(rng.randrange(1, customers + 1)))
        batches.append(batch)
    return batches


def bench_eligibility(
    address: tuple[str, int], token: str, customers: int, calls: int
) -> EligibilityFigures:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from optin import selectors

    batches = eligibility_batches(customers, calls + 1)
    conn = http.client.HTTPConnection(*address, timeout=120)
    headers = {**auth(token), "Content-Type": "application/json"}
    times: list[float] = []
    reasons: Counter[str] = Counter()
    request_kb = response_kb = 0.0
    for call, batch in enumerate(batches):  # the first call warms up
        body = json.dumps({"channel": EXPORT_CHANNEL, "client_numbers": batch})
        started = time.perf_counter()
        conn.request("POST", "/api/v1/eligibility", body, headers)
        response = conn.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise BenchmarkError(f"eligibility: HTTP {response.status} {data[:500]!r}")
        results = json.loads(data)["results"]
        if len(results) != len(batch):
            raise BenchmarkError(f"eligibility answered {len(results)} of {len(batch)} numbers")
        if call == 1:
            reasons = Counter(r["reason"] for r in results)
            request_kb, response_kb = len(body) / 1024, len(data) / 1024
        if call:
            times.append(elapsed)
    conn.close()
    log(f"  {calls} calls: median {statistics.median(times):.1f} ms")

    selector_ms = []
    for batch in batches[1:6]:
        started = time.perf_counter()
        selectors.eligibility(EXPORT_CHANNEL, batch)
        selector_ms.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as captured:
        selectors.eligibility(EXPORT_CHANNEL, batches[1])
    statement = next(
        q["sql"] for q in captured.captured_queries if 'FROM "clients_client"' in q["sql"]
    )
    plan = explain(statement)
    log(f"  plan of the eligibility statement:\n{_LIST.sub('{...}', plan)}")
    return EligibilityFigures(calls, times, selector_ms, plan, reasons, request_kb, response_kb)


# --- 3. decisions -----------------------------------------------------------------------------


@dataclass
class DecisionFigures:
    decisions: int
    seconds: float
    times_ms: list[float]
    kinds: Counter[str]  # grant, withdraw among the measured decisions
    warmup: int
    entries_written: int  # log entries appended during warm-up and measure
    activity: Activity
    verification: dict[str, Any]
    verify_seconds: float

    @property
    def rate(self) -> float:
        return self.decisions / self.seconds

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        return percentile(self.times_ms, 0.95)


def cpu_times() -> tuple[int, int]:
    """(all, idle and iowait) jiffies of the machine since boot."""
    with open("/proc/stat", encoding="ascii") as file:
        values = [int(v) for v in file.readline().split()[1:]]
    return sum(values), values[3] + values[4]


@dataclass
class Activity:
    """What the database's backends of this benchmark were doing, sampled every 50 ms while
    decisions were measured, and how idle the machine's CPUs were."""

    samples: int = 0
    active: int = 0  # backends running a statement, summed over the samples
    chain_lock: int = 0  # of which waiting for the log's advisory lock
    wal: int = 0  # of which writing or flushing the WAL
    cpu_idle: float = float("nan")  # share of CPU time idle during the measure

    def average(self, name: str) -> float:
        return getattr(self, name) / self.samples if self.samples else float("nan")


class ActivitySampler:
    def __init__(self) -> None:
        from django.db import connection

        self.settings = connection.settings_dict
        self.activity = Activity()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sample, name="activity", daemon=True)
        self.cpu = (0, 0)

    def start(self) -> None:
        self.cpu = cpu_times()
        self.thread.start()

    def finish(self) -> Activity:
        self.stop.set()
        self.thread.join()
        total, idle = cpu_times()
        if total > self.cpu[0]:
            self.activity.cpu_idle = (idle - self.cpu[1]) / (total - self.cpu[0])
        return self.activity

    def sample(self) -> None:
        import psycopg

        s = self.settings
        with psycopg.connect(
            host=s.get("HOST") or None,
            port=s.get("PORT") or None,
            user=s.get("USER") or None,
            password=s.get("PASSWORD") or None,
            dbname=s["NAME"],
            autocommit=True,
        ) as conn:
            while not self.stop.wait(0.05):
                rows = conn.execute(
                    "SELECT wait_event_type, wait_event FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND state = 'active'"
                ).fetchall()
                a = self.activity
                a.samples += 1
                a.active += len(rows)
                a.chain_lock += sum(event == "advisory" for _type, event in rows)
                a.wal += sum(str(event).startswith("WAL") for _type, event in rows)


class DecisionRun:
    """Threads, each with its own connection, taking the next decision of a shared pool."""

    def __init__(self, address: tuple[str, int], token: str, pool: Sequence[tuple[str, str, str]]):
        self.address = address
        self.headers = {**auth(token), "Content-Type": "application/json"}
        self.pool = iter(pool)
        self.lock = threading.Lock()
        self.warmed = threading.Barrier(DECISION_THREADS + 1)
        self.go = threading.Barrier(DECISION_THREADS + 1)
        self.deadline = 0.0
        self.times_ms: list[float] = []
        self.kinds: Counter[str] = Counter()
        self.errors: list[str] = []
        self.warmup = 0

    def next_item(self, measuring: bool) -> tuple[str, str, str] | None:
        with self.lock:
            if self.errors or (measuring and time.perf_counter() >= self.deadline):
                return None
            return next(self.pool, None)

    def post(self, conn: http.client.HTTPConnection, item: tuple[str, str, str]) -> float:
        number, channel, decision = item
        body: dict[str, Any] = {
            "channel": channel,
            "decision": decision,
            "journey": "digital_self_service",
            "evidence": EVIDENCE,
        }
        if decision == "grant":
            body |= {"wording_version": f"{channel}-v1", "affirmative_action": True}
        headers = {**self.headers, "Idempotency-Key": f"bench-{secrets.token_hex(16)}"}
        started = time.perf_counter()
        conn.request("POST", f"/api/v1/clients/{number}/consents", json.dumps(body), headers)
        response = conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 201:
            raise BenchmarkError(
                f"{decision} {number} {channel}: HTTP {response.status} {data[:300]!r}"
            )
        return elapsed

    def worker(self) -> None:
        conn = http.client.HTTPConnection(*self.address, timeout=60)
        try:
            for _ in range(WARMUP_PER_THREAD):
                item = self.next_item(measuring=False)
                if item is None:
                    break
                self.post(conn, item)
                with self.lock:
                    self.warmup += 1
        except Exception as exc:  # reported by run(), after the barriers
            with self.lock:
                self.errors.append(str(exc))
        self.warmed.wait()
        self.go.wait()
        try:
            while (item := self.next_item(measuring=True)) is not None:
                elapsed = self.post(conn, item)
                with self.lock:
                    self.times_ms.append(elapsed * 1000)
                    self.kinds[item[2]] += 1
        except Exception as exc:
            with self.lock:
                self.errors.append(str(exc))
        finally:
            conn.close()

    def run(self, seconds: float, sampler: ActivitySampler) -> float:
        threads = [
            threading.Thread(target=self.worker, name=f"decisions-{i}", daemon=True)
            for i in range(DECISION_THREADS)
        ]
        for thread in threads:
            thread.start()
        self.warmed.wait()
        sampler.start()
        started = time.perf_counter()
        self.deadline = started + seconds
        self.go.wait()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        sampler.finish()
        if self.errors:
            raise BenchmarkError(f"{len(self.errors)} decision(s) failed; first: {self.errors[0]}")
        return elapsed


def bench_decisions(
    address: tuple[str, int], token: str, pool: Sequence[tuple[str, str, str]], seconds: float
) -> DecisionFigures:
    from optin.integrity import head_seq

    before = head_seq()
    run = DecisionRun(address, token, pool)
    sampler = ActivitySampler()
    elapsed = run.run(seconds, sampler)
    activity = sampler.activity
    decisions = len(run.times_ms)
    if decisions + run.warmup >= len(pool):
        log(f"  the pool of {len(pool):,} customers ran out: measured over {elapsed:.1f} s")
    log(f"  {decisions:,} decisions in {elapsed:.1f} s ({decisions / elapsed:,.0f}/s)")
    log(
        f"  CPU idle {activity.cpu_idle:.0%}; backends running a statement "
        f"{activity.average('active'):.1f} on average, waiting for the chain lock "
        f"{activity.average('chain_lock'):.1f}, on the WAL {activity.average('wal'):.1f}"
    )
    return DecisionFigures(
        decisions=decisions,
        seconds=elapsed,
        times_ms=run.times_ms,
        kinds=run.kinds,
        warmup=run.warmup,
        entries_written=head_seq() - before,
        activity=activity,
        verification={},
        verify_seconds=0.0,
    )


def verify(figures: DecisionFigures) -> None:
    from optin.integrity import verify_log

    log("verifying the whole log, its checkpoint and the consent states")
    started = time.perf_counter()
    result = verify_log()
    figures.verify_seconds = time.perf_counter() - started
    figures.verification = result.as_dict()
    log(f"  {figures.verification} in {figures.verify_seconds:.1f} s")
    if figures.entries_written != figures.decisions + figures.warmup:
        raise BenchmarkError(
            f"{figures.decisions + figures.warmup:,} decisions answered 201 but "
            f"{figures.entries_written:,} log entries were written"
        )


# --- report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Results:
    data: LoadFigures
    export: ExportFigures
    eligibility: EligibilityFigures
    decisions: DecisionFigures
    machine: str
    date: str
    load: dict[str, float]  # 1-minute load average when each measure began

    def targets(self) -> list[tuple[str, str, bool]]:
        """(target, measured, met)."""
        e, el, d = self.export, self.eligibility, self.decisions
        verified = d.verification
        return [
            (
                f"Opt-in list, CSV through the API ≥ {EXPORT_RATIO_TARGET:.1f}x COPY rows/s",
                f"{e.ratio('csv'):.2f}x",
                e.ratio("csv") >= EXPORT_RATIO_TARGET,
            ),
            (
                f"Opt-in list, NDJSON through the API ≥ {EXPORT_RATIO_TARGET:.1f}x COPY rows/s",
                f"{e.ratio('ndjson'):.2f}x",
                e.ratio("ndjson") >= EXPORT_RATIO_TARGET,
            ),
            (
                f"Eligibility of {ELIGIBILITY_BATCH:,} numbers ≤ "
                f"{ELIGIBILITY_MEDIAN_TARGET_MS:.0f} ms median",
                f"{el.median:.0f} ms",
                el.median <= ELIGIBILITY_MEDIAN_TARGET_MS,
            ),
            (
                f"≥ {DECISIONS_TARGET:.0f} decisions/s, {DECISION_THREADS} concurrent clients",
                f"{d.rate:,.0f}/s",
                d.rate >= DECISIONS_TARGET,
            ),
            (
                "`verify_log()` ok after the decisions",
                "ok" if verified.get("ok") else f"**{verified.get('first_bad')}**",
                bool(verified.get("ok")),
            ),
        ]


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "-"


def render(r: Results, args: argparse.Namespace) -> str:
    data, e, el, d = r.data, r.export, r.eligibility, r.decisions
    email, sms = data.states["email"], data.states["sms_push"]
    people = data.people
    individuals = people["individual"]
    top_reasons = ", ".join(
        f"{reason} {share(n, ELIGIBILITY_BATCH)}" for reason, n in el.reasons.most_common(5)
    )
    lines = [
        SECTION_TITLE,
        "",
        "`make benchmark` also runs `benchmarks/api.py` (options `--customers N`, default "
        "1,000,000; `--calls N`, default 20; `--seconds N`, default 15; `--keep`; `--no-docs`). "
        "It needs PostgreSQL: it works in its own database, the name of `DATABASE_URL`'s "
        "database followed by `_api` (default `optin_bench_api`), which it drops, creates and "
        "migrates, and drops at the end unless `--keep`. The API is served by gunicorn "
        "(`optin.wsgi`, the production settings with `DEBUG` off) on 127.0.0.1 and called over "
        "HTTP with `http.client` from the same machine. It rewrites this section and exits 1 "
        "when a target is missed.",
        "",
        "### Results",
        "",
        f"Measured on {r.date}: {r.machine}. Load average (1 min) when the export, eligibility "
        f"and decisions began: {r.load['export']:.2f}, {r.load['eligibility']:.2f} and "
        f"{r.load['decisions']:.2f}.",
        "",
        f"Data: {data.customers:,} customers in {BRANCHES} branches, loaded with COPY in "
        f"{data.seconds:.0f} s with their states and log, then VACUUM ANALYZE: "
        f"{people['professional']:,} professionals ({people['legal entity']:,} legal entities), "
        f"{people['minor']:,} minors ({share(people['minor'], individuals)} of the "
        f"individuals), {people['protected adult']:,} protected adults; seven in eight with an "
        f"e-mail address, five in six with a mobile. E-mail: {email['granted']:,} granted "
        f"(`email-v1`, {share(email['granted'], data.customers)} of the customers), "
        f"{email['refused']:,} refused, {email['withdrawn']:,} withdrawn, {email['none']:,} "
        f"none; SMS/push: {sms['granted']:,} granted, {sms['refused']:,} refused, "
        f"{sms['withdrawn']:,} withdrawn, {sms['none']:,} none. One log entry per state other "
        f"than none ({data.entries:,}, chained and checkpointed), {data.suppressed:,} "
        f"suppression entries. Sizes with indexes: customers "
        f"{data.sizes_mb['clients_client']:,.0f} MB, consent states "
        f"{data.sizes_mb['optin_consentstate']:,.0f} MB, log "
        f"{data.sizes_mb['optin_auditentry']:,.0f} MB.",
        "",
        "#### Opt-in list (`GET /api/v1/optin-list?channel=email`)",
        "",
        "| Export | Rows | Seconds | Rows/s | MB | Ratio |",
        "|---|---:|---:|---:|---:|---:|",
        f"| API, CSV | {e.csv.rows:,} | {e.csv.seconds:.2f} | {e.csv.rate:,.0f} | "
        f"{e.csv.megabytes:,.0f} | {e.ratio('csv'):.2f}x COPY |",
        f"| API, NDJSON (`format=ndjson`) | {e.ndjson.rows:,} | {e.ndjson.seconds:.2f} | "
        f"{e.ndjson.rate:,.0f} | {e.ndjson.megabytes:,.0f} | {e.ratio('ndjson'):.2f}x COPY |",
        f"| `COPY (query) TO STDOUT WITH (FORMAT csv)` | {e.copy.rows:,} | "
        f"{e.copy.seconds:.2f} | {e.copy.rate:,.0f} | {e.copy.megabytes:,.0f} | reference |",
        f"| `optin_list` alone, chunks consumed in-process | {e.selector.rows:,} | "
        f"{e.selector.seconds:.2f} | {e.selector.rate:,.0f} | | "
        f"{e.selector.rate / e.copy.rate:.2f}x COPY |",
        "",
        f"- Through gunicorn with one worker, the whole body read by `http.client` (chunked "
        f"transfer); best of {EXPORT_ROUNDS} rounds whose order rotates, after one unmeasured "
        f"COPY. The API's CSV and NDJSON add to COPY's columns the channel, the note, a "
        f"per-row unsubscribe URL (an AES block per row, one cipher call per chunk of 5,000) "
        f"and the STOP instruction, and log the export when it starts and ends (the last one "
        f"logged {e.logged_rows:,} rows, complete).",
        "- The query is the SQL of `optin.selectors.optin_list_query`, which `optin_list` runs "
        "(`sql_with_params()`, parameters bound by psycopg's `mogrify`); its plan with "
        f"`EXPLAIN (ANALYZE, BUFFERS)`: {plan_summary(e.plan)}.",
        "",
        f"#### Eligibility (`POST /api/v1/eligibility`, {ELIGIBILITY_BATCH:,} numbers)",
        "",
        "| Measure | Median ms | p95 ms |",
        "|---|---:|---:|",
        f"| Through the API ({el.calls} calls) | {el.median:.1f} | {el.p95:.1f} |",
        f"| `optin.selectors.eligibility` alone, in-process ({len(el.selector_ms)} calls) | "
        f"{statistics.median(el.selector_ms):.1f} | {max(el.selector_ms):.1f} (max) |",
        f"| Its statement on the customers and states (`EXPLAIN ANALYZE`) | "
        f"{plan_ms(el.plan):.1f} | |",
        "",
        f"- {el.calls} calls after one warm-up, each with a new batch of numbers drawn at random "
        f"({UNKNOWN_SHARE:.0%} unknown), e-mail channel: request {el.request_kb:,.0f} KB, answer "
        f"{el.response_kb:,.0f} KB. Reasons in a batch: {top_reasons}. Plan: "
        f"{plan_summary(el.plan)}.",
        "",
        "#### Decisions (`POST /api/v1/clients/{number}/consents`)",
        "",
        "| Decisions | Seconds | Decisions/s | Median ms | p95 ms |",
        "|---:|---:|---:|---:|---:|",
        f"| {d.decisions:,} | {d.seconds:.1f} | {d.rate:,.0f} | {d.median:.1f} | {d.p95:.1f} |",
        "",
        f"- {DECISION_THREADS} threads, each with its own keep-alive connection, to gunicorn with "
        f"{DECISION_WORKERS} workers of {DECISION_WORKER_THREADS} threads, for "
        f"{args.seconds:g} s after {d.warmup} warm-up requests; a different customer for every "
        f"request (adults who may consent, their data key created), digital grants "
        f"({d.kinds['grant']:,}) and withdrawals ({d.kinds['withdraw']:,}) alternating on "
        f"either channel, journey `digital_self_service`, IP address and user agent as "
        f"evidence, a new `Idempotency-Key` each. Every request answered 201 and wrote its "
        f"log entry ({d.entries_written:,} entries with the warm-up).",
        f"- While measured ({d.activity.samples:,} samples of `pg_stat_activity`, every 50 ms): "
        f"on average {d.activity.average('active'):.1f} of the {DECISION_THREADS} database "
        f"sessions running a statement, {d.activity.average('chain_lock'):.1f} of them waiting "
        f"for the log's advisory lock (appends take turns on the chain head until COMMIT), "
        f"{d.activity.average('wal'):.1f} on the WAL; CPU idle {d.activity.cpu_idle:.0%} "
        f"(gunicorn, PostgreSQL and these clients share the machine's "
        f"{os.cpu_count()} CPUs).",
        f"- Then `verify_log()` in {d.verify_seconds:.0f} s: "
        f"{'ok' if d.verification.get('ok') else 'NOT ok'}, "
        f"{d.verification.get('entries', 0):,} entries, "
        f"{d.verification.get('checkpoints', 0)} signed checkpoint, "
        f"{d.verification.get('states', 0):,} consent states compared with the replay.",
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
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=MILLION, help="customers to load")
    parser.add_argument("--calls", type=int, default=20, help="timed eligibility calls")
    parser.add_argument("--seconds", type=float, default=15.0, help="time to record decisions")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--no-docs", action="store_true", help="do not write the report")
    args = parser.parse_args(argv)
    if args.customers < 10_000 or args.calls < 2 or args.seconds <= 0:
        parser.error("--customers must be at least 10,000, --calls at least 2, --seconds > 0")
    return args


def run(args: argparse.Namespace, var_dir: Path) -> Results:
    from django.core.management import call_command
    from django.db import connections

    from optin import checkpoints
    from optin.audit import Actor
    from optin.models import ApiScope
    from optin.services import create_api_client

    log("migrating")
    call_command("migrate", interactive=False, verbosity=0)
    log(f"loading {args.customers:,} customers, their states and log")
    data = load(args.customers)
    log(f"  loaded in {data.seconds:.0f} s: {data.entries:,} log entries, pool {len(data.pool):,}")
    system = Actor.system("benchmark")
    marketing = create_api_client(
        actor=system,
        name="marketing",
        scopes=[ApiScope.OPTIN_LIST_READ.value, ApiScope.ELIGIBILITY_READ.value],
    ).token
    web = create_api_client(
        actor=system,
        name="web",
        scopes=[ApiScope.CONSENTS_READ.value, ApiScope.CONSENTS_WRITE.value],
    ).token
    checkpoints.write_local_keys(var_dir / "keys")
    if checkpoints.create_checkpoint() is None:
        raise BenchmarkError("no checkpoint could be signed")
    log("VACUUM ANALYZE, CHECKPOINT")
    settle_database()
    data.sizes_mb = table_sizes()
    (var_dir / "static").mkdir(exist_ok=True)

    load_average: dict[str, float] = {}
    with gunicorn(var_dir, "export", workers=1, threads=1) as address:
        log("opt-in list: API (CSV, NDJSON) against COPY")
        load_average["export"] = os.getloadavg()[0]
        export = bench_export(address, marketing)
        log(f"eligibility: {args.calls} calls of {ELIGIBILITY_BATCH:,} numbers")
        load_average["eligibility"] = os.getloadavg()[0]
        eligibility = bench_eligibility(address, marketing, args.customers, args.calls)
    connections.close_all()
    settle_database()
    with gunicorn(var_dir, "decisions", DECISION_WORKERS, DECISION_WORKER_THREADS) as address:
        log(f"decisions: {DECISION_THREADS} threads for {args.seconds:g} s")
        load_average["decisions"] = os.getloadavg()[0]
        decisions = bench_decisions(address, web, data.pool, args.seconds)
    verify(decisions)
    return Results(
        data=data,
        export=export,
        eligibility=eligibility,
        decisions=decisions,
        machine=machine_description(),
        date=dt.datetime.now(dt.UTC).date().isoformat(),
        load=load_average,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    database_url = api_database_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    try:
        params = scratch_database(database_url)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    var_dir = Path(tempfile.mkdtemp(prefix="optin-api-bench-"))
    log(f"database {params['NAME']} on {params.get('HOST') or 'the local socket'}")
    create_database(params)
    # The servers inherit this environment: the settings of configure_django and these.
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    os.environ["OPTIN_PUBLIC_URL"] = "https://banque.example"
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

    report = render(results, args)
    return conclude(SECTION_TITLE, report, results.targets(), write_docs=not args.no_docs)


if __name__ == "__main__":
    sys.exit(main())
