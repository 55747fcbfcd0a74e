"""R53: verifying a range of the log checks its entries' hashes, links its first entry to the
stored hash of the entry before it, and compares the checkpoints inside it; states are compared
only on the whole log. Each run is kept with its result (when the chain was last verified)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from optin import audit, integrity, services
from optin.checkpoints import create_checkpoint
from optin.models import AuditEntry, VerificationRun
from tests.optin.conftest import head, rehash_from
from tests.tamper import triggers_disabled

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(customer, client_factory, grant, decide):
    """Entries #1-#8."""
    other = client_factory()
    grant(customer, "email")
    grant(customer, "sms_push")
    decide(customer, "sms_push", "withdraw")
    decide(other, "email", "refuse")
    decide(other, "sms_push", "refuse")
    decide(customer, "email", "withdraw")
    assert head().seq == 8
    return customer


def alter(seq: int) -> None:
    payload = json.loads(AuditEntry.objects.get(seq=seq).payload)
    payload["tampered"] = True
    with triggers_disabled():
        AuditEntry.objects.filter(seq=seq).update(payload=audit.canonical_json(payload))


def test_a_range_checks_only_its_entries(history):
    result = integrity.verify_log(first=3, last=6)
    assert result.ok, result.problems
    assert (result.entries, result.head_seq) == (4, 6)
    assert result.states == 0  # only the whole log tells the states


def test_an_altered_entry_is_named_inside_its_range_and_not_outside(history):
    alter(5)
    inside = integrity.verify_log(first=4, last=7)
    assert not inside.ok
    assert inside.first_bad is not None and inside.first_bad.seq == 5
    assert "altered" in inside.first_bad.message
    assert integrity.verify_log(first=6, last=8).ok
    assert integrity.verify_log(first=1, last=4).ok


def test_a_range_is_linked_to_the_stored_entry_before_it(history):
    with triggers_disabled():
        AuditEntry.objects.filter(seq=4).update(hash="f" * 64)
    result = integrity.verify_log(first=5, last=8)
    assert result.first_bad is not None and result.first_bad.seq == 5
    assert "previous hash" in result.first_bad.message


def test_a_checkpoint_inside_a_range_catches_a_rehashed_history(history):
    create_checkpoint()  # at #8
    alter(7)
    with triggers_disabled():
        rehash_from(7)
    assert integrity.verify_log(first=2, last=6).ok  # the checkpoint is outside
    result = integrity.verify_log(first=6, last=8)
    assert result.first_bad is not None and result.first_bad.seq == 8
    assert "checkpoint" in result.first_bad.message


def test_a_range_past_the_head_names_what_is_missing(history):
    result = integrity.verify_log(first=7, last=12)
    assert result.first_bad is not None and result.first_bad.seq == 9
    assert "missing" in result.first_bad.message


def test_an_impossible_range_is_refused(history):
    with pytest.raises(ValueError):
        integrity.verify_log(first=0)
    with pytest.raises(ValueError):
        integrity.verify_log(first=5, last=4)


def test_each_run_is_kept_with_its_result(history):
    _result, run = services.run_verification(run_by="compliance:staff:1", first=2, last=5)
    assert (run.scope, run.first_seq, run.last_seq, run.ok, run.entries) == ("range", 2, 5, True, 4)
    alter(3)
    _result, run = services.run_verification(run_by="compliance:staff:1")
    assert (run.scope, run.ok, run.first_bad_seq) == ("full", False, 3)
    assert "altered" in run.problem
    assert run.finished_at >= run.started_at


def test_the_command_keeps_its_run_too(history):
    call_command("verify_audit", stdout=StringIO())
    run = VerificationRun.objects.get()
    assert (run.scope, run.ok, run.entries, run.states, run.run_by) == (
        "full",
        True,
        8,
        4,
        "system:verify_audit",
    )
    assert run.head_hash == head().hash


def test_the_command_verifies_a_range(history):
    out = StringIO()
    call_command("verify_audit", "--first", "3", "--last", "6", stdout=out)
    assert out.getvalue().startswith("OK: 4 entries from #3 to #6 ")
    alter(4)
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit", "--first", "3", "--last", "6", stdout=StringIO())
    assert caught.value.returncode == 1
    assert "entry #4" in str(caught.value)
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit", "--first", "6", "--last", "3", stdout=StringIO())
    assert caught.value.returncode == 2
