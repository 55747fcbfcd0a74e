"""R54, R53, R52: a customer's proof bundle, checked from outside the application.

Compliance produces, for one customer, a ZIP that re-verifies with nothing from the project:
each entry's hash recomputes from `entries.json` with a few lines of hashlib and json (and with
the script LISEZMOI.txt gives), the wording files give the SHA-256 the entries recorded, the
checkpoint's signature verifies with the PEM in the ZIP (with `cryptography`, and with the
openssl command LISEZMOI.txt gives), the signed forms and the attestation carry an intact seal
of the bank covering the whole file. The attestation states the verification's result, the
states, and each entry with its wording text, evidence and hashes. Producing it is logged with
the ZIP's SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from clients.models import Client
from optin import checkpoints
from optin.compliance import bundle
from optin.compliance.bundle import ProofBundle, produce_proof_bundle
from optin.models import AuditEntry, Wording
from signatures import sealing
from signatures.models import ConsentForm
from signatures.services import Collected
from tests.clients.helpers import entries, payload
from tests.signatures.test_pdf_content import assert_only_vendored_fonts

Collect = Callable[..., Collected]
Sign = Callable[..., ConsentForm]
OPENSSL = shutil.which("openssl")
PDFSIG = shutil.which("pdfsig")
PDFTOTEXT = shutil.which("pdftotext")


# --- what an outsider does with the ZIP, importing nothing from the project to recompute ------


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entries_failing_their_hash(document: dict[str, Any]) -> list[int]:
    """The sequence numbers whose hash does not recompute from the bundle's JSON:
    sha256(prev_hash "\\n" canonical header "\\n" payload)."""
    failing = []
    for entry in document["entries"]:
        text = entry["prev_hash"] + "\n" + canonical(entry["header"]) + "\n" + entry["payload"]
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != entry["hash"]:
            failing.append(entry["header"]["seq"])
    return failing


def unzip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def extract(files: dict[str, bytes], directory: Path) -> Path:
    for name, data in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(data)
    return directory


def document_of(files: dict[str, bytes]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(files["entries.json"].decode("utf-8"))
    return document


def pdf_text(data: bytes, tmp_path: Path) -> str:
    """What a reader of the PDF sees (poppler's pdftotext), single-spaced."""
    path = tmp_path / "attestation.pdf"
    path.write_bytes(data)
    run = subprocess.run(  # noqa: S603
        [str(PDFTOTEXT), "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    )
    return " ".join(run.stdout.decode("utf-8").split())


def readme_script(files: dict[str, bytes]) -> str:
    """The Python lines LISEZMOI.txt gives to re-verify the hashes."""
    text = files["LISEZMOI.txt"].decode("utf-8")
    start = text.index("import hashlib, json")
    end = text.index("\n\n", text.index('for w in doc["wordings"]'))
    return text[start:end] + "\n"


# --- a customer with a history -----------------------------------------------------------------


@pytest.fixture
def history(
    customer: Client,
    grant: Callable[..., Any],
    decide: Callable[..., Any],
    collect: Collect,
    sign_tablet: Sign,
) -> ConsentForm:
    """A digital grant on SMS then its withdrawal, a branch "Oui" on e-mail signed on the
    tablet, then a signed checkpoint of the head."""
    grant(customer, "sms_push")
    decide(customer, "sms_push", "withdraw")
    pending = collect(customer, email="yes").form
    assert pending is not None
    form = sign_tablet(pending)
    assert checkpoints.create_checkpoint() is not None
    return form


@pytest.fixture
def produced(history: ConsentForm, compliance: Any, customer: Client) -> ProofBundle:
    return produce_proof_bundle(user=compliance, client=customer)


@pytest.fixture
def files(produced: ProofBundle) -> dict[str, bytes]:
    return unzip(produced.content)


# --- the machine-readable part -----------------------------------------------------------------


def test_every_entry_of_the_customer_recomputes_with_plain_python(
    files: dict[str, bytes], customer: Client
) -> None:
    document = document_of(files)
    logged = list(
        AuditEntry.objects.filter(client_id=customer.pk)
        .exclude(action="proof_bundle.produced")
        .order_by("seq")
        .values_list("seq", "hash")
    )

    assert [(e["header"]["seq"], e["hash"]) for e in document["entries"]] == logged
    assert entries_failing_their_hash(document) == []
    assert document["verification"]["ok"] is True
    assert document["verification"]["first_bad"] is None


def test_each_entry_gives_its_columns_and_payload_exactly_as_hashed(
    files: dict[str, bytes], customer: Client
) -> None:
    [signed] = entries("form.signed", customer)
    [entry] = [e for e in document_of(files)["entries"] if e["header"]["seq"] == signed.seq]

    assert list(entry["header"]) == [
        "seq",
        "recorded_at",
        "occurred_at",
        "actor_type",
        "actor_id",
        "action",
        "client_id",
        "client_number",
        "channel",
        "wording_version",
    ]
    assert entry["payload"] == signed.payload
    assert entry["prev_hash"] == signed.prev_hash
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", entry["header"]["recorded_at"]
    )
    assert entry["header"]["client_id"] == customer.pk


def test_the_personal_values_are_decrypted_apart_from_the_hashed_payload(
    files: dict[str, bytes], customer: Client
) -> None:
    document = document_of(files)
    by_action = {e["header"]["action"]: e for e in document["entries"]}
    signed = by_action["form.signed"]

    assert signed["decrypted_personal_values"] == {
        "ip": "198.51.100.7",
        "user_agent": "Tablet test",
    }
    assert "198.51.100.7" not in signed["payload"]  # the payload keeps the ciphertext
    assert json.loads(signed["payload"])["personal"].startswith("v1.")
    assert document["client"]["identity"]["last_name"] == customer.last_name
    assert document["client"]["erased"] is False


def test_the_wording_files_are_the_texts_whose_sha256_the_entries_recorded(
    files: dict[str, bytes], customer: Client
) -> None:
    document = document_of(files)
    recorded = {
        (e["header"]["wording_version"], json.loads(e["payload"])["wording_sha256"])
        for e in document["entries"]
        if "wording_sha256" in json.loads(e["payload"])
    }

    assert {version for version, _sha in recorded} == {"email-v1", "sms_push-v1"}
    for wording in document["wordings"]:
        text = files[wording["file"]]
        assert hashlib.sha256(text).hexdigest() == wording["sha256"]
        assert text == Wording.objects.get(version=wording["version"]).text.encode("utf-8")
    for version, sha in recorded:
        assert hashlib.sha256(files[f"formulations/{version}.txt"]).hexdigest() == sha


def test_the_checkpoint_signature_verifies_with_the_public_key_in_the_zip(
    files: dict[str, bytes], customer: Client
) -> None:
    document = document_of(files)
    checkpoint = document["checkpoint"]
    key = serialization.load_pem_public_key(files["checkpoint-public-key.pem"])
    assert isinstance(key, Ed25519PublicKey)

    key.verify(base64.b64decode(checkpoint["signature"]), checkpoint["statement"].encode("utf-8"))
    key.verify(files["checkpoint-signature.bin"], files["checkpoint-statement.json"])
    statement = json.loads(files["checkpoint-statement.json"])
    last = document["entries"][-1]
    assert statement == {
        "log": "optin-audit",
        "seq": last["header"]["seq"],
        "hash": last["hash"],
        "signed_at": checkpoint["signed_at"],
    }
    assert document["checkpoint_public_key_pem"] == files["checkpoint-public-key.pem"].decode()


@pytest.mark.skipif(OPENSSL is None, reason="needs openssl")
def test_the_readme_openssl_command_verifies_the_checkpoint(
    files: dict[str, bytes], tmp_path: Path
) -> None:
    directory = extract(files, tmp_path)
    [command] = [
        line.strip()
        for line in files["LISEZMOI.txt"].decode().splitlines()
        if line.strip().startswith("openssl pkeyutl")
    ]
    run = subprocess.run(  # noqa: S603
        command.split(), cwd=directory, capture_output=True, text=True, check=False
    )

    assert run.returncode == 0, run.stderr
    assert "Signature Verified Successfully" in run.stdout
    (directory / "checkpoint-statement.json").write_bytes(b'{"log":"optin-audit","seq":1}')
    forged = subprocess.run(  # noqa: S603
        command.split(), cwd=directory, capture_output=True, text=True, check=False
    )
    assert forged.returncode != 0


def test_the_readme_python_script_recomputes_every_hash(
    files: dict[str, bytes], tmp_path: Path
) -> None:
    directory = extract(files, tmp_path)
    (directory / "verifier.py").write_text(readme_script(files), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-I", "verifier.py"],
        cwd=directory,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = run.stdout.splitlines()
    seqs = [e["header"]["seq"] for e in document_of(files)["entries"]]

    assert lines[: len(seqs)] == [f"{seq} intacte" for seq in seqs]
    assert lines[len(seqs) :] == ["email-v1 texte conforme", "sms_push-v1 texte conforme"]


# --- the PDFs ------------------------------------------------------------------------------------


def test_the_signed_form_is_in_the_zip_with_a_valid_seal(
    files: dict[str, bytes], history: ConsentForm
) -> None:
    form = history
    form.refresh_from_db()
    signed = files[f"formulaires/{form.reference}-signe.pdf"]
    original = files[f"formulaires/{form.reference}-genere.pdf"]

    check = sealing.verify_sealed_pdf(signed, expected_sha256=form.signed_pdf_sha256)
    assert check.ok, check.reason
    assert (check.intact, check.trusted, check.entire_file) == (True, True, True)
    assert hashlib.sha256(original).hexdigest() == form.pdf_sha256
    [logged] = [e for e in document_of(files)["forms"] if e["reference"] == form.reference]
    assert logged["seal"]["ok"] is True
    assert logged["signed_pdf_sha256"] == form.signed_pdf_sha256


def test_the_attestation_is_sealed_by_the_bank(files: dict[str, bytes]) -> None:
    check = sealing.verify_sealed_pdf(files["attestation.pdf"])

    assert check.ok, check.reason


@pytest.mark.skipif(PDFSIG is None, reason="needs poppler's pdfsig")
def test_poppler_finds_the_seals_valid(
    files: dict[str, bytes], history: ConsentForm, tmp_path: Path
) -> None:
    directory = extract(files, tmp_path)
    for name in ("attestation.pdf", f"formulaires/{history.reference}-signe.pdf"):
        run = subprocess.run(  # noqa: S603
            [str(PDFSIG), str(directory / name)], capture_output=True, text=True, check=False
        )
        assert "Signature is Valid" in run.stdout, run.stdout + run.stderr
        assert "Total document signed" in run.stdout


@pytest.mark.skipif(PDFTOTEXT is None, reason="needs poppler's pdftotext")
def test_the_attestation_states_identity_states_timeline_and_checkpoint(
    files: dict[str, bytes], customer: Client, history: ConsentForm, tmp_path: Path
) -> None:
    text = pdf_text(files["attestation.pdf"], tmp_path)
    document = document_of(files)
    signed = next(e for e in document["entries"] if e["header"]["action"] == "form.signed")
    email_text = " ".join(Wording.objects.get(version="email-v1").text.split())

    assert "le journal de ce client est intact" in text
    assert f"Client n° {customer.client_number}" in text
    assert "Jeanne Dupont" in text
    assert customer.email in text
    assert "Accord" in text and "Retrait" in text and "Formulaire signé" in text
    assert email_text in text  # the exact wording, in full
    assert Wording.objects.get(version="email-v1").sha256 in text.replace(" ", "")
    assert "198.51.100.7" in text and "Tablet test" in text
    assert history.reference in text
    assert signed["hash"] in text.replace(" ", "")
    assert "Sceau PAdES valide" in text
    assert "signature valide" in text  # the checkpoint
    assert "(UTC+01:00)" in text  # Paris time with its offset (November)


@pytest.mark.skipif(shutil.which("pdffonts") is None, reason="needs poppler's pdffonts")
def test_the_attestation_embeds_only_the_vendored_fonts(
    files: dict[str, bytes], tmp_path: Path
) -> None:
    assert_only_vendored_fonts(files["attestation.pdf"], tmp_path)


def test_the_timeline_is_flat_text(customer: Client, history: ConsentForm, compliance: Any) -> None:
    """Each entry is two paragraphs (WeasyPrint lays out hundreds of them in about a second),
    never a table of its own nor a block that must not break across pages."""
    html = bundle.attestation_html(bundle.gather(customer, produced_by=compliance))
    timeline = html[html.index("6. Chronologie") : html.index("7. Annexe")]
    logged = AuditEntry.objects.filter(client_id=customer.pk).count()

    assert timeline.count('<p class="entry') == timeline.count('<p class="hashes') == logged
    assert "<table" not in timeline and "<div" not in timeline.replace('<div class="wording', "")
    style = html[html.index("<style>") : html.index("</style>")]
    assert style.count("page-break-inside: avoid") <= 2  # the result box and annex texts


# --- the log --------------------------------------------------------------------------------------


def test_producing_the_bundle_is_logged_with_the_zip_sha256(
    produced: ProofBundle, compliance: Any, customer: Client
) -> None:
    [entry] = entries("proof_bundle.produced", customer)
    last = (
        AuditEntry.objects.filter(client_id=customer.pk, seq__lt=entry.seq).order_by("-seq").first()
    )
    assert last is not None

    assert payload(entry) == {
        "sha256": hashlib.sha256(produced.content).hexdigest(),
        "entries": produced.entries,
        "last_seq": last.seq,
        "verification_ok": True,
    }
    assert produced.sha256 == payload(entry)["sha256"]
    assert (entry.actor_type, entry.actor_id) == ("compliance", f"staff:{compliance.pk}")
    assert (entry.client_id, entry.client_number) == (customer.pk, customer.client_number)
    assert produced.filename.startswith(f"preuve-{customer.client_number}-")
    assert produced.filename.endswith(".zip")


def test_a_later_bundle_contains_the_log_of_the_earlier_one(
    produced: ProofBundle, compliance: Any, customer: Client
) -> None:
    again = document_of(unzip(produce_proof_bundle(user=compliance, client=customer).content))
    [logged] = [e for e in again["entries"] if e["header"]["action"] == "proof_bundle.produced"]

    assert json.loads(logged["payload"])["sha256"] == produced.sha256
    assert entries_failing_their_hash(again) == []
