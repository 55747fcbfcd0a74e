"""The public unsubscribe page /u/<token>: R40 — GET shows a French confirmation page with a
button and never changes state; POST withdraws the token's channel (journey `unsubscribe_link`,
actor the customer), RFC 8058 one-click included (no cookie, no CSRF token, no redirect, 200);
a repeat answers the same and writes nothing (R15); a re-grant is withdrawn again by the same
link; the e-mail page offers an unticked "also SMS" choice; forged tokens get one uniform 404
and change nothing; an erased client's token gets the neutral page and writes nothing. With
R12 (a link withdrawing a pending_signature channel cancels its form), R38 (no login, no
reason), R42 (effect at once), R62 (suppression list) and the page's own safety: escaping,
Content-Security-Policy, rate limiting of guessing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client as HttpClient
from django.utils import timezone

from clients.models import Client
from optin import audit
from optin.models import AuditEntry, ConsentState, SuppressionEntry
from optin.selectors import eligibility
from optin.services import suppression_digest
from optin.tokens import unsubscribe_token
from signatures.models import ConsentForm, FormStatus
from signatures.services import BranchAnswer, collect_branch_answers

pytestmark = pytest.mark.django_db

ONE_CLICK = "List-Unsubscribe=One-Click"


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """The rate limits count in the cache: every test starts from zero."""
    cache.clear()
    yield
    cache.clear()


def path(client: Client, channel: str = "email") -> str:
    return f"/u/{unsubscribe_token(client.pk, channel)}"


def states_of(client: Client) -> dict[str, str]:
    return dict(ConsentState.objects.filter(client=client).values_list("channel", "status"))


def log_size() -> int:
    return AuditEntry.objects.count()


def text_of(response: Any) -> str:
    return response.content.decode("utf-8")


def data_of(entry: AuditEntry) -> dict[str, Any]:
    payload = json.loads(entry.payload)
    payload.pop("personal", None)
    return payload


def checkboxes(html: str) -> list[str]:
    return re.findall(r"<input[^>]*type=\"checkbox\"[^>]*>", html)


@pytest.fixture
def http() -> HttpClient:
    return HttpClient()


@pytest.fixture
def granted(customer: Client, grant: Callable[..., Any]) -> Client:
    grant(customer, "email")
    grant(customer, "sms_push")
    return customer


# --- GET never changes anything ------------------------------------------------------------


@pytest.mark.parametrize("channel", ["email", "sms_push"])
def test_get_shows_a_french_page_with_a_button_and_changes_nothing(
    http: HttpClient, granted: Client, channel: str
) -> None:
    size = log_size()
    for _ in range(3):  # link scanners open links more than once
        response = http.get(path(granted, channel))
        assert response.status_code == 200
        html = text_of(response)
        assert '<html lang="fr"' in html
        assert "désabonnement" in html.lower()
        assert re.search(r'<form method="post"', html)
        assert '<button type="submit">' in html
    assert log_size() == size
    assert states_of(granted) == {"email": "granted", "sms_push": "granted"}


def test_get_is_french_whatever_the_browser_asks(http: HttpClient, granted: Client) -> None:
    response = http.get(path(granted), HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
    assert response.status_code == 200
    assert "Confirmer le désabonnement" in text_of(response)


def test_the_email_page_offers_an_unticked_sms_choice(http: HttpClient, granted: Client) -> None:
    (box,) = checkboxes(text_of(http.get(path(granted, "email"))))
    assert 'name="also_sms_push"' in box
    assert "checked" not in box


def test_the_sms_page_has_no_such_choice(http: HttpClient, granted: Client) -> None:
    html = text_of(http.get(path(granted, "sms_push")))
    assert checkboxes(html) == []
    assert "also_sms_push" not in html


# --- POST withdraws --------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["email", "sms_push"])
def test_post_withdraws_the_tokens_channel_only(
    http: HttpClient, granted: Client, channel: str
) -> None:
    response = http.post(path(granted, channel))
    assert response.status_code == 200
    assert "Location" not in response
    assert not response.cookies
    assert "Set-Cookie" not in response
    assert "désabonné" in text_of(response)
    other = "sms_push" if channel == "email" else "email"
    assert states_of(granted) == {channel: "withdrawn", other: "granted"}
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry is not None
    assert (entry.action, entry.channel, entry.client_id) == (
        "consent.withdrawn",
        channel,
        granted.pk,
    )
    assert entry.actor_type == "customer"
    assert data_of(entry)["journey"] == "unsubscribe_link"
    state = ConsentState.objects.get(client=granted, channel=channel)
    assert state.journey == "unsubscribe_link"
    assert state.last_seq == entry.seq


def test_the_entry_keeps_the_requests_evidence(http: HttpClient, granted: Client) -> None:
    http.post(path(granted), REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Webmail/1.0")
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry is not None
    personal = audit.personal_data(entry)
    assert personal is not None
    assert personal["ip"] == "203.0.113.9"
    assert personal["user_agent"] == "Webmail/1.0"
    assert "203.0.113.9" not in data_of(entry).__repr__()


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_rfc8058_one_click_post_without_cookie_or_csrf_token_withdraws(
    granted: Client, encoding: str
) -> None:
    mail_provider = HttpClient(enforce_csrf_checks=True)
    if encoding == "urlencoded":
        response = mail_provider.post(
            path(granted), ONE_CLICK, content_type="application/x-www-form-urlencoded"
        )
    else:
        response = mail_provider.post(path(granted), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert "Location" not in response
    assert not response.cookies
    assert states_of(granted) == {"email": "withdrawn", "sms_push": "granted"}
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry is not None
    assert data_of(entry)["evidence"]["one_click"] is True


def test_the_pages_button_works_without_a_csrf_token(granted: Client) -> None:
    """The page's form is posted by a browser that may block cookies: no CSRF token needed."""
    response = HttpClient(enforce_csrf_checks=True).post(path(granted), {})
    assert response.status_code == 200
    assert states_of(granted)["email"] == "withdrawn"


