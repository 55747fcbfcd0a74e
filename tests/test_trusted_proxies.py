"""Behind the bank's proxies the client's address is the rightmost X-Forwarded-For address
that is not a trusted proxy; from anywhere else X-Forwarded-For is ignored. Rate limits, login
lockouts and the evidence of signatures and unsubscribes (R52) read that address."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from optin.middleware import TrustedProxyMiddleware

PROXIES = ["10.0.0.0/8", "192.0.2.10"]


def address_seen(
    settings: Any, remote: str, forwarded: str | None, proxies: list[str] = PROXIES
) -> str:
    settings.OPTIN_TRUSTED_PROXIES = proxies
    seen: list[str] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(request.META["REMOTE_ADDR"])
        return HttpResponse()

    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    request = RequestFactory().get("/", REMOTE_ADDR=remote, **headers)
    TrustedProxyMiddleware(view)(request)
    return seen[0]


@pytest.mark.parametrize(
    ("remote", "forwarded", "client"),
    [
        ("10.1.2.3", "203.0.113.7", "203.0.113.7"),  # one proxy
        ("10.1.2.3", "203.0.113.7, 192.0.2.10", "203.0.113.7"),  # two proxies
        ("10.1.2.3", "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # a spoofed hop on the left
        ("10.1.2.3", "2001:db8::1", "2001:db8::1"),
        ("10.1.2.3", None, "10.1.2.3"),  # no header: the proxy itself
        ("10.1.2.3", "10.4.4.4", "10.4.4.4"),  # only proxies: the farthest
        ("10.1.2.3", "203.0.113.7, nonsense", "10.1.2.3"),  # garbage: nothing believed
        ("203.0.113.50", "198.51.100.1", "203.0.113.50"),  # not through a proxy: ignored
    ],
)
def test_the_client_address_behind_trusted_proxies(
    settings: Any, remote: str, forwarded: str | None, client: str
) -> None:
    assert address_seen(settings, remote, forwarded) == client


def test_without_trusted_proxies_the_header_is_ignored(settings: Any) -> None:
    assert address_seen(settings, "10.1.2.3", "203.0.113.7", proxies=[]) == "10.1.2.3"


def test_a_bad_proxy_setting_stops_the_start() -> None:
    import os
    import subprocess
    import sys

    from django.conf import settings as django_settings

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "optin.settings",
        "DEBUG": "true",
        "OPTIN_TRUSTED_PROXIES": "10.0.0.0/8,not-an-address",
    }
    run = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    assert "OPTIN_TRUSTED_PROXIES" in run.stderr
