"""R25, R26: the printed form is signed by hand, scanned, and uploaded by the advisor.

A scan is a PNG, a JPEG or a PDF, recognised by its content; the sealed PDF embeds it as an
attachment and, for an image, shows it on a page of its own. The advisor confirms the
reference read on the scan (case and surrounding spaces do not matter; another reference is
`form_reference_mismatch`), attests the signature and names the identity document checked.
The attested signing time can be neither before the form's generation (`signed_before_form`)
nor in the future (`occurred_in_future`); every refusal writes nothing.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone
from PIL import Image, ImageDraw

from clients.models import Client
from optin.errors import DomainError
from optin.integrity import verify_log
from signatures import files
from signatures.models import ConsentForm, FormStatus
from signatures.services import PAPER_ATTESTATION, Collected
from tests.clients.helpers import entries, log_size, payload, states_of

Collect = Callable[..., Collected]
Sign = Callable[..., ConsentForm]


def page(size: tuple[int, int] = (620, 877)) -> Image.Image:
    """A scanned A4 page at 75 dpi: some lines of text and a signature."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for y in range(60, 500, 24):
        draw.line([(50, y), (560, y)], fill=(90, 90, 90), width=2)
    draw.line([(380, 760), (420, 720), (450, 780), (500, 730)], fill="black", width=3)
    return image


def scan_as(kind: str, pages: int = 1) -> bytes:
    buffer = io.BytesIO()
    if kind == "png":
        page().save(buffer, "PNG")
    elif kind == "jpeg":
        page().save(buffer, "JPEG", quality=80)
    else:
        page().save(buffer, "PDF", save_all=True, append_images=[page()] * (pages - 1))
    return buffer.getvalue()


EXTENSION = {"png": "png", "jpeg": "jpg", "pdf": "pdf"}
CONTENT_TYPE = {"png": "image/png", "jpeg": "image/jpeg", "pdf": "application/pdf"}


@pytest.fixture
def pending(customer: Client, collect: Collect) -> ConsentForm:
    form = collect(customer, email="yes", sms_push="yes").form
    assert form is not None
    return form


def snapshot(form: ConsentForm) -> tuple[Any, ...]:
    row = ConsentForm.objects.filter(pk=form.pk).values().get()
    return row, states_of(form.client), log_size()


def pdf_tool(*args: str) -> str:
    # poppler-utils' tools, on files the test wrote
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout  # noqa: S603


