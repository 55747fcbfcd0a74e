"""The append-only, hash-chained log: canonical JSON, chaining, appending, verifying.

A leaf module: it imports nothing from `clients` or `signatures`; entries name customers by id
and number only (STYLE.md).

Each entry's hash is SHA-256 over ``prev_hash "\\n" header "\\n" payload`` where `header` is
the canonical JSON of the entry's columns and `payload` the stored canonical JSON. Canonical
JSON is sorted keys, no whitespace, UTF-8 (the log carries no floats: their text form is not
portable across languages); neither part can contain a raw newline,
so the concatenation is unambiguous.

Appends are serialized on the chain head inside the writer's transaction: on PostgreSQL by a
transaction-level advisory lock (released at COMMIT) after which the head is read and the
sequence assigned; on SQLite every write transaction already holds the database's single write
lock from its start (transaction mode IMMEDIATE). `seq` and `hash` are UNIQUE, so a forked
chain cannot be committed even if the lock were bypassed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _quote  # json.dumps's own, in C
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from optin import crypto
from optin.models import ActorType, AuditEntry

GENESIS_HASH = "0" * 64
# A consent entry's payload opens with its state change: "_state" sorts before every other
# (lower-case) key of canonical JSON, so verification decodes that object alone.
STATE_KEY = "_state"
STATE_PREFIX = '{"_state":{'
_DECODER = json.JSONDecoder()
# Key of the PostgreSQL advisory lock serializing appends ("optin" in ASCII).
CHAIN_LOCK_KEY = 0x6F7074696E

# Columns read by verification, in this order.
ROW_FIELDS = (
    "seq",
    "recorded_at",
    "occurred_at",
    "actor_type",
    "actor_id",
    "action",
    "client_id",
    "client_number",
    "channel",
    "wording_version",
    "payload",
    "prev_hash",
    "hash",
)


@dataclass(frozen=True)
class Actor:
    """Who recorded an entry (R51): type, identity and, for staff, their branch."""

    type: ActorType
    id: str
    branch: str = ""

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(ActorType.SYSTEM, job)

    def __str__(self) -> str:
        return f"{self.type}:{self.id}" + (f"@{self.branch}" if self.branch else "")


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept; refuses NaN and non-JSON types."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _time(moment: dt.datetime | str) -> str:
    """A time as the header writes it: ISO 8601, UTC, microseconds (text is taken as is)."""
    return moment if isinstance(moment, str) else _utc(moment)


def header_json(
    seq: int,
    recorded_at: dt.datetime | str,
    occurred_at: dt.datetime | str,
    actor_type: str,
    actor_id: str,
    action: str,
    client_id: int | None,
    client_number: str,
    channel: str,
    wording_version: str,
) -> str:
    """The canonical JSON of an entry's columns.

    Written out key by key, in sorted order, because verification builds one per entry: it is
    byte for byte `canonical_json` of the same dictionary (tests/optin/test_canonical_header.py
    checks it), at a fraction of the cost.
    """
    client = "null" if client_id is None else str(int(client_id))
    return (
        f'{{"action":{_quote(action)},"actor_id":{_quote(actor_id)},'
        f'"actor_type":{_quote(actor_type)},"channel":{_quote(channel)},'
        f'"client_id":{client},"client_number":{_quote(client_number)},'
        f'"occurred_at":{_quote(_time(occurred_at))},"recorded_at":{_quote(_time(recorded_at))},'
        f'"seq":{int(seq)},"wording_version":{_quote(wording_version)}}}'
    )


def header_of(entry: AuditEntry) -> str:
    """The header of a stored (or about to be stored) entry."""
    return header_json(*(getattr(entry, name) for name in ROW_FIELDS[:10]))


def chain_hash(prev_hash: str, header: str, payload: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{header}\n{payload}".encode()).hexdigest()


_HEAD_SQL = "SELECT seq, hash FROM optin_auditentry ORDER BY seq DESC LIMIT 1"
_INSERT_SQL = (
    "INSERT INTO optin_auditentry (seq, recorded_at, occurred_at, actor_type, actor_id, action, "
    "client_id, client_number, channel, wording_version, payload, prev_hash, hash) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)


def lock_chain_head() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
    # SQLite: the transaction holds the database write lock since BEGIN IMMEDIATE.


def append(
    *,
    action: str,
    actor: Actor,
    occurred_at: dt.datetime | None = None,
    client_id: int | None = None,
    client_number: str = "",
    channel: str = "",
    wording_version: str = "",
    data: dict[str, Any] | None = None,
    personal: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the chain, inside the caller's transaction (R51, R53).

    `data` holds non-personal facts; `personal` (names, contact points, IP addresses, user
    agents) is encrypted with the client's key and stored as ciphertext under "personal".
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit.append must run inside the writer's transaction")
    payload_obj: dict[str, Any] = dict(data or {})
    if actor.branch:
        payload_obj["actor_branch"] = actor.branch
    if personal:
        if client_id is None:
            raise ValueError("personal data in the log must belong to a client")
        sealed = crypto.seal(client_id, personal)
        if sealed is not None:  # None: the client was erased, their data are not kept
            payload_obj["personal"] = sealed
    payload = canonical_json(payload_obj)
    if "\\u0000" in payload:
        # PostgreSQL's jsonb (the audit trail's indexes read the payload) has no NUL character;
        # forms and the API refuse them before any service runs.
        raise ValueError("a NUL character cannot be logged")

    # The three statements under the lock go through a plain cursor: the ORM's own cost per
    # statement is several times the database's, and the lock is held until COMMIT.
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        cursor.execute(_HEAD_SQL)
        head = cursor.fetchone()
        seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
        recorded_at = timezone.now()
        occurred = occurred_at or recorded_at
        entry = AuditEntry(
            seq=seq,
            recorded_at=recorded_at,
            occurred_at=occurred,
            actor_type=str(actor.type),
            actor_id=actor.id,
            action=action,
            client_id=client_id,
            client_number=client_number,
            channel=channel,
            wording_version=wording_version,
            payload=payload,
            prev_hash=prev_hash,
        )
        entry.hash = chain_hash(prev_hash, header_of(entry), payload)
        adapt = connection.ops.adapt_datetimefield_value
        cursor.execute(
            _INSERT_SQL,
            [
                seq,
                adapt(recorded_at),
                adapt(occurred),
                entry.actor_type,
                entry.actor_id,
                action,
                client_id,
                client_number,
                channel,
                wording_version,
                payload,
                prev_hash,
                entry.hash,
            ],
        )
        entry.pk = cursor.fetchone()[0]
    entry._state.adding = False
    return entry


def personal_data(entry: AuditEntry) -> dict[str, Any] | None:
    """The decrypted personal values of an entry; None if none or the key was destroyed."""
    sealed = json.loads(entry.payload).get("personal")
    if not sealed or entry.client_id is None:
        return None
    return crypto.unseal(entry.client_id, sealed)


# --- verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    seq: int | None
    message: str

    def __str__(self) -> str:
        return f"entry #{self.seq}: {self.message}" if self.seq is not None else self.message


@dataclass(slots=True)
class ProjectedState:
    status: str
    prior_status: str
    since: str | None
    journey: str
    wording_version: str
    last_seq: int


@dataclass
class ChainVerifier:
    """Checks rows fed in sequence order and replays the consent states they declare.

    Pure: no database access. `feed` returns the first problem of a row, or None.
    """

    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    states: dict[tuple[int, str], ProjectedState] = field(default_factory=dict)
    hashes_at: dict[int, str] = field(default_factory=dict)
    watch: frozenset[int] = frozenset()  # sequences whose hash checkpoints will compare
    # A range starting mid-log cannot know the states before it: it checks the chain only.
    replay: bool = True

    def feed(self, row: tuple[Any, ...]) -> Problem | None:
        seq, action, client_id, channel = row[0], row[5], row[6], row[8]
        payload, prev_hash, own_hash = row[10:]
        expected = self.head_seq + 1
        if seq != expected:
            return Problem(expected, f"missing: the log jumps from #{self.head_seq} to #{seq}")
        if prev_hash != self.head_hash:
            return Problem(seq, "its previous hash does not match the entry before it")
        # ROW_FIELDS opens with header_json's arguments, in its order.
        if chain_hash(prev_hash, header_json(*row[:10]), payload) != own_hash:
            return Problem(seq, "its content does not match its hash (altered)")
        if self.replay and channel and client_id is not None and action.startswith("consent."):
            problem = self.replay_consent(seq, client_id, channel, payload)
            if problem:
                return problem
        self.entries += 1
        self.head_seq, self.head_hash = seq, own_hash
        if seq in self.watch:
            self.hashes_at[seq] = own_hash
        return None

    def replay_consent(
        self, seq: int, client_id: int, channel: str, payload: str
    ) -> Problem | None:
        """Replay one consent entry of the client's channel, fed in log order: its declared
        state change must start from the state the entries before left (else the Problem, and
        the state is left as it was); the new state is then the channel's projection.

        A payload without a state change changes nothing; one whose state change is not
        readable raises ValueError, KeyError or TypeError (an altered entry: its hash says so).
        """
        if not payload.startswith(STATE_PREFIX):
            return None
        state = _DECODER.raw_decode(payload, len(STATE_PREFIX) - 1)[0]
        previous = self.states.get((client_id, channel))
        before = previous.status if previous else "none"
        if state.get("from") != before:
            return Problem(
                seq,
                f"declares a change from {state.get('from')} but client {client_id} "
                f"{channel} was {before}",
            )
        self.states[client_id, channel] = ProjectedState(
            status=state["to"],
            prior_status=state.get("prior") or "",
            since=state.get("since"),
            journey=state.get("journey") or "",
            wording_version=state.get("wording_version") or "",
            last_seq=seq,
        )
        return None


def verify_rows(rows: Iterable[tuple[Any, ...]], verifier: ChainVerifier) -> Problem | None:
    for row in rows:
        problem = verifier.feed(row)
        if problem is not None:
            return problem
    return None


def stream_rows(
    chunk_size: int = 20_000, first: int = 1, last: int | None = None
) -> Iterator[tuple[Any, ...]]:
    """The entries from `first` to `last` (default: all) in sequence order, as ROW_FIELDS,
    with both times as header text.

    Reads the times as text rather than as datetimes (half the cost of reading a row). On
    PostgreSQL a server-side cursor streams them, inside a transaction (the caller's, or one
    opened here).
    """
    where, params = _range_clause(first, last)
    if connection.vendor == "postgresql":
        if connection.in_atomic_block:
            yield from _stream_postgresql(chunk_size, where, params)
        else:
            with transaction.atomic():
                yield from _stream_postgresql(chunk_size, where, params)
    else:
        yield from _stream_sqlite(chunk_size, where, params)


def _range_clause(first: int, last: int | None) -> tuple[str, list[int]]:
    clauses, params = [], []
    if first > 1:
        clauses.append("seq >= %s")
        params.append(int(first))
    if last is not None:
        clauses.append("seq <= %s")
        params.append(int(last))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


_PG_TIME = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
_COLUMNS = ", ".join(
    _PG_TIME.format(name) if name in ("recorded_at", "occurred_at") else name for name in ROW_FIELDS
)


_SQLITE_COLUMNS = ", ".join(
    f"CAST({name} AS TEXT)" if name in ("recorded_at", "occurred_at") else name
    for name in ROW_FIELDS
)


def _stream_postgresql(chunk_size: int, where: str, params: list[int]) -> Iterator[tuple[Any, ...]]:
    """Rows from a server-side cursor, fetched one chunk ahead by a thread: the database
    produces the next chunk while the caller checks this one (psycopg waits without the GIL)."""
    connection.ensure_connection()
    raw: Any = connection.connection  # the psycopg connection, for a named (server) cursor
    chunks: queue.Queue[list[tuple[Any, ...]] | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def fetch() -> None:
        try:
            with raw.cursor(name="optin_audit_stream") as cursor:
                cursor.execute(
                    f"SELECT {_COLUMNS} FROM optin_auditentry{where} ORDER BY seq",  # noqa: S608
                    params,
                )
                while not stop.is_set() and (rows := cursor.fetchmany(chunk_size)):
                    while not stop.is_set():
                        try:
                            chunks.put(rows, timeout=0.1)
                            break
                        except queue.Full:
                            continue
            chunks.put(None)
        except BaseException as exc:  # handed to the reader, raised there
            chunks.put(exc)

    fetcher = threading.Thread(target=fetch, name="optin-audit-stream", daemon=True)
    fetcher.start()
    try:
        while (item := chunks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield from item
    finally:
        stop.set()
        while fetcher.is_alive():  # drain, so the fetcher is never stuck on a full queue
            with contextlib.suppress(queue.Empty):
                chunks.get(timeout=0.1)
        fetcher.join()


def _sqlite_time(stored: str) -> str:
    # Django stores "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC; the fraction is left out when zero.
    text = stored.replace(" ", "T", 1)
    return (text if "." in text else text + ".000000") + "+00:00"


def _stream_sqlite(chunk_size: int, where: str, params: list[int]) -> Iterator[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        # CAST: the text as stored, not a datetime built by the driver's column converter
        cursor.execute(
            f"SELECT {_SQLITE_COLUMNS} FROM optin_auditentry{where} ORDER BY seq",  # noqa: S608
            params,
        )
        while rows := cursor.fetchmany(chunk_size):
            for row in rows:
                yield (row[0], _sqlite_time(row[1]), _sqlite_time(row[2]), *row[3:])


StateRow = tuple[str, str, str | None, str, str, int | None]


def state_row(projection: ProjectedState | None) -> StateRow:
    """A state as verification compares it: status, prior, since, journey, wording, last seq."""
    if projection is None:
        return ("none", "", None, "", "", None)
    return (
        projection.status,
        projection.prior_status,
        projection.since,
        projection.journey,
        projection.wording_version,
        projection.last_seq,
    )


def iso_or_none(moment: dt.datetime | None) -> str | None:
    return _utc(moment) if moment is not None else None
