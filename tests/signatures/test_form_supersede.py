"""R13 (with R12's "branch yes" on pending_signature): a newer form supersedes the older one.

A "Oui" given again for a channel whose form is still unsigned produces a new form that
supersedes the old one and inherits *its* prior state, never `pending_signature`; the old
form's channels not answered "Oui" again go back to their prior state (`consent.restored`).
The example of R13: `none` → yes (form A) → yes again (form B supersedes A) → B expires →
`none`. After each scenario the log replays to the states.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import time_machine

from clients.models import Client
from optin.errors import DomainError
from optin.integrity import verify_log
from optin.models import AuditEntry, ConsentState
from signatures.models import ConsentForm, FormStatus
from signatures.services import Collected, cancel_form, expire_pending_forms
from tests.clients.helpers import entries, payload, states_of

Collect = Callable[..., Collected]
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def yes(collect: Collect, client: Client, *channels: str) -> ConsentForm:
    form = collect(client, **dict.fromkeys(channels, "yes")).form
    assert form is not None
    return form


def priors(form: ConsentForm) -> dict[str, str]:
    return dict(form.channels.values_list("channel", "prior_status"))


def state(client: Client, channel: str) -> tuple[str, str]:
    row = ConsentState.objects.get(client=client, channel=channel)
    return row.status, row.prior_status


def test_the_example_of_r13_none_yes_yes_expired_returns_to_none(
    customer: Client, collect: Collect
) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        form_a = yes(collect, customer, "email")
        traveller.shift(dt.timedelta(minutes=5))
        form_b = yes(collect, customer, "email")

        form_a.refresh_from_db()
        assert form_a.status == FormStatus.SUPERSEDED
        assert form_a.superseded_by == form_b
        assert form_a.end_reason == "superseded"
        assert form_a.ended_at == T0 + dt.timedelta(minutes=5)
        assert form_b.status == FormStatus.PENDING
        assert priors(form_b) == {"email": "none"}
        assert state(customer, "email") == ("pending_signature", "none")

        traveller.shift(dt.timedelta(days=31))
        assert expire_pending_forms() == [form_b.reference]

    form_b.refresh_from_db()
    assert form_b.status == FormStatus.EXPIRED
    assert states_of(customer) == {"email": "none", "sms_push": "none"}
    restored = entries("consent.restored", customer)
    assert [(e.channel, payload(e)["_state"]["to"]) for e in restored] == [("email", "none")]
    assert verify_log().ok


def test_superseding_is_logged_with_both_references(customer: Client, collect: Collect) -> None:
    form_a = yes(collect, customer, "email")
    form_b = yes(collect, customer, "email")

    [superseded] = entries("form.superseded", customer)
    data = payload(superseded)
    assert data["reference"] == form_a.reference
    assert data["superseded_by"] == form_b.reference
    assert data["reason"] == "superseded"
    assert data["channels"] == ["email"]
    generated_b = entries("form.generated", customer)[-1]
    assert payload(generated_b)["supersedes"] == [form_a.reference]
    assert payload(generated_b)["channels"]["email"]["prior"] == "none"
    # The superseded channel stays pending: no restore in between.
    assert entries("consent.restored", customer) == []
    assert verify_log().ok


def test_the_new_form_inherits_the_prior_of_the_old_one_not_pending_signature(
    customer: Client, collect: Collect, advisor: Any
) -> None:
    collect(customer, sms_push="no")
    form_a = yes(collect, customer, "sms_push")
    assert priors(form_a) == {"sms_push": "refused"}

    form_b = yes(collect, customer, "sms_push")

    assert priors(form_b) == {"sms_push": "refused"}
    assert state(customer, "sms_push") == ("pending_signature", "refused")
    # ... and going back from the new form restores that inherited prior.
    cancel_form(
        client_number=customer.client_number,
        reference=form_b.reference,
        advisor=advisor,
        note="Le client préfère réfléchir.",
    )
    assert states_of(customer)["sms_push"] == "refused"
    assert verify_log().ok


def test_channels_not_answered_yes_again_return_to_their_prior_refused(
    customer: Client, collect: Collect, advisor: Any
) -> None:
    collect(customer, sms_push="no")
    form_a = yes(collect, customer, "email", "sms_push")
    assert priors(form_a) == {"email": "none", "sms_push": "refused"}

    form_b = yes(collect, customer, "email")

    form_a.refresh_from_db()
    assert form_a.status == FormStatus.SUPERSEDED
    assert form_a.superseded_by == form_b
    assert priors(form_b) == {"email": "none"}
    assert states_of(customer) == {"email": "pending_signature", "sms_push": "refused"}
    [restored] = entries("consent.restored", customer)
    assert restored.channel == "sms_push"
    assert restored.actor_id == f"staff:{advisor.pk}"
    assert payload(restored)["_state"] == {
        "from": "pending_signature",
        "to": "refused",
        "prior": "",
        "since": payload(restored)["_state"]["since"],
        "journey": "branch_account_opening",
        "wording_version": "",
    }
    assert payload(restored)["reference"] == form_a.reference
    assert verify_log().ok


def test_channels_not_answered_yes_again_return_to_their_prior_withdrawn(
    customer: Client,
    collect: Collect,
    grant: Callable[..., Any],
    decide: Callable[..., Any],
) -> None:
    grant(customer, "email")
    decide(customer, "email", "withdraw")
    form_a = yes(collect, customer, "email", "sms_push")
    assert priors(form_a) == {"email": "withdrawn", "sms_push": "none"}

    form_b = yes(collect, customer, "sms_push")

    assert priors(form_b) == {"sms_push": "none"}
    assert states_of(customer) == {"email": "withdrawn", "sms_push": "pending_signature"}
    assert [e.channel for e in entries("consent.restored", customer)] == ["email"]
    assert verify_log().ok


def test_a_new_form_for_both_channels_supersedes_and_keeps_both_priors(
    customer: Client, collect: Collect
) -> None:
    collect(customer, sms_push="no")
    form_a = yes(collect, customer, "email", "sms_push")

    form_b = yes(collect, customer, "sms_push", "email")

    assert priors(form_b) == {"email": "none", "sms_push": "refused"}
    assert list(ConsentForm.objects.filter(client=customer).pending()) == [form_b]
    assert ConsentForm.objects.get(pk=form_a.pk).superseded_by == form_b
    assert entries("consent.restored", customer) == []
    # One end per form, however many of its channels the new form covers.
    [superseded] = entries("form.superseded", customer)
    assert payload(superseded)["reference"] == form_a.reference
    assert payload(entries("form.generated", customer)[-1])["supersedes"] == [form_a.reference]
    assert verify_log().ok


def test_a_form_for_another_channel_supersedes_nothing(customer: Client, collect: Collect) -> None:
    form_a = yes(collect, customer, "email")

    form_b = yes(collect, customer, "sms_push")

    assert set(ConsentForm.objects.filter(client=customer).pending()) == {form_a, form_b}
    assert payload(entries("form.generated", customer)[-1])["supersedes"] == []
    assert states_of(customer) == {"email": "pending_signature", "sms_push": "pending_signature"}
    assert verify_log().ok


def test_a_form_superseding_two_older_forms_ends_both(customer: Client, collect: Collect) -> None:
    form_email = yes(collect, customer, "email")
    form_sms = yes(collect, customer, "sms_push")

    form_both = yes(collect, customer, "email", "sms_push")

    for old in (form_email, form_sms):
        old.refresh_from_db()
        assert old.status == FormStatus.SUPERSEDED
        assert old.superseded_by == form_both
    assert sorted(payload(entries("form.generated", customer)[-1])["supersedes"]) == sorted(
        [form_email.reference, form_sms.reference]
    )
    assert priors(form_both) == {"email": "none", "sms_push": "none"}
    assert verify_log().ok


def test_a_superseded_form_can_no_longer_be_signed(
    customer: Client, collect: Collect, sign_tablet: Callable[..., ConsentForm]
) -> None:
    form_a = yes(collect, customer, "email")
    yes(collect, customer, "email")
    last = AuditEntry.objects.order_by("-seq").values_list("seq", flat=True).first()

    with pytest.raises(DomainError) as refused:
        sign_tablet(form_a)

    assert refused.value.code == "form_not_pending"
    assert AuditEntry.objects.order_by("-seq").values_list("seq", flat=True).first() == last
    assert states_of(customer)["email"] == "pending_signature"
