"""R53, R54: `checkpoints.covering(seq)` finds the signed checkpoints that first cover an entry.

They are those of the lowest sequence at or after the entry, taken from the database and from
the export directory: one of each when both hold that checkpoint, the one left when the other
was deleted, the lowest when they differ. It reads the directory's file names and only the
files named for that sequence; an unreadable one comes without signature (it fails), and a
file whose content names an earlier entry covers nothing.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clients.models import Client
from optin import checkpoints
from optin.models import AuditCheckpoint
from tests.tamper import triggers_disabled

pytestmark = pytest.mark.django_db


def file_of(seq: int) -> str:
    return f"checkpoint-{seq:012d}.json"


@pytest.fixture
def signed(customer: Client, grant: Callable[..., Any]) -> tuple[int, int]:
    """Two checkpoints, A and B, each after a decision: their sequences."""
    grant(customer, "email")
    first = checkpoints.create_checkpoint()
    grant(customer, "sms_push")
    second = checkpoints.create_checkpoint()
    assert first is not None and second is not None
    return first.seq, second.seq


def summary(found: list[checkpoints.Checkpoint]) -> list[tuple[int, str]]:
    return [(cp.seq, cp.source) for cp in found]


def test_it_finds_the_first_checkpoint_at_or_after_the_entry_in_both_sources(
    signed: tuple[int, int],
) -> None:
    a, b = signed
    key = checkpoints.load_public_key()

    assert summary(checkpoints.covering(1)) == [(a, "database"), (a, file_of(a))]
    assert summary(checkpoints.covering(a)) == [(a, "database"), (a, file_of(a))]
    assert summary(checkpoints.covering(a + 1)) == [(b, "database"), (b, file_of(b))]
    assert checkpoints.covering(b + 1) == []
    row = AuditCheckpoint.objects.get(seq=b)
    for cp in checkpoints.covering(b):
        assert (cp.hash, cp.signature) == (row.entry_hash, row.signature)
        assert checkpoints.signature_valid(cp, key)


def test_only_the_files_named_for_that_sequence_are_read(
    signed: tuple[int, int], checkpoint_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = signed
    (checkpoint_dir / file_of(b + 50)).write_text("not even JSON")
    (checkpoint_dir / "notes.txt").write_text("not a checkpoint")
    read: list[str] = []
    read_text = pathlib.Path.read_text

    def spy(path: Path, *args: Any, **kwargs: Any) -> str:
        read.append(path.name)
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "read_text", spy)

    found = checkpoints.covering(a + 1)

    assert summary(found) == [(b, "database"), (b, file_of(b))]
    assert read == [file_of(b)]


def test_an_unreadable_file_comes_without_signature_and_fails(
    signed: tuple[int, int], checkpoint_dir: Path
) -> None:
    a, _b = signed
    (checkpoint_dir / file_of(a)).write_text("{")

    database, exported = checkpoints.covering(a)

    assert (exported.seq, exported.source, exported.signature) == (a, file_of(a), "")
    key = checkpoints.load_public_key()
    assert checkpoints.signature_valid(database, key)
    assert not checkpoints.signature_valid(exported, key)


def test_a_file_whose_content_names_an_earlier_entry_covers_nothing(
    signed: tuple[int, int], checkpoint_dir: Path
) -> None:
    a, b = signed
    copied = json.loads((checkpoint_dir / file_of(a)).read_text())
    (checkpoint_dir / f"checkpoint-{b}.json").write_text(json.dumps(copied))

    assert summary(checkpoints.covering(a + 1)) == [(b, "database"), (b, file_of(b))]


def test_a_checkpoint_left_in_one_source_only_is_found_there(
    signed: tuple[int, int], checkpoint_dir: Path
) -> None:
    a, b = signed
    (checkpoint_dir / file_of(a)).unlink()
    with triggers_disabled():
        AuditCheckpoint.objects.filter(seq=b).delete()

    # The database's lowest is A, the directory's is B: A covers entry 1 first.
    assert summary(checkpoints.covering(1)) == [(a, "database")]
    assert summary(checkpoints.covering(a + 1)) == [(b, file_of(b))]


def test_nothing_is_found_without_checkpoints_or_directory(
    customer: Client, grant: Callable[..., Any], settings: Any, tmp_path: Path
) -> None:
    grant(customer)
    settings.OPTIN_CHECKPOINT_DIR = tmp_path / "absent"

    assert checkpoints.covering(1) == []
