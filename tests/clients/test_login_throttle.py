"""R55: password guessing on the staff login is stopped.

Access to the back-office is scoped and traced (R55), so its login must resist guessing: after
OPTIN_LOGIN_MAX_FAILURES wrong passwords for one account (counted in the shared cache, the
account name taken without case or surrounding spaces), the next logins to that account are
refused (429) for OPTIN_LOGIN_LOCKOUT_SECONDS counted from the first failure, even with the
right password, which is then not even checked; the account is blocked from every address,
while other accounts from the same address are not. One address (a branch behind its proxy)
gets ten times the limit, then every account from it is refused. A successful login forgets
the account's failures. A refused login logs nobody in and writes nothing to the log (R71).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.test import Client as HttpClient

from clients import throttle
from tests.clients.helpers import log_size
from tests.factories import StaffFactory

PASSWORD = "pw-for-tests"  # StaffFactory's
LIMIT = 3
LOCKOUT = 600  # seconds
BRANCH_PROXY = "192.0.2.10"
ELSEWHERE = "198.51.100.20"
START = dt.datetime(2026, 12, 10, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _counters(settings: Any) -> Iterator[None]:
    """A small limit, and counters that do not leak from one test to another."""
    settings.OPTIN_LOGIN_MAX_FAILURES = LIMIT
    settings.OPTIN_LOGIN_LOCKOUT_SECONDS = LOCKOUT
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def checked() -> Iterator[list[str]]:
    """The usernames whose password was checked (Django's signals of `authenticate`)."""
    seen: list[str] = []

    def failed(sender: Any, credentials: dict[str, Any], **kwargs: Any) -> None:
        seen.append(str(credentials.get("username")))

    def succeeded(sender: Any, user: User, **kwargs: Any) -> None:
        seen.append(user.get_username())

    user_login_failed.connect(failed, dispatch_uid="throttle-test-failed")
    user_logged_in.connect(succeeded, dispatch_uid="throttle-test-succeeded")
    yield seen
    user_login_failed.disconnect(dispatch_uid="throttle-test-failed")
    user_logged_in.disconnect(dispatch_uid="throttle-test-succeeded")


def attempt(username: str, password: str, address: str = BRANCH_PROXY) -> tuple[int, HttpClient]:
    """One login attempt from a fresh browser; its status and the browser."""
    http = HttpClient(REMOTE_ADDR=address)
    response = http.post("/connexion/", {"username": username, "password": password})
    if response.status_code == 429:
        html = response.content.decode()
        assert "Trop de tentatives de connexion" in html
        assert f"réessayez dans {LOCKOUT // 60} minutes" in html
    return response.status_code, http


def logged_in(http: HttpClient) -> bool:
    return SESSION_KEY in http.session


def blocked(username: str, address: str = BRANCH_PROXY) -> bool:
    """Whether the next login of `username` from `address` is refused unchecked."""
    return throttle.login_blocked(username, address)


# The page that refuses a blocked login crashes: it adds its error to an unbound form.


def fail(username: str, times: int, address: str = BRANCH_PROXY) -> None:
    for _ in range(times):
        status, _http = attempt(username, "wrong password", address)
        assert status == 401


# --- what the page does with a blocked login (currently a 500) ----------------------------


def test_after_too_many_wrong_passwords_the_right_one_is_refused_unchecked(
    advisor: User, checked: list[str]
) -> None:
    fail("alice", LIMIT)
    assert checked == ["alice"] * LIMIT
    entries_before = log_size()

    status, http = attempt("alice", PASSWORD)
    assert status == 429
    assert not logged_in(http)
    status, http = attempt("alice", "another guess")
    assert status == 429
    assert not logged_in(http)
    assert checked == ["alice"] * LIMIT  # neither password was checked
    assert log_size() == entries_before


def test_a_blocked_address_gets_the_429_page(advisor: User, checked: list[str]) -> None:
    for n in range(LIMIT * 10):
        fail(f"guess{n}", 1)
    checked.clear()
    status, http = attempt("alice", PASSWORD)
    assert status == 429
    assert not logged_in(http)
    assert checked == []


def test_a_blocked_login_shows_an_alert_and_keeps_the_next_page(advisor: User) -> None:
    fail("alice", LIMIT)
    response = HttpClient(REMOTE_ADDR=BRANCH_PROXY).post(
        "/connexion/?next=/compte/", {"username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 429
    html = response.content.decode()
    assert 'role="alert"' in html
    assert '<input type="hidden" name="next" value="/compte/">' in html
    assert PASSWORD not in html


# --- what is counted, and for how long ------------------------------------------------------


def test_too_many_wrong_passwords_block_the_account(advisor: User, checked: list[str]) -> None:
    fail("alice", LIMIT - 1)
    assert not blocked("alice")
    fail("alice", 1)
    assert checked == ["alice"] * LIMIT
    assert blocked("alice")


def test_the_account_is_blocked_from_every_address(advisor: User) -> None:
    fail("alice", LIMIT, BRANCH_PROXY)
    assert blocked("alice", ELSEWHERE)
    assert blocked("alice", "203.0.113.99")


def test_the_account_name_is_counted_without_case_or_spaces(advisor: User) -> None:
    fail("ALICE", 1)
    fail(" Alice ", 1)
    fail("alice", LIMIT - 2)
    assert blocked("alice")
    assert blocked("Alice")


def test_one_failure_fewer_than_the_limit_still_lets_the_right_password_in(
    advisor: User,
) -> None:
    fail("alice", LIMIT - 1)
    status, http = attempt("alice", PASSWORD)
    assert status == 302
    assert http.session[SESSION_KEY] == str(advisor.pk)


def test_the_lockout_ends_after_the_period_counted_from_the_first_failure(
    advisor: User, clock: Any
) -> None:
    fail("alice", 1)
    clock.shift(dt.timedelta(seconds=100))
    fail("alice", LIMIT - 1)
    clock.shift(dt.timedelta(seconds=LOCKOUT - 101))  # one second before the end
    assert blocked("alice")

    clock.shift(dt.timedelta(seconds=2))
    assert not blocked("alice")
    status, http = attempt("alice", PASSWORD)
    assert status == 302
    assert http.session[SESSION_KEY] == str(advisor.pk)


def test_another_account_from_the_same_address_is_not_blocked(
    advisor: User, advisor_other_branch: User
) -> None:
    fail("alice", LIMIT)
    assert blocked("alice")
    assert not blocked("bob")
    status, http = attempt("bob", PASSWORD)
    assert status == 302
    assert http.session[SESSION_KEY] == str(advisor_other_branch.pk)
    # And bob's own failures are counted from zero.
    fail("bob", LIMIT - 1)
    assert attempt("bob", PASSWORD)[0] == 302


def test_ten_times_the_limit_from_one_address_blocks_every_account_from_it(
    advisor: User, advisor_other_branch: User
) -> None:
    # Guesses spread over many names, none reaching the limit of one account.
    for n in range(LIMIT * 10 - 1):
        fail(f"guess{n}", 1)
    # Just under the address's limit, a right password still gets in.
    status, http = attempt("alice", PASSWORD)
    assert status == 302
    assert logged_in(http)
    # The success forgets alice's failures, not the address's.
    fail("guess-last", 1)
    assert blocked("alice", BRANCH_PROXY)
    assert blocked("bob", BRANCH_PROXY)
    # The accounts themselves are not blocked: from another address they log in.
    for user in (advisor, advisor_other_branch):
        assert not blocked(user.get_username(), ELSEWHERE)
        status, http = attempt(user.get_username(), PASSWORD, ELSEWHERE)
        assert status == 302
        assert http.session[SESSION_KEY] == str(user.pk)


def test_the_address_lockout_ends_after_the_period(advisor: User, clock: Any) -> None:
    for n in range(LIMIT * 10):
        fail(f"guess{n}", 1)
    assert blocked("alice")
    clock.shift(dt.timedelta(seconds=LOCKOUT + 1))
    assert not blocked("alice")
    status, http = attempt("alice", PASSWORD)
    assert status == 302
    assert logged_in(http)


def test_a_success_resets_the_accounts_counter(advisor: User) -> None:
    fail("alice", LIMIT - 1)
    assert attempt("alice", PASSWORD)[0] == 302
    # Without the reset these would make 2 * (LIMIT - 1) >= LIMIT failures.
    fail("alice", LIMIT - 1)
    assert not blocked("alice")
    status, http = attempt("alice", PASSWORD)
    assert status == 302
    assert http.session[SESSION_KEY] == str(advisor.pk)


def test_a_success_of_another_account_does_not_reset_a_blocked_one(
    advisor: User, advisor_other_branch: User
) -> None:
    fail("alice", LIMIT)
    assert attempt("bob", PASSWORD)[0] == 302
    assert blocked("alice")


def test_an_unknown_account_is_counted_like_a_real_one(db: None) -> None:
    fail("nobody", LIMIT)
    StaffFactory(username="nobody")  # created while its name is blocked
    assert blocked("nobody")
