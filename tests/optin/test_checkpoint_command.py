"""R53: `audit_checkpoint` signs the chain head (Ed25519), stores the checkpoint and exports it
as a file outside the database; it is safe to run twice (DESIGN §7, scheduled work)."""

from __future__ import annotations

import base64
import hashlib
import json
from io import StringIO

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management import call_command
from django.core.management.base import CommandError

from optin.integrity import verify_log
from optin.models import AuditCheckpoint, AuditEntry

pytestmark = pytest.mark.django_db


def checkpoint_command() -> str:
    out = StringIO()
    call_command("audit_checkpoint", stdout=out)
    return out.getvalue()


def public_key(settings) -> Ed25519PublicKey:
    private = serialization.load_pem_private_key(
        settings.OPTIN_CHECKPOINT_KEY_FILE.read_bytes(), password=None
    )
    return private.public_key()


def signed_statement(seq: int, entry_hash: str, signed_at: str) -> bytes:
    """The statement as documented in optin/checkpoints.py, built independently."""
    statement = {"hash": entry_hash, "log": "optin-audit", "seq": seq, "signed_at": signed_at}
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode("utf-8")


@pytest.fixture
def logged(customer, grant):
    grant(customer, "email")
    return AuditEntry.objects.order_by("-seq").first()


def test_it_signs_the_head_stores_it_and_exports_it(logged, checkpoint_dir, settings):
    output = checkpoint_command()

    assert output.startswith(f"Checkpoint #{logged.seq} ")
    row = AuditCheckpoint.objects.get()
    assert (row.seq, row.entry_hash) == (logged.seq, logged.hash)
    files = sorted(p.name for p in checkpoint_dir.iterdir())
    assert files == [f"checkpoint-{logged.seq:012d}.json"]

    exported = json.loads((checkpoint_dir / files[0]).read_text(encoding="utf-8"))
    assert exported["log"] == "optin-audit"
    assert (exported["seq"], exported["hash"]) == (logged.seq, logged.hash)
    assert exported["signature"] == row.signature
    key = public_key(settings)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert exported["key_id"] == row.key_id == hashlib.sha256(raw).hexdigest()[:16]
    # Raises InvalidSignature if it does not verify.
    key.verify(
        base64.b64decode(exported["signature"]),
        signed_statement(exported["seq"], exported["hash"], exported["signed_at"]),
    )


def test_the_checkpoint_is_counted_by_verification(logged):
    checkpoint_command()
    result = verify_log()
    assert result.ok, result.problems
    assert result.checkpoints == 1  # the row and the file are the same checkpoint


def test_running_it_twice_without_new_entries_writes_nothing_more(logged, checkpoint_dir):
    checkpoint_command()
    output = checkpoint_command()
    assert output.startswith("Nothing to sign")
    assert AuditCheckpoint.objects.count() == 1
    assert len(list(checkpoint_dir.iterdir())) == 1


def test_a_new_entry_gets_a_new_checkpoint(logged, customer, decide, checkpoint_dir):
    checkpoint_command()
    decide(customer, "email", "withdraw")
    checkpoint_command()
    assert list(AuditCheckpoint.objects.values_list("seq", flat=True)) == [2, 3]
    names = sorted(p.name for p in checkpoint_dir.iterdir())
    assert names == ["checkpoint-000000000002.json", "checkpoint-000000000003.json"]
    assert verify_log().checkpoints == 2


def test_an_empty_log_signs_nothing_and_succeeds(db, checkpoint_dir):
    output = checkpoint_command()  # no CommandError: exit status 0
    assert output.startswith("Nothing to sign")
    assert not AuditCheckpoint.objects.exists()
    assert list(checkpoint_dir.iterdir()) == []


def test_a_missing_key_file_is_a_clear_command_error(logged, settings, tmp_path, checkpoint_dir):
    missing = tmp_path / "no-such-key.pem"
    settings.OPTIN_CHECKPOINT_KEY_FILE = missing
    with pytest.raises(CommandError) as caught:
        checkpoint_command()
    message = str(caught.value)
    assert str(missing) in message
    assert "create_local_keys" in message
    assert caught.value.returncode == 1
    assert not AuditCheckpoint.objects.exists()
    assert list(checkpoint_dir.iterdir()) == []


def test_a_key_file_that_is_not_a_key_is_a_clear_command_error(logged, settings, tmp_path):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key\n")
    settings.OPTIN_CHECKPOINT_KEY_FILE = garbage
    with pytest.raises(CommandError, match="Cannot read the checkpoint signing key"):
        checkpoint_command()
    assert not AuditCheckpoint.objects.exists()


def test_a_checkpoint_whose_file_cannot_be_written_is_not_stored(logged, checkpoint_dir):
    """The row and the file go together: the file is written inside the transaction."""
    (checkpoint_dir / f"checkpoint-{logged.seq:012d}.json").mkdir()  # the path is taken
    with pytest.raises(CommandError):
        checkpoint_command()
    assert not AuditCheckpoint.objects.exists()
