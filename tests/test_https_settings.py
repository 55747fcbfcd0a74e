"""The production settings: `check --deploy` finds nothing to say, every HTTP request is
redirected to HTTPS, HTTPS answers carry HSTS and the other security headers, and the cookies
travel over HTTPS only (issue of security hardening; DESIGN §5 back-office)."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.test import Client as HttpClient
from django.urls import reverse

ROOT = Path(django_settings.BASE_DIR)
LOGIN = reverse("clients:login")


def production_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """What a deployment sets, and nothing from the test settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "OPTIN_", "SECURE_", "DEBUG", "SECRET_KEY"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="optin.settings",
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="optin.banque.example",
        OPTIN_PUBLIC_URL="https://optin.banque.example",
        OPTIN_AUDIT_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(),
        OPTIN_VAR_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **extra,
    )
    return env


def test_the_deployment_check_finds_nothing(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "System check identified no issues" in run.stdout


def test_a_tls_proxy_is_trusted_only_when_said(tmp_path: Path) -> None:
    show = "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)"
    for extra, expected in (({}, "None"), ({"OPTIN_TLS_PROXY": "true"}, "HTTP_X_FORWARDED_PROTO")):
        run = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", "shell", "-c", show],
            cwd=ROOT,
            env=production_environment(tmp_path, **extra),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert expected in run.stdout, run.stderr


def test_plain_http_is_redirected_to_https(client: HttpClient, settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    response = client.get(LOGIN)
    assert response.status_code == 301
    assert response["Location"] == f"https://testserver{LOGIN}"
    assert client.get(LOGIN, secure=True).status_code == 200


def test_https_answers_carry_the_security_headers(client: HttpClient) -> None:
    response = client.get(LOGIN, secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy or "default-src 'none'" in policy
    assert "unsafe-inline" not in policy


def test_the_cookies_travel_over_https_only(client: HttpClient) -> None:
    response = client.get(LOGIN, secure=True)
    csrf = response.cookies["csrftoken"]
    assert csrf["secure"] is True
    assert django_settings.SESSION_COOKIE_SECURE is True
    assert django_settings.SESSION_COOKIE_HTTPONLY is True
