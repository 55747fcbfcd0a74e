"""R36 double opt-in of e-mail captured digitally, and R46 (a pending confirmation follows its
address). Off by default. When on, a digital e-mail grant is `pending_confirmation` and sends,
once its transaction commits, one contractual message (no promotional content) with a signed,
single-use link /confirmer/<token>; GET shows a button and changes nothing, POST confirms →
`granted` (journey `double_optin_confirmation`, original grant kept in the log, its wording kept
on the state). The link expires after OPTIN_CONFIRMATION_DELAY_DAYS and the daily command
returns the channel to its prior state (R13); a withdrawal, a refusal, a new grant or a change
of address first invalidates it. SMS grants and branch grants (signed, R24) never need it. R47:
eligibility answers `pending_confirmation` meanwhile.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core import mail as django_mail
from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction
from django.test import Client as HttpClient
from django.utils import timezone

from clients.models import Client
from clients.services import change_contact_details, change_legal_capacity
from optin import audit
from optin.models import AuditEntry, ConsentState
from optin.selectors import eligibility
from optin.tokens import confirmation_token, read_confirmation_token, unsubscribe_token
from signatures.models import ConsentForm, FormStatus, IdentityDocument
from signatures.sealing import development_seal_pkcs12
from signatures.services import (
    BranchAnswer,
    SignerContext,
    collect_branch_answers,
    sign_on_tablet,
)
from tests.factories import SYSTEM
from tests.signatures.drawing import tablet_input

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://[^\s/]+(/confirmer/([0-9a-f]+))")
PROMOTIONAL = ("promo", "profitez", "réduction", "remise", "offre spéciale", "%", "€", "cadeau")

Grant = Callable[..., Any]
Capture = Callable[..., Any]


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def doi(settings: Any) -> None:
    settings.OPTIN_EMAIL_DOUBLE_OPTIN = True


@pytest.fixture
def http() -> HttpClient:
    return HttpClient()


def state_of(client: Client, channel: str = "email") -> ConsentState:
    return ConsentState.objects.get(client=client, channel=channel)


def status_of(client: Client, channel: str = "email") -> str:
    return state_of(client, channel).status


def log_size() -> int:
    return AuditEntry.objects.count()


def data_of(entry: AuditEntry) -> dict[str, Any]:
    payload = json.loads(entry.payload)
    payload.pop("personal", None)
    return payload


def link_of(message: Any) -> str:
    """The path of the confirmation link in a message."""
    found = LINK.findall(message.body)
    assert len(found) == 1, message.body
    return str(found[0][0])


@pytest.fixture
def grant_mailed(grant: Grant, django_capture_on_commit_callbacks: Capture) -> Callable[..., str]:
    """A digital e-mail grant whose transaction commits; returns the link of the message."""

    def do(client: Client, **kwargs: Any) -> str:
        sent = len(django_mail.outbox)
        with django_capture_on_commit_callbacks(execute=True):
            grant(client, "email", **kwargs)
        assert len(django_mail.outbox) == sent + 1
        return link_of(django_mail.outbox[-1])

    return do


def reason(client: Client, channel: str = "email") -> tuple[bool, str]:
    (answer,) = eligibility(channel, [client.client_number])
    return answer.eligible, answer.reason


# --- off by default ---------------------------------------------------------------------------


def test_off_by_default_a_digital_email_grant_is_granted_at_once_and_sends_nothing(
    customer: Client,
    grant: Grant,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Capture,
    settings: Any,
) -> None:
    assert settings.OPTIN_EMAIL_DOUBLE_OPTIN is False
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = grant(customer, "email")
    assert result.status == "granted"
    assert status_of(customer) == "granted"
    assert callbacks == []
    assert mailoutbox == []
    assert reason(customer) == (True, "granted")


# --- on: the message -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "journey", ["digital_self_service", "digital_contact_update", "digital_account_opening"]
)
def test_a_digital_email_grant_is_pending_and_sends_one_message_on_commit(
    doi: None,
    customer: Client,
    grant: Grant,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Capture,
    journey: str,
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = grant(customer, "email", journey=journey)
    assert result.status == "pending_confirmation"
    assert status_of(customer) == "pending_confirmation"
    assert mailoutbox == []  # nothing before the commit
    for callback in callbacks:
        callback()
    (message,) = mailoutbox
    assert message.to == [customer.email]
    path = link_of(message)
    assert path.startswith("/confirmer/")
    assert reason(customer) == (False, "pending_confirmation")


def test_the_message_is_contractual_with_no_promotional_content(
    doi: None, customer: Client, grant_mailed: Callable[..., str], settings: Any
) -> None:
    grant_mailed(customer)
    message = django_mail.outbox[-1]
    text = f"{message.subject}\n{message.body}".lower()
    for word in PROMOTIONAL:
        assert word not in text
    assert "confirm" in message.subject.lower()
    assert settings.OPTIN_BANK_NAME in message.subject
    assert f"{settings.OPTIN_CONFIRMATION_DELAY_DAYS} jours" in message.body
    assert message.body.count("http") == 1  # one link: the confirmation, nothing else


def test_a_grant_rolled_back_sends_nothing(
    doi: None,
    customer: Client,
    grant: Grant,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Capture,
) -> None:
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        grant(customer, "email")
        raise RuntimeError("the journey failed after the grant")
    assert mailoutbox == []
    assert status_of(customer) == "none"


def test_an_sms_grant_is_not_affected(
    doi: None,
    customer: Client,
    grant: Grant,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Capture,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        result = grant(customer, "sms_push")
    assert result.status == "granted"
    assert mailoutbox == []
    assert reason(customer, "sms_push") == (True, "granted")


def test_a_digital_grant_on_a_granted_channel_stays_granted_without_a_message(
    customer: Client,
    grant: Grant,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Capture,
    settings: Any,
) -> None:
    grant(customer, "email")
    settings.OPTIN_EMAIL_DOUBLE_OPTIN = True
    with django_capture_on_commit_callbacks(execute=True):
        assert grant(customer, "email").status == "granted"
    assert mailoutbox == []


@pytest.fixture
def seal(settings: Any, tmp_path: Path) -> None:
    p12 = tmp_path / "seal.p12"
    p12.write_bytes(development_seal_pkcs12(bank_name="Banque Test", passphrase="pw"))
    settings.OPTIN_SEAL_PKCS12 = p12
    settings.OPTIN_SEAL_PASSPHRASE = "pw"


def test_a_branch_grant_is_signed_and_never_needs_double_optin(
    doi: None,
    seal: None,
    customer: Client,
    advisor: Any,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Capture,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        collected = collect_branch_answers(
            client=customer,
            answers={"email": BranchAnswer("yes", "email-v1")},
            advisor=advisor,
            journey="branch_account_opening",
        )
        assert collected.form is not None
        assert status_of(customer) == "pending_signature"
        sign_on_tablet(
            client_number=customer.client_number,
            reference=collected.form.reference,
            advisor=advisor,
            identity_document=IdentityDocument.ID_CARD,
            context=SignerContext(ip="198.51.100.7", user_agent="Tablet", session_ref="s-1"),
            **tablet_input(),
        )
    assert ConsentForm.objects.get(pk=collected.form.pk).status == FormStatus.SIGNED
    assert status_of(customer) == "granted"
    assert mailoutbox == []
    assert reason(customer) == (True, "granted")


# --- the link: GET shows, POST confirms --------------------------------------------------------


def test_get_shows_a_button_and_changes_nothing(
    doi: None, customer: Client, grant_mailed: Callable[..., str], http: HttpClient
) -> None:
    path = grant_mailed(customer)
    size = log_size()
    for _ in range(3):
        response = http.get(path)
        assert response.status_code == 200
        html = response.content.decode("utf-8")
        assert '<html lang="fr"' in html
        assert "Je confirme" in html
        assert '<form method="post"' in html
    assert log_size() == size
    assert status_of(customer) == "pending_confirmation"


def test_post_confirms_keeping_the_original_grant_and_its_wording(
    doi: None, customer: Client, grant_mailed: Callable[..., str], http: HttpClient
) -> None:
    path = grant_mailed(customer)
    pending = state_of(customer)
    original = AuditEntry.objects.get(seq=pending.last_seq)
    assert original.action == "consent.pending_confirmation"
    assert original.wording_version == "email-v1"
    response = http.post(path, REMOTE_ADDR="203.0.113.5", HTTP_USER_AGENT="Phone mail app")
    assert response.status_code == 200
    assert "confirmé" in response.content.decode("utf-8")
    state = state_of(customer)
    assert state.status == "granted"
    assert state.journey == "double_optin_confirmation"
    assert state.wording_version == "email-v1"
    entry = AuditEntry.objects.get(seq=state.last_seq)
    assert entry.action == "consent.confirmed"
    assert entry.channel == "email"
    assert entry.client_id == customer.pk
    assert entry.actor_type == "customer"
    assert entry.wording_version == "email-v1"
    data = data_of(entry)
    assert data["journey"] == "double_optin_confirmation"
    assert data["confirms_seq"] == original.seq
    personal = audit.personal_data(entry)
    assert personal is not None
    assert (personal["ip"], personal["user_agent"]) == ("203.0.113.5", "Phone mail app")
    # The original grant and its evidence are still in the log.
    kept = AuditEntry.objects.get(seq=original.seq)
    assert (kept.hash, kept.payload) == (original.hash, original.payload)
    assert audit.personal_data(kept)["ip"] == "192.0.2.1"  # type: ignore[index]
    assert reason(customer) == (True, "granted")


def test_a_browser_that_enforces_csrf_confirms_through_the_page(
    doi: None, customer: Client, grant_mailed: Callable[..., str]
) -> None:
    path = grant_mailed(customer)
    browser = HttpClient(enforce_csrf_checks=True)
    page = browser.get(path).content.decode("utf-8")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    response = browser.post(path, {"csrfmiddlewaretoken": token.group(1)})
    assert response.status_code == 200
    assert status_of(customer) == "granted"


def test_the_link_is_single_use_a_second_click_writes_nothing(
    doi: None, customer: Client, grant_mailed: Callable[..., str], http: HttpClient
) -> None:
    """A second click on the button says the consent is confirmed; it records nothing."""
    path = grant_mailed(customer)
    first = http.post(path)
    assert first.status_code == 200
    state = state_of(customer)
    size = log_size()
    again = http.post(path)
    assert again.status_code == 200
    assert again.content == first.content
    assert log_size() == size
    after = state_of(customer)
    assert (after.status, after.last_seq, after.since) == ("granted", state.last_seq, state.since)
    # Opened again (a link scanner), the link no longer offers to confirm anything.
    shown = http.get(path)
    assert shown.status_code == 404
    assert "pas valable" in shown.content.decode("utf-8")
    assert log_size() == size


@pytest.mark.parametrize("later", ["withdraw", "refuse"])
def test_a_used_link_never_grants_again_after_a_later_objection(
    doi: None,
    customer: Client,
    grant_mailed: Callable[..., str],
    decide: Callable[..., Any],
    http: HttpClient,
    later: str,
) -> None:
    path = grant_mailed(customer)
    assert http.post(path).status_code == 200
    decide(customer, "email", later)
    objected = status_of(customer)
    assert objected == "withdrawn"  # R14: a "no" after a yes is a withdrawal
    size = log_size()
    for method in ("post", "get"):
        response = getattr(http, method)(path)
        assert response.status_code == 404
        html = response.content.decode("utf-8")
        assert "pas valable" in html
        assert "déjà servi" in html
    assert log_size() == size
    assert status_of(customer) == objected
    assert reason(customer) == (False, "withdrawn")


def test_a_used_link_never_confirms_a_later_pending_grant(
    doi: None,
    customer: Client,
    grant_mailed: Callable[..., str],
    decide: Callable[..., Any],
    http: HttpClient,
) -> None:
    old = grant_mailed(customer)
    assert http.post(old).status_code == 200
    decide(customer, "email", "withdraw")
    new = grant_mailed(customer)
    size = log_size()
    assert http.post(old).status_code == 404
    assert log_size() == size
    assert status_of(customer) == "pending_confirmation"
    assert http.post(new).status_code == 200
    assert status_of(customer) == "granted"


def test_the_confirmation_token_is_opaque_and_bound_to_its_entry(
    doi: None, customer: Client, grant_mailed: Callable[..., str]
) -> None:
    path = grant_mailed(customer)
    token = path.rsplit("/", 1)[1]
    assert customer.email not in token
    assert customer.client_number.lower() not in token
    assert f"{customer.pk:016x}" not in token
    target = read_confirmation_token(token)
    assert target is not None
    assert target.client_id == customer.pk
    assert target.seq == state_of(customer).last_seq


# --- forged tokens ---------------------------------------------------------------------------


def test_forged_confirmation_tokens_get_a_404_and_change_nothing(
    doi: None,
    customer: Client,
    grant_mailed: Callable[..., str],
    http: HttpClient,
    settings: Any,
) -> None:
    settings.OPTIN_PUBLIC_RATE_PER_MINUTE = 1_000
    token = grant_mailed(customer).rsplit("/", 1)[1]
    flipped = "0" if token[10] != "0" else "1"
    forgeries = [
        token[:10] + flipped + token[11:],
        token[:-2],
        token + "00",
        "0" * len(token),
        "g" * len(token),
        "abc",
        token[::-1],
    ]
    size = log_size()
    bodies = set()
    for forged in forgeries:
        for method in ("get", "post"):
            response = getattr(http, method)(f"/confirmer/{forged}")
            assert response.status_code == 404, forged
            bodies.add(response.content)
    assert len(bodies) == 1
    assert log_size() == size
    assert status_of(customer) == "pending_confirmation"


def test_guessing_confirmation_links_gets_the_address_refused(
    doi: None,
    customer: Client,
    grant_mailed: Callable[..., str],
    http: HttpClient,
    settings: Any,
) -> None:
    settings.OPTIN_PUBLIC_RATE_PER_MINUTE = 3
    with time_machine.travel(GRANTED_AT, tick=False):
        path = grant_mailed(customer)
        guesser = {"REMOTE_ADDR": "198.51.100.66"}
        for i in range(3):
            assert http.post(f"/confirmer/{i:080x}", **guesser).status_code == 404
        size = log_size()
        assert http.post(path, **guesser).status_code == 429
        assert log_size() == size
        assert status_of(customer) == "pending_confirmation"
        assert http.post(path, REMOTE_ADDR="198.51.100.77").status_code == 200
    assert status_of(customer) == "granted"


def test_a_token_for_another_address_is_refused(
    doi: None, customer: Client, grant: Grant, http: HttpClient
) -> None:
    """The link is bound to the address it was sent to."""
    grant(customer, "email")
    seq = state_of(customer).last_seq
    forged = confirmation_token(customer.pk, seq, "quelquun.dautre@exemple.fr")
    size = log_size()
    assert http.post(f"/confirmer/{forged}").status_code == 404
    assert log_size() == size
    assert status_of(customer) == "pending_confirmation"


def test_a_token_of_another_client_is_refused(
    doi: None,
    customer: Client,
    client_factory: Callable[..., Client],
    grant: Grant,
    http: HttpClient,
) -> None:
    other = client_factory()
    grant(customer, "email")
    grant(other, "email")
    forged = confirmation_token(other.pk, state_of(customer).last_seq, other.email)
    assert http.post(f"/confirmer/{forged}").status_code == 404
    assert status_of(customer) == status_of(other) == "pending_confirmation"


def test_an_erased_clients_link_is_refused(
    doi: None, customer: Client, grant_mailed: Callable[..., str], http: HttpClient
) -> None:
    path = grant_mailed(customer)
    Client.objects.filter(pk=customer.pk).update(erased_at=timezone.now())
    size = log_size()
    assert http.post(path).status_code == 404
    assert log_size() == size


# --- expiry ----------------------------------------------------------------------------------

GRANTED_AT = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def expire() -> str:
    out = StringIO()
    call_command("expire_pending_confirmations", stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("prior", ["none", "refused", "withdrawn"])
def test_an_expired_link_is_refused_and_the_command_restores_the_prior_state(
    doi: None,
    customer: Client,
    grant: Grant,
    decide: Callable[..., Any],
    grant_mailed: Callable[..., str],
    http: HttpClient,
    settings: Any,
    prior: str,
) -> None:
    with time_machine.travel(GRANTED_AT, tick=False):
        if prior == "refused":
            decide(customer, "email", "refuse")
        elif prior == "withdrawn":
            decide(customer, "email", "withdraw")
        assert status_of(customer) == prior
        path = grant_mailed(customer)
    delay = dt.timedelta(days=settings.OPTIN_CONFIRMATION_DELAY_DAYS)
    with time_machine.travel(GRANTED_AT + delay - dt.timedelta(seconds=1), tick=False):
        assert http.get(path).status_code == 200  # still valid
        assert "0 confirmation(s) expired" in expire()
        assert status_of(customer) == "pending_confirmation"
    with time_machine.travel(GRANTED_AT + delay, tick=False):
        size = log_size()
        assert http.get(path).status_code == 404
        assert http.post(path).status_code == 404
        assert log_size() == size
        assert status_of(customer) == "pending_confirmation"
        output = expire()
        assert customer.client_number in output
        assert "1 confirmation(s) expired" in output
        state = state_of(customer)
        assert state.status == prior
        assert state.prior_status == ""
        entry = AuditEntry.objects.get(seq=state.last_seq)
        assert entry.action == "consent.restored"
        assert entry.actor_type == "system"
        assert data_of(entry)["reason"] == "confirmation_expired"
        size = log_size()
        assert "0 confirmation(s) expired" in expire()  # safe to run twice
        assert log_size() == size
        assert http.post(path).status_code == 404
        assert status_of(customer) == prior
        expected = "no_consent" if prior == "none" else prior
        assert reason(customer) == (False, expected)


def test_the_command_leaves_confirmed_and_other_clients_alone(
    doi: None,
    customer: Client,
    client_factory: Callable[..., Client],
    grant_mailed: Callable[..., str],
    http: HttpClient,
    settings: Any,
) -> None:
    confirmed = client_factory()
    late = client_factory()
    with time_machine.travel(GRANTED_AT, tick=False):
        path = grant_mailed(confirmed)
        grant_mailed(customer)
        assert http.post(path).status_code == 200
    with time_machine.travel(GRANTED_AT + dt.timedelta(days=3), tick=False):
        grant_mailed(late)
    delay = dt.timedelta(days=settings.OPTIN_CONFIRMATION_DELAY_DAYS)
    with time_machine.travel(GRANTED_AT + delay + dt.timedelta(hours=1), tick=False):
        expire()
    assert status_of(confirmed) == "granted"
    assert status_of(customer) == "none"
    assert status_of(late) == "pending_confirmation"


def test_the_delay_is_a_setting(
    doi: None,
    customer: Client,
    grant_mailed: Callable[..., str],
    http: HttpClient,
    settings: Any,
) -> None:
    settings.OPTIN_CONFIRMATION_DELAY_DAYS = 2
    with time_machine.travel(GRANTED_AT, tick=False):
        path = grant_mailed(customer)
    assert "2 jours" in django_mail.outbox[-1].body
    with time_machine.travel(GRANTED_AT + dt.timedelta(days=2), tick=False):
        assert http.get(path).status_code == 404
        expire()
    assert status_of(customer) == "none"


# --- invalidated before confirmation ----------------------------------------------------------


@pytest.mark.parametrize(("decision", "after"), [("withdraw", "withdrawn"), ("refuse", "refused")])
def test_a_withdrawal_or_refusal_before_confirmation_invalidates_the_link(
    doi: None,
    customer: Client,
    grant_mailed: Callable[..., str],
    decide: Callable[..., Any],
    http: HttpClient,
    decision: str,
    after: str,
) -> None:
    path = grant_mailed(customer)
    decide(customer, "email", decision)
    assert status_of(customer) == after
    size = log_size()
    assert http.get(path).status_code == 404
    assert http.post(path).status_code == 404
    assert log_size() == size
    assert status_of(customer) == after


def test_an_unsubscribe_link_before_confirmation_invalidates_it(
    doi: None, customer: Client, grant_mailed: Callable[..., str], http: HttpClient
) -> None:
    path = grant_mailed(customer)
    assert http.post(f"/u/{unsubscribe_token(customer.pk, 'email')}").status_code == 200
    assert http.post(path).status_code == 404
    assert status_of(customer) == "withdrawn"


def test_a_new_grant_sends_a_new_link_and_invalidates_the_old_one(
    doi: None, customer: Client, grant_mailed: Callable[..., str], http: HttpClient
) -> None:
    old = grant_mailed(customer)
    new = grant_mailed(customer)
    assert new != old
    assert status_of(customer) == "pending_confirmation"
    size = log_size()
    assert http.post(old).status_code == 404
    assert log_size() == size
    assert http.post(new).status_code == 200
    assert status_of(customer) == "granted"


def test_r13_a_new_grant_keeps_the_prior_state_of_the_first(
    doi: None,
    customer: Client,
    decide: Callable[..., Any],
    grant_mailed: Callable[..., str],
    settings: Any,
) -> None:
    with time_machine.travel(GRANTED_AT, tick=False):
        decide(customer, "email", "refuse")
        grant_mailed(customer)
        grant_mailed(customer)
        assert state_of(customer).prior_status == "refused"
    delay = dt.timedelta(days=settings.OPTIN_CONFIRMATION_DELAY_DAYS)
    with time_machine.travel(GRANTED_AT + delay, tick=False):
        expire()
    assert status_of(customer) == "refused"


@pytest.mark.parametrize("prior", ["none", "refused"])
def test_r46_a_change_of_address_invalidates_the_link_and_restores_the_prior_state(
    doi: None,
    customer: Client,
    decide: Callable[..., Any],
    grant_mailed: Callable[..., str],
    http: HttpClient,
    prior: str,
) -> None:
    if prior == "refused":
        decide(customer, "email", "refuse")
    path = grant_mailed(customer)
    change = change_contact_details(
        actor=SYSTEM, client_number=customer.client_number, email="nouvelle.adresse@exemple.fr"
    )
    assert change.optin_invitation == ["email"]  # the new address is invited (R44)
    state = state_of(customer)
    assert state.status == prior
    entry = AuditEntry.objects.get(seq=state.last_seq)
    assert entry.action == "consent.restored"
    assert data_of(entry)["reason"] == "address_changed"
    size = log_size()
    assert http.get(path).status_code == 404
    assert http.post(path).status_code == 404
    assert log_size() == size
    assert state_of(customer).status == prior


def test_r46_changing_the_address_back_does_not_revive_the_link(
    doi: None, customer: Client, grant_mailed: Callable[..., str], http: HttpClient
) -> None:
    original = customer.email
    path = grant_mailed(customer)
    for email in ("autre@exemple.fr", original):
        change_contact_details(actor=SYSTEM, client_number=customer.client_number, email=email)
    assert http.post(path).status_code == 404
    assert status_of(customer) == "none"


def test_r46_removing_the_address_invalidates_the_link(
    doi: None, customer: Client, grant_mailed: Callable[..., str], http: HttpClient
) -> None:
    path = grant_mailed(customer)
    change_contact_details(actor=SYSTEM, client_number=customer.client_number, email="")
    assert status_of(customer) == "none"
    assert http.post(path).status_code == 404


def test_r46_a_change_of_mobile_or_a_confirmation_of_the_address_keeps_the_link(
    doi: None, customer: Client, grant_mailed: Callable[..., str], http: HttpClient
) -> None:
    path = grant_mailed(customer)
    change_contact_details(
        actor=SYSTEM, client_number=customer.client_number, mobile="+33698765432"
    )
    change_contact_details(
        actor=SYSTEM, client_number=customer.client_number, email=customer.email, confirmed=True
    )
    assert status_of(customer) == "pending_confirmation"
    assert http.post(path).status_code == 200
    assert status_of(customer) == "granted"


def test_r7_a_protection_measure_before_confirmation_invalidates_the_link(
    doi: None, customer: Client, grant_mailed: Callable[..., str], http: HttpClient
) -> None:
    path = grant_mailed(customer)
    change_legal_capacity(
        actor=SYSTEM,
        client_number=customer.client_number,
        legal_capacity="protected",
        protection_measure="curatelle",
        reference="RG 26/01234",
    )
    assert status_of(customer) == "none"
    assert http.post(path).status_code == 404
    assert status_of(customer) == "none"


# --- R47 meanwhile -----------------------------------------------------------------------------


def test_eligibility_answers_pending_confirmation_until_the_click(
    doi: None, customer: Client, grant_mailed: Callable[..., str], http: HttpClient
) -> None:
    path = grant_mailed(customer)
    assert reason(customer) == (False, "pending_confirmation")
    http.get(path)
    assert reason(customer) == (False, "pending_confirmation")
    http.post(path)
    assert reason(customer) == (True, "granted")


# --- the confirmation page in a browser's conditions ------------------------------------------


@pytest.mark.usefixtures("doi")
def test_the_confirmation_button_passes_the_csrf_check_as_a_browser_sends_it(
    customer: Client, grant_mailed: Callable[..., str]
) -> None:
    """R36: the button posts with the page's CSRF token and the browser's real Origin. A
    `no-referrer` policy on the page made browsers send `Origin: null`, refused (403)."""
    path = grant_mailed(customer)
    browser = HttpClient(enforce_csrf_checks=True)
    page = browser.get(path)
    assert page.status_code == 200
    assert b"no-referrer" not in page.content
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content)
    assert token is not None

    response = browser.post(
        path,
        {"csrfmiddlewaretoken": token.group(1).decode()},
        HTTP_ORIGIN="http://testserver",
    )

    assert response.status_code == 200
    assert status_of(customer) == "granted"
