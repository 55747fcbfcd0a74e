"""R60, R61, R62, R63, R65: the retention purges, on the boundary days of each period.

Each period is run with frozen time on the day before it ends (nothing purged) and on the day
it ends (purged): prospects three years after the later of their collection and their last
contact from them, former customers three years after the end of the relationship, unsigned
forms' PDFs 90 days after they ended, the proof of a consent five years after it ended, and
suppression entries three years after the objection. A second run the same day changes
nothing and logs nothing; a run's log entry carries counts and pseudonymised numbers only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.core.management import call_command

from clients.models import Client, ClientStatus
from optin import audit
from optin.models import AuditEntry, ClientKey, ConsentStatus, SuppressionEntry
from optin.services import add_to_suppression_list
from privacy import retention
from privacy.services import pseudonym
from signatures.models import ConsentForm, FormStatus
from signatures.services import Collected, cancel_form
from tests.conftest import paris
from tests.factories import ClientFactory

_commit: list[Any] = []


@pytest.fixture(autouse=True)
def _on_commit(django_capture_on_commit_callbacks: Any) -> Any:
    """Files are deleted once a purge's transaction commits: run those callbacks."""
    _commit.append(django_capture_on_commit_callbacks)
    yield
    _commit.clear()


def run(*when: int) -> retention.PurgeReport:
    with time_machine.travel(paris(*when), tick=False), _commit[-1](execute=True):
        return retention.purge_retention()


def make(branch: Any, number: str, *when: int, **fields: Any) -> Client:
    with time_machine.travel(paris(*when), tick=False):
        return ClientFactory(client_number=number, branch=branch, **fields)


def erased(client: Client) -> bool:
    return Client.objects.get(pk=client.pk).erased_at is not None


# --- R60: prospects -------------------------------------------------------------------------------


def test_a_prospect_is_purged_on_the_third_anniversary_of_their_collection(branch: Any) -> None:
    prospect = make(branch, "P1", 2024, 5, 10, 15)

    assert run(2027, 5, 9, 23, 59).prospects == []
    assert not erased(prospect)
    assert run(2027, 5, 10, 0, 1).prospects == ["P1"]
    assert erased(prospect)


def test_a_contact_from_the_prospect_restarts_the_period(
    branch: Any, grant: Callable[..., Any]
) -> None:
    prospect = make(branch, "P2", 2027, 5, 10, 15)
    with time_machine.travel(paris(2028, 2, 1, 9), tick=False):
        grant(prospect, "email")  # a consent act: a contact coming from them

    assert run(2030, 5, 10, 12).prospects == []
    assert run(2031, 1, 31, 12).prospects == []
    assert run(2031, 2, 1, 0, 1).prospects == ["P2"]
    states = set(Client.objects.get(pk=prospect.pk).consent_states.values_list("status", flat=True))
    # A retention purge is no objection: the consent lapses, nothing goes on the suppression list.
    assert states == {ConsentStatus.NONE}
    assert not SuppressionEntry.objects.exists()


def test_a_customer_is_not_purged_as_a_prospect(branch: Any) -> None:
    customer = make(branch, "K1", 2020, 1, 1, 12, status=ClientStatus.CUSTOMER)
    assert run(2027, 1, 1, 12).prospects == []
    assert not erased(customer)


def test_the_29th_of_february_ends_on_the_1st_of_march(branch: Any) -> None:
    make(branch, "P3", 2024, 2, 29, 12)
    assert run(2027, 2, 28, 23).prospects == []
    assert run(2027, 3, 1, 0, 1).prospects == ["P3"]


# --- R61: former customers ------------------------------------------------------------------------


def test_a_former_customer_is_purged_three_years_after_the_end(branch: Any) -> None:
    former = make(
        branch,
        "F1",
        2015,
        1,
        1,
        12,
        status=ClientStatus.FORMER_CUSTOMER,
        relationship_ended_on=dt.date(2023, 6, 30),
    )
    assert run(2026, 6, 29, 23).former_customers == []
    assert run(2026, 6, 30, 0, 1).former_customers == ["F1"]
    assert erased(former)
    assert Client.objects.get(pk=former.pk).client_number == f"~{former.pk}"


