"""R53, R56, DESIGN §3-4 on SQLite: two writers at once wait for each other instead of
failing, so concurrent decisions are all recorded and appends to the log are serialized.

The project's SQLite options (optin.settings._sqlite_default: IMMEDIATE transactions, WAL,
a 20 s busy timeout) are applied to two separate connections on a temporary database file;
the test database is not touched, so this runs on either engine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connections, transaction
from django.db.backends.sqlite3.base import DatabaseWrapper

from optin.settings import _sqlite_default

HOLD_SECONDS = 0.5


def settings_dict(path: Path, **options: Any) -> dict[str, Any]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {**_sqlite_default()["OPTIONS"], **options},
        "ATOMIC_REQUESTS": False,
        "AUTOCOMMIT": True,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "TIME_ZONE": None,
        "USER": "",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "TEST": {},
    }


@pytest.fixture
def database(tmp_path: Path, django_db_blocker: Any) -> Iterator[Path]:
    path = tmp_path / "writers.sqlite3"
    with django_db_blocker.unblock():
        setup = DatabaseWrapper(settings_dict(path), alias="sqlite_setup")
        with setup.cursor() as cursor:
            cursor.execute("CREATE TABLE entry (seq INTEGER PRIMARY KEY, writer TEXT NOT NULL)")
        setup.close()
        yield path


def run_writer(
    path: Path, alias: str, body: Any, errors: list[BaseException], **options: Any
) -> None:
    """Run `body(cursor)` in one Django transaction on a connection of its own."""
    wrapper = DatabaseWrapper(settings_dict(path, **options), alias=alias)
    connections[alias] = wrapper
    try:
        with transaction.atomic(using=alias), wrapper.cursor() as cursor:
            body(cursor)
    except BaseException as exc:
        errors.append(exc)
    finally:
        wrapper.close()
        del connections[alias]


def append(cursor: Any, writer: str) -> None:
    """Read the head, then write after it: the pattern of audit.append."""
    cursor.execute("SELECT COALESCE(MAX(seq), 0) FROM entry")
    (last,) = cursor.fetchone()
    cursor.execute("INSERT INTO entry (seq, writer) VALUES (%s, %s)", [last + 1, writer])


def test_the_project_options_give_wal_a_busy_timeout_and_immediate_transactions(
    database, django_db_blocker
):
    with django_db_blocker.unblock():
        wrapper = DatabaseWrapper(settings_dict(database), alias="sqlite_check")
        try:
            with wrapper.cursor() as cursor:
                cursor.execute("PRAGMA journal_mode")
                assert cursor.fetchone() == ("wal",)
                cursor.execute("PRAGMA synchronous")
                assert cursor.fetchone() == (2,)  # FULL
                cursor.execute("PRAGMA busy_timeout")
                assert cursor.fetchone() == (20_000,)
            assert wrapper.transaction_mode == "IMMEDIATE"
        finally:
            wrapper.close()


def test_a_second_writer_waits_for_the_first_and_both_succeed(database, django_db_blocker):
    first_began = threading.Event()
    errors: list[BaseException] = []
    finished: dict[str, float] = {}

    def first(cursor: Any) -> None:
        append(cursor, "first")
        first_began.set()
        time.sleep(HOLD_SECONDS)  # hold the write lock
        finished["first"] = time.monotonic()

    def second(cursor: Any) -> None:
        append(cursor, "second")
        finished["second"] = time.monotonic()

    with django_db_blocker.unblock():
        one = threading.Thread(target=run_writer, args=(database, "sqlite_one", first, errors))
        one.start()
        assert first_began.wait(5)
        started = time.monotonic()
        two = threading.Thread(target=run_writer, args=(database, "sqlite_two", second, errors))
        two.start()
        one.join(10)
        two.join(10)

        assert errors == []
        assert finished["second"] >= finished["first"]  # it waited for the first to commit
        assert finished["second"] - started >= HOLD_SECONDS * 0.5
        check = DatabaseWrapper(settings_dict(database), alias="sqlite_result")
        try:
            with check.cursor() as cursor:
                cursor.execute("SELECT seq, writer FROM entry ORDER BY seq")
                assert cursor.fetchall() == [(1, "first"), (2, "second")]
        finally:
            check.close()


def test_without_immediate_transactions_a_reader_turned_writer_would_fail(
    database, django_db_blocker
):
    """Why IMMEDIATE: a deferred transaction that read the head before another writer
    committed cannot then write (SQLite answers "database is locked" at once, whatever the
    busy timeout). With IMMEDIATE it would have waited at BEGIN, as the test above shows."""
    first_wrote, second_read = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first(cursor: Any) -> None:
        append(cursor, "first")
        first_wrote.set()
        assert second_read.wait(5)

    def second(cursor: Any) -> None:
        assert first_wrote.wait(5)
        cursor.execute("SELECT COALESCE(MAX(seq), 0) FROM entry")  # the stale head
        second_read.set()
        one.join(5)  # the first commits
        cursor.execute("INSERT INTO entry (seq, writer) VALUES (1, 'second')")

    with django_db_blocker.unblock():
        deferred = {"transaction_mode": None}
        one = threading.Thread(
            target=run_writer, args=(database, "sqlite_d1", first, errors), kwargs=deferred
        )
        two = threading.Thread(
            target=run_writer, args=(database, "sqlite_d2", second, errors), kwargs=deferred
        )
        one.start()
        two.start()
        one.join(10)
        two.join(10)

    assert len(errors) == 1
    assert isinstance(errors[0], OperationalError)
    assert "locked" in str(errors[0])