def test_r15_a_repeat_post_answers_the_same_and_writes_nothing(
    http: HttpClient, granted: Client
) -> None:
    first = http.post(path(granted), ONE_CLICK, content_type="application/x-www-form-urlencoded")
    size = log_size()
    for _ in range(2):
        again = http.post(
            path(granted), ONE_CLICK, content_type="application/x-www-form-urlencoded"
        )
        assert again.status_code == 200
        assert again.content == first.content
    assert log_size() == size
    assert states_of(granted)["email"] == "withdrawn"


def test_a_token_used_after_a_later_regrant_withdraws_again(
    http: HttpClient, granted: Client, grant: Callable[..., Any]
) -> None:
    link = path(granted)
    http.post(link)
    grant(granted, "email")
    assert states_of(granted)["email"] == "granted"
    response = http.post(link)
    assert response.status_code == 200
    assert states_of(granted)["email"] == "withdrawn"
    withdrawals = AuditEntry.objects.filter(
        client_id=granted.pk, channel="email", action="consent.withdrawn"
    )
    assert withdrawals.count() == 2


def test_a_channel_never_granted_is_withdrawn_too(http: HttpClient, customer: Client) -> None:
    """An unsubscribe link is an objection whatever the state (R12: none → withdrawn)."""
    assert http.post(path(customer)).status_code == 200
    assert states_of(customer)["email"] == "withdrawn"


def test_ticking_the_sms_choice_withdraws_both_channels(http: HttpClient, granted: Client) -> None:
    response = http.post(path(granted, "email"), {"also_sms_push": "1"})
    assert response.status_code == 200
    assert states_of(granted) == {"email": "withdrawn", "sms_push": "withdrawn"}
    entries = AuditEntry.objects.filter(client_id=granted.pk, action="consent.withdrawn")
    assert sorted(e.channel for e in entries) == ["email", "sms_push"]
    for entry in entries:
        assert data_of(entry)["journey"] == "unsubscribe_link"
        assert entry.actor_type == "customer"
    assert "SMS" in text_of(response)


def test_an_sms_token_never_withdraws_email(http: HttpClient, granted: Client) -> None:
    http.post(path(granted, "sms_push"), {"also_sms_push": "1", "also_email": "1"})
    assert states_of(granted) == {"email": "granted", "sms_push": "withdrawn"}


def test_r42_r62_the_withdrawal_counts_at_once_and_suppresses_the_address(
    http: HttpClient, granted: Client
) -> None:
    http.post(path(granted))
    (answer,) = eligibility("email", [granted.client_number])
    assert (answer.eligible, answer.reason) == (False, "withdrawn")
    assert SuppressionEntry.objects.filter(
        channel="email", digest=suppression_digest(granted.email)
    ).exists()


def test_r10_a_token_affects_only_its_client(
    http: HttpClient,
    granted: Client,
    client_factory: Callable[..., Client],
    grant: Callable[..., Any],
) -> None:
    same_address = client_factory(email=granted.email)
    grant(same_address, "email")
    http.post(path(granted))
    assert states_of(same_address)["email"] == "granted"


