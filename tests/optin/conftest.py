"""Fixtures of the consent-domain tests: professionals, a client's log, tamper helpers, and
the test database of the tests that commit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connections
from django.db.backends.base.creation import TEST_DATABASE_PREFIX

from clients.models import Client, ClientKind
from optin.audit import GENESIS_HASH, chain_hash, header_of
from optin.models import AuditEntry


@pytest.fixture
def professional_factory(client_factory: Callable[..., Client]) -> Callable[..., Client]:
    """A professional contacted at a professional address, told about the opt-out (R8)."""

    def make(**kwargs: Any) -> Client:
        kwargs.setdefault("kind", ClientKind.PROFESSIONAL)
        kwargs.setdefault("birth_date", None)
        kwargs.setdefault("objection_notice_shown", True)
        return client_factory(**kwargs)

    return make


def log_of(client: Client) -> list[AuditEntry]:
    """The client's log entries, in sequence order."""
    return list(AuditEntry.objects.filter(client_id=client.pk).order_by("seq"))


def head() -> AuditEntry:
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry is not None
    return entry


def rehash_from(seq: int) -> None:
    """Recompute the hash of entry `seq` and of every later entry, as somebody able to write
    to the table (behind the triggers' back) would do to hide an edit from the chain."""
    previous = AuditEntry.objects.filter(seq=seq - 1).values_list("hash", flat=True).first()
    prev_hash = previous or GENESIS_HASH
    for entry in AuditEntry.objects.filter(seq__gte=seq).order_by("seq"):
        own_hash = chain_hash(prev_hash, header_of(entry), entry.payload)
        AuditEntry.objects.filter(pk=entry.pk).update(prev_hash=prev_hash, hash=own_hash)
        prev_hash = own_hash


@pytest.fixture(scope="session")
def committed_database(
    request: pytest.FixtureRequest,
    django_db_setup: None,
    django_db_blocker: Any,
    django_db_keepdb: bool,
) -> Iterator[None]:
    """A test database for the tests that commit (marker `committed`).

    pytest-django creates the test database only when a collected test uses its `db`-style
    fixtures or marker, which would wrap the test in a transaction (or TRUNCATE afterwards,
    refused by the log's triggers). When the committed tests run alone (`-m committed`), no
    test database exists yet: create it here, so that they never write to the database named
    in DATABASE_URL, and destroy it at the end of the session.
    """
    from django.test.utils import setup_databases, teardown_databases

    if any(uses_test_transaction(item) for item in request.session.items):
        pytest.skip("commits rows: run the `committed` tests in their own invocation")
    created = None
    with django_db_blocker.unblock():
        if not str(connections["default"].settings_dict["NAME"]).startswith(TEST_DATABASE_PREFIX):
            created = setup_databases(
                verbosity=0, interactive=False, keepdb=django_db_keepdb, aliases={"default"}
            )
    assert str(connections["default"].settings_dict["NAME"]).startswith(TEST_DATABASE_PREFIX)
    yield
    if created is not None and not django_db_keepdb:
        with django_db_blocker.unblock():
            teardown_databases(created, verbosity=0)


def uses_test_transaction(item: pytest.Item) -> bool:
    """Whether a collected test expects a clean test database (rows committed by the
    `committed` tests would stay in it)."""
    if item.get_closest_marker("committed"):
        return False
    names = getattr(item, "fixturenames", ())
    return (
        bool(item.get_closest_marker("django_db")) or "db" in names or ("transactional_db" in names)
    )
