"""R55: every back-office page asks for the password and then the second factor.

Access is traced and scoped (R55): no page (search, a client record, the account opening, the
pending forms page (R27), the admin, the account page) is served before both factors; an
anonymous visitor is sent to the login page and a password-only session to the code page, the
page asked for being kept in `next` (an external `next` is ignored). The second factor is a code
of the authenticator app (TOTP, accepted once) or a single-use backup code; a wrong code is
refused (401) with the error next to the field, and wrong codes slow the devices down
(django-otp's throttling: 429, even a right code is refused meanwhile). At the first login the
authenticator is enrolled by an inline SVG QR code (or the key typed by hand); confirming it
shows ten backup codes once and is logged (R51); new backup codes replace the old ones and are
logged. Only staff accounts log in; logging out is a POST. The admin has no login of its own:
it goes through the staff login and needs the verified second factor. A refused code leaves
the log as it was (R71).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client as HttpClient
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from clients import twofactor
from clients.models import Client
from tests.auth import login_verified
from tests.clients.helpers import entries, log_size, payload

PASSWORD = "pw-for-tests"  # StaffFactory's
# The start of a 30-second TOTP step: codes computed here stay valid for the whole test.
START = dt.datetime(2026, 12, 10, 9, 0, 0, tzinfo=dt.UTC)

Pages = Callable[[Client], dict[str, str]]


@pytest.fixture(autouse=True)
def _login_counters() -> Iterator[None]:
    """Failed logins are counted in the cache: none leaks into or out of these tests."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def pages() -> Pages:
    """The pages behind the login, by name."""

    def paths(client: Client) -> dict[str, str]:
        return {
            "search": "/?q=dupont",
            "record": f"/clients/{client.client_number}/",
            "opening": "/entree-en-relation/",
            "pending": "/formulaires/en-attente/",
            "admin": "/admin/",
            "account": "/compte/",
        }

    return paths


PAGE_NAMES = ("search", "record", "opening", "pending", "admin", "account")


def enrol(user: User) -> TOTPDevice:
    """An authenticator app confirmed for `user`, as after the enrolment page."""
    return TOTPDevice.objects.create(user=user, name=twofactor.APP_DEVICE, confirmed=True)


def code(device: TOTPDevice) -> str:
    """The code the authenticator app shows now."""
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{value:0{device.digits}d}"


def location(response: Any) -> tuple[str, str | None]:
    """The path of a redirect and its `next` parameter."""
    assert response.status_code == 302, response.status_code
    parts = urlsplit(response["Location"])
    return parts.path, parse_qs(parts.query).get("next", [None])[0]


def password_step(http: HttpClient, user: User, next_url: str | None = None) -> Any:
    data = {"username": user.get_username(), "password": PASSWORD}
    if next_url is not None:
        data["next"] = next_url
    return http.post("/connexion/", data)


def is_verified(http: HttpClient) -> bool:
    return DEVICE_ID_SESSION_KEY in http.session


def field_error(html: str) -> str:
    """The error list rendered with the code field, and the field pointing at it."""
    match = re.search(r'<ul class="errorlist" id="id_token_error">(.*?)</ul>', html, re.S)
    assert match is not None, "no error next to the code field"
    field = re.search(r'<input type="text" name="token"[^>]*>', html)
    assert field is not None
    assert 'aria-invalid="true"' in field.group(0)
    assert "id_token_error" in field.group(0)  # aria-describedby names the error
    return match.group(1)


# --- nothing before both factors -----------------------------------------------------------


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_every_page_sends_an_anonymous_visitor_to_the_login_page(
    name: str, customer: Client, pages: Pages
) -> None:
    path = pages(customer)[name]
    http = HttpClient()
    assert location(http.get(path)) == ("/connexion/", path)
    assert SESSION_KEY not in http.session


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_every_page_sends_a_password_only_session_to_the_code_page(
    name: str, advisor: User, customer: Client, pages: Pages
) -> None:
    enrol(advisor)
    http = HttpClient()
    password_step(http, advisor)
    assert http.session[SESSION_KEY] == str(advisor.pk)
    path = pages(customer)[name]
    response = http.get(path)
    assert location(response) == ("/connexion/code/", path)
    assert not is_verified(http)


