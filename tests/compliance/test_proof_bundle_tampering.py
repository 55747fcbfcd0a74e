"""R54, R53: a proof bundle shows what was done behind the database's back.

The bundle's verification is the customer's own, not the whole log's: an altered entry is
named (in the result, the attestation and entries.json, and the plain-Python re-verification
finds it too); a neighbour deleted or rewritten in another customer's part of the log breaks
the customer's links; a rewritten and rehashed last entry no longer carries the hash its signed
checkpoint holds; a forged checkpoint fails its signature; a state row that is not what the log
declares, and a wording text changed after use, are named. A last entry no checkpoint covers
yet is said so, without failing.
"""

from __future__ import annotations

import importlib
import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from clients.models import Client
from optin import audit, checkpoints
from optin.compliance import bundle
from optin.compliance.bundle import produce_proof_bundle
from optin.models import AuditEntry, ConsentState, Wording
from tests.clients.helpers import entries, payload
from tests.compliance.test_proof_bundle import (
    document_of,
    entries_failing_their_hash,
    pdf_text,
    unzip,
)
from tests.tamper import triggers_disabled

PDFTOTEXT = shutil.which("pdftotext")
ALTERED = "son contenu ne correspond plus à son empreinte (modifiée)"
_triggers = importlib.import_module("optin.migrations.0002_audit_log_triggers")


@pytest.fixture
def decisions(
    customer: Client,
    client_factory: Callable[..., Client],
    grant: Callable[..., Any],
    decide: Callable[..., Any],
) -> dict[str, AuditEntry]:
    """The customer's grant, another customer's grant, the customer's withdrawal; signed."""
    other = client_factory(first_name="Paul", last_name="Martin")
    grant(customer)
    grant(other)
    decide(customer, "email", "withdraw")
    assert checkpoints.create_checkpoint() is not None
    [granted] = entries("consent.granted", customer)
    [between] = entries("consent.granted", other)
    [withdrawn] = entries("consent.withdrawn", customer)
    return {"granted": granted, "between": between, "withdrawn": withdrawn}


def verify(customer: Client) -> bundle.Verification:
    return bundle.gather(customer).verification


def rehash(entry: AuditEntry, **changes: Any) -> str:
    """Rewrite an entry and give it a hash consistent with its new content."""
    for name, value in changes.items():
        setattr(entry, name, value)
    entry.hash = audit.chain_hash(entry.prev_hash, audit.header_of(entry), entry.payload)
    with triggers_disabled():
        AuditEntry.objects.filter(pk=entry.pk).update(hash=entry.hash, **changes)
    return entry.hash


def altered_payload(entry: AuditEntry) -> str:
    data = payload(entry)
    data["evidence"] = {"forged": True}
    return audit.canonical_json(data)


# --- an altered entry ------------------------------------------------------------------------


def test_an_altered_entry_is_named_in_the_result_the_json_and_by_plain_python(
    decisions: dict[str, AuditEntry], customer: Client, compliance: Any
) -> None:
    granted = decisions["granted"]
    with triggers_disabled():
        AuditEntry.objects.filter(pk=granted.pk).update(payload=altered_payload(granted))

    produced = produce_proof_bundle(user=compliance, client=customer)
    document = document_of(unzip(produced.content))

    assert produced.ok is False
    assert document["verification"]["ok"] is False
    assert document["verification"]["first_bad"]["seq"] == granted.seq
    assert document["verification"]["first_bad"]["text"] == f"entrée n° {granted.seq} : {ALTERED}"
    assert entries_failing_their_hash(document) == [granted.seq]
    [entry] = [e for e in document["entries"] if e["header"]["seq"] == granted.seq]
    assert entry["problems"][0]["message"] == ALTERED
    [logged] = entries("proof_bundle.produced", customer)
    assert payload(logged)["verification_ok"] is False


def test_the_attestation_shows_the_altered_entry_first(
    decisions: dict[str, AuditEntry], customer: Client, compliance: Any, tmp_path: Path
) -> None:
    granted = decisions["granted"]
    with triggers_disabled():
        AuditEntry.objects.filter(pk=granted.pk).update(payload=altered_payload(granted))

    data = bundle.gather(customer, produced_by=compliance)
    html = bundle.attestation_html(data)

    verdict = html[html.index('class="result failed"') : html.index("1. Le client")]
    assert "ANOMALIE DÉTECTÉE" in verdict
    assert f"entrée n° {granted.seq} : {ALTERED}" in verdict
    # In the timeline, the entry's paragraph is marked and names the problem under its heading.
    block = html[html.index(f'<p class="entry flagged"><b class="head">n° {granted.seq} ·') :]
    assert ALTERED in block[: block.index('class="hashes"')]
    if PDFTOTEXT is not None:
        text = pdf_text(bundle.attestation_pdf(html, "test"), tmp_path)
        first_page = text[: text.index("1. Le client")]
        assert "ANOMALIE DÉTECTÉE" in first_page
        assert f"entrée n° {granted.seq} : {ALTERED}" in first_page


def test_a_payload_stripped_to_a_half_state_change_is_named_too(
    decisions: dict[str, AuditEntry], customer: Client, compliance: Any
) -> None:
    withdrawn = decisions["withdrawn"]
    with triggers_disabled():
        AuditEntry.objects.filter(pk=withdrawn.pk).update(payload='{"_state":{"from":"granted"}}')

    produced = produce_proof_bundle(user=compliance, client=customer)
    document = document_of(unzip(produced.content))

    assert document["verification"]["first_bad"]["text"] == f"entrée n° {withdrawn.seq} : {ALTERED}"
    assert entries_failing_their_hash(document) == [withdrawn.seq]


