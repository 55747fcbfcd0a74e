"""R28 (with R13): the daily job expires the forms left unsigned.

`manage.py expire_pending_forms` expires the forms pending for at least
OPTIN_SIGNATURE_DELAY_DAYS (default 30) and leaves younger ones; each channel returns to its
prior state; the form's end and each restore are logged with actor `system`
(`expire_pending_forms`). A second run finds nothing and writes nothing; the output gives the
count.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.core.management import call_command

from clients.models import Client
from optin.errors import DomainError
from optin.integrity import verify_log
from optin.models import AuditEntry
from signatures.models import ConsentForm, FormStatus
from signatures.services import Collected, cancel_form
from tests.clients.helpers import entries, log_size, payload, states_of

Collect = Callable[..., Collected]
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def expire() -> str:
    out = io.StringIO()
    call_command("expire_pending_forms", stdout=out)
    return out.getvalue()


def yes(collect: Collect, client: Client, *channels: str) -> ConsentForm:
    form = collect(client, **dict.fromkeys(channels, "yes")).form
    assert form is not None
    return form


def status(form: ConsentForm) -> str:
    return ConsentForm.objects.get(pk=form.pk).status


@pytest.fixture
def old_and_young(
    clock: Any, collect: Collect, customer: Client, client_factory: Callable[..., Client]
) -> tuple[ConsentForm, ConsentForm]:
    """At T0, a form for e-mail (prior `none`) and SMS/push (prior `refused`); 20 days later,
    a form for another client's e-mail."""
    collect(customer, sms_push="no")
    old = yes(collect, customer, "email", "sms_push")
    clock.shift(dt.timedelta(days=20))
    young = yes(collect, client_factory(first_name="Paul"), "email")
    return old, young


def test_a_form_older_than_the_delay_expires_and_a_younger_one_does_not(
    clock: Any, old_and_young: tuple[ConsentForm, ConsentForm]
) -> None:
    old, young = old_and_young
    clock.move_to(T0 + dt.timedelta(days=30, hours=1))

    output = expire()

    assert status(old) == FormStatus.EXPIRED
    assert status(young) == FormStatus.PENDING
    expired = ConsentForm.objects.get(pk=old.pk)
    assert expired.end_reason == "expired"
    assert expired.ended_at == T0 + dt.timedelta(days=30, hours=1)
    assert f"expired {old.reference}" in output
    assert young.reference not in output
    assert "1 form(s) expired (pending longer than 30 days)." in output


def test_a_form_just_younger_than_the_delay_stays_pending(
    clock: Any, old_and_young: tuple[ConsentForm, ConsentForm]
) -> None:
    old, _young = old_and_young
    clock.move_to(T0 + dt.timedelta(days=30) - dt.timedelta(minutes=1))
    last = log_size()

    output = expire()

    assert status(old) == FormStatus.PENDING
    assert log_size() == last
    assert "0 form(s) expired" in output


def test_expiry_returns_each_channel_to_its_prior_state(
    clock: Any, old_and_young: tuple[ConsentForm, ConsentForm], customer: Client
) -> None:
    clock.move_to(T0 + dt.timedelta(days=31))

    expire()

    assert states_of(customer) == {"email": "none", "sms_push": "refused"}
    assert verify_log().ok


def test_expiry_is_logged_by_the_system(
    clock: Any, old_and_young: tuple[ConsentForm, ConsentForm], customer: Client
) -> None:
    old, _young = old_and_young
    now = T0 + dt.timedelta(days=31)
    clock.move_to(now)
    last = log_size()

    expire()

    written = list(AuditEntry.objects.filter(seq__gt=last).order_by("seq"))
    assert [(e.action, e.channel) for e in written] == [
        ("form.expired", ""),
        ("consent.restored", "email"),
        ("consent.restored", "sms_push"),
    ]
    for entry in written:
        assert (entry.actor_type, entry.actor_id) == ("system", "expire_pending_forms")
        assert entry.client_id == customer.pk
        assert entry.occurred_at == now
        assert payload(entry)["reference"] == old.reference
        assert payload(entry)["reason"] == "expired"
    assert payload(written[0])["channels"] == ["email", "sms_push"]
    for entry in written[1:]:
        assert payload(entry)["journey"] == "system_expiry"
        assert payload(entry)["_state"]["from"] == "pending_signature"
    assert [payload(e)["_state"]["to"] for e in written[1:]] == ["none", "refused"]


def test_running_twice_expires_nothing_more_and_writes_nothing(
    clock: Any, old_and_young: tuple[ConsentForm, ConsentForm]
) -> None:
    clock.move_to(T0 + dt.timedelta(days=31))
    expire()
    last = log_size()

    output = expire()

    assert log_size() == last
    assert "0 form(s) expired" in output
    assert "expired OPT-" not in output


def test_the_delay_is_a_setting(
    clock: Any, old_and_young: tuple[ConsentForm, ConsentForm], settings: Any
) -> None:
    old, young = old_and_young
    settings.OPTIN_SIGNATURE_DELAY_DAYS = 10
    clock.move_to(T0 + dt.timedelta(days=30, hours=1))

    output = expire()

    assert status(old) == FormStatus.EXPIRED
    assert status(young) == FormStatus.EXPIRED
    assert "2 form(s) expired (pending longer than 10 days)." in output
    # Oldest first.
    assert output.index(old.reference) < output.index(young.reference)


def test_signed_and_cancelled_forms_never_expire(
    clock: Any,
    collect: Collect,
    customer: Client,
    client_factory: Callable[..., Client],
    advisor: Any,
    sign_tablet: Callable[..., ConsentForm],
) -> None:
    signed = sign_tablet(yes(collect, customer, "email"))
    cancelled = yes(collect, client_factory(first_name="Paul"), "sms_push")
    cancel_form(
        client_number=cancelled.client.client_number,
        reference=cancelled.reference,
        advisor=advisor,
        note="Le client ne souhaite pas signer.",
    )
    clock.move_to(T0 + dt.timedelta(days=90))
    last = log_size()

    output = expire()

    assert (status(signed), status(cancelled)) == (FormStatus.SIGNED, FormStatus.CANCELLED)
    assert states_of(customer)["email"] == "granted"
    assert log_size() == last
    assert "0 form(s) expired" in output


def test_an_expired_form_can_no_longer_be_signed(
    clock: Any,
    old_and_young: tuple[ConsentForm, ConsentForm],
    sign_tablet: Callable[..., ConsentForm],
    customer: Client,
) -> None:
    old, _young = old_and_young
    clock.move_to(T0 + dt.timedelta(days=31))
    expire()
    last = log_size()

    with pytest.raises(DomainError) as refused:
        sign_tablet(old)

    assert refused.value.code == "form_not_pending"
    assert refused.value.extra == {"status": "expired"}
    assert log_size() == last
    assert states_of(customer) == {"email": "none", "sms_push": "refused"}


def test_expiry_leaves_a_log_that_replays(
    clock: Any, old_and_young: tuple[ConsentForm, ConsentForm], settings: Any
) -> None:
    settings.OPTIN_SIGNATURE_DELAY_DAYS = 5
    clock.move_to(T0 + dt.timedelta(days=40))

    expire()

    assert len(entries("form.expired")) == 2
    assert verify_log().ok