def test_the_login_page_keeps_the_page_asked_for(customer: Client) -> None:
    response = HttpClient().get(f"/connexion/?next=/clients/{customer.client_number}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'name="next" value="/clients/{customer.client_number}/"' in html
    assert 'name="password"' in html


# --- password, then the code ---------------------------------------------------------------


def test_password_then_code_lead_to_the_page_asked_for(
    advisor: User, customer: Client, clock: Any
) -> None:
    device = enrol(advisor)
    record = f"/clients/{customer.client_number}/"
    http = HttpClient()
    assert location(http.get(record)) == ("/connexion/", record)

    response = password_step(http, advisor, record)
    assert location(response) == ("/connexion/code/", record)
    page = http.get(response["Location"])
    assert page.status_code == 200
    assert f'name="next" value="{record}"' in page.content.decode()
    assert 'autocomplete="one-time-code"' in page.content.decode()
    before = http.session.session_key

    response = http.post("/connexion/code/", {"token": code(device), "next": record})
    assert location(response) == (record, None)
    assert http.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert http.session.session_key != before  # a new session once verified
    page = http.get(record)
    assert page.status_code == 200
    assert customer.last_name in page.content.decode()


@pytest.mark.parametrize(
    "evil",
    ["https://evil.example/", "//evil.example/", "https://evil.example/clients/", "javascript:x"],
)
def test_an_external_next_is_ignored(advisor: User, evil: str, clock: Any) -> None:
    device = enrol(advisor)
    http = HttpClient()
    page = http.get("/connexion/", {"next": evil})
    assert '<input type="hidden" name="next" value="/">' in page.content.decode()
    response = password_step(http, advisor, evil)
    assert location(response) == ("/connexion/code/", "/")
    response = http.post("/connexion/code/", {"token": code(device), "next": evil})
    assert response["Location"] == "/"
    assert is_verified(http)


def test_a_totp_code_is_accepted_only_once(advisor: User, clock: Any) -> None:
    device = enrol(advisor)
    first = HttpClient()
    password_step(first, advisor)
    assert location(first.post("/connexion/code/", {"token": code(device)})) == ("/", None)

    second = HttpClient()
    password_step(second, advisor)
    response = second.post("/connexion/code/", {"token": code(device)})
    assert response.status_code == 401
    assert "Code incorrect." in field_error(response.content.decode())
    assert not is_verified(second)


def test_a_backup_code_works_once_and_not_twice(advisor: User, clock: Any) -> None:
    enrol(advisor)
    codes = twofactor.new_backup_codes(user=advisor)
    http = HttpClient()
    password_step(http, advisor)
    response = http.post("/connexion/code/", {"token": codes[0]})
    assert location(response) == ("/", None)
    assert is_verified(http)
    assert http.get("/").status_code == 200
    assert not StaticToken.objects.filter(token=codes[0]).exists()
    assert StaticToken.objects.filter(device__user=advisor).count() == 9

    http.post("/deconnexion/")
    clock.shift(dt.timedelta(seconds=5))
    password_step(http, advisor)
    response = http.post("/connexion/code/", {"token": codes[0]})
    assert response.status_code == 401
    assert "Code incorrect." in field_error(response.content.decode())
    assert not is_verified(http)
    assert StaticToken.objects.filter(device__user=advisor).count() == 9


def test_a_wrong_code_is_refused_with_the_error_next_to_the_field(
    advisor: User, clock: Any
) -> None:
    device = enrol(advisor)
    right = code(device)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    http = HttpClient()
    password_step(http, advisor)
    entries_before = log_size()
    response = http.post("/connexion/code/", {"token": wrong})
    assert response.status_code == 401
    assert "Code incorrect." in field_error(response.content.decode())
    assert not is_verified(http)
    assert location(http.get("/")) == ("/connexion/code/", "/")
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    assert log_size() == entries_before


def test_an_empty_code_is_a_bad_request(advisor: User, clock: Any) -> None:
    enrol(advisor)
    http = HttpClient()
    password_step(http, advisor)
    response = http.post("/connexion/code/", {"token": ""})
    assert response.status_code == 400
    field_error(response.content.decode())
    assert not is_verified(http)


def test_wrong_codes_slow_the_second_factor_down(advisor: User, clock: Any) -> None:
    device = enrol(advisor)
    http = HttpClient()
    password_step(http, advisor)
    assert http.post("/connexion/code/", {"token": "000000"}).status_code == 401

    clock.shift(dt.timedelta(milliseconds=500))
    response = http.post("/connexion/code/", {"token": code(device)})  # right, but too soon
    assert response.status_code == 429
    assert "Trop de codes erronés" in field_error(response.content.decode())
    assert not is_verified(http)

    # A second wrong code doubles the delay (1 s, then 2 s).
    clock.shift(dt.timedelta(seconds=1))
    assert http.post("/connexion/code/", {"token": "000000"}).status_code == 401
    clock.shift(dt.timedelta(seconds=1, milliseconds=500))
    assert http.post("/connexion/code/", {"token": code(device)}).status_code == 429
    assert not is_verified(http)

    clock.shift(dt.timedelta(seconds=1))
    response = http.post("/connexion/code/", {"token": code(device)})
    assert location(response) == ("/", None)
    assert is_verified(http)
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_backup_codes_are_throttled_too(advisor: User, clock: Any) -> None:
    enrol(advisor)
    codes = twofactor.new_backup_codes(user=advisor)
    http = HttpClient()
    password_step(http, advisor)
    assert http.post("/connexion/code/", {"token": "nope1234"}).status_code == 401
    response = http.post("/connexion/code/", {"token": codes[0]})
    assert response.status_code == 429
    assert not is_verified(http)
    assert StaticToken.objects.filter(token=codes[0]).exists()  # not used up


def test_the_throttling_message_says_one_second_in_the_singular(advisor: User, clock: Any) -> None:
    enrol(advisor)
    http = HttpClient()
    password_step(http, advisor)
    http.post("/connexion/code/", {"token": "000000"})
    clock.shift(dt.timedelta(milliseconds=500))
    response = http.post("/connexion/code/", {"token": "000000"})
    assert response.status_code == 429
    assert "attendez 1 seconde avant" in field_error(response.content.decode())


# --- first login: enrolment -----------------------------------------------------------------


def pending_device(user: User) -> TOTPDevice:
    return TOTPDevice.objects.get(user=user, confirmed=False)


def test_the_first_login_shows_an_inline_qr_code_and_the_manual_key(
    advisor: User, clock: Any
) -> None:
    http = HttpClient()
    response = password_step(http, advisor, "/compte/")
    assert location(response) == ("/connexion/activation/", "/compte/")
    assert location(http.get("/compte/")) == ("/connexion/code/", "/compte/")
    assert location(http.get("/connexion/code/?next=/compte/")) == (
        "/connexion/activation/",
        "/compte/",
    )

    page = http.get("/connexion/activation/?next=/compte/")
    assert page.status_code == 200
    html = page.content.decode()
    device = pending_device(advisor)
    assert re.search(r'<div class="qr"><svg[^>]*>.*<path[^>]*>.*</svg></div>', html, re.S)
    assert "<img" not in html
    secret = twofactor.secret_for_manual_entry(device)
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{1,4})+", secret)
    assert f"<code>{secret}</code>" in html
    # A reload shows the same key: the secret does not change until it is confirmed.
    assert f"<code>{secret}</code>" in http.get("/connexion/activation/").content.decode()
    assert TOTPDevice.objects.filter(user=advisor).count() == 1


