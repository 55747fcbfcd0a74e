"""Fixtures of the consent forms: a throwaway seal, answers in branch, signing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clients.models import Client
from signatures.models import ConsentForm, IdentityDocument
from signatures.sealing import development_seal_pkcs12
from signatures.services import (
    BranchAnswer,
    Collected,
    SignerContext,
    collect_branch_answers,
    sign_on_paper,
    sign_on_tablet,
)
from tests.signatures.drawing import tablet_input

SIGNER = SignerContext(ip="198.51.100.7", user_agent="Tablet test", session_ref="s-1")


@pytest.fixture(scope="session")
def seal_p12(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway self-signed seal (ECDSA P-256), generated once per test run."""
    path = tmp_path_factory.mktemp("seal") / "seal.p12"
    path.write_bytes(development_seal_pkcs12(bank_name="Banque Test", passphrase="pw"))
    return path


@pytest.fixture(autouse=True)
def _seal(settings: Any, seal_p12: Path) -> None:
    settings.OPTIN_SEAL_PKCS12 = seal_p12
    settings.OPTIN_SEAL_PASSPHRASE = "pw"


@pytest.fixture
def collect(advisor: Any) -> Callable[..., Collected]:
    """Answers given in branch: collect(client, email="yes", sms_push="no")."""

    def do(
        client: Client, journey: str = "branch_account_opening", by: Any = None, **answers: str
    ) -> Collected:
        return collect_branch_answers(
            client=client,
            answers={
                channel: BranchAnswer(answer, f"{channel}-v1")
                for channel, answer in answers.items()
            },
            advisor=by or advisor,
            journey=journey,
        )

    return do


@pytest.fixture
def sign_tablet(advisor: Any) -> Callable[..., ConsentForm]:
    def do(
        form: ConsentForm, client: Client | None = None, by: Any = None, **overrides: Any
    ) -> ConsentForm:
        arguments: dict[str, Any] = {
            "client_number": (client or form.client).client_number,
            "reference": form.reference,
            "advisor": by or advisor,
            "identity_document": IdentityDocument.ID_CARD,
            "context": SIGNER,
            **tablet_input(),
        }
        arguments.update(overrides)
        return sign_on_tablet(**arguments)

    return do


@pytest.fixture
def sign_paper(advisor: Any) -> Callable[..., ConsentForm]:
    def do(
        form: ConsentForm, scan: bytes, client: Client | None = None, **overrides: Any
    ) -> ConsentForm:
        arguments: dict[str, Any] = {
            "client_number": (client or form.client).client_number,
            "reference": form.reference,
            "advisor": advisor,
            "scan": scan,
            "reference_read": form.reference,
            "signed_at": form.created_at + dt.timedelta(minutes=1),
            "identity_document": IdentityDocument.PASSPORT,
            "attested": True,
            "context": SIGNER,
        }
        arguments.update(overrides)
        return sign_on_paper(**arguments)

    return do
