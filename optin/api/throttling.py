"""Rate limits of the API, counted per minute in the shared cache (CACHE_URL).

Each API client gets OPTIN_API_RATE_PER_MINUTE requests, whatever its address; a request
without a valid token (the schema, the docs, a 401) counts against its address, which gets
OPTIN_API_ADDRESS_RATE_PER_MINUTE. Past either, the API answers 429 `rate_limited` with
Retry-After, the end of the minute, and does nothing else.

DRF's SimpleRateThrottle keeps every request's time in one cached list, read and written back
whole: at thousands of requests a minute that is a large value per request, and concurrent
requests overwrite each other's counts. Here one counter per minute is incremented atomically,
as on the public pages (optin.throttle).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from optin.models import ApiClient


class _PerMinuteThrottle(SimpleRateThrottle):
    setting = ""
    num_requests: int
    duration: int
    now: float
    window_end: float

    def get_rate(self) -> str:
        # From the settings at each request, not DRF's rates read once at import.
        return f"{getattr(settings, self.setting)}/min"

    def allow_request(self, request: Request, view: Any) -> bool:
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.now = float(self.timer())
        minute = int(self.now // self.duration)
        self.window_end = (minute + 1) * self.duration
        key = f"{key}:{minute}"
        if cache.add(key, 1, timeout=self.duration * 2):
            return True
        try:
            count = int(cache.incr(key))
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=self.duration * 2)
            return True
        return count <= self.num_requests

    def wait(self) -> float:
        return max(1.0, self.window_end - self.now)


class ApiClientRateThrottle(_PerMinuteThrottle):
    """Requests of one API client (its token), from any address."""

    scope = "api-client"
    setting = "OPTIN_API_RATE_PER_MINUTE"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        client = request.user
        if not isinstance(client, ApiClient):
            return None
        return f"optin:api:client:{client.pk}"


class AddressRateThrottle(_PerMinuteThrottle):
    """Requests without a valid token, from one address (REMOTE_ADDR as set by
    optin.middleware.TrustedProxyMiddleware; DRF's own reading trusts any X-Forwarded-For)."""

    scope = "api-address"
    setting = "OPTIN_API_ADDRESS_RATE_PER_MINUTE"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.user, ApiClient):
            return None
        return f"optin:api:address:{request.META.get('REMOTE_ADDR', '')}"