# --- R12: a pending form is cancelled -----------------------------------------------------


def test_withdrawing_a_pending_signature_email_by_the_link_cancels_the_form(
    http: HttpClient, customer: Client, advisor: Any
) -> None:
    collected = collect_branch_answers(
        client=customer,
        answers={c: BranchAnswer("yes", f"{c}-v1") for c in ("email", "sms_push")},
        advisor=advisor,
        journey="branch_account_opening",
    )
    assert collected.form is not None
    assert states_of(customer) == {"email": "pending_signature", "sms_push": "pending_signature"}
    response = http.post(path(customer, "email"))
    assert response.status_code == 200
    form = ConsentForm.objects.get(pk=collected.form.pk)
    assert form.status == FormStatus.CANCELLED
    assert states_of(customer) == {"email": "withdrawn", "sms_push": "none"}


# --- forged tokens ----------------------------------------------------------------------------


def forgeries(token: str) -> list[str]:
    flipped = "0" if token[5] != "0" else "1"
    return [
        token[:5] + flipped + token[6:],  # one character altered
        token[:-1],  # truncated
        token[:16],
        token + "0",  # extended
        token + token,
        token[16:] + token[:16],
        "0" * 32,
        "g" * 32,  # not hex
        "abc",
        token.replace(token[0], "z", 1),
        "f" * 64,
    ]


@pytest.mark.parametrize("method", ["get", "post"])
def test_forged_tokens_get_one_uniform_404_and_change_nothing(
    http: HttpClient, granted: Client, settings: Any, method: str
) -> None:
    settings.OPTIN_PUBLIC_RATE_PER_MINUTE = 1_000
    size = log_size()
    bodies = set()
    for forged in forgeries(unsubscribe_token(granted.pk, "email")):
        response = getattr(http, method)(f"/u/{forged}")
        assert response.status_code == 404, forged
        assert not response.cookies
        bodies.add(response.content)
    assert len(bodies) == 1
    assert "pas valable" in bodies.pop().decode("utf-8")
    assert log_size() == size
    assert states_of(granted) == {"email": "granted", "sms_push": "granted"}


def test_the_404_says_the_same_for_a_one_click_post(http: HttpClient, granted: Client) -> None:
    plain = http.get("/u/" + "0" * 32)
    one_click = http.post(
        "/u/" + "1" * 32, ONE_CLICK, content_type="application/x-www-form-urlencoded"
    )
    assert (plain.status_code, one_click.status_code) == (404, 404)
    assert plain.content == one_click.content


@pytest.mark.parametrize("forged", ["%20" * 32, "00" * 15 + "%20%20", "%09" * 32])
def test_a_token_holding_whitespace_gets_the_uniform_404(granted: Client, forged: str) -> None:
    browser = HttpClient(raise_request_exception=False)
    reference = browser.get("/u/" + "0" * 32)
    response = browser.get(f"/u/{forged}")
    assert response.status_code == 404
    assert response.content == reference.content


# --- erased clients ---------------------------------------------------------------------------


def test_an_erased_clients_token_gets_the_neutral_page_and_writes_nothing(
    http: HttpClient, granted: Client
) -> None:
    Client.objects.filter(pk=granted.pk).update(erased_at=timezone.now())
    size = log_size()
    states = states_of(granted)
    shown = http.get(path(granted))
    assert shown.status_code == 200
    assert "désabonné" in text_of(shown)
    assert checkboxes(text_of(shown)) == []
    for body in ({}, {"also_sms_push": "1"}):
        posted = http.post(path(granted), body)
        assert posted.status_code == 200
        assert "désabonné" in text_of(posted)
        assert not posted.cookies
    posted = http.post(path(granted), ONE_CLICK, content_type="application/x-www-form-urlencoded")
    assert posted.status_code == 200
    assert log_size() == size
    assert states_of(granted) == states


def test_the_token_of_a_client_that_no_longer_exists_writes_nothing(
    http: HttpClient, db: None
) -> None:
    size = log_size()
    token = unsubscribe_token(987_654_321, "email")
    assert http.get(f"/u/{token}").status_code == 200
    assert http.post(f"/u/{token}").status_code == 200
    assert log_size() == size


# --- safety of the page -----------------------------------------------------------------------