def test_enrolment_refuses_a_wrong_code(advisor: User, clock: Any) -> None:
    http = HttpClient()
    password_step(http, advisor)
    http.get("/connexion/activation/")
    device = pending_device(advisor)
    wrong = f"{(int(code(device)) + 1) % 1_000_000:06d}"
    entries_before = log_size()
    response = http.post("/connexion/activation/", {"token": wrong})
    assert response.status_code == 400
    assert "Code incorrect" in field_error(response.content.decode())
    assert not is_verified(http)
    device.refresh_from_db()
    assert not device.confirmed
    assert not StaticToken.objects.filter(device__user=advisor).exists()
    assert log_size() == entries_before
    assert location(http.get("/")) == ("/connexion/code/", "/")


def test_enrolment_confirms_the_device_and_shows_ten_backup_codes_once(
    advisor: User, clock: Any
) -> None:
    http = HttpClient()
    password_step(http, advisor, "/formulaires/en-attente/")
    http.get("/connexion/activation/?next=/formulaires/en-attente/")
    device = pending_device(advisor)

    response = http.post(
        "/connexion/activation/", {"token": code(device), "next": "/formulaires/en-attente/"}
    )
    assert location(response) == ("/connexion/codes-de-secours/", "/formulaires/en-attente/")
    device.refresh_from_db()
    assert device.confirmed
    assert is_verified(http)

    page = http.get(response["Location"])
    assert page.status_code == 200
    shown = re.findall(r"<li>([^<]+)</li>", page.content.decode().split('class="codes"')[1])[:10]
    stored = sorted(twofactor.unused_backup_codes(advisor))
    assert len(stored) == 10
    assert sorted(shown) == stored
    assert 'href="/formulaires/en-attente/"' in page.content.decode()
    # Shown once: a reload goes on to the page asked for.
    again = http.get(response["Location"])
    assert location(again) == ("/formulaires/en-attente/", None)
    assert http.get("/formulaires/en-attente/").status_code == 200

    (entry,) = entries("staff.second_factor_enrolled")
    assert entry.actor_id == f"staff:{advisor.pk}"
    assert payload(entry)["backup_codes"] == 10
    assert payload(entry)["staff"] == f"staff:{advisor.pk}"
    assert not any(c in entry.payload for c in stored)  # the codes are not logged


