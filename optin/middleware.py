"""Every request's client address behind trusted proxies; response headers of every page."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(values: list[str]) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values)
    except ValueError as exc:
        raise ImproperlyConfigured(f"OPTIN_TRUSTED_PROXIES: {exc}") from None


def _trusted(address: str, networks: tuple[Network, ...]) -> bool | None:
    """Whether `address` is one of the trusted proxies; None if it is no IP address."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    return any(ip in network for network in networks)


class TrustedProxyMiddleware:
    """REMOTE_ADDR becomes the client's address when the request came through the bank's own
    proxies (OPTIN_TRUSTED_PROXIES: addresses or networks): the rightmost address of
    X-Forwarded-For that is not a trusted proxy. Everything that reads the address — rate
    limits, login lockouts, the evidence of a signature or an unsubscribe (R52) — then reads
    the client's. A request from anywhere else keeps its own address: its X-Forwarded-For is
    whatever the sender wrote."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.networks = trusted_networks(settings.OPTIN_TRUSTED_PROXIES)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.networks:
            request.META["REMOTE_ADDR"] = self.client_address(request)
        return self.get_response(request)

    def client_address(self, request: HttpRequest) -> str:
        address = str(request.META.get("REMOTE_ADDR", ""))
        if not _trusted(address, self.networks):
            return address
        forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
        for hop in reversed([hop.strip() for hop in forwarded.split(",") if hop.strip()]):
            trusted = _trusted(hop, self.networks)
            if trusted is None:  # not an address: nothing to the left of it can be believed
                return address
            if not trusted:
                return hop
            address = hop
        return address


# No inline script or style anywhere: scripts and styles come from our own static files.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """Sets the Content-Security-Policy of HTML pages (PDF downloads are left to the viewer)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.get("Content-Type", "").startswith("text/html"):
            response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