# --- the links with the rest of the log --------------------------------------------------------


def test_a_deleted_neighbour_from_another_customer_is_found(
    decisions: dict[str, AuditEntry], customer: Client
) -> None:
    between = decisions["between"]
    with triggers_disabled():
        AuditEntry.objects.filter(pk=between.pk).delete()

    verification = verify(customer)

    assert verification.first_bad is not None
    assert verification.first_bad.seq == between.seq
    assert "absente du journal (supprimée)" in verification.first_bad.message
    assert [c.ok for c in verification.checks if c.code == "hashes"] == [True]
    assert [c.ok for c in verification.checks if c.code == "links"] == [False]


def test_a_rewritten_neighbour_breaks_the_customer_s_link(
    decisions: dict[str, AuditEntry], customer: Client
) -> None:
    between, withdrawn = decisions["between"], decisions["withdrawn"]
    rehash(between, payload=altered_payload(between))

    verification = verify(customer)

    assert verification.first_bad is not None
    assert verification.first_bad.seq == withdrawn.seq
    assert verification.first_bad.message == (
        f"son empreinte précédente ne correspond plus à celle de l'entrée n° {between.seq}"
    )


def test_a_rewritten_and_rehashed_last_entry_no_longer_matches_its_checkpoint(
    decisions: dict[str, AuditEntry], customer: Client
) -> None:
    withdrawn = decisions["withdrawn"]
    rehash(withdrawn, payload=altered_payload(withdrawn))

    verification = verify(customer)

    assert [str(p) for p in verification.problems] == [
        f"entrée n° {withdrawn.seq} : son empreinte diffère de celle du point de contrôle "
        "signé (database, checkpoint-%012d.json)" % withdrawn.seq
    ]
    assert verification.checkpoint is not None
    assert verification.checkpoint.signature_valid is True


def test_a_forged_checkpoint_file_fails_its_signature(
    customer: Client, grant: Callable[..., Any], checkpoint_dir: Path
) -> None:
    grant(customer)
    last = AuditEntry.objects.order_by("-seq").first()
    assert last is not None
    forged = {
        "log": "optin-audit",
        "seq": last.seq,
        "hash": last.hash,
        "signed_at": "2026-12-01T09:00:00.000000+00:00",
        "key_id": "0" * 16,
        "signature": "A" * 86 + "==",
    }
    (checkpoint_dir / f"checkpoint-{last.seq:012d}.json").write_text(json.dumps(forged))

    verification = verify(customer)

    assert verification.ok is False
    assert [str(p) for p in verification.problems] == [
        f"le point de contrôle n° {last.seq} (checkpoint-{last.seq:012d}.json) : sa signature "
        "n'est pas valide"
    ]


def test_a_last_entry_no_checkpoint_covers_yet_is_said_so_without_failing(
    customer: Client, grant: Callable[..., Any]
) -> None:
    grant(customer)

    verification = verify(customer)

    [check] = [c for c in verification.checks if c.code == "checkpoint"]
    assert verification.ok is True
    assert check.ok is None
    assert "aucun point de contrôle signé ne couvre encore" in check.detail
    assert verification.checkpoint is None


def test_a_checkpoint_of_a_later_entry_covers_the_last_one_through_the_chain(
    customer: Client, client_factory: Callable[..., Client], grant: Callable[..., Any]
) -> None:
    grant(customer)
    grant(client_factory(first_name="Paul", last_name="Martin"))
    head = checkpoints.create_checkpoint()
    assert head is not None
    [last] = entries("consent.granted", customer)

    verification = verify(customer)

    [check] = [c for c in verification.checks if c.code == "checkpoint"]
    assert verification.ok is True
    assert verification.checkpoint is not None
    assert verification.checkpoint.checkpoint.seq == head.seq > last.seq
    assert f"il couvre l'entrée n° {last.seq} du client par la chaîne" in check.detail


# --- states and wordings -----------------------------------------------------------------------


def test_a_state_row_the_log_does_not_declare_is_named(
    decisions: dict[str, AuditEntry], customer: Client
) -> None:
    ConsentState.objects.filter(client=customer, channel="email").update(status="granted")

    verification = verify(customer)

    assert verification.first_bad is not None
    assert verification.first_bad.seq == decisions["withdrawn"].seq
    assert "l'état actuel du canal e-mail (« accord »" in verification.first_bad.message
    assert "(« retrait », entrée n°" in verification.first_bad.message


@contextmanager
def wording_triggers_disabled() -> Iterator[None]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            name = "optin_wording_used_immutable"
            cursor.execute(f"ALTER TABLE optin_wording DISABLE TRIGGER {name}")
            try:
                yield
            finally:
                cursor.execute(f"ALTER TABLE optin_wording ENABLE ALWAYS TRIGGER {name}")
        else:
            cursor.execute("DROP TRIGGER optin_wording_used_no_update")
            try:
                yield
            finally:
                for statement in _triggers.SQLITE_FORWARD:
                    if "optin_wording_used_no_update" in statement:
                        cursor.execute(statement)


def test_a_wording_text_changed_after_use_is_named(
    decisions: dict[str, AuditEntry], customer: Client
) -> None:
    wording = Wording.objects.get(version="email-v1")
    with wording_triggers_disabled():
        Wording.objects.filter(pk=wording.pk).update(text=wording.text + " Et aussi par courrier.")

    verification = verify(customer)

    assert verification.first_bad is not None
    assert verification.first_bad.seq == decisions["granted"].seq
    assert verification.first_bad.message == (
        "le texte actuel de la formulation email-v1 ne correspond plus à l'empreinte qu'elle "
        "a enregistrée"
    )