def test_an_enrolled_user_cannot_reach_the_enrolment_page(advisor: User, clock: Any) -> None:
    device = enrol(advisor)
    http = HttpClient()
    password_step(http, advisor)
    assert location(http.get("/connexion/activation/")) == ("/connexion/code/", "/")
    response = http.post("/connexion/activation/", {"token": code(device)})
    assert location(response) == ("/connexion/code/", "/")
    assert not is_verified(http)
    assert list(TOTPDevice.objects.filter(user=advisor)) == [device]

    verified = HttpClient()
    login_verified(verified, advisor)
    assert location(verified.get("/connexion/activation/")) == ("/connexion/code/", "/")
    assert list(TOTPDevice.objects.filter(user=advisor)) == [device]
    assert not entries("staff.second_factor_enrolled")


def test_the_enrolment_page_needs_the_password_first(db: None) -> None:
    response = HttpClient().get("/connexion/activation/")
    assert location(response)[0] == "/connexion/"
    assert not TOTPDevice.objects.exists()


# --- who may log in, and logging out --------------------------------------------------------


def test_a_non_staff_user_cannot_log_in(db: None) -> None:
    user = User.objects.create_user(username="eve", password=PASSWORD, is_staff=False)
    http = HttpClient()
    response = password_step(http, user)
    assert response.status_code == 401
    assert "Identifiant ou mot de passe incorrect." in response.content.decode()
    assert SESSION_KEY not in http.session
    assert location(http.get("/")) == ("/connexion/", "/")