# --- R63: unsigned forms --------------------------------------------------------------------------


def test_an_unsigned_form_loses_its_pdf_ninety_days_after_it_ended(
    branch: Any, collect: Callable[..., Collected], advisor: Any
) -> None:
    customer = make(branch, "U1", 2027, 1, 2, 9, status=ClientStatus.CUSTOMER)
    with time_machine.travel(paris(2027, 1, 5, 10), tick=False):
        form = collect(customer, email="yes").form
        assert form is not None
        cancel_form(
            client_number="U1", reference=form.reference, advisor=advisor, note="pas aujourd'hui"
        )
    name, digest = ConsentForm.objects.get(pk=form.pk).pdf, form.pdf_sha256
    assert default_storage.exists(name)

    assert run(2027, 4, 4, 23).unsigned_pdfs == []  # 5 January + 90 days = 5 April
    report = run(2027, 4, 5, 0, 1)

    assert report.unsigned_pdfs == [form.reference]
    form.refresh_from_db()
    assert (form.pdf, form.pdf_sha256, form.status) == ("", digest, FormStatus.CANCELLED)
    assert form.files_deleted_at is not None
    assert not default_storage.exists(name)
    logged = AuditEntry.objects.get(action="form.files_deleted", client_id=customer.pk)
    assert audit.canonical_json(digest) in logged.payload
    assert '"personal"' not in logged.payload


# --- R63: the proof of a consent that ended -------------------------------------------------------


@pytest.fixture
def signed_then_withdrawn(
    branch: Any,
    collect: Callable[..., Collected],
    sign_tablet: Callable[..., ConsentForm],
    decide: Callable[..., Any],
) -> tuple[Client, ConsentForm]:
    customer = make(branch, "S1", 2027, 1, 2, 9, status=ClientStatus.CUSTOMER)
    with time_machine.travel(paris(2027, 1, 6, 10), tick=False):
        form = sign_tablet(collect(customer, email="yes").form)
    with time_machine.travel(paris(2028, 3, 15, 10), tick=False):
        decide(customer, "email", "withdraw")
    return customer, form


def test_the_proof_of_a_withdrawn_consent_goes_five_years_after(
    signed_then_withdrawn: tuple[Client, ConsentForm],
) -> None:
    customer, form = signed_then_withdrawn
    signed_name = form.signed_pdf
    key = ClientKey.objects.get(client_id=customer.pk)

    before = run(2033, 3, 14, 23)
    assert (before.signed_forms, before.keys) == ([], [])
    after = run(2033, 3, 15, 12)

    assert after.signed_forms == [form.reference]
    assert after.keys == ["S1"]
    form.refresh_from_db()
    assert form.files_deleted_at is not None and form.signed_pdf_sha256
    assert not default_storage.exists(signed_name)
    key.refresh_from_db()
    assert key.destroyed_at is not None and key.destroyed_for == "retention"
    for action in ("client.proof_expired", "form.files_deleted"):
        logged = AuditEntry.objects.get(action=action, client_id=customer.pk)
        assert '"personal"' not in logged.payload
    # The customer is still a customer: their record stays, and new values get a new key.
    assert not erased(customer)
    created = AuditEntry.objects.get(client_id=customer.pk, action="client.created")
    assert audit.personal_data(created) is None
    with time_machine.travel(paris(2033, 4, 1, 12), tick=False):
        from optin.services import record_decision
        from tests.factories import web_actor

        record_decision(
            client_number="S1",
            channel="sms_push",
            decision="grant",
            journey="digital_self_service",
            actor=web_actor(),
            wording_version="sms_push-v1",
            affirmative_action=True,
            evidence={"ip": "192.0.2.9"},
        )
    latest = AuditEntry.objects.filter(client_id=customer.pk).order_by("-seq").first()
    assert latest is not None and audit.personal_data(latest) == {
        "contact_point": customer.mobile,
        "ip": "192.0.2.9",
    }
    assert ClientKey.objects.filter(client_id=customer.pk, destroyed_at__isnull=True).count() == 1
    # Its key is newer than the consent that ended: the next run leaves it.
    assert run(2033, 4, 2, 12).keys == []


