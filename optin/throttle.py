"""Requests per address on the public pages, counted per minute in the shared cache.

Forged or stale links, which is what guessing looks like, get OPTIN_PUBLIC_RATE_PER_MINUTE per
address, after which the address is refused everything until the minute ends; all requests
together get ten times that. Mail providers send RFC 8058 one-click unsubscribes from a few
addresses, so the unsubscribe view honours those of genuine links before asking these limits.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

VALID_FACTOR = 10


def client_address(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


def _key(request: HttpRequest, scope: str) -> str:
    return f"optin:public:{scope}:{client_address(request)}:{int(time.time() // 60)}"


def _hit(key: str) -> int:
    if cache.add(key, 1, timeout=120):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=120)
        return 1


def public_rate_exceeded(request: HttpRequest) -> bool:
    """Counts this request; True when the address is over either limit this minute."""
    limit = settings.OPTIN_PUBLIC_RATE_PER_MINUTE
    if int(cache.get(_key(request, "invalid"), 0)) >= limit:
        return True
    return _hit(_key(request, "all")) > limit * VALID_FACTOR


def record_invalid_link(request: HttpRequest) -> None:
    _hit(_key(request, "invalid"))
