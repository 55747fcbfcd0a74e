"""The back-office is in French first, with English available.

The pages the advisor works in (search, the customer record, R55's scoped pages) speak French
whatever the browser asks for; the language switch (a POST) keeps the choice on the staff
profile once logged in with both factors, and in a cookie before login, which the login page
honours. Nothing else is guessed, and an unknown language changes nothing (R71: a refused input
leaves everything as it was). English texts may not all be translated yet: the tests read the
`lang` attribute of the page, the `Content-Language` header and Django's own admin texts.
"""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client as HttpClient
from django_otp.plugins.otp_totp.models import TOTPDevice

from clients.models import StaffProfile
from tests.auth import login_verified
from tests.clients.helpers import log_size

PASSWORD = "pw-for-tests"  # StaffFactory's
ENGLISH_BROWSER = {"HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9"}


def page_language(response: Any) -> str:
    """The language the page says it is in: its <html lang> and its header, which agree."""
    assert response.status_code == 200, response.status_code
    match = re.search(r'<html lang="([^"]+)"', response.content.decode())
    assert match is not None
    assert response["Content-Language"] == match.group(1)
    return match.group(1)


def profile_language(user: User) -> str:
    return str(StaffProfile.objects.get(user=user).language)


def switch_form(response: Any) -> dict[str, str]:
    """What the page's language switch posts."""
    html = response.content.decode()
    form = re.search(r'<form method="post" action="/langue/".*?</form>', html, re.S)
    assert form is not None, "no language switch on the page"
    fields = dict(
        re.findall(r'<input type="hidden" name="(language|next)" value="([^"]*)"', form[0])
    )
    return {name: html_lib.unescape(value) for name, value in fields.items()}


def verified(user: User, **headers: str) -> HttpClient:
    http = HttpClient(**headers)
    login_verified(http, user)
    return http


# --- French first ----------------------------------------------------------------------------


def test_the_search_is_in_french_even_for_an_english_browser(advisor: User) -> None:
    response = verified(advisor, **ENGLISH_BROWSER).get("/")
    assert page_language(response) == "fr"
    assert "Rechercher un client" in response.content.decode()
    assert switch_form(response) == {"language": "en", "next": "/"}


def test_the_login_page_is_in_french_even_for_an_english_browser(db: None) -> None:
    response = HttpClient(**ENGLISH_BROWSER).get("/connexion/")
    assert page_language(response) == "fr"
    assert "Mot de passe" in response.content.decode()
    assert "django_language" not in response.cookies


def test_the_record_is_in_french_by_default(advisor: User, customer: Any) -> None:
    response = verified(advisor, **ENGLISH_BROWSER).get(f"/clients/{customer.client_number}/")
    assert page_language(response) == "fr"
    assert profile_language(advisor) == "fr"


# --- the switch, once logged in --------------------------------------------------------------


def test_the_switch_keeps_the_choice_on_the_staff_profile(advisor: User) -> None:
    http = verified(advisor)
    account = http.get("/compte/")
    response = http.post("/langue/", switch_form(account))
    assert response.status_code == 302
    assert response["Location"] == "/compte/"
    assert profile_language(advisor) == "en"

    account = http.get("/compte/")
    assert page_language(account) == "en"
    assert switch_form(account)["language"] == "fr"  # the switch now offers French
    assert '<button type="submit" class="link" lang="fr">Français</button>' in (
        account.content.decode()
    )
    assert page_language(http.get("/")) == "en"
    # Kept on the profile, not in the browser: another browser gets English too.
    assert page_language(verified(advisor).get("/")) == "en"


def test_switching_back_to_french(advisor: User) -> None:
    http = verified(advisor)
    http.post("/langue/", {"language": "en", "next": "/"})
    assert page_language(http.get("/")) == "en"
    http.post("/langue/", {"language": "fr", "next": "/"})
    assert profile_language(advisor) == "fr"
    response = http.get("/")
    assert page_language(response) == "fr"
    assert "Rechercher un client" in response.content.decode()


def test_the_profile_outranks_the_cookie_and_the_browser(advisor: User) -> None:
    StaffProfile.objects.filter(user=advisor).update(language="en")
    http = verified(advisor, **{"HTTP_ACCEPT_LANGUAGE": "fr"})
    http.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    assert page_language(http.get("/")) == "en"


