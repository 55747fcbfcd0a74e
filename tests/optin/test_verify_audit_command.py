"""R53, DESIGN §4: `verify_audit` recomputes the chain, checks every signed checkpoint (database
and exported files) and the state projection; it exits 0 when all holds, otherwise 1 naming the
first bad entry.

Attacks go behind the triggers' back (tests/tamper.py), as a table owner or superuser could;
the triggers are restored before verification. `CommandError.returncode` is what `manage.py`
exits with.
"""

from __future__ import annotations

import base64
import json
from io import StringIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError

from optin import audit, checkpoints
from optin.checkpoints import create_checkpoint
from optin.models import AuditCheckpoint, AuditEntry, ConsentState
from tests.optin.conftest import head, rehash_from
from tests.tamper import triggers_disabled

pytestmark = pytest.mark.django_db


def verify() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def verify_fails() -> str:
    with pytest.raises(CommandError) as caught:
        verify()
    assert caught.value.returncode == 1
    return str(caught.value)


@pytest.fixture
def history(customer, client_factory, grant, decide):
    """Entries #1-#6: two clients created, then decisions of the first one."""
    other = client_factory()
    grant(customer, "email")
    grant(customer, "sms_push")
    decide(customer, "sms_push", "withdraw")
    decide(other, "email", "refuse")
    assert head().seq == 6
    return customer


def test_an_intact_log_gives_a_one_line_ok_summary(history):
    create_checkpoint()
    output = verify()
    assert output.endswith("\n")
    assert output.count("\n") == 1
    assert output.startswith("OK: 6 entries, head #6 ")
    assert "1 checkpoint(s) matched" in output
    assert "4 consent states match the log" in output


def test_an_empty_log_verifies(db):
    assert verify().startswith("OK: 0 entries")


def test_an_entry_altered_behind_the_triggers_is_named(history):
    target = AuditEntry.objects.get(seq=3)
    assert (target.action, target.channel) == ("consent.granted", "email")
    payload = json.loads(target.payload)
    payload["wording_sha256"] = "0" * 64
    with triggers_disabled():
        AuditEntry.objects.filter(seq=3).update(payload=audit.canonical_json(payload))
    message = verify_fails()
    assert "entry #3" in message
    assert "altered" in message


def test_an_altered_column_is_caught_as_well_as_an_altered_payload(history):
    with triggers_disabled():
        AuditEntry.objects.filter(seq=4).update(actor_id="api:someone-else")
    message = verify_fails()
    assert message.startswith("FAIL: entry #4:")


def test_an_entry_deleted_from_the_middle_is_named(history):
    with triggers_disabled():
        AuditEntry.objects.filter(seq=2).delete()
    message = verify_fails()
    assert "entry #2" in message
    assert "missing" in message


def test_a_rehashed_chain_passes_the_chain_but_fails_against_an_earlier_checkpoint(history):
    checkpoint = create_checkpoint()
    assert checkpoint is not None and checkpoint.seq == 6
    # The attack: alter entry #2 (the second client's creation), then recompute its hash and
    # every later one so that the chain is consistent again.
    payload = json.loads(AuditEntry.objects.get(seq=2).payload)
    payload["branch"] = "B999"
    with triggers_disabled():
        AuditEntry.objects.filter(seq=2).update(payload=audit.canonical_json(payload))
        rehash_from(2)
    chain_only = audit.ChainVerifier()
    assert audit.verify_rows(audit.stream_rows(), chain_only) is None  # the chain holds
    message = verify_fails()
    assert "entry #6" in message
    assert "differs from the signed checkpoint" in message


def test_a_rehashed_chain_is_caught_by_the_exported_file_when_the_rows_are_deleted_too(
    history, checkpoint_dir
):
    create_checkpoint()
    with triggers_disabled():
        AuditEntry.objects.filter(seq=5).update(actor_id="api:someone-else")
        rehash_from(5)
        AuditCheckpoint.objects.all().delete()
    message = verify_fails()
    assert "entry #6" in message
    assert "checkpoint-000000000006.json" in message


def test_a_deleted_tail_is_caught_against_the_exported_checkpoint_file(
    customer, client_factory, grant, checkpoint_dir
):
    """The tail (two later client creations) and every checkpoint row are deleted: the log
    alone looks intact, the file exported before the attack still covers the missing entries."""
    grant(customer, "email")
    client_factory()
    client_factory()
    create_checkpoint()
    assert (checkpoint_dir / "checkpoint-000000000004.json").exists()
    with triggers_disabled():
        AuditEntry.objects.filter(seq__gte=3).delete()
        AuditCheckpoint.objects.all().delete()
    message = verify_fails()
    assert message.startswith("FAIL: entry #3: missing")
    assert "checkpoint-000000000004.json" in message
    assert "log ends at #2" in message


def test_a_deleted_tail_is_caught_against_the_checkpoint_row(customer, client_factory):
    client_factory()
    create_checkpoint()
    with triggers_disabled():
        AuditEntry.objects.filter(seq=2).delete()
    message = verify_fails()
    assert message.startswith("FAIL: entry #2: missing")


def test_a_state_edited_behind_the_services_back_is_reported_naming_client_and_channel(
    history,
):
    ConsentState.objects.filter(client=history, channel="sms_push").update(status="granted")
    message = verify_fails()
    assert f"client {history.pk} sms_push" in message
    assert "is (granted" in message
    assert "the log says (withdrawn" in message
    assert "entry #5" in message  # the last entry for that state


def test_a_state_granted_without_any_log_entry_is_reported(customer, client_factory):
    other = client_factory()
    ConsentState.objects.filter(client=other, channel="email").update(status="granted")
    message = verify_fails()
    assert f"client {other.pk} email is (granted)" in message
    assert "the log says (none)" in message


def test_a_missing_state_row_is_reported(history):
    ConsentState.objects.filter(client=history, channel="email").delete()
    message = verify_fails()
    assert f"state of client {history.pk} email is missing" in message
    assert "the log says (granted" in message


def test_a_checkpoint_file_with_a_forged_signature_is_reported(history, checkpoint_dir):
    create_checkpoint()
    path = checkpoint_dir / "checkpoint-000000000006.json"
    data = json.loads(path.read_text())
    forger = Ed25519PrivateKey.generate()
    data["signature"] = base64.b64encode(
        forger.sign(checkpoints.statement(data["seq"], data["hash"], data["signed_at"]))
    ).decode()
    path.write_text(json.dumps(data))
    message = verify_fails()
    assert "checkpoint #6 (checkpoint-000000000006.json): signature is not valid" in message


def test_a_forged_checkpoint_file_claiming_another_head_is_reported(history, checkpoint_dir):
    forged = {
        "log": "optin-audit",
        "seq": 3,
        "hash": "f" * 64,
        "signed_at": "2026-11-23T09:00:00.000000+00:00",
        "key_id": "whatever",
        "signature": base64.b64encode(b"x" * 64).decode(),
    }
    Path(checkpoint_dir / "checkpoint-000000000003.json").write_text(json.dumps(forged))
    message = verify_fails()
    assert "entry #3" in message  # its hash differs from the (forged) checkpoint
    assert "more problem" in message  # and the signature is not valid
