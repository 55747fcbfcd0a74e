"""R26: two simultaneous signatures of the same form, on PostgreSQL with real commits.

Both signatures pass the early checks, render and seal their PDF; then exactly one commits,
the other finds the form signed under its lock and is refused (`form_not_pending`). Each
channel is granted once, there is exactly one `form.signed` entry, the form keeps the winner's
sealed PDF, and the log verifies.

These tests commit (threads must see each other's commits), so they run in their own pytest
invocation (`-m committed`) on a fresh test database, with unique client numbers; see
tests/optin/test_concurrency_postgres.py.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from PIL import Image

from clients.models import Client, Role
from optin.errors import DomainError
from optin.integrity import verify_log
from optin.models import AuditEntry, ConsentState
from signatures import sealing, services
from signatures.models import ConsentForm, FormStatus, IdentityDocument
from signatures.services import BranchAnswer, collect_branch_answers
from tests.factories import BranchFactory, ClientFactory, StaffFactory
from tests.signatures.conftest import SIGNER
from tests.signatures.drawing import tablet_input

pytestmark = [pytest.mark.postgres, pytest.mark.committed]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def run_together(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run `work(i)` in `count` threads; each closes its connection at the end."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:  # reported to the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    return errors


@pytest.fixture
def setup(committed: None) -> tuple[Client, Any, ConsentForm]:
    branch = BranchFactory(code="B001")
    advisor = StaffFactory(username=unique("adv"), role=Role.ADVISOR, branch=branch)
    client = ClientFactory(client_number=unique("K"), branch=branch)
    form = collect_branch_answers(
        client=client,
        answers={
            "email": BranchAnswer("yes", "email-v1"),
            "sms_push": BranchAnswer("yes", "sms_push-v1"),
        },
        advisor=advisor,
        journey="branch_account_opening",
    ).form
    assert form is not None
    return client, advisor, form


def both_sealed_before_either_commits(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """Hold every signature after its sealing until all are sealed: both have passed the
    early checks, and both then race for the lock."""
    barrier = threading.Barrier(count)
    seal = sealing.seal_pdf

    def seal_then_wait(pdf: bytes) -> bytes:
        sealed = seal(pdf)
        barrier.wait(60)
        return sealed

    monkeypatch.setattr(services.sealing, "seal_pdf", seal_then_wait)


def test_two_simultaneous_tablet_signatures_of_one_form_exactly_one_succeeds(
    setup: tuple[Client, Any, ConsentForm], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, advisor, form = setup
    both_sealed_before_either_commits(monkeypatch, 2)
    outcomes: dict[int, Any] = {}

    def work(i: int) -> None:
        try:
            outcomes[i] = services.sign_on_tablet(
                client_number=client.client_number,
                reference=form.reference,
                advisor=advisor,
                identity_document=IdentityDocument.ID_CARD,
                context=SIGNER,
                **tablet_input(),
            )
        except DomainError as exc:
            outcomes[i] = exc

    errors = run_together(2, work)

    assert errors == []
    winners = [o for o in outcomes.values() if isinstance(o, ConsentForm)]
    losers = [o for o in outcomes.values() if isinstance(o, DomainError)]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].code == "form_not_pending"
    assert losers[0].extra == {"status": "signed"}

    saved = ConsentForm.objects.get(pk=form.pk)
    assert saved.status == FormStatus.SIGNED
    assert saved.signed_pdf_sha256 == winners[0].signed_pdf_sha256
    signed = AuditEntry.objects.filter(client_id=client.pk, action="form.signed")
    assert signed.count() == 1
    assert saved.signed_seq == signed.get().seq
    granted = AuditEntry.objects.filter(client_id=client.pk, action="consent.granted")
    assert sorted(granted.values_list("channel", flat=True)) == ["email", "sms_push"]
    states = dict(ConsentState.objects.filter(client=client).values_list("channel", "status"))
    assert states == {"email": "granted", "sms_push": "granted"}
    result = verify_log()
    assert result.ok, [str(p) for p in result.problems]


def test_a_tablet_and_a_paper_signature_at_once_exactly_one_succeeds(
    setup: tuple[Client, Any, ConsentForm], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, advisor, form = setup
    both_sealed_before_either_commits(monkeypatch, 2)
    buffer = io.BytesIO()
    Image.new("RGB", (300, 420), "white").save(buffer, "PNG")
    outcomes: dict[str, Any] = {}

    def work(i: int) -> None:
        method = ("tablet", "paper")[i]
        try:
            if method == "tablet":
                outcomes[method] = services.sign_on_tablet(
                    client_number=client.client_number,
                    reference=form.reference,
                    advisor=advisor,
                    identity_document=IdentityDocument.ID_CARD,
                    context=SIGNER,
                    **tablet_input(),
                )
            else:
                outcomes[method] = services.sign_on_paper(
                    client_number=client.client_number,
                    reference=form.reference,
                    advisor=advisor,
                    scan=buffer.getvalue(),
                    reference_read=form.reference,
                    signed_at=form.created_at + dt.timedelta(seconds=1),
                    identity_document=IdentityDocument.PASSPORT,
                    attested=True,
                    context=SIGNER,
                )
        except DomainError as exc:
            outcomes[method] = exc

    errors = run_together(2, work)

    assert errors == []
    refused = [o for o in outcomes.values() if isinstance(o, DomainError)]
    assert len(refused) == 1
    assert refused[0].code == "form_not_pending"
    [winner] = [m for m, o in outcomes.items() if isinstance(o, ConsentForm)]
    saved = ConsentForm.objects.get(pk=form.pk)
    assert saved.method == winner
    assert AuditEntry.objects.filter(client_id=client.pk, action="form.signed").count() == 1
    assert AuditEntry.objects.filter(client_id=client.pk, action="consent.granted").count() == 2
    assert verify_log().ok