def write(tmp_path: Path, data: bytes, name: str = "signed.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("kind", ["png", "jpeg", "pdf"])
def test_a_png_a_jpeg_and_a_pdf_scan_are_each_accepted(
    kind: str, pending: ConsentForm, sign_paper: Sign, customer: Client, advisor: Any
) -> None:
    scan = scan_as(kind)

    sign_paper(pending, scan)

    form = ConsentForm.objects.get(pk=pending.pk)
    assert form.status == FormStatus.SIGNED
    assert form.method == "paper"
    assert form.identity_document == "passport"
    assert form.signed_by == advisor
    assert files.read(form.scan) == scan
    assert form.scan.endswith(f".{EXTENSION[kind]}")
    assert form.scan_sha256 == files.sha256(scan)
    assert form.signature_image == "" and form.signature_points == ""
    paper = form.evidence["paper"]
    assert paper["scan_type"] == CONTENT_TYPE[kind]
    assert paper["scan_sha256"] == files.sha256(scan)
    assert (paper["scan_bytes"], paper["scan_pages"]) == (len(scan), 1)
    assert states_of(customer) == {"email": "granted", "sms_push": "granted"}


@pytest.mark.parametrize("kind", ["png", "jpeg", "pdf"])
def test_the_sealed_pdf_embeds_the_scan_as_an_attachment(
    kind: str, pending: ConsentForm, sign_paper: Sign, tmp_path: Path
) -> None:
    scan = scan_as(kind)
    form = sign_paper(pending, scan)
    signed = write(tmp_path, files.read(form.signed_pdf))
    out = tmp_path / "attachments"
    out.mkdir()

    listed = pdf_tool("pdfdetach", "-list", str(signed))
    pdf_tool("pdfdetach", "-saveall", "-o", str(out), str(signed))

    assert "2 embedded files" in listed
    assert f"scan.{EXTENSION[kind]}" in listed
    assert (out / f"scan.{EXTENSION[kind]}").read_bytes() == scan
    evidence = json.loads((out / "evidence.json").read_bytes())
    assert evidence["method"] == "paper"
    assert evidence["paper"]["scan_sha256"] == files.sha256(scan)


@pytest.mark.parametrize(("kind", "pages"), [("png", 3), ("jpeg", 3), ("pdf", 2)])
def test_an_image_scan_is_shown_on_a_page_of_its_own_and_a_pdf_scan_is_only_attached(
    kind: str, pages: int, pending: ConsentForm, sign_paper: Sign, tmp_path: Path
) -> None:
    form = sign_paper(pending, scan_as(kind))
    signed = write(tmp_path, files.read(form.signed_pdf))

    info = pdf_tool("pdfinfo", str(signed))
    images = pdf_tool("pdfimages", "-list", str(signed)).splitlines()[2:]

    assert f"Pages:           {pages}" in info
    shown = [line.split() for line in images if line.split()[2] == "image"]
    if kind == "pdf":
        assert shown == []
    else:
        # Page 1 (form), page 2 (evidence), page 3 (the scan, at its own size).
        assert [(row[0], row[3], row[4]) for row in shown] == [("3", "620", "877")]


def test_a_multi_page_pdf_scan_records_its_page_count(
    pending: ConsentForm, sign_paper: Sign
) -> None:
    form = sign_paper(pending, scan_as("pdf", pages=2))

    assert form.evidence["paper"]["scan_pages"] == 2


def test_the_attestation_and_the_scan_hash_are_logged(
    pending: ConsentForm, sign_paper: Sign, customer: Client, advisor: Any
) -> None:
    scan = scan_as("png")
    before = timezone.now()
    form = sign_paper(pending, scan)

    [entry] = entries("form.signed", customer)
    data = payload(entry)
    assert data["method"] == "paper"
    assert data["identity_document"] == "passport"
    assert data["scan_sha256"] == files.sha256(scan)
    assert data["attestation"] == PAPER_ATTESTATION
    assert data["pdf_sha256"] == form.pdf_sha256
    assert (
        data["signed_pdf_sha256"]
        == form.signed_pdf_sha256
        == files.sha256(files.read(form.signed_pdf))
    )
    assert form.signed_seq == entry.seq
    attestation = form.evidence["paper"]["attestation"]
    assert attestation["text"] == PAPER_ATTESTATION
    assert attestation["by"] == (advisor.get_full_name() or advisor.get_username())
    assert dt.datetime.fromisoformat(attestation["at"]) >= before
    assert form.evidence["paper"]["reference_confirmed"] == form.reference
    assert verify_log().ok


def test_the_attested_signing_time_is_when_the_consent_occurred(
    pending: ConsentForm, sign_paper: Sign, customer: Client
) -> None:
    attested = pending.created_at + dt.timedelta(minutes=7)

    # Uploaded half an hour after the generation; signed seven minutes after it.
    with time_machine.travel(pending.created_at + dt.timedelta(minutes=30)):
        form = sign_paper(pending, scan_as("jpeg"), signed_at=attested)

    assert form.signed_at == attested
    [signed_entry] = entries("form.signed", customer)
    assert signed_entry.occurred_at == attested
    for entry in entries("consent.granted", customer):
        assert entry.occurred_at == attested
        assert payload(entry)["_state"]["since"] == attested.isoformat()
        assert payload(entry)["signed_pdf_sha256"] == form.signed_pdf_sha256


def test_the_reference_read_on_the_scan_must_be_the_forms(
    pending: ConsentForm,
    sign_paper: Sign,
    collect: Collect,
    client_factory: Callable[..., Client],
) -> None:
    other = collect(client_factory(first_name="Paul"), email="yes").form
    assert other is not None
    before = snapshot(pending)

    with pytest.raises(DomainError) as refused:
        sign_paper(pending, scan_as("png"), reference_read=other.reference)

    assert refused.value.code == "form_reference_mismatch"
    assert pending.reference in refused.value.message
    assert snapshot(pending) == before


def test_a_reference_read_with_one_character_wrong_is_refused(
    pending: ConsentForm, sign_paper: Sign
) -> None:
    last = pending.reference[-1]
    misread = pending.reference[:-1] + ("0" if last != "0" else "1")
    before = snapshot(pending)

    with pytest.raises(DomainError) as refused:
        sign_paper(pending, scan_as("png"), reference_read=misread)

    assert refused.value.code == "form_reference_mismatch"
    assert snapshot(pending) == before


def test_the_reference_is_compared_ignoring_case_and_surrounding_spaces(
    pending: ConsentForm, sign_paper: Sign
) -> None:
    form = sign_paper(pending, scan_as("png"), reference_read=f"  {pending.reference.lower()} ")

    assert form.status == FormStatus.SIGNED
    assert form.evidence["paper"]["reference_confirmed"] == pending.reference


@pytest.mark.parametrize(
    "earlier", [dt.timedelta(days=1), dt.timedelta(minutes=2)], ids=["a_day", "two_minutes"]
)
def test_a_signing_time_before_the_form_was_generated_is_refused(
    earlier: dt.timedelta, pending: ConsentForm, sign_paper: Sign
) -> None:
    before = snapshot(pending)

    with pytest.raises(DomainError) as refused:
        sign_paper(pending, scan_as("png"), signed_at=pending.created_at - earlier)

    assert refused.value.code == "signed_before_form"
    assert snapshot(pending) == before


def test_a_signing_time_in_the_forms_minute_is_taken_as_its_generation_time(
    pending: ConsentForm, sign_paper: Sign
) -> None:
    """The printed form shows its time to the minute: an attested time in that minute, even
    seconds before the generation, is accepted and recorded as the generation time."""
    same_minute = pending.created_at.replace(second=0, microsecond=0)

    form = sign_paper(pending, scan_as("png"), signed_at=same_minute)

    assert form.signed_at == max(same_minute, pending.created_at) == pending.created_at


def test_a_signing_time_in_the_future_is_refused(pending: ConsentForm, sign_paper: Sign) -> None:
    before = snapshot(pending)

    with pytest.raises(DomainError) as refused:
        sign_paper(pending, scan_as("png"), signed_at=timezone.now() + dt.timedelta(hours=1))

    assert refused.value.code == "occurred_in_future"
    assert snapshot(pending) == before


def test_a_signing_time_without_time_zone_is_refused(
    pending: ConsentForm, sign_paper: Sign
) -> None:
    naive = timezone.make_naive(pending.created_at + dt.timedelta(minutes=1))
    before = snapshot(pending)

    with pytest.raises(ValidationError) as refused:
        sign_paper(pending, scan_as("png"), signed_at=naive)

    assert "signed_at" in refused.value.error_dict
    assert snapshot(pending) == before


@pytest.mark.parametrize("attested", [False, None, "on"])
def test_a_scan_without_the_advisors_attestation_is_refused(
    attested: Any, pending: ConsentForm, sign_paper: Sign
) -> None:
    before = snapshot(pending)

    with pytest.raises(ValidationError) as refused:
        sign_paper(pending, scan_as("png"), attested=attested)

    assert "attested" in refused.value.error_dict
    assert snapshot(pending) == before


@pytest.mark.parametrize("document", ["", "library_card"])
def test_a_scan_without_a_checked_identity_document_is_refused(
    document: str, pending: ConsentForm, sign_paper: Sign
) -> None:
    before = snapshot(pending)

    with pytest.raises(ValidationError) as refused:
        sign_paper(pending, scan_as("png"), identity_document=document)

    assert "identity_document" in refused.value.error_dict
    assert snapshot(pending) == before


def test_a_jpeg_from_a_phone_camera_is_accepted(pending: ConsentForm, sign_paper: Sign) -> None:
    """Phone cameras often write JPEG files carrying a second, preview picture (the MPO
    extension of JPEG); any viewer shows them as the JPEG they are."""
    buffer = io.BytesIO()
    page().save(buffer, "MPO", save_all=True, append_images=[page((160, 226))])
    scan = buffer.getvalue()
    assert scan.startswith(b"\xff\xd8\xff")

    form = sign_paper(pending, scan)

    assert form.status == FormStatus.SIGNED
    assert form.evidence["paper"]["scan_type"] == "image/jpeg"
