"""R12's "form cancelled" cells (with R7, R13, R14, R25, R26): a channel leaving
`pending_signature` by another path cancels its pending form.

While a form is pending for e-mail and SMS/push, a digital grant, a withdrawal (digital or at
the customer's request in branch), a "Non" (digital or in branch) on e-mail moves e-mail as
the table says and cancels the form; since a form is signed or cancelled as a whole (R25),
SMS/push goes back to its prior state. A protection measure makes both channels lapse to
`none` (R7) and cancels the form. The cancelled form can no longer be signed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clients.models import Client
from clients.services import change_legal_capacity
from optin.audit import Actor
from optin.errors import DomainError
from optin.integrity import verify_log
from optin.models import AuditEntry
from signatures.models import ConsentForm, FormStatus
from signatures.services import Collected
from tests.clients.helpers import entries, log_size, payload, states_of
from tests.factories import SYSTEM, advisor_actor

Collect = Callable[..., Collected]


@pytest.fixture
def pending(customer: Client, collect: Collect) -> ConsentForm:
    """A form for e-mail (prior `none`) and SMS/push (prior `refused`), to be signed."""
    collect(customer, sms_push="no")
    form = collect(customer, email="yes", sms_push="yes").form
    assert form is not None
    return form


def ended(form: ConsentForm) -> ConsentForm:
    return ConsentForm.objects.get(pk=form.pk)


# Each path acting on e-mail: (how, the e-mail state after it, the form's end reason,
# the actor type logging the cancellation).
PATHS = {
    "digital_grant": ("granted", "digital_grant", "api_client"),
    "digital_withdraw": ("withdrawn", "withdrawn", "api_client"),
    "digital_refuse": ("refused", "refused", "api_client"),
    "branch_withdraw": ("withdrawn", "withdrawn", "advisor"),
    "branch_no": ("refused", "refused", "advisor"),
}


@pytest.fixture
def act(
    customer: Client,
    advisor: Any,
    grant: Callable[..., Any],
    decide: Callable[..., Any],
    collect: Collect,
) -> Callable[[str], Any]:
    def do(path: str) -> Any:
        if path == "digital_grant":
            return grant(customer, "email")
        if path == "digital_withdraw":
            return decide(customer, "email", "withdraw")
        if path == "digital_refuse":
            return decide(customer, "email", "refuse")
        if path == "branch_withdraw":  # R31: at the customer's request, in branch
            return decide(
                customer,
                "email",
                "withdraw",
                journey="branch_request",
                actor=advisor_actor(advisor),
            )
        assert path == "branch_no"
        return collect(customer, email="no")

    return do


@pytest.mark.parametrize("path", list(PATHS))
def test_another_path_on_one_channel_moves_it_and_cancels_the_form(
    pending: ConsentForm, customer: Client, act: Callable[[str], Any], path: str
) -> None:
    email_after, reason, _actor_type = PATHS[path]

    act(path)

    form = ended(pending)
    assert form.status == FormStatus.CANCELLED
    assert form.end_reason == reason
    assert form.ended_at is not None
    assert states_of(customer) == {"email": email_after, "sms_push": "refused"}
    assert verify_log().ok


@pytest.mark.parametrize("path", list(PATHS))
def test_the_cancellation_and_the_restore_are_logged_with_the_acting_path(
    pending: ConsentForm, customer: Client, act: Callable[[str], Any], path: str
) -> None:
    _email_after, reason, actor_type = PATHS[path]
    last = log_size()

    act(path)

    written = list(AuditEntry.objects.filter(seq__gt=last).order_by("seq"))
    assert [(e.action, e.channel) for e in written][1:] == [
        ("form.cancelled", ""),
        ("consent.restored", "sms_push"),
    ]
    assert written[0].channel == "email"
    cancelled, restored = written[1:]
    assert payload(cancelled)["reference"] == pending.reference
    assert payload(cancelled)["reason"] == reason
    assert payload(cancelled)["channels"] == ["email", "sms_push"]
    assert cancelled.actor_type == restored.actor_type == actor_type
    assert payload(restored)["_state"]["to"] == "refused"
    assert payload(restored)["journey"] == payload(written[0])["journey"]
    # A cancellation by another path carries no advisor's note.
    assert "personal" not in payload(cancelled)


@pytest.mark.parametrize("path", list(PATHS))
def test_the_cancelled_form_can_no_longer_be_signed(
    pending: ConsentForm,
    customer: Client,
    act: Callable[[str], Any],
    sign_tablet: Callable[..., ConsentForm],
    path: str,
) -> None:
    act(path)
    states = states_of(customer)
    last = log_size()

    with pytest.raises(DomainError) as refused:
        sign_tablet(pending)

    assert refused.value.code == "form_not_pending"
    assert refused.value.extra == {"status": "cancelled"}
    assert log_size() == last
    assert states_of(customer) == states


def test_a_digital_grant_under_double_opt_in_also_cancels_the_form(
    pending: ConsentForm, customer: Client, grant: Callable[..., Any], settings: Any
) -> None:
    settings.OPTIN_EMAIL_DOUBLE_OPTIN = True

    grant(customer, "email")

    assert ended(pending).status == FormStatus.CANCELLED
    assert ended(pending).end_reason == "digital_grant"
    assert states_of(customer) == {"email": "pending_confirmation", "sms_push": "refused"}
    assert verify_log().ok


def test_a_digital_grant_on_the_other_channel_cancels_the_same_form(
    pending: ConsentForm, customer: Client, grant: Callable[..., Any]
) -> None:
    grant(customer, "sms_push")

    assert ended(pending).status == FormStatus.CANCELLED
    assert states_of(customer) == {"email": "none", "sms_push": "granted"}
    assert verify_log().ok


def test_a_branch_no_and_yes_given_together_replace_the_form(
    pending: ConsentForm, customer: Client, collect: Collect
) -> None:
    """The "Non" cancels the old form and gives SMS/push back its prior; the "Oui" then
    starts a new form for SMS/push from that prior."""
    collected = collect(customer, email="no", sms_push="yes")

    assert ended(pending).status == FormStatus.CANCELLED
    assert ended(pending).end_reason == "refused"
    assert collected.form is not None
    assert dict(collected.form.channels.values_list("channel", "prior_status")) == {
        "sms_push": "refused"
    }
    assert states_of(customer) == {"email": "refused", "sms_push": "pending_signature"}
    assert verify_log().ok


# --- a protection measure (R7) ------------------------------------------------------------------


@pytest.fixture
def pending_from_none(customer: Client, collect: Collect) -> ConsentForm:
    """A form for both channels, both with prior `none`."""
    form = collect(customer, email="yes", sms_push="yes").form
    assert form is not None
    return form


def protect(actor: Actor, client: Client) -> list[str]:
    return change_legal_capacity(
        actor=actor,
        client_number=client.client_number,
        legal_capacity="protected",
        protection_measure="tutelle",
        reference="RG 26/01234",
    )


def test_a_protection_measure_lapses_both_channels_to_none_and_cancels_the_form(
    pending_from_none: ConsentForm, customer: Client
) -> None:
    protect(SYSTEM, customer)

    form = ended(pending_from_none)
    assert form.status == FormStatus.CANCELLED
    assert form.end_reason == "lapsed"
    assert states_of(customer) == {"email": "none", "sms_push": "none"}
    [cancelled] = entries("form.cancelled", customer)
    assert (cancelled.actor_type, cancelled.actor_id) == ("system", "capacity_change")
    assert verify_log().ok


def test_a_protection_measure_logs_a_lapse_for_each_pending_channel_of_the_form(
    pending_from_none: ConsentForm, customer: Client
) -> None:
    """R7: `consent.lapsed` for every channel that was pending_signature. The form's
    cancellation must not turn the second channel's lapse into a mere restore."""
    lapsed = protect(SYSTEM, customer)

    assert sorted(lapsed) == ["email", "sms_push"]
    assert sorted(e.channel for e in entries("consent.lapsed", customer)) == ["email", "sms_push"]
    assert entries("consent.restored", customer) == []


def test_a_protection_measure_lapses_a_pending_channel_whatever_its_prior(
    pending: ConsentForm, customer: Client
) -> None:
    """R7 and R12's lapse column: a pending_signature channel lapses to `none`; here
    SMS/push was `refused` before the form."""
    protect(SYSTEM, customer)

    assert ended(pending).status == FormStatus.CANCELLED
    assert states_of(customer) == {"email": "none", "sms_push": "none"}


def test_signing_after_a_protection_measure_is_refused(
    pending_from_none: ConsentForm, customer: Client, sign_tablet: Callable[..., ConsentForm]
) -> None:
    protect(SYSTEM, customer)
    last = log_size()

    with pytest.raises(DomainError) as refused:
        sign_tablet(pending_from_none)

    assert refused.value.code == "form_not_pending"
    assert log_size() == last
    assert states_of(customer) == {"email": "none", "sms_push": "none"}
