"""Going behind the database triggers' back, as an owner or superuser could, to prove that
verification catches what the triggers cannot stop."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

_triggers = importlib.import_module("optin.migrations.0002_audit_log_triggers")
TABLES = ("optin_auditentry", "optin_auditcheckpoint")


@contextmanager
def triggers_disabled() -> Iterator[None]:
    """Disable the append-only triggers for the block (inside the test's transaction)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
            try:
                yield
            finally:
                for table in TABLES:
                    cursor.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_append_only")
        else:
            for table in TABLES:
                for op in ("update", "delete"):
                    cursor.execute(f"DROP TRIGGER {table}_no_{op}")
            try:
                yield
            finally:
                for statement in _triggers.SQLITE_FORWARD:
                    if "optin_wording" not in statement:
                        cursor.execute(statement)
