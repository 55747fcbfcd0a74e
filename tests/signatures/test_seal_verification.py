"""R52, notes/signatures.md §4: the bank's seal makes the signed form tamper-evident.

`signatures.sealing.verify_sealed_pdf` accepts a freshly sealed form (intact, trusted, covering
the entire file, and the file whose hash the log holds) and refuses: one byte flipped, an
incremental update appended after the seal (the signature itself stays valid: only the
coverage catches it), trailing bytes, a seal by an unknown key, a hash other than the one
logged, a PDF without seal. pyHanko's own `validate_pdf_signature` and poppler's `pdfsig`
agree, and `manage.py verify_form_pdf` prints OK or fails with exit code 1.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.core.management import call_command
from django.core.management.base import CommandError
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from clients.models import Client
from signatures import files, sealing
from signatures.models import ConsentForm
from signatures.services import Collected
from tests.clients.helpers import entries, payload

POPPLER_PDFSIG = shutil.which("pdfsig") or "pdfsig"
Collect = Callable[..., Collected]
Sign = Callable[..., ConsentForm]


@pytest.fixture
def form(customer: Client, collect: Collect, sign_tablet: Sign) -> ConsentForm:
    pending = collect(customer, email="yes", sms_push="yes").form
    assert pending is not None
    return sign_tablet(pending)


@pytest.fixture
def sealed(form: ConsentForm) -> bytes:
    return files.read(form.signed_pdf)


# --- ways of tampering -------------------------------------------------------------------------


def flip_one_byte(data: bytes) -> bytes:
    """One bit changed inside the first compressed stream, well within the signed range."""
    position = data.index(b"stream\n") + 40
    tampered = bytearray(data)
    tampered[position] ^= 0x01
    return bytes(tampered)


def append_update(data: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    writer.root["/Foo"] = generic.NameObject("/Bar")
    writer.update_root()
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def append_bytes(data: bytes) -> bytes:
    return data + b"\n% a comment added after the seal\n"


def other_seal() -> tuple[signers.SimpleSigner, bytes]:
    """A seal of another (unknown) key, and its certificate in PEM."""
    p12 = sealing.development_seal_pkcs12(bank_name="Banque Inconnue")
    _key, cert, _others = pkcs12.load_key_and_certificates(p12, None)
    assert cert is not None
    signer = signers.SimpleSigner.load_pkcs12_data(p12, other_certs=[], passphrase=None)
    assert signer is not None
    return signer, cert.public_bytes(serialization.Encoding.PEM)


def seal_with(signer: signers.SimpleSigner, data: bytes) -> bytes:
    metadata = signers.PdfSignatureMetadata(
        field_name=sealing.SEAL_FIELD,
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        certify=True,
        docmdp_permissions=MDPPerm.NO_CHANGES,
    )
    output = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data)), metadata, signer=signer)
    return output.getvalue()


def pdfsig(data: bytes, tmp_path: Path) -> str:
    """poppler's verdict (its exit code is not 0 for a bad signature: read its words)."""
    path = tmp_path / "sealed.pdf"
    path.write_bytes(data)
    command = [POPPLER_PDFSIG, str(path)]
    run = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    return run.stdout + run.stderr


# --- verify_sealed_pdf -------------------------------------------------------------------------


def test_a_freshly_sealed_form_verifies(sealed: bytes) -> None:
    check = sealing.verify_sealed_pdf(sealed)

    assert check.ok, check.reason
    assert (check.intact, check.trusted, check.entire_file) == (True, True, True)
    assert check.reason == ""
    assert "Banque Test" in check.signer
    assert check.signed_at


def test_the_verified_file_is_the_one_whose_hash_is_logged(
    form: ConsentForm, sealed: bytes, customer: Client
) -> None:
    [entry] = entries("form.signed", customer)
    logged = payload(entry)["signed_pdf_sha256"]

    check = sealing.verify_sealed_pdf(sealed, expected_sha256=logged)

    assert check.ok, check.reason
    assert check.sha256 == logged == form.signed_pdf_sha256


def test_one_byte_flipped_breaks_the_seal(sealed: bytes) -> None:
    check = sealing.verify_sealed_pdf(flip_one_byte(sealed))

    assert not check.ok
    assert check.intact is False
    assert "modifié" in check.reason


def test_an_incremental_update_after_the_seal_is_caught_by_the_coverage(sealed: bytes) -> None:
    check = sealing.verify_sealed_pdf(append_update(sealed))

    assert not check.ok
    # The signature itself is still valid: only its coverage tells.
    assert check.intact is True
    assert check.entire_file is False
    assert "ajoutées" in check.reason


def test_bytes_appended_after_the_seal_are_caught(sealed: bytes) -> None:
    check = sealing.verify_sealed_pdf(append_bytes(sealed))

    assert not check.ok
    assert check.entire_file is False


def test_a_seal_by_an_unknown_key_is_not_trusted(form: ConsentForm) -> None:
    signer, _pem = other_seal()
    forged = seal_with(signer, files.read(form.pdf))

    check = sealing.verify_sealed_pdf(forged)

    assert not check.ok
    assert check.intact is True
    assert check.trusted is False
    assert "reconnu" in check.reason


def test_a_former_seal_listed_in_the_trusted_certificates_is_trusted(
    form: ConsentForm, settings: Any, tmp_path: Path
) -> None:
    signer, pem = other_seal()
    sealed_before = seal_with(signer, files.read(form.pdf))
    (tmp_path / "former-seal.pem").write_bytes(pem)
    settings.OPTIN_SEAL_TRUSTED_CERTS = [str(tmp_path / "former-seal.pem")]

    check = sealing.verify_sealed_pdf(sealed_before)

    assert check.ok, check.reason


