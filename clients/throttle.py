"""Failed logins, counted in the shared cache: after too many for one account, or from one
address, logins are refused for a while (OPTIN_LOGIN_MAX_FAILURES, OPTIN_LOGIN_LOCKOUT_SECONDS).
A blocked attempt does not even check the password, so guessing goes no faster."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache

# One address may serve a whole branch behind its proxy: it gets more tries than one account.
ADDRESS_FACTOR = 10


def _keys(username: str, address: str) -> dict[str, int]:
    account = hashlib.sha256(username.strip().lower().encode("utf-8")).hexdigest()[:32]
    limit = settings.OPTIN_LOGIN_MAX_FAILURES
    return {
        f"optin:login-failures:account:{account}": limit,
        f"optin:login-failures:address:{address}": limit * ADDRESS_FACTOR,
    }


def login_blocked(username: str, address: str) -> bool:
    counts = cache.get_many(list(_keys(username, address)))
    return any(counts.get(key, 0) >= limit for key, limit in _keys(username, address).items())


def record_login_failure(username: str, address: str) -> None:
    """Count a failure; the lockout period runs from the first failure of the series."""
    for key in _keys(username, address):
        if not cache.add(key, 1, timeout=settings.OPTIN_LOGIN_LOCKOUT_SECONDS):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=settings.OPTIN_LOGIN_LOCKOUT_SECONDS)


def clear_login_failures(username: str, address: str) -> None:
    """A successful login forgets the account's failures (not the address's)."""
    account_key = next(iter(_keys(username, address)))
    cache.delete(account_key)
