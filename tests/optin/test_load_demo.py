"""DESIGN §5: `load_demo` loads a branch, the three staff roles and a few dozen customers with
varied consent states, through the services (so the log verifies, R53); running it again
changes nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from clients.models import Client, StaffProfile
from optin.integrity import verify_log
from optin.models import AuditEntry, ConsentState

pytestmark = pytest.mark.django_db


def load_demo() -> str:
    out = StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {
        "clients": Client.objects.count(),
        "states": ConsentState.objects.count(),
        "entries": AuditEntry.objects.count(),
        "users": User.objects.count(),
    }


@pytest.fixture
def demo(db):
    load_demo()


def test_running_it_twice_changes_nothing(demo):
    before = counts()
    states = list(ConsentState.objects.order_by("pk").values_list("pk", "status", "last_seq"))
    output = load_demo()
    assert counts() == before
    assert list(ConsentState.objects.order_by("pk").values_list("pk", "status", "last_seq")) == (
        states
    )
    assert "0 new customers" in output


def test_it_creates_an_advisor_a_compliance_officer_and_an_administrator(demo):
    roles = dict(StaffProfile.objects.values_list("user__username", "role"))
    assert sorted(roles.values()) == ["administrator", "advisor", "compliance"]
    advisor = StaffProfile.objects.get(role="advisor")
    assert advisor.branch is not None


def test_it_creates_at_least_30_customers_with_varied_states(demo):
    assert Client.objects.count() >= 30
    assert ConsentState.objects.count() == 2 * Client.objects.count()
    statuses = set(ConsentState.objects.values_list("status", flat=True))
    assert {"granted", "refused", "withdrawn", "none"} <= statuses


def test_the_log_verifies_after_loading_twice(demo):
    load_demo()
    result = verify_log()
    assert result.ok, result.problems
    assert result.states == ConsentState.objects.count()


def test_it_leaves_two_forms_to_sign_once(demo):
    """R24: two customers said "Oui" in branch and have not signed yet."""
    from signatures.models import ConsentForm

    pending = list(ConsentForm.objects.filter(status="pending"))
    assert len(pending) == 2
    for form in pending:
        assert set(
            ConsentState.objects.filter(client=form.client, status="pending_signature").values_list(
                "channel", flat=True
            )
        ) == set(form.channels.values_list("channel", flat=True))
    output = load_demo()
    assert ConsentForm.objects.count() == 2
    assert "form to sign" not in output


def test_civility_matches_the_first_name(demo):
    jeanne = Client.objects.filter(first_name="Jeanne").first()
    louis = Client.objects.filter(first_name="Louis").first()
    assert jeanne is None or jeanne.civility == "MME"
    assert louis is None or louis.civility == "M"