def test_a_hash_other_than_the_logged_one_is_refused(sealed: bytes, form: ConsentForm) -> None:
    check = sealing.verify_sealed_pdf(sealed, expected_sha256=form.pdf_sha256)

    assert not check.ok
    assert "journal" in check.reason


def test_a_pdf_without_seal_is_refused(form: ConsentForm) -> None:
    check = sealing.verify_sealed_pdf(files.read(form.pdf))

    assert not check.ok
    assert "0 trouvé" in check.reason


@pytest.mark.parametrize("data", [b"", b"hello", b"%PDF-1.7\n%%EOF"], ids=["empty", "text", "stub"])
def test_what_is_not_a_pdf_is_refused_without_crashing(data: bytes) -> None:
    check = sealing.verify_sealed_pdf(data)

    assert not check.ok
    assert check.reason


def test_a_pdf_with_two_signatures_is_refused(form: ConsentForm) -> None:
    signer, _pem = other_seal()
    twice = files.read(form.pdf)
    for name in ("Premier", "Second"):
        metadata = signers.PdfSignatureMetadata(field_name=name, md_algorithm="sha256")
        writer = IncrementalPdfFileWriter(io.BytesIO(twice))
        twice = signers.sign_pdf(writer, metadata, signer=signer).getvalue()

    check = sealing.verify_sealed_pdf(twice)

    assert not check.ok
    assert "2 trouvé" in check.reason


# --- pyHanko directly --------------------------------------------------------------------------


def validate(data: bytes) -> Any:
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    [signature] = reader.embedded_signatures
    context = ValidationContext(trust_roots=sealing.trusted_certificates(), allow_fetching=False)
    return signature, validate_pdf_signature(signature, context)


def test_pyhanko_finds_a_pades_seal_certifying_the_whole_file(sealed: bytes) -> None:
    signature, status = validate(sealed)

    assert status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.bottom_line
    assert status.docmdp_ok is True
    assert signature.docmdp_level == MDPPerm.NO_CHANGES
    assert status.md_algorithm == "sha256"
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert signature.field_name == sealing.SEAL_FIELD
    signed_attributes = {attr["type"].native for attr in signature.signer_info["signed_attrs"]}
    assert {"content_type", "message_digest", "signing_certificate_v2"} <= signed_attributes


def test_pyhanko_sees_the_incremental_update_in_the_bottom_line(sealed: bytes) -> None:
    _signature, status = validate(append_update(sealed))

    assert status.intact and status.valid
    assert status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    assert not status.bottom_line


def test_pyhanko_sees_the_flipped_byte(sealed: bytes) -> None:
    _signature, status = validate(flip_one_byte(sealed))

    assert not status.intact
    assert not status.bottom_line


# --- poppler's pdfsig --------------------------------------------------------------------------


def test_pdfsig_says_the_whole_document_is_signed(sealed: bytes, tmp_path: Path) -> None:
    output = pdfsig(sealed, tmp_path)

    assert "Total document signed" in output
    assert "Signature is Valid" in output


def test_pdfsig_sees_the_update_only_as_partial_coverage(sealed: bytes, tmp_path: Path) -> None:
    output = pdfsig(append_update(sealed), tmp_path)

    assert "Not total document signed" in output
    assert "Signature is Valid" in output  # hence the need to check the coverage


def test_pdfsig_sees_the_flipped_byte(sealed: bytes, tmp_path: Path) -> None:
    assert "Digest Mismatch" in pdfsig(flip_one_byte(sealed), tmp_path)


# --- manage.py verify_form_pdf -----------------------------------------------------------------


def test_the_command_prints_ok_for_a_good_file(
    form: ConsentForm, sealed: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "good.pdf"
    path.write_bytes(sealed)
    out = io.StringIO()

    call_command("verify_form_pdf", str(path), stdout=out)

    assert f"{path}: OK" in out.getvalue()
    assert form.reference in out.getvalue()
    assert form.signed_pdf_sha256 in out.getvalue()


@pytest.mark.parametrize("tamper", [flip_one_byte, append_update, append_bytes])
def test_the_command_fails_with_exit_code_1_for_a_tampered_file(
    tamper: Callable[[bytes], bytes], form: ConsentForm, sealed: bytes, tmp_path: Path
) -> None:
    good, bad = tmp_path / "good.pdf", tmp_path / "bad.pdf"
    good.write_bytes(sealed)
    bad.write_bytes(tamper(sealed))
    out = io.StringIO()

    with pytest.raises(CommandError) as failed:
        call_command("verify_form_pdf", str(good), str(bad), stdout=out)

    assert failed.value.returncode == 1
    assert "1 file(s) failed" in str(failed.value)
    assert f"{good}: OK" in out.getvalue()
    assert f"{bad}: FAILED" in out.getvalue()


def test_the_command_fails_for_a_valid_seal_on_a_file_no_form_recorded(
    form: ConsentForm, tmp_path: Path
) -> None:
    unrecorded = tmp_path / "unrecorded.pdf"
    unrecorded.write_bytes(sealing.seal_pdf(files.read(form.pdf)))
    out = io.StringIO()

    with pytest.raises(CommandError) as failed:
        call_command("verify_form_pdf", str(unrecorded), stdout=out)

    assert failed.value.returncode == 1
    assert "no form recorded" in out.getvalue()


def test_the_command_fails_for_a_missing_file(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError):
        call_command("verify_form_pdf", str(tmp_path / "absent.pdf"), stdout=io.StringIO())
