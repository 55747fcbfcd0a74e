"""R29 (with R13, R26): the customer declines to sign and the advisor cancels the form.

The form becomes `cancelled` with the advisor's note, each channel returns to its prior state
(`consent.restored`), and no `consent.refused` is written: declining to sign is not a "Non".
A cancellation without a note, of a form that is no longer pending, or of another client's
form is refused and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from clients.models import Client
from optin.audit import personal_data
from optin.errors import DomainError
from optin.integrity import verify_log
from optin.models import AuditEntry, ConsentState
from signatures.models import ConsentForm, FormStatus
from signatures.services import Collected, cancel_form
from tests.clients.helpers import entries, log_size, payload, states_of

Collect = Callable[..., Collected]
NOTE = "Le client souhaite en parler avec son conjoint."


@pytest.fixture
def pending(customer: Client, collect: Collect) -> ConsentForm:
    """A form for e-mail (prior `none`) and SMS/push (prior `refused`), to be signed."""
    collect(customer, sms_push="no")
    form = collect(customer, email="yes", sms_push="yes").form
    assert form is not None
    assert states_of(customer) == {"email": "pending_signature", "sms_push": "pending_signature"}
    return form


def cancel(form: ConsentForm, advisor: Any, note: str = NOTE, client: Client | None = None) -> Any:
    return cancel_form(
        client_number=(client or form.client).client_number,
        reference=form.reference,
        advisor=advisor,
        note=note,
    )


def snapshot(form: ConsentForm) -> tuple[Any, ...]:
    row = ConsentForm.objects.filter(pk=form.pk).values().get()
    states = list(ConsentState.objects.order_by("client_id", "channel").values())
    return row, states, log_size()


def test_cancelling_ends_the_form_with_the_note(pending: ConsentForm, advisor: Any) -> None:
    cancel(pending, advisor, note=f"  {NOTE}  ")

    pending.refresh_from_db()
    assert pending.status == FormStatus.CANCELLED
    assert pending.end_reason == f"declined: {NOTE}"
    assert pending.ended_at is not None
    assert pending.superseded_by is None
    assert pending.signed_at is None


def test_cancelling_returns_each_channel_to_its_prior_state(
    pending: ConsentForm, advisor: Any, customer: Client
) -> None:
    cancel(pending, advisor)

    assert states_of(customer) == {"email": "none", "sms_push": "refused"}
    restored = entries("consent.restored", customer)
    assert {e.channel: payload(e)["_state"]["to"] for e in restored} == {
        "email": "none",
        "sms_push": "refused",
    }
    for entry in restored:
        assert entry.actor_type == "advisor"
        assert entry.actor_id == f"staff:{advisor.pk}"
        assert payload(entry)["journey"] == "branch_account_opening"
        assert payload(entry)["reference"] == pending.reference
        assert payload(entry)["reason"] == "declined"
    assert verify_log().ok


def test_cancelling_is_not_a_refusal(pending: ConsentForm, advisor: Any, customer: Client) -> None:
    last = log_size()

    cancel(pending, advisor)

    written = AuditEntry.objects.filter(seq__gt=last).order_by("seq")
    assert [e.action for e in written] == [
        "form.cancelled",
        "consent.restored",
        "consent.restored",
    ]
    assert not AuditEntry.objects.filter(seq__gt=last, action="consent.refused").exists()


def test_the_note_is_logged_as_personal_data(
    pending: ConsentForm, advisor: Any, customer: Client
) -> None:
    cancel(pending, advisor)

    [cancelled] = entries("form.cancelled", customer)
    data = payload(cancelled)
    assert data["reference"] == pending.reference
    assert data["form_id"] == str(pending.uuid)
    assert data["reason"] == "declined"
    assert data["channels"] == ["email", "sms_push"]
    assert cancelled.actor_type == "advisor"
    # The advisor's free text may name people: it is sealed with the client's key.
    assert NOTE not in cancelled.payload
    assert personal_data(cancelled) == {"note": NOTE}


def test_after_cancelling_the_customer_may_answer_again(
    pending: ConsentForm, advisor: Any, customer: Client, collect: Collect
) -> None:
    cancel(pending, advisor)

    form = collect(customer, sms_push="yes").form

    assert form is not None
    assert dict(form.channels.values_list("channel", "prior_status")) == {"sms_push": "refused"}
    assert payload(entries("form.generated", customer)[-1])["supersedes"] == []


@pytest.mark.parametrize("note", ["", "   ", "\n\t"])
def test_a_cancellation_without_a_note_is_refused_writing_nothing(
    pending: ConsentForm, advisor: Any, note: str
) -> None:
    before = snapshot(pending)

    with pytest.raises(ValidationError) as refused:
        cancel(pending, advisor, note=note)

    assert "note" in refused.value.message_dict
    assert snapshot(pending) == before


def test_a_signed_form_cannot_be_cancelled(
    pending: ConsentForm, advisor: Any, sign_tablet: Callable[..., ConsentForm]
) -> None:
    sign_tablet(pending)
    before = snapshot(pending)

    with pytest.raises(DomainError) as refused:
        cancel(pending, advisor)

    assert refused.value.code == "form_not_pending"
    assert refused.value.extra == {"status": "signed"}
    assert snapshot(pending) == before


def test_a_cancelled_form_cannot_be_cancelled_again(pending: ConsentForm, advisor: Any) -> None:
    cancel(pending, advisor)
    before = snapshot(pending)

    with pytest.raises(DomainError) as refused:
        cancel(pending, advisor, note="Deuxième clic.")

    assert refused.value.code == "form_not_pending"
    assert snapshot(pending) == before


def test_a_superseded_form_cannot_be_cancelled(
    pending: ConsentForm, advisor: Any, customer: Client, collect: Collect
) -> None:
    collect(customer, email="yes")
    before = snapshot(pending)

    with pytest.raises(DomainError) as refused:
        cancel(pending, advisor)

    assert refused.value.code == "form_not_pending"
    assert refused.value.extra == {"status": "superseded"}
    assert snapshot(pending) == before


def test_a_form_cannot_be_cancelled_under_another_clients_number(
    pending: ConsentForm, advisor: Any, client_factory: Callable[..., Client]
) -> None:
    other = client_factory(first_name="Paul", last_name="Martin")
    before = snapshot(pending)

    with pytest.raises(DomainError) as refused:
        cancel(pending, advisor, client=other)

    assert refused.value.code == "form_wrong_client"
    assert snapshot(pending) == before


def test_an_unknown_reference_is_refused(pending: ConsentForm, advisor: Any) -> None:
    before = snapshot(pending)

    with pytest.raises(DomainError) as refused:
        cancel_form(
            client_number=pending.client.client_number,
            reference="OPT-0000-0000",
            advisor=advisor,
            note=NOTE,
        )

    assert refused.value.code == "unknown_form"
    assert snapshot(pending) == before


@pytest.mark.parametrize("who", ["compliance", "advisor_other_branch"])
def test_only_an_advisor_of_the_branch_cancels_and_nothing_is_written(
    pending: ConsentForm, customer: Client, who: str, request: pytest.FixtureRequest
) -> None:
    """R55: compliance is read only; an advisor acts on their branch's clients only."""
    staff = request.getfixturevalue(who)
    before = AuditEntry.objects.count()

    with pytest.raises(DomainError) as refused:
        cancel(pending, staff)

    assert refused.value.code == "not_allowed"
    pending.refresh_from_db()
    assert pending.status == FormStatus.PENDING
    assert AuditEntry.objects.count() == before
