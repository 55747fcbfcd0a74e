"""R64, R62, R63: erasing a customer leaves no personal value of theirs, anywhere.

The customer has a digital grant and withdrawal on SMS (with IP and user agent), a contact
change, a branch "Oui" on e-mail signed on the tablet (signature image, PDFs), a second form
still pending, and an access-log row. After the erasure, in one transaction: both channels are
withdrawn (journey `erasure_request`), both contact points are on the suppression list, the
pending form is cancelled, the key is destroyed and emptied, the client row's personal fields
are replaced and its number freed, the forms' files deleted with their hashes kept. Then no
table of the database, no file of the storage, no proof bundle and no CSV export holds any of
the customer's personal values; the log still verifies; eligibility answers `erased`; the
number can be created again and starts at `none`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client as HttpClient
from django.urls import reverse

from clients.models import Client, ClientStatus
from clients.services import change_contact_details
from optin import audit, checkpoints, integrity
from optin.errors import DomainError
from optin.models import (
    AuditEntry,
    ClientKey,
    ConsentState,
    ConsentStatus,
    SuppressionEntry,
)
from optin.selectors import eligibility
from optin.services import suppression_digest
from privacy.services import ERASED_NAME, ErasureReason, erase_client
from signatures.models import ConsentForm, FormStatus
from signatures.services import Collected
from tests.compliance.test_proof_bundle import pdf_text, unzip
from tests.factories import ClientFactory

FIRST, LAST = "Zéphyrine", "Quastelbaum"
EMAIL, NEW_EMAIL = "zephyrine.quastelbaum@exemple.fr", "zq.nouvelle@exemple.fr"
MOBILE = "+33611223344"
BIRTH = dt.date(1971, 3, 9)
PERSONAL = [
    FIRST,
    LAST,
    LAST.lower(),
    "zephyrine",  # the search key
    EMAIL,
    NEW_EMAIL,
    MOBILE,
    "1971-03-09",
    "09/03/1971",
    "192.0.2.1",  # the digital grant's IP address and user agent (conftest `grant`)
    "pytest",
    "198.51.100.7",  # the tablet's (tests/signatures/conftest.py SIGNER)
    "Tablet test",
    "Refuse de signer aujourd",  # an advisor's note on a cancelled form
]


@pytest.fixture
def person(branch: Any) -> Client:
    return ClientFactory(
        client_number="Z0001",
        first_name=FIRST,
        last_name=LAST,
        birth_date=BIRTH,
        email=EMAIL,
        mobile=MOBILE,
        branch=branch,
        status=ClientStatus.CUSTOMER,
    )


@pytest.fixture
def lived(
    person: Client,
    grant: Callable[..., Any],
    decide: Callable[..., Any],
    collect: Callable[..., Collected],
    sign_tablet: Callable[..., ConsentForm],
    advisor_as_actor: Any,
    compliance_http: HttpClient,
) -> Client:
    grant(person, "sms_push")
    decide(person, "sms_push", "withdraw")
    change_contact_details(
        actor=advisor_as_actor, client_number=person.client_number, email=NEW_EMAIL
    )
    person.refresh_from_db()
    pending = collect(person, email="yes").form
    assert pending is not None
    sign_tablet(pending)
    declined = collect(person, sms_push="yes").form
    assert declined is not None
    from signatures.services import cancel_form

    cancel_form(
        client_number=person.client_number,
        reference=declined.reference,
        advisor=declined.advisor,
        note="Refuse de signer aujourd'hui",
    )
    assert collect(person, sms_push="yes").form is not None  # left pending
    # The record page opened by compliance: an access-log row.
    page = compliance_http.get(reverse("compliance:bundle", args=[person.client_number]))
    assert page.status_code == 200
    person.refresh_from_db()
    return person


def form_files(client: Client) -> list[str]:
    """The names of the customer's forms' files (storage is shared by the session's tests)."""
    return [
        name
        for form in ConsentForm.objects.filter(client=client)
        for name in (
            form.pdf,
            form.signature_image,
            form.signature_points,
            form.scan,
            form.signed_pdf,
        )
        if name
    ]


def database_dump() -> str:
    """Every value of every table, as text."""
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (names from the schema)
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        parts.append(bytes(value).decode("latin-1"))
                    else:
                        parts.append(str(value))
    return "\n".join(parts)


def found_in(text: str) -> list[str]:
    return [value for value in PERSONAL if value in text]


@pytest.fixture
def files_before(lived: Client) -> list[str]:
    names = form_files(lived)
    assert len(names) == 6 and all(default_storage.exists(n) for n in names)
    return names


@pytest.fixture
def erased(
    lived: Client,
    files_before: list[str],
    compliance: Any,
    django_capture_on_commit_callbacks: Any,
) -> tuple[Client, Any]:
    from clients.roles import actor_for

    with django_capture_on_commit_callbacks(execute=True):
        result = erase_client(client_number=lived.client_number, actor=actor_for(compliance))
    return lived, result


def test_the_history_holds_the_personal_values_before(lived: Client) -> None:
    """The check below means something: before the erasure they are there."""
    dump = database_dump()
    assert {FIRST, LAST, NEW_EMAIL, MOBILE} <= set(found_in(dump))


def test_one_transaction_withdraws_suppresses_cancels_and_destroys(
    erased: tuple[Client, Any],
) -> None:
    client, result = erased
    row = Client.objects.get(pk=client.pk)
    assert result.recorded and result.client_number == "Z0001"
    assert result.reason == ErasureReason.REQUEST
    assert row.erased_at is not None and row.client_number == f"~{client.pk}"
    assert (row.first_name, row.last_name, row.email, row.mobile, row.birth_date) == (
        "",
        ERASED_NAME,
        "",
        "",
        None,
    )
    states = {s.channel: s for s in ConsentState.objects.filter(client=row)}
    assert states["email"].status == ConsentStatus.WITHDRAWN
    assert states["sms_push"].status == ConsentStatus.WITHDRAWN
    assert states["email"].journey == "erasure_request"
    for channel, point in (("email", NEW_EMAIL), ("sms_push", MOBILE)):
        assert SuppressionEntry.objects.filter(
            channel=channel, digest=suppression_digest(point)
        ).exists()
    assert not ConsentForm.objects.filter(client=row, status=FormStatus.PENDING).exists()
    assert result.forms_cancelled == 1
    forms = list(ConsentForm.objects.filter(client=row))
    assert forms and all(f.files_deleted_at is not None for f in forms)
    signed = next(f for f in forms if f.status == FormStatus.SIGNED)
    assert signed.signed_pdf_sha256 and signed.pdf_sha256  # the hashes stay
    assert not signed.signed_pdf and not signed.signature_image
    key = ClientKey.objects.get(client_id=row.pk)
    assert key.destroyed_at is not None and bytes(key.wrapped_key) == b""
    last = AuditEntry.objects.filter(client_id=row.pk).order_by("-seq").first()
    assert last is not None and last.action == "client.erased" and last.seq == result.seq
    assert last.client_number == "Z0001"
    assert '"personal"' not in last.payload


def test_no_table_and_no_file_holds_a_personal_value(
    erased: tuple[Client, Any], files_before: list[str]
) -> None:
    assert found_in(database_dump()) == []
    assert [name for name in files_before if default_storage.exists(name)] == []
    assert form_files(erased[0]) == []


def test_the_log_still_verifies_and_opens_nothing(erased: tuple[Client, Any]) -> None:
    client, _result = erased
    assert checkpoints.create_checkpoint() is not None
    result = integrity.verify_log()
    assert result.ok, result.problems
    entries = AuditEntry.objects.filter(client_id=client.pk)
    assert entries.count() > 10
    assert all(audit.personal_data(e) is None for e in entries)


def test_eligibility_answers_erased_on_both_channels(erased: tuple[Client, Any]) -> None:
    for channel in ("email", "sms_push"):
        [answer] = eligibility(channel, ["Z0001"])
        assert (answer.eligible, answer.reason) == (False, "erased")


def test_the_number_starts_afresh_at_none(erased: tuple[Client, Any], branch: Any) -> None:
    again = ClientFactory(client_number="Z0001", branch=branch, email=EMAIL, mobile=MOBILE)
    assert again.pk != erased[0].pk
    assert set(ConsentState.objects.filter(client=again).values_list("status", flat=True)) == {
        "none"
    }
    [answer] = eligibility("email", ["Z0001"])
    assert answer.reason == "no_consent"
    # The new record's own data are sealed under a new key; the old one stays destroyed.
    created = AuditEntry.objects.get(client_id=again.pk, action="client.created")
    assert audit.personal_data(created) == {**again.as_identity(), "protection_measure": ""}


def test_erasing_twice_writes_nothing(erased: tuple[Client, Any], compliance: Any) -> None:
    from clients.roles import actor_for

    head = AuditEntry.objects.count()
    again = erase_client(client_number="Z0001", actor=actor_for(compliance))
    assert (again.recorded, again.seq) == (False, erased[1].seq)
    assert AuditEntry.objects.count() == head


def test_an_unknown_number_is_refused(db: None) -> None:
    from optin.audit import Actor

    with pytest.raises(DomainError) as refused:
        erase_client(client_number="NOPE1", actor=Actor.system("test"))
    assert refused.value.code == "unknown_client"


def test_the_proof_bundle_and_the_trail_export_hold_nothing_personal(
    erased: tuple[Client, Any], compliance_http: HttpClient, tmp_path: Path
) -> None:
    client, _ = erased
    from optin.compliance.bundle import produce_proof_bundle

    user = compliance_http.session.get("_auth_user_id")
    from django.contrib.auth.models import User

    bundle = produce_proof_bundle(
        user=User.objects.get(pk=user), client=Client.objects.get(pk=client.pk)
    )
    files = unzip(bundle.content)
    for name, data in files.items():
        text = data.decode("utf-8", errors="replace")
        if name.endswith(".pdf"):
            text = pdf_text(data, tmp_path)
        assert found_in(text) == [], name
    export = compliance_http.get(reverse("compliance:trail_export"), {"client_number": "Z0001"})
    assert export.status_code == 200
    csv = b"".join(export.streaming_content).decode("utf-8")
    assert "client.erased" in csv
    assert found_in(csv) == []


def test_the_proof_bundle_page_is_found_by_the_number_given_up(
    erased: tuple[Client, Any], compliance_http: HttpClient
) -> None:
    client, _ = erased
    page = compliance_http.get(reverse("compliance:bundle", args=["Z0001"]))
    assert page.status_code == 302
    assert page["Location"] == reverse("compliance:bundle", args=[f"~{client.pk}"])
    shown = compliance_http.get(page["Location"])
    assert shown.status_code == 200
    assert found_in(shown.content.decode()) == []
    assert compliance_http.get(reverse("compliance:bundle", args=["NEVER1"])).status_code == 404
