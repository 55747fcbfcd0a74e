"""Personas and shared fixtures (STYLE.md §10)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections
from django.db.backends.base.creation import TEST_DATABASE_PREFIX

from clients.models import Branch, Client, ClientKind, Role
from optin.audit import Actor
from optin.checkpoints import write_local_keys
from optin.models import BRANCH_JOURNEYS, Journey
from optin.services import DecisionResult, record_decision
from tests.factories import BranchFactory, ClientFactory, StaffFactory, advisor_actor, web_actor


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `postgres` are skipped on SQLite."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _keys(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A throwaway checkpoint key and an empty export directory for every test."""
    keys = tmp_path_factory.mktemp("keys")
    write_local_keys(keys)
    settings.OPTIN_CHECKPOINT_KEY_FILE = keys / "checkpoint-ed25519.pem"
    settings.OPTIN_CHECKPOINT_DIR = tmp_path_factory.mktemp("checkpoints")


@pytest.fixture
def checkpoint_dir(settings: Any) -> Path:
    return Path(settings.OPTIN_CHECKPOINT_DIR)


@pytest.fixture
def branch(db: None) -> Branch:
    return BranchFactory(code="B001", name="Agence Paris Opéra")


@pytest.fixture
def other_branch(db: None) -> Branch:
    return BranchFactory(code="B002", name="Agence Lyon Bellecour")


@pytest.fixture
def advisor(branch: Branch) -> Any:
    return StaffFactory(username="alice", role=Role.ADVISOR, branch=branch)


@pytest.fixture
def advisor_other_branch(other_branch: Branch) -> Any:
    return StaffFactory(username="bob", role=Role.ADVISOR, branch=other_branch)


@pytest.fixture
def compliance(db: None) -> Any:
    return StaffFactory(username="charlie", role=Role.COMPLIANCE, branch=None)


@pytest.fixture
def administrator(db: None) -> Any:
    return StaffFactory(username="diane", role=Role.ADMINISTRATOR, branch=None)


@pytest.fixture
def advisor_as_actor(advisor: Any) -> Actor:
    return advisor_actor(advisor)


@pytest.fixture
def web() -> Actor:
    return web_actor()


@pytest.fixture
def client_factory(branch: Branch) -> Callable[..., Client]:
    def make(**kwargs: Any) -> Client:
        kwargs.setdefault("branch", branch)
        return ClientFactory(**kwargs)

    return make


@pytest.fixture
def professional_factory(client_factory: Callable[..., Client]) -> Callable[..., Client]:
    """A professional contacted at a professional address, told about the opt-out (R8)."""

    def make(**kwargs: Any) -> Client:
        kwargs.setdefault("kind", ClientKind.PROFESSIONAL)
        kwargs.setdefault("birth_date", None)
        kwargs.setdefault("objection_notice_shown", True)
        return client_factory(**kwargs)

    return make


@pytest.fixture
def customer(client_factory: Callable[..., Client]) -> Client:
    """An adult individual of full capacity, both channels at `none`."""
    return client_factory(first_name="Jeanne", last_name="Dupont")


@pytest.fixture
def grant(web: Actor) -> Callable[..., DecisionResult]:
    """Record a digital grant (R32) with valid defaults; keyword arguments override them."""

    def do(client: Client, channel: str = "email", **kwargs: Any) -> DecisionResult:
        arguments: dict[str, Any] = {
            "client_number": client.client_number,
            "channel": channel,
            "decision": "grant",
            "journey": Journey.DIGITAL_SELF_SERVICE,
            "actor": web,
            "wording_version": f"{channel}-v1",
            "affirmative_action": True,
            "evidence": {"ip": "192.0.2.1", "user_agent": "pytest"},
        }
        arguments.update(kwargs)
        if arguments["journey"] in BRANCH_JOURNEYS:
            arguments.setdefault("branch_form", True)
        return record_decision(**arguments)

    return do


@pytest.fixture
def decide(web: Actor) -> Callable[..., DecisionResult]:
    """Record any decision with digital defaults (wording of the channel, affirmative)."""

    def do(client: Client, channel: str, decision: str, **kwargs: Any) -> DecisionResult:
        arguments: dict[str, Any] = {
            "client_number": client.client_number,
            "channel": channel,
            "decision": decision,
            "journey": Journey.DIGITAL_SELF_SERVICE,
            "actor": web,
        }
        if decision in ("grant", "refuse"):
            arguments["wording_version"] = f"{channel}-v1"
        if decision == "grant":
            arguments["affirmative_action"] = True
        arguments.update(kwargs)
        if decision == "grant" and arguments["journey"] in BRANCH_JOURNEYS:
            # A branch "Oui" as the form service records it (signatures.services).
            arguments.setdefault("branch_form", True)
        return record_decision(**arguments)

    return do


def paris(*args: int) -> dt.datetime:
    """A moment in Europe/Paris (tests travel in time with it)."""
    from zoneinfo import ZoneInfo

    return dt.datetime(*args, tzinfo=ZoneInfo("Europe/Paris"))


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


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
            _end_other_sessions()
            teardown_databases(created, verbosity=0)


def _end_other_sessions() -> None:
    """A thread's closed connection may still be a session for a moment (the server ends it
    asynchronously), which makes DROP DATABASE fail: end those sessions first."""
    connection = connections["default"]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def uses_test_transaction(item: pytest.Item) -> bool:
    """Whether a collected test expects a clean test database (rows committed by the
    `committed` tests would stay in it)."""
    if item.get_closest_marker("committed"):
        return False
    names = getattr(item, "fixturenames", ())
    return (
        bool(item.get_closest_marker("django_db")) or "db" in names or ("transactional_db" in names)
    )


@pytest.fixture
def committed(committed_database: None, django_db_blocker: Any) -> Iterator[None]:
    """Database access without a test transaction: what is written here is committed."""
    with django_db_blocker.unblock():
        yield
