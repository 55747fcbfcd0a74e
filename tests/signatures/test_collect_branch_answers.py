"""R14, R15, R24, R30: the "Oui"/"Non" answers given in branch (collect_branch_answers).

The "Oui" answers given together move their channels to `pending_signature` (not eligible) and
produce one form covering them, each channel with its wording and prior state (R13, R24); a
"Non" is `refused` at once and needs no form, or `withdrawn` when it takes back a yes (R14); a
channel already granted is not asked (R15); an unanswered question records nothing (R23).
Anything the service cannot accept is refused with its code and writes nothing; a branch grant
is recorded only by the form service, never by record_decision alone (R30).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from clients.models import Branch, Client
from optin.errors import DomainError
from optin.integrity import verify_log
from optin.models import AuditEntry, ConsentState, Wording
from optin.selectors import eligibility
from optin.services import record_decision
from signatures import files
from signatures.models import ConsentForm, FormStatus
from signatures.services import BranchAnswer, Collected, collect_branch_answers
from tests.clients.helpers import entries, log_size, payload, states_of
from tests.factories import advisor_actor

Collect = Callable[..., Collected]


def forms_of(client: Client) -> list[ConsentForm]:
    return list(ConsentForm.objects.filter(client=client))


def written() -> tuple[int, int, list[tuple[int, str, str, str]]]:
    """What a refused call must leave as it was: the log, the forms, every state."""
    states = list(
        ConsentState.objects.order_by("client_id", "channel").values_list(
            "client_id", "channel", "status", "prior_status"
        )
    )
    return log_size(), ConsentForm.objects.count(), states


# --- a "Oui" ------------------------------------------------------------------------------------


def test_a_yes_moves_the_channel_to_pending_signature(customer: Client, collect: Collect) -> None:
    collected = collect(customer, email="yes")

    assert collected.form is not None
    assert states_of(customer) == {"email": "pending_signature", "sms_push": "none"}
    state = ConsentState.objects.get(client=customer, channel="email")
    assert state.prior_status == "none"
    assert state.journey == "branch_account_opening"


def test_a_channel_pending_signature_is_not_eligible(customer: Client, collect: Collect) -> None:
    collect(customer, email="yes", sms_push="yes")

    for channel in ("email", "sms_push"):
        [answer] = eligibility(channel, [customer.client_number])
        assert answer.eligible is False
        assert answer.reason == "pending_signature"


def test_the_yes_answers_given_together_produce_one_form_covering_them(
    customer: Client, collect: Collect, advisor: Any, branch: Branch
) -> None:
    collected = collect(customer, email="yes", sms_push="yes")

    [form] = forms_of(customer)
    assert collected.form == form
    assert form.status == FormStatus.PENDING
    assert form.journey == "branch_account_opening"
    assert form.advisor == advisor
    assert form.branch == branch
    assert sorted(form.channels.values_list("channel", flat=True)) == ["email", "sms_push"]


def test_each_channel_of_the_form_carries_its_wording(customer: Client, collect: Collect) -> None:
    form = collect(customer, email="yes", sms_push="yes").form
    assert form is not None

    lines = {line["channel"]: line for line in form.content["lines"]}
    for channel in ("email", "sms_push"):
        wording = Wording.objects.get(version=f"{channel}-v1")
        assert form.channels.get(channel=channel).wording == wording
        # R59: the form states the wording byte for byte, with its version and digest.
        assert lines[channel]["version"] == wording.version
        assert lines[channel]["sha256"] == wording.sha256
        assert lines[channel]["text"] == wording.text
        # The contact point as printed (a mobile number may be spaced for reading).
        shown = lines[channel]["contact_point"].replace(" ", "")
        assert shown == customer.contact_point(channel)
        assert lines[channel]["answer"] == "yes"


def test_each_channel_of_the_form_keeps_its_own_prior_state(
    customer: Client,
    collect: Collect,
    grant: Callable[..., Any],
    decide: Callable[..., Any],
) -> None:
    grant(customer, "email")
    decide(customer, "email", "withdraw")
    collect(customer, sms_push="no")
    assert states_of(customer) == {"email": "withdrawn", "sms_push": "refused"}

    form = collect(customer, email="yes", sms_push="yes").form

    assert form is not None
    priors = dict(form.channels.values_list("channel", "prior_status"))
    assert priors == {"email": "withdrawn", "sms_push": "refused"}
    states = ConsentState.objects.filter(client=customer)
    assert {s.channel: s.prior_status for s in states} == priors


def test_a_yes_and_a_no_given_together_put_only_the_yes_on_the_form(
    customer: Client, collect: Collect
) -> None:
    form = collect(customer, email="yes", sms_push="no").form

    assert form is not None
    assert list(form.channels.values_list("channel", flat=True)) == ["email"]
    assert states_of(customer) == {"email": "pending_signature", "sms_push": "refused"}


# --- a "Non" ------------------------------------------------------------------------------------


def test_a_no_is_refused_at_once_without_a_form(customer: Client, collect: Collect) -> None:
    collected = collect(customer, sms_push="no")

    assert collected.form is None
    assert forms_of(customer) == []
    assert states_of(customer) == {"email": "none", "sms_push": "refused"}
    [entry] = entries("consent.refused", customer)
    assert entry.channel == "sms_push"
    assert entry.wording_version == "sms_push-v1"
    assert entry.actor_type == "advisor"
    assert [d.status for d in collected.decisions] == ["refused"]


def test_a_no_that_takes_back_a_granted_consent_is_a_withdrawal(
    customer: Client, collect: Collect, grant: Callable[..., Any]
) -> None:
    grant(customer, "email")

    collected = collect(customer, email="no")

    assert collected.form is None
    assert states_of(customer)["email"] == "withdrawn"
    assert entries("consent.refused", customer) == []
    [entry] = entries("consent.withdrawn", customer)
    state = payload(entry)["_state"]
    assert (state["from"], state["to"], state["journey"]) == (
        "granted",
        "withdrawn",
        "branch_account_opening",
    )
    assert entry.wording_version == "email-v1"


# --- a channel already granted, an unanswered question -----------------------------------------


def test_a_channel_already_granted_is_not_asked(
    customer: Client, collect: Collect, grant: Callable[..., Any]
) -> None:
    grant(customer, "email")
    granted = ConsentState.objects.get(client=customer, channel="email")
    last = log_size()

    collected = collect(customer, email="yes", sms_push="yes")

    assert collected.not_asked == ["email"]
    assert collected.form is not None
    assert list(collected.form.channels.values_list("channel", flat=True)) == ["sms_push"]
    # Nothing was logged about e-mail: its state and proof are those of the digital grant.
    assert not AuditEntry.objects.filter(seq__gt=last, channel="email").exists()
    email = ConsentState.objects.get(client=customer, channel="email")
    assert (email.status, email.since, email.last_seq) == (
        "granted",
        granted.since,
        granted.last_seq,
    )
    generated = payload(entries("form.generated", customer)[-1])
    assert list(generated["channels"]) == ["sms_push"]


def test_a_yes_on_granted_channels_only_produces_no_form_and_no_entry(
    customer: Client, collect: Collect, grant: Callable[..., Any]
) -> None:
    grant(customer, "email")
    grant(customer, "sms_push")
    before = written()

    collected = collect(customer, email="yes", sms_push="yes")

    assert collected.form is None
    assert collected.not_asked == ["email", "sms_push"]
    assert [d.recorded for d in collected.decisions] == [False, False]
    assert written() == before


def test_an_unanswered_question_records_nothing(customer: Client, collect: Collect) -> None:
    before = written()

    collected = collect(customer, email="", sms_push="")

    assert collected.form is None
    assert collected.decisions == []
    assert collected.not_asked == []
    assert written() == before


def test_an_unanswered_question_beside_a_yes_leaves_its_channel_alone(
    customer: Client, collect: Collect
) -> None:
    form = collect(customer, email="yes", sms_push="").form

    assert form is not None
    assert list(form.channels.values_list("channel", flat=True)) == ["email"]
    assert states_of(customer) == {"email": "pending_signature", "sms_push": "none"}
    assert not AuditEntry.objects.filter(client_id=customer.pk, channel="sms_push").exists()


# --- what is refused, writing nothing -----------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "journey", "code"),
    [
        ({"fax": "yes"}, "branch_account_opening", "wrong_channel"),
        ({"email": "yes", "fax": "no"}, "branch_account_opening", "wrong_channel"),
        ({"email": "oui"}, "branch_account_opening", "invalid_decision"),
        ({"sms_push": "no", "email": "maybe"}, "branch_contact_update", "invalid_decision"),
        ({"email": "yes"}, "digital_self_service", "journey_not_allowed"),
        ({"email": "yes"}, "digital_account_opening", "journey_not_allowed"),
        ({"email": "no"}, "branch_request", "journey_not_allowed"),
        ({"email": "yes"}, "system_expiry", "journey_not_allowed"),
        ({"email": "yes"}, "nowhere", "journey_not_allowed"),
    ],
)
def test_an_unknown_channel_answer_or_journey_is_refused_writing_nothing(
    customer: Client, advisor: Any, answers: dict[str, str], journey: str, code: str
) -> None:
    before = written()

    with pytest.raises(DomainError) as refused:
        collect_branch_answers(
            client=customer,
            answers={c: BranchAnswer(a, f"{c}-v1") for c, a in answers.items()},
            advisor=advisor,
            journey=journey,
        )

    assert refused.value.code == code
    assert written() == before


def test_a_refusal_after_the_rendering_leaves_no_form_and_no_answer(
    customer: Client, advisor: Any
) -> None:
    """The "Non" is recorded first and the form rendered before the transaction: an unknown
    wording for the "Oui" rolls back both."""
    before = written()

    with pytest.raises(DomainError) as refused:
        collect_branch_answers(
            client=customer,
            answers={
                "sms_push": BranchAnswer("no", "sms_push-v1"),
                "email": BranchAnswer("yes", "email-v99"),
            },
            advisor=advisor,
            journey="branch_account_opening",
        )

    assert refused.value.code == "unknown_wording"
    assert written() == before


# --- the log and the stored PDF ----------------------------------------------------------------


def test_each_yes_is_logged_as_requested(customer: Client, collect: Collect) -> None:
    collect(customer, email="yes", sms_push="yes")

    requested = entries("consent.requested", customer)
    assert sorted(e.channel for e in requested) == ["email", "sms_push"]
    for entry in requested:
        data = payload(entry)
        assert entry.actor_type == "advisor"
        assert entry.wording_version == f"{entry.channel}-v1"
        assert data["wording_sha256"] == Wording.objects.get(version=entry.wording_version).sha256
        assert data["effects"] == ["new_form"]
        assert data["_state"]["from"] == "none"
        assert data["_state"]["to"] == "pending_signature"
        assert data["_state"]["prior"] == "none"


def test_the_form_is_logged_once_with_the_digest_of_its_pdf(
    customer: Client, collect: Collect
) -> None:
    form = collect(customer, email="yes", sms_push="yes").form
    assert form is not None

    [generated] = entries("form.generated", customer)
    data = payload(generated)
    assert data["pdf_sha256"] == form.pdf_sha256
    assert data["form_id"] == str(form.uuid)
    assert data["reference"] == form.reference
    assert data["journey"] == "branch_account_opening"
    assert data["supersedes"] == []
    assert data["channels"] == {
        channel: {
            "wording_version": f"{channel}-v1",
            "wording_sha256": Wording.objects.get(version=f"{channel}-v1").sha256,
            "prior": "none",
        }
        for channel in ("email", "sms_push")
    }
    # The form is logged after the answers it gathers.
    assert all(e.seq < generated.seq for e in entries("consent.requested", customer))


def test_the_stored_pdf_hashes_to_the_digest_recorded(customer: Client, collect: Collect) -> None:
    form = collect(customer, email="yes").form
    assert form is not None

    document = files.read(form.pdf)

    assert document.startswith(b"%PDF-")
    assert hashlib.sha256(document).hexdigest() == form.pdf_sha256
    assert form.pdf_sha256 in form.pdf  # stored by its content's digest


def test_the_log_replays_to_the_states_after_answers(
    customer: Client, collect: Collect, grant: Callable[..., Any]
) -> None:
    grant(customer, "sms_push")
    collect(customer, email="yes", sms_push="no")

    assert verify_log().ok


# --- who may collect ----------------------------------------------------------------------------


def test_a_compliance_officer_cannot_collect(customer: Client, compliance: Any) -> None:
    before = written()

    with pytest.raises(DomainError) as refused:
        collect_branch_answers(
            client=customer,
            answers={"email": BranchAnswer("yes", "email-v1")},
            advisor=compliance,
            journey="branch_account_opening",
        )

    assert refused.value.code == "not_allowed"
    assert written() == before


def test_an_administrator_cannot_collect(customer: Client, administrator: Any) -> None:
    before = written()

    with pytest.raises(DomainError) as refused:
        collect_branch_answers(
            client=customer,
            answers={"sms_push": BranchAnswer("no", "sms_push-v1")},
            advisor=administrator,
            journey="branch_contact_update",
        )

    assert refused.value.code == "not_allowed"
    assert written() == before


def test_an_account_without_staff_profile_cannot_collect(customer: Client) -> None:
    stranger = get_user_model().objects.create_user("eve", password="pw-for-tests")
    before = written()

    with pytest.raises(DomainError) as refused:
        collect_branch_answers(
            client=customer,
            answers={"email": BranchAnswer("yes", "email-v1")},
            advisor=stranger,
            journey="branch_account_opening",
        )

    assert refused.value.code == "not_allowed"
    assert written() == before


def test_an_advisor_of_another_branch_cannot_collect_and_nothing_is_written(
    customer: Client, collect: Collect, advisor_other_branch: Any
) -> None:
    """R55: advisors act only on their branch's clients, in the service as on the pages."""
    before = written()

    with pytest.raises(DomainError) as refused:
        collect(customer, by=advisor_other_branch, email="yes")

    assert refused.value.code == "not_allowed"
    assert written() == before


# --- R30: no branch grant outside the form ------------------------------------------------------


@pytest.mark.parametrize(
    "journey", ["branch_account_opening", "branch_contact_update", "branch_request"]
)
def test_record_decision_refuses_a_branch_grant_without_its_form(
    customer: Client, advisor: Any, journey: str
) -> None:
    before = written()

    with pytest.raises(DomainError) as refused:
        record_decision(
            client_number=customer.client_number,
            channel="email",
            decision="grant",
            journey=journey,
            actor=advisor_actor(advisor),
            wording_version="email-v1",
            affirmative_action=True,
        )

    assert refused.value.code == "journey_not_allowed"
    assert written() == before
