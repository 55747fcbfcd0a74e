"""Verification of the whole log: chain, signed checkpoints, state projection (R53, DESIGN §4)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction

from optin import audit, checkpoints
from optin.audit import ChainVerifier, Problem
from optin.models import AuditEntry, ConsentState


@dataclass
class VerificationResult:
    first_seq: int = 1
    last_seq: int | None = None  # None: up to the head
    entries: int = 0
    head_seq: int = 0
    head_hash: str = audit.GENESIS_HASH
    checkpoints: int = 0
    states: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def full(self) -> bool:
        """The whole log was checked, states included (not a range)."""
        return self.first_seq == 1 and self.last_seq is None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad(self) -> Problem | None:
        """The problem with the lowest sequence number (the first bad entry)."""
        if not self.problems:
            return None
        return min(self.problems, key=lambda p: (p.seq is None, p.seq or 0))

    def as_dict(self) -> dict[str, Any]:
        bad = self.first_bad
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "checkpoints": self.checkpoints,
            "states": self.states,
            "first_bad": {"seq": bad.seq, "message": bad.message} if bad else None,
        }


def head_seq() -> int:
    return AuditEntry.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def verify_log(
    progress: Callable[[int], None] | None = None, first: int = 1, last: int | None = None
) -> VerificationResult:
    """Recompute the chain, check every signed checkpoint, compare the states with the replay.

    With `first` or `last`, only that range of entries: each is checked against its hash and
    linked to the one before it (the range's first entry to the stored hash of the entry
    before the range), the checkpoints within the range are compared; the states are not (they
    depend on the whole log).

    `progress` is called with the number of entries read since its last call. On PostgreSQL
    everything is read in one REPEATABLE READ snapshot, so a decision committed meanwhile can
    not make the log and the states look different.
    """
    if first < 1 or (last is not None and last < first):
        raise ValueError(f"no such range of the log: {first} to {last}")
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return _verify(progress, first, last)
    return _verify(progress, first, last)


def _verify(
    progress: Callable[[int], None] | None, first: int, last: int | None
) -> VerificationResult:
    result = VerificationResult(first_seq=first, last_seq=last)
    found = checkpoints.stored_checkpoints()
    if found:
        try:
            public_key = checkpoints.load_public_key()
        except ImproperlyConfigured as exc:
            result.problems.append(Problem(None, f"cannot check the checkpoints: {exc}"))
            public_key = None
        for cp in found:
            if public_key is not None and not checkpoints.signature_valid(cp, public_key):
                result.problems.append(
                    Problem(None, f"checkpoint #{cp.seq} ({cp.source}): signature is not valid")
                )
    if not result.full:
        found = [cp for cp in found if cp.seq >= first and (last is None or cp.seq <= last)]
    verifier = ChainVerifier(watch=frozenset(cp.seq for cp in found), replay=result.full)
    if first > 1:
        before = AuditEntry.objects.filter(seq=first - 1).values_list("hash", flat=True).first()
        if before is None:
            result.problems.append(
                Problem(first - 1, "missing: the entry before the range is not in the log")
            )
            return result
        verifier.head_seq, verifier.head_hash = first - 1, before

    read = 0
    problem: Problem | None = None
    for row in audit.stream_rows(first=first, last=last):
        problem = verifier.feed(row)
        if problem is not None:
            break
        read += 1
        if progress is not None and read % 10_000 == 0:
            progress(10_000)
    if progress is not None:
        progress(read % 10_000)
    result.entries = verifier.entries
    result.head_seq, result.head_hash = verifier.head_seq, verifier.head_hash
    if problem is not None:
        result.problems.append(problem)
        return result  # past a broken link, nothing later can be trusted or compared

    if last is not None and verifier.head_seq < last and problem is None:
        result.problems.append(
            Problem(
                verifier.head_seq + 1,
                f"missing: the range ends at #{last} but the log at #{verifier.head_seq}",
            )
        )
    for cp in found:
        if cp.seq > verifier.head_seq:
            result.problems.append(
                Problem(
                    verifier.head_seq + 1,
                    f"missing: checkpoint #{cp.seq} ({cp.source}, signed {cp.signed_at}) "
                    f"covers it but the log ends at #{verifier.head_seq} (entries deleted)",
                )
            )
        elif verifier.hashes_at.get(cp.seq) != cp.hash:
            result.problems.append(
                Problem(cp.seq, f"its hash differs from the signed checkpoint ({cp.source})")
            )
        else:
            result.checkpoints += 1
    if result.full:
        result.states = _compare_states(verifier, result.problems)
    return result


def _compare_states(verifier: ChainVerifier, problems: list[Problem]) -> int:
    """R11: each state row must equal what the last log entry for it declares."""
    projected = dict(verifier.states)
    compared = 0
    rows = ConsentState.objects.order_by("client_id", "channel").values_list(
        "client_id",
        "channel",
        "status",
        "prior_status",
        "since",
        "journey",
        "wording_version",
        "last_seq",
    )
    for client_id, channel, status, prior, since, journey, wording, last in rows.iterator(20_000):
        compared += 1
        expected = projected.pop((client_id, channel), None)
        actual = (status, prior, audit.iso_or_none(since), journey, wording, last)
        if actual != audit.state_row(expected):
            seq = expected.last_seq if expected else None
            problems.append(
                Problem(
                    seq,
                    f"state of client {client_id} {channel} is {_describe(actual)} "
                    f"but the log says {_describe(audit.state_row(expected))}",
                )
            )
    for (client_id, channel), expected in projected.items():
        problems.append(
            Problem(
                expected.last_seq,
                f"state of client {client_id} {channel} is missing; the log says "
                f"{_describe(audit.state_row(expected))}",
            )
        )
    return compared


def _describe(row: audit.StateRow) -> str:
    status, prior, since, journey, wording, last = row
    parts = [status]
    if prior:
        parts.append(f"prior {prior}")
    if since:
        parts.append(f"since {since}")
    if journey:
        parts.append(f"via {journey}")
    if wording:
        parts.append(f"on {wording}")
    if last:
        parts.append(f"last entry #{last}")
    return "(" + ", ".join(parts) + ")"