@pytest.mark.parametrize("what", ["get", "post", "forged"])
def test_the_page_escapes_everything(
    http: HttpClient, granted: Client, settings: Any, what: str
) -> None:
    settings.OPTIN_BANK_NAME = "<script>alert(1)</script>"
    if what == "get":
        response = http.get(path(granted))
    elif what == "post":
        response = http.post(path(granted))
    else:
        response = http.get("/u/" + "0" * 32)
    html = text_of(response)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize("what", ["get", "post", "forged"])
def test_the_page_carries_a_content_security_policy_and_is_never_cached(
    http: HttpClient, granted: Client, what: str
) -> None:
    if what == "get":
        response = http.get(path(granted))
    elif what == "post":
        response = http.post(path(granted))
    else:
        response = http.get("/u/" + "0" * 32)
    assert response["Content-Type"].startswith("text/html")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_other_methods_are_refused_and_change_nothing(
    http: HttpClient, granted: Client, method: str
) -> None:
    size = log_size()
    assert getattr(http, method)(path(granted)).status_code == 405
    assert log_size() == size


def test_no_login_is_needed(http: HttpClient, granted: Client) -> None:
    """R38: the page answers an anonymous visitor, never a redirect to the login page."""
    response = http.get(path(granted))
    assert response.status_code == 200
    assert "Location" not in response


# --- rate limiting of guessing --------------------------------------------------------------

MOMENT = dt.datetime(2026, 12, 1, 10, 0, 5, tzinfo=dt.UTC)


def test_after_too_many_forged_tokens_an_address_is_refused_even_a_valid_link(
    http: HttpClient, granted: Client, settings: Any
) -> None:
    settings.OPTIN_PUBLIC_RATE_PER_MINUTE = 3
    guesser = {"REMOTE_ADDR": "198.51.100.66"}
    with time_machine.travel(MOMENT, tick=False):
        for i in range(3):
            assert http.get(f"/u/{i:032x}", **guesser).status_code == 404
        refused = http.post(path(granted), **guesser)
        assert refused.status_code == 429
        assert http.get(path(granted), **guesser).status_code == 429
        assert states_of(granted)["email"] == "granted"
        served = http.post(path(granted), REMOTE_ADDR="198.51.100.77")
        assert served.status_code == 200
        assert states_of(granted)["email"] == "withdrawn"
    with time_machine.travel(MOMENT + dt.timedelta(minutes=1), tick=False):
        assert http.post(path(granted, "sms_push"), **guesser).status_code == 200
    assert states_of(granted)["sms_push"] == "withdrawn"


def test_the_429_page_is_french_and_writes_nothing(
    http: HttpClient, granted: Client, settings: Any
) -> None:
    settings.OPTIN_PUBLIC_RATE_PER_MINUTE = 1
    with time_machine.travel(MOMENT, tick=False):
        http.get("/u/" + "0" * 32)
        size = log_size()
        response = http.post(path(granted))
    assert response.status_code == 429
    assert "Trop de demandes" in text_of(response)
    assert log_size() == size


def test_valid_links_get_a_generous_limit(http: HttpClient, granted: Client, settings: Any) -> None:
    """A mail provider posting many one-click unsubscribes from one address is served up to
    ten times the guessing limit per minute."""
    settings.OPTIN_PUBLIC_RATE_PER_MINUTE = 2
    with time_machine.travel(MOMENT, tick=False):
        for _ in range(20):
            assert http.get(path(granted)).status_code == 200
        assert http.get(path(granted)).status_code == 429


def test_a_genuine_one_click_is_honoured_even_from_a_refused_address(
    http: HttpClient, granted: Client, settings: Any
) -> None:
    """Mail providers post one-click unsubscribes from a few addresses: a genuine link's
    one-click is never refused (R38), while the same address's pages and forgeries are."""
    settings.OPTIN_PUBLIC_RATE_PER_MINUTE = 2
    provider = {"REMOTE_ADDR": "192.0.2.25"}
    with time_machine.travel(MOMENT, tick=False):
        for i in range(2):
            assert http.get(f"/u/{i:032x}", **provider).status_code == 404
        assert http.get(path(granted), **provider).status_code == 429
        forged = http.post(
            "/u/" + "e" * 32,
            ONE_CLICK,
            content_type="application/x-www-form-urlencoded",
            **provider,
        )
        assert forged.status_code == 429
        size = log_size()
        genuine = http.post(
            path(granted), ONE_CLICK, content_type="application/x-www-form-urlencoded", **provider
        )
        assert genuine.status_code == 200
        assert states_of(granted)["email"] == "withdrawn"
        assert log_size() == size + 1
