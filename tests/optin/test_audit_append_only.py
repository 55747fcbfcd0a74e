"""R53: the database itself refuses UPDATE, DELETE and TRUNCATE on the log and its checkpoints.

Each attempt runs in its own `transaction.atomic()` (a savepoint inside the test's transaction),
so the refusal rolls back only the attempt and the test can check that nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import DatabaseError, connection, transaction

from clients.models import Client
from optin.checkpoints import create_checkpoint
from optin.integrity import verify_log
from optin.models import AuditCheckpoint, AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged(customer: Client, grant: Callable[..., object]) -> list[AuditEntry]:
    """A few entries: the client's creation and a grant."""
    grant(customer, "email")
    return list(AuditEntry.objects.order_by("seq"))


def snapshot(model: type[AuditEntry] | type[AuditCheckpoint]) -> list[tuple[object, ...]]:
    fields = [f.attname for f in model._meta.concrete_fields]
    return list(model.objects.order_by("pk").values_list(*fields))


def refused(attempt: Callable[[], object]) -> None:
    """The attempt fails with the triggers' own error (not some other database error)."""
    with (
        pytest.raises(DatabaseError, match="the audit log is append-only"),
        transaction.atomic(),
    ):
        attempt()


def raw(sql: str, params: list[object] | None = None) -> Callable[[], None]:
    def run() -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params or [])

    return run


# --- the log --------------------------------------------------------------------------------


def test_orm_update_of_log_entries_is_refused(logged):
    before = snapshot(AuditEntry)
    refused(lambda: AuditEntry.objects.filter(seq=1).update(actor_id="someone-else"))
    refused(lambda: AuditEntry.objects.update(payload="{}"))
    assert snapshot(AuditEntry) == before


def test_saving_a_changed_entry_through_the_model_is_refused(logged):
    before = snapshot(AuditEntry)
    entry = AuditEntry.objects.get(seq=2)
    entry.action = "consent.refused"
    refused(lambda: entry.save(update_fields=["action"]))
    assert snapshot(AuditEntry) == before


def test_orm_delete_of_log_entries_is_refused(logged):
    before = snapshot(AuditEntry)
    refused(lambda: AuditEntry.objects.filter(seq=2).delete())
    refused(lambda: AuditEntry.objects.all().delete())
    refused(lambda: AuditEntry.objects.get(seq=1).delete())
    assert snapshot(AuditEntry) == before


def test_raw_sql_update_of_log_entries_is_refused(logged):
    before = snapshot(AuditEntry)
    refused(raw("UPDATE optin_auditentry SET action = %s WHERE seq = %s", ["x", 1]))
    refused(raw("UPDATE optin_auditentry SET hash = prev_hash"))
    assert snapshot(AuditEntry) == before


def test_raw_sql_delete_of_log_entries_is_refused(logged):
    before = snapshot(AuditEntry)
    refused(raw("DELETE FROM optin_auditentry WHERE seq = %s", [2]))
    refused(raw("DELETE FROM optin_auditentry"))
    assert snapshot(AuditEntry) == before


def test_the_log_still_verifies_after_refused_attempts(logged):
    refused(lambda: AuditEntry.objects.filter(seq=1).update(actor_id="someone-else"))
    refused(lambda: AuditEntry.objects.filter(seq=2).delete())
    result = verify_log()
    assert result.ok, result.problems
    assert result.entries == len(logged)


def test_appending_is_still_allowed(logged, customer, decide):
    decide(customer, "email", "withdraw")
    assert list(AuditEntry.objects.values_list("seq", flat=True)) == [1, 2, 3]


@pytest.mark.postgres
def test_truncate_of_the_log_is_refused_on_postgresql(logged):
    before = snapshot(AuditEntry)
    refused(raw("TRUNCATE optin_auditentry"))
    refused(raw("TRUNCATE optin_auditentry, optin_auditcheckpoint"))
    assert snapshot(AuditEntry) == before


@pytest.mark.postgres
def test_replica_mode_does_not_skip_the_triggers_on_postgresql(logged):
    """The triggers are ENABLE ALWAYS: `session_replication_role = replica` (which silences
    ordinary triggers, e.g. for logical replication) does not let a change through."""
    before = snapshot(AuditEntry)

    def in_replica_mode(sql: str) -> Callable[[], None]:
        def run() -> None:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
                cursor.execute("SHOW session_replication_role")
                assert cursor.fetchone() == ("replica",)
                cursor.execute(sql)

        return run

    refused(in_replica_mode("UPDATE optin_auditentry SET actor_id = 'x' WHERE seq = 1"))
    refused(in_replica_mode("DELETE FROM optin_auditentry WHERE seq = 2"))
    refused(in_replica_mode("TRUNCATE optin_auditentry"))
    assert snapshot(AuditEntry) == before


# --- the checkpoints ------------------------------------------------------------------------


@pytest.fixture
def checkpoint(logged: list[AuditEntry]) -> AuditCheckpoint:
    created = create_checkpoint()
    assert created is not None
    return created


def test_orm_update_and_delete_of_checkpoints_are_refused(checkpoint):
    before = snapshot(AuditCheckpoint)
    refused(lambda: AuditCheckpoint.objects.update(entry_hash="0" * 64))
    refused(lambda: AuditCheckpoint.objects.filter(pk=checkpoint.pk).delete())
    refused(lambda: AuditCheckpoint.objects.get(pk=checkpoint.pk).delete())
    assert snapshot(AuditCheckpoint) == before


def test_raw_sql_update_and_delete_of_checkpoints_are_refused(checkpoint):
    before = snapshot(AuditCheckpoint)
    refused(raw("UPDATE optin_auditcheckpoint SET seq = seq + 1"))
    refused(raw("DELETE FROM optin_auditcheckpoint"))
    assert snapshot(AuditCheckpoint) == before


@pytest.mark.postgres
def test_truncate_of_the_checkpoints_is_refused_on_postgresql(checkpoint):
    before = snapshot(AuditCheckpoint)
    refused(raw("TRUNCATE optin_auditcheckpoint"))
    assert snapshot(AuditCheckpoint) == before
