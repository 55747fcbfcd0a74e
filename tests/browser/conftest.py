"""Browser tests: a headless Chromium (Debian's chromium package) against a live server.

They commit their rows, like the other `committed` tests: the server's thread must see
them, and the test database cannot be emptied after each test (the log's triggers refuse
it). So they run in the `-m committed` invocation, with unique client numbers.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.test import Client as HttpClient
from django.test.testcases import LiveServerThread

from clients.models import Role
from tests.auth import login_verified
from tests.factories import BranchFactory, StaffFactory
from tests.signatures.conftest import _seal, collect, seal_p12  # noqa: F401 (fixtures)

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# The back-office is French and its times are Paris times: so is the browser.
CONTEXT = {"locale": "fr-FR", "timezone_id": "Europe/Paris"}

pytestmark = [pytest.mark.postgres, pytest.mark.committed]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the test's own ORM
    # calls are still synchronous (the documented setting for Django with Playwright).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture
def live_url(committed: None, settings: Any) -> Iterator[str]:
    """A live server in a thread, serving the pages and the static files."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    yield f"http://127.0.0.1:{server.port}"
    server.terminate()


@pytest.fixture
def advisor(committed: None) -> Any:
    """An advisor of a branch of their own (rows stay: names are unique)."""
    suffix = uuid.uuid4().hex[:8]
    branch = BranchFactory(code=f"W{suffix[:6]}", name=f"Agence {suffix}")
    return StaffFactory(username=f"web-{suffix}", role=Role.ADVISOR, branch=branch)


@pytest.fixture
def new_context(browser: Any, live_url: str) -> Iterator[Callable[..., Any]]:
    """A browser context (French, Paris time): new_context(**options). Closed after the test,
    before the live server stops."""
    contexts = []

    def open_context(**options: Any) -> Any:
        context = browser.new_context(
            **{**CONTEXT, "viewport": {"width": 1024, "height": 900}, **options}
        )
        contexts.append(context)
        return context

    yield open_context
    for context in contexts:
        context.close()


@pytest.fixture
def page_as(new_context: Callable[..., Any], live_url: str) -> Callable[..., Any]:
    """A browser page logged in as a given staff member: page_as(user)."""

    def open_as(user: Any, viewport: dict[str, int] | None = None) -> Any:
        http = HttpClient()
        login_verified(http, user)
        context = new_context(viewport=viewport or {"width": 1024, "height": 900})
        context.add_cookies(
            [{"name": "sessionid", "value": http.cookies["sessionid"].value, "url": live_url}]
        )
        return context.new_page()

    return open_as