def test_a_consent_in_use_keeps_its_proof(
    branch: Any, collect: Callable[..., Collected], sign_tablet: Callable[..., ConsentForm]
) -> None:
    customer = make(branch, "S2", 2027, 1, 2, 9, status=ClientStatus.CUSTOMER)
    with time_machine.travel(paris(2027, 1, 6, 10), tick=False):
        sign_tablet(collect(customer, email="yes").form)
    report = run(2040, 1, 1, 12)
    assert (report.signed_forms, report.keys) == ([], [])


# --- R62: the suppression list --------------------------------------------------------------------


def test_a_suppression_entry_is_kept_three_years(db: None) -> None:
    with time_machine.travel(paris(2023, 9, 1, 10), tick=False):
        add_to_suppression_list("email", "parti@exemple.fr")
    assert run(2026, 8, 31, 23).suppression_entries == 0
    assert run(2026, 9, 1, 0, 1).suppression_entries == 1
    assert not SuppressionEntry.objects.exists()


def test_a_new_objection_starts_the_period_again(db: None) -> None:
    with time_machine.travel(paris(2023, 9, 1, 10), tick=False):
        add_to_suppression_list("email", "parti@exemple.fr")
    with time_machine.travel(paris(2025, 1, 1, 10), tick=False):
        add_to_suppression_list("email", "parti@exemple.fr")
    assert run(2026, 9, 1, 12).suppression_entries == 0


# --- R65: logged, repeatable, dry run -------------------------------------------------------------


def test_a_run_logs_counts_and_pseudonyms_and_a_second_changes_nothing(branch: Any) -> None:
    make(branch, "P9", 2020, 1, 1, 12)
    first = run(2026, 1, 1, 12)
    entry = AuditEntry.objects.get(seq=first.seq)
    log_size = AuditEntry.objects.count()

    again = run(2026, 1, 1, 18)

    assert entry.action == "retention.purged"
    assert '"prospects":1' in entry.payload
    assert pseudonym("P9") in entry.payload
    assert '"P9"' not in entry.payload
    assert (again.total, again.seq) == (0, None)
    assert AuditEntry.objects.count() == log_size


def test_the_dry_run_lists_and_changes_nothing(branch: Any, capsys: Any) -> None:
    prospect = make(branch, "P8", 2020, 1, 1, 12)
    log_size = AuditEntry.objects.count()
    with time_machine.travel(paris(2026, 1, 1, 12), tick=False):
        call_command("purge_retention", "--dry-run")
    out = capsys.readouterr().out
    assert "1 prospects erased (R60)" in out and "    P8" in out
    assert not erased(prospect)
    assert AuditEntry.objects.count() == log_size
    with time_machine.travel(paris(2026, 1, 1, 12), tick=False):
        call_command("purge_retention")
    assert "1 prospects erased (R60)" in capsys.readouterr().out
    assert erased(prospect)


@pytest.mark.postgres
def test_two_runs_never_overlap_on_postgresql(branch: Any) -> None:
    """Another host holding the purge's advisory lock: this run stops before doing anything."""
    import psycopg
    from django.db import connection

    prospect = make(branch, "P7", 2020, 1, 1, 12)
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [retention.PURGE_LOCK_KEY])
        with pytest.raises(retention.PurgeRunning):
            run(2026, 1, 1, 12)
    assert not erased(prospect)
    assert run(2026, 1, 1, 12).prospects == ["P7"]


def test_updating_their_details_is_a_contact_from_the_prospect(branch: Any, web: Any) -> None:
    """R60: a contact update in branch or online restarts the period; the back office's
    does not."""
    from clients.services import change_contact_details

    make(branch, "P6", 2027, 5, 10, 15)
    make(branch, "P5", 2027, 5, 10, 15)
    with time_machine.travel(paris(2029, 1, 10, 9), tick=False):
        change_contact_details(
            actor=web,
            client_number="P6",
            email="nouvelle.adresse@exemple.fr",
            journey="digital_contact_update",
        )
        change_contact_details(
            actor=web, client_number="P5", email="autre.adresse@exemple.fr", journey="back_office"
        )

    assert run(2030, 5, 10, 12).prospects == ["P5"]
    assert run(2032, 1, 9, 12).prospects == []
    assert run(2032, 1, 10, 12).prospects == ["P6"]
