"""R64, R63, R54: an erased customer's proof bundle holds none of their personal values.

Erasure destroys the customer's data key: their log entries keep only ciphertext. Their bundle
still re-verifies (the hash covers the ciphertext) but contains no identity, no contact point,
no IP address or user agent, no decrypted value and no form PDF (only the forms' hashes), in
any of its files, the attestation's text included.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from clients.models import Client
from optin.compliance.bundle import ProofBundle, produce_proof_bundle
from optin.models import ClientKey
from signatures.models import ConsentForm
from tests.compliance.test_proof_bundle import (  # noqa: F401
    document_of,
    entries_failing_their_hash,
    history,
    pdf_text,
    unzip,
)

PDFTOTEXT = shutil.which("pdftotext")


@pytest.fixture
def erased(history: ConsentForm, customer: Client) -> Client:  # noqa: F811
    """The customer's key destroyed, as erasure does (R64)."""
    assert ClientKey.objects.filter(client_id=customer.pk).update(destroyed_at=timezone.now())
    return customer


@pytest.fixture
def produced(erased: Client, compliance: Any) -> ProofBundle:
    return produce_proof_bundle(user=compliance, client=erased)


def personal_values(client: Client) -> list[str]:
    """Everything personal the history recorded about the customer."""
    return [
        client.first_name,
        client.last_name,
        client.email,
        client.mobile,
        "+33 6 00",  # the mobile number as printed
        "1980-05-17",
        "17/05/1980",
        "192.0.2.1",  # the digital grant's IP address and user agent
        "pytest",
        "198.51.100.7",  # the tablet's
        "Tablet test",
    ]


def test_no_file_of_the_bundle_holds_a_personal_value(
    produced: ProofBundle, erased: Client, tmp_path: Path
) -> None:
    files = unzip(produced.content)
    texts = {
        name: data.decode("utf-8")
        for name, data in files.items()
        if name.endswith((".txt", ".json", ".pem"))
    }
    if PDFTOTEXT is not None:
        texts["attestation.pdf"] = pdf_text(files["attestation.pdf"], tmp_path)

    for name, text in texts.items():
        for value in personal_values(erased):
            assert value not in text, f"{value!r} in {name}"
    for data in files.values():
        for value in personal_values(erased):
            assert value.encode("utf-8") not in data
    assert not [name for name in files if name.startswith("formulaires/")]


def test_the_json_names_the_erasure_and_keeps_the_verifiable_skeleton(
    produced: ProofBundle,
    history: ConsentForm,  # noqa: F811
) -> None:
    document = document_of(unzip(produced.content))

    assert document["client"]["erased"] is True
    assert document["client"]["identity"] is None
    assert {e["decrypted_personal_values"] is None for e in document["entries"]} == {True}
    assert entries_failing_their_hash(document) == []
    assert document["verification"]["ok"] is True
    [form] = document["forms"]
    assert form["files"] == {"generated": None, "signed": None}
    assert form["signed_pdf_sha256"] == ConsentForm.objects.get().signed_pdf_sha256