def test_the_admin_follows_the_choice(administrator: User) -> None:
    http = verified(administrator, **ENGLISH_BROWSER)
    index = http.get("/admin/")
    assert page_language(index) == "fr"
    assert "Bienvenue," in index.content.decode()
    assert "Déconnexion" in index.content.decode()

    assert http.post("/langue/", {"language": "en", "next": "/admin/"})["Location"] == "/admin/"
    index = http.get("/admin/")
    assert page_language(index) == "en"
    assert "Welcome," in index.content.decode()
    assert "Log out" in index.content.decode()


def test_the_switch_is_a_post(advisor: User) -> None:
    http = verified(advisor)
    assert http.get("/langue/?language=en").status_code == 405
    assert profile_language(advisor) == "fr"
    assert page_language(http.get("/")) == "fr"


def test_the_switch_ignores_an_external_next(advisor: User) -> None:
    http = verified(advisor)
    response = http.post("/langue/", {"language": "en", "next": "https://evil.example/"})
    assert response["Location"] == "/"
    assert profile_language(advisor) == "en"


# --- before login: a cookie ------------------------------------------------------------------


def test_before_login_the_switch_sets_a_cookie_that_the_login_page_honours(
    advisor: User,
) -> None:
    http = HttpClient(**ENGLISH_BROWSER)
    login_page = http.get("/connexion/?next=/compte/")
    assert page_language(login_page) == "fr"
    entries_before = log_size()

    response = http.post("/langue/", switch_form(login_page))
    assert response.status_code == 302
    assert response["Location"] == "/connexion/?next=/compte/"
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "en"
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == 365 * 24 * 3600

    again = http.get(response["Location"])
    assert page_language(again) == "en"
    assert '<input type="hidden" name="next" value="/compte/">' in again.content.decode()
    assert profile_language(advisor) == "fr"  # nobody is logged in: no profile changes
    assert log_size() == entries_before


def test_the_login_page_ignores_a_cookie_of_an_unknown_language(db: None) -> None:
    http = HttpClient()
    http.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
    assert page_language(http.get("/connexion/")) == "fr"


def test_the_switch_works_on_the_code_page(advisor: User) -> None:
    TOTPDevice.objects.create(user=advisor, name="application", confirmed=True)
    http = HttpClient()
    http.post("/connexion/", {"username": "alice", "password": PASSWORD})
    code_page = http.get("/connexion/code/")
    assert page_language(code_page) == "fr"
    response = http.post("/langue/", switch_form(code_page))
    assert response["Location"] == "/connexion/code/"
    assert profile_language(advisor) == "fr"  # one factor is not enough to change the profile
    assert page_language(http.get("/connexion/code/")) == "en"


def test_the_language_chosen_before_the_second_factor_is_kept_after_it(advisor: User) -> None:
    """The latest explicit choice wins: English chosen on the login pages stays English once
    both factors are passed, on the profile too (another browser gets it)."""
    from django_otp.oath import TOTP

    device = TOTPDevice.objects.create(user=advisor, name="application", confirmed=True)
    http = HttpClient()
    http.post("/langue/", {"language": "en", "next": "/connexion/"})
    http.post("/connexion/", {"username": "alice", "password": PASSWORD})
    token = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
    response = http.post("/connexion/code/", {"token": f"{token:06d}"})
    assert response.status_code == 302
    assert profile_language(advisor) == "en"
    assert page_language(http.get("/")) == "en"
    assert page_language(verified(advisor).get("/")) == "en"


# --- unknown languages -----------------------------------------------------------------------


@pytest.mark.parametrize("language", ["de", "", "EN", "en-us", "xx" * 20])
def test_an_unknown_language_is_ignored_once_logged_in(advisor: User, language: str) -> None:
    http = verified(advisor)
    entries_before = log_size()
    response = http.post("/langue/", {"language": language, "next": "/"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    assert profile_language(advisor) == "fr"
    assert page_language(http.get("/")) == "fr"
    assert log_size() == entries_before


def test_an_unknown_language_is_ignored_before_login(db: None) -> None:
    http = HttpClient()
    response = http.post("/langue/", {"language": "de", "next": "/connexion/"})
    assert response["Location"] == "/connexion/"
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    assert page_language(http.get("/connexion/")) == "fr"