def test_a_wrong_password_is_refused(advisor: User) -> None:
    http = HttpClient()
    response = http.post("/connexion/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 401
    assert "Identifiant ou mot de passe incorrect." in response.content.decode()
    assert 'role="alert"' in response.content.decode()
    assert SESSION_KEY not in http.session


def test_logging_out_by_post_ends_the_session(advisor: User) -> None:
    http = HttpClient()
    login_verified(http, advisor)
    assert http.get("/").status_code == 200
    response = http.post("/deconnexion/")
    assert location(response) == ("/connexion/", None)
    assert SESSION_KEY not in http.session
    assert DEVICE_ID_SESSION_KEY not in http.session
    assert "Vous êtes déconnecté." in http.get("/connexion/").content.decode()
    assert location(http.get("/")) == ("/connexion/", "/")


def test_logging_out_by_get_is_refused(advisor: User) -> None:
    http = HttpClient()
    login_verified(http, advisor)
    response = http.get("/deconnexion/")
    assert response.status_code == 405
    assert http.session[SESSION_KEY] == str(advisor.pk)
    assert http.get("/").status_code == 200


# --- the account page: new backup codes -------------------------------------------------------


def test_renewing_backup_codes_invalidates_the_old_ones(advisor: User, clock: Any) -> None:
    enrol(advisor)
    old = twofactor.new_backup_codes(user=advisor)
    logged = len(entries("staff.backup_codes_renewed"))
    http = HttpClient()
    login_verified(http, advisor)
    account = http.get("/compte/")
    assert account.status_code == 200
    assert 'action="/compte/codes-de-secours/"' in account.content.decode()

    response = http.post("/compte/codes-de-secours/")
    assert location(response) == ("/connexion/codes-de-secours/", "/compte/")
    page = http.get(response["Location"]).content.decode()
    new = sorted(twofactor.unused_backup_codes(advisor))
    assert len(new) == 10
    assert not set(new) & set(old)
    assert all(f"<li>{c}</li>" in page for c in new)
    assert not any(c in page for c in old)
    renewals = entries("staff.backup_codes_renewed")
    assert len(renewals) == logged + 1
    entry = renewals[-1]
    assert entry.actor_id == f"staff:{advisor.pk}"
    assert payload(entry)["backup_codes"] == 10

    http.post("/deconnexion/")
    password_step(http, advisor)
    assert http.post("/connexion/code/", {"token": old[0]}).status_code == 401
    clock.shift(dt.timedelta(seconds=2))
    assert location(http.post("/connexion/code/", {"token": new[0]})) == ("/", None)


def test_renewing_backup_codes_by_get_is_refused(advisor: User) -> None:
    enrol(advisor)
    old = twofactor.new_backup_codes(user=advisor)
    entries_before = log_size()
    http = HttpClient()
    login_verified(http, advisor)
    assert http.get("/compte/codes-de-secours/").status_code == 405
    assert sorted(twofactor.unused_backup_codes(advisor)) == sorted(old)
    assert log_size() == entries_before


# --- the admin -------------------------------------------------------------------------------


def test_the_admin_login_page_sends_to_the_staff_login(administrator: User) -> None:
    anonymous = HttpClient().get("/admin/login/?next=/admin/")
    assert location(anonymous)[0] == "/connexion/"

    http = HttpClient()
    login_verified(http, administrator)
    response = http.get("/admin/login/?next=/admin/")
    assert location(response) == ("/connexion/", "/admin/")
    assert location(http.get(response["Location"])) == ("/admin/", None)


def test_a_password_only_session_cannot_see_the_admin(administrator: User) -> None:
    enrol(administrator)
    http = HttpClient()
    password_step(http, administrator)
    response = http.get("/admin/")
    assert location(response) == ("/connexion/code/", "/admin/")
    assert location(http.get("/admin/optin/auditentry/")) == (
        "/connexion/code/",
        "/admin/optin/auditentry/",
    )


def test_a_verified_administrator_reaches_the_admin_through_the_staff_login(
    administrator: User, clock: Any
) -> None:
    device = enrol(administrator)
    http = HttpClient()
    assert location(http.get("/admin/")) == ("/connexion/", "/admin/")
    assert location(password_step(http, administrator, "/admin/")) == (
        "/connexion/code/",
        "/admin/",
    )
    response = http.post("/connexion/code/", {"token": code(device), "next": "/admin/"})
    assert location(response) == ("/admin/", None)
    page = http.get("/admin/")
    assert page.status_code == 200
    assert "Administration des consentements" in page.content.decode()
