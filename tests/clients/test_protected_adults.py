"""R6, R4 (with R47): an adult under any protection measure (tutelle, curatelle, sauvegarde de
justice, habilitation familiale, mandat de protection future) may not grant: the grant is refused
with `ineligible_person` / `protected_adult` and writes nothing. Their refusals and withdrawals
are still recorded."""

import pytest

from optin.errors import DomainError
from optin.models import AuditEntry
from optin.selectors import eligibility
from tests.clients.helpers import log_size, snapshot, states_of

MEASURES = [
    "tutelle",
    "curatelle",
    "sauvegarde_de_justice",
    "habilitation_familiale",
    "mandat_de_protection_future",
]


@pytest.fixture(params=MEASURES)
def protected(request, client_factory):
    return client_factory(legal_capacity="protected", protection_measure=request.param)


@pytest.mark.parametrize("channel", ["email", "sms_push"])
def test_a_digital_grant_by_a_protected_adult_is_refused_and_writes_nothing(
    protected, grant, channel
):
    before = snapshot(protected)
    with pytest.raises(DomainError) as caught:
        grant(protected, channel)
    assert caught.value.code == "ineligible_person"
    assert caught.value.extra == {"reason": "protected_adult"}
    assert snapshot(protected) == before


def test_a_branch_grant_by_a_protected_adult_is_refused_and_writes_nothing(
    protected, decide, advisor_as_actor
):
    before = snapshot(protected)
    with pytest.raises(DomainError) as caught:
        decide(
            protected, "email", "grant", journey="branch_account_opening", actor=advisor_as_actor
        )
    assert (caught.value.code, caught.value.extra["reason"]) == (
        "ineligible_person",
        "protected_adult",
    )
    assert snapshot(protected) == before


def test_a_protected_adult_may_refuse(protected, decide):
    before = log_size()
    result = decide(protected, "email", "refuse")
    assert result.status == "refused"
    assert states_of(protected)["email"] == "refused"
    assert log_size() == before + 1
    assert AuditEntry.objects.filter(action="consent.refused", client_id=protected.pk).exists()


def test_a_protected_adult_may_withdraw(protected, decide):
    result = decide(protected, "sms_push", "withdraw")
    assert result.status == "withdrawn"
    assert states_of(protected)["sms_push"] == "withdrawn"
    assert AuditEntry.objects.filter(action="consent.withdrawn", client_id=protected.pk).exists()


def test_a_protected_adult_may_refuse_in_branch(protected, decide, advisor_as_actor):
    result = decide(
        protected, "sms_push", "refuse", journey="branch_contact_update", actor=advisor_as_actor
    )
    assert result.status == "refused"


@pytest.mark.parametrize("channel", ["email", "sms_push"])
def test_a_protected_adult_is_not_eligible_for_being_protected(protected, channel):
    answer = eligibility(channel, [protected.client_number])[0]
    assert (answer.eligible, answer.reason) == (False, "protected_adult")


def test_a_protected_professional_may_not_grant_either(client_factory, grant):
    professional = client_factory(
        kind="professional", legal_capacity="protected", protection_measure="curatelle"
    )
    with pytest.raises(DomainError) as caught:
        grant(professional, "sms_push")
    assert caught.value.extra == {"reason": "protected_adult"}
    assert states_of(professional)["sms_push"] == "none"
