"""R52, R54 (with notes/signatures.md §3 "proof downloaded"): every download of a form's PDF
is logged.

`record_download` returns the original or the sealed PDF and logs `form.downloaded` with the
form, the file downloaded (`original` or `signed`), its SHA-256 and who downloaded it. Asking
for the sealed PDF of a form not signed yet is refused and logs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clients.models import Client
from optin.errors import DomainError
from optin.integrity import verify_log
from signatures import files
from signatures.models import ConsentForm
from signatures.services import Collected, record_download
from tests.clients.helpers import entries, log_size, payload

Collect = Callable[..., Collected]
Sign = Callable[..., ConsentForm]


@pytest.fixture
def pending(customer: Client, collect: Collect) -> ConsentForm:
    form = collect(customer, email="yes").form
    assert form is not None
    return form


def test_downloading_the_original_returns_it_and_logs_its_hash(
    pending: ConsentForm, advisor: Any, customer: Client
) -> None:
    data = record_download(form=pending, user=advisor, which="original")

    assert data == files.read(pending.pdf)
    [entry] = entries("form.downloaded", customer)
    assert payload(entry)["form_id"] == str(pending.uuid)
    assert payload(entry)["reference"] == pending.reference
    assert payload(entry)["file"] == "original"
    assert payload(entry)["sha256"] == pending.pdf_sha256 == files.sha256(data)
    assert (entry.actor_type, entry.actor_id) == ("advisor", f"staff:{advisor.pk}")
    assert entry.client_id == customer.pk
    assert entry.client_number == customer.client_number


def test_downloading_the_sealed_pdf_returns_it_and_logs_its_hash(
    pending: ConsentForm, sign_tablet: Sign, advisor: Any, customer: Client
) -> None:
    signed = sign_tablet(pending)

    data = record_download(form=signed, user=advisor, which="signed")

    assert data == files.read(signed.signed_pdf)
    [entry] = entries("form.downloaded", customer)
    assert payload(entry)["file"] == "signed"
    assert payload(entry)["sha256"] == signed.signed_pdf_sha256 == files.sha256(data)
    assert payload(entry)["reference"] == signed.reference


def test_the_original_of_a_signed_form_is_still_the_generated_pdf(
    pending: ConsentForm, sign_tablet: Sign, advisor: Any
) -> None:
    generated = files.read(pending.pdf)
    signed = sign_tablet(pending)

    data = record_download(form=signed, user=advisor, which="original")

    assert data == generated


def test_the_sealed_pdf_of_a_form_not_signed_yet_is_refused_and_nothing_is_logged(
    pending: ConsentForm, advisor: Any
) -> None:
    last = log_size()

    with pytest.raises(DomainError) as refused:
        record_download(form=pending, user=advisor, which="signed")

    assert refused.value.code == "form_not_pending"
    assert log_size() == last


def test_an_advisor_of_another_branch_cannot_download_and_nothing_is_logged(
    pending: ConsentForm, advisor_other_branch: Any
) -> None:
    last = log_size()

    with pytest.raises(DomainError) as refused:
        record_download(form=pending, user=advisor_other_branch, which="original")

    assert refused.value.code == "not_allowed"
    assert log_size() == last


def test_each_download_is_logged_with_who_downloaded(
    pending: ConsentForm, advisor: Any, compliance: Any, customer: Client
) -> None:
    record_download(form=pending, user=advisor, which="original")
    record_download(form=pending, user=compliance, which="original")

    logged = entries("form.downloaded", customer)
    assert [(e.actor_type, e.actor_id) for e in logged] == [
        ("advisor", f"staff:{advisor.pk}"),
        ("compliance", f"staff:{compliance.pk}"),
    ]
    assert verify_log().ok


def test_an_unknown_file_kind_is_refused_and_nothing_is_logged(
    pending: ConsentForm, advisor: Any
) -> None:
    """Only `original` and `signed` exist: anything else must not be served as the original
    and logged under a file name that names nothing."""
    last = log_size()

    with pytest.raises((ValueError, DomainError)):
        record_download(form=pending, user=advisor, which="scan")

    assert log_size() == last
