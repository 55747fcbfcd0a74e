"""R18, R59, R71: every grant and refusal names the wording version actually displayed.

The version must exist (`unknown_wording`), be for the channel (`wrong_channel`) and be active
(`inactive_wording`); a refused request writes nothing. The entry keeps the version and the
SHA-256 of its text, and the version sent is the one recorded, never "the current one".
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from clients.models import Client
from optin.audit import Actor
from optin.errors import DomainError
from optin.models import AuditEntry, ConsentState, IdempotencyRecord, Journey, Wording
from optin.services import WORDING_CHECKLIST, publish_wording, set_wording_active

ADMIN = Actor.system("tests-wordings")
NEW_EMAIL_TEXT = (
    "J'accepte de recevoir par e-mail les offres commerciales de Banque Exemple. Je peux "
    "changer d'avis à tout moment et gratuitement : espace client, lien de désabonnement ou "
    "agence. Les messages liés à mes contrats ne sont pas concernés."
)


def snapshot() -> tuple[Any, ...]:
    return (
        AuditEntry.objects.count(),
        list(
            ConsentState.objects.order_by("client_id", "channel").values_list(
                "client_id", "channel", "status", "prior_status", "since", "wording_version",
                "last_seq",
            )
        ),
        IdempotencyRecord.objects.count(),
    )  # fmt: skip


def publish_email_v2() -> Wording:
    return publish_wording(
        actor=ADMIN,
        channel="email",
        version="email-v2",
        text=NEW_EMAIL_TEXT,
        checklist=dict.fromkeys(WORDING_CHECKLIST, True),
    )


def branch(advisor_as_actor: Any) -> dict[str, Any]:
    return {"journey": Journey.BRANCH_ACCOUNT_OPENING, "actor": advisor_as_actor}


def refused_with(run: Callable[[], Any]) -> str:
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        run()
    assert snapshot() == before
    return str(caught.value.code)


@pytest.mark.parametrize("decision", ["grant", "refuse"])
@pytest.mark.parametrize("version", ["email-v9", "EMAIL-V1", "email-v1 ", "v1", "x" * 200])
def test_an_unknown_version_is_refused(
    customer: Client, decide: Callable[..., Any], decision: str, version: str
) -> None:
    code = refused_with(lambda: decide(customer, "email", decision, wording_version=version))
    assert code == "unknown_wording"


@pytest.mark.parametrize("decision", ["grant", "refuse"])
@pytest.mark.parametrize("missing", [None, ""])
@pytest.mark.parametrize("journey", ["digital", "branch"])
def test_a_grant_or_refusal_without_a_version_is_refused(
    customer: Client,
    decide: Callable[..., Any],
    advisor_as_actor: Any,
    decision: str,
    missing: str | None,
    journey: str,
) -> None:
    extra = branch(advisor_as_actor) if journey == "branch" else {}

    def run() -> Any:
        return decide(customer, "email", decision, wording_version=missing, **extra)

    assert refused_with(run) == "unknown_wording"


@pytest.mark.parametrize("decision", ["grant", "refuse"])
@pytest.mark.parametrize(("channel", "other"), [("email", "sms_push-v1"), ("sms_push", "email-v1")])
def test_the_wording_of_the_other_channel_is_refused(
    customer: Client, decide: Callable[..., Any], decision: str, channel: str, other: str
) -> None:
    code = refused_with(lambda: decide(customer, channel, decision, wording_version=other))
    assert code == "wrong_channel"


@pytest.mark.parametrize("decision", ["grant", "refuse"])
def test_an_inactive_version_is_refused(
    customer: Client, decide: Callable[..., Any], decision: str
) -> None:
    set_wording_active(actor=ADMIN, wording=Wording.objects.get(version="email-v1"), active=False)
    code = refused_with(lambda: decide(customer, "email", decision))
    assert code == "inactive_wording"


def test_an_inactive_version_is_refused_in_branch_too(
    customer: Client, decide: Callable[..., Any], advisor_as_actor: Any
) -> None:
    set_wording_active(
        actor=ADMIN, wording=Wording.objects.get(version="sms_push-v1"), active=False
    )
    code = refused_with(lambda: decide(customer, "sms_push", "grant", **branch(advisor_as_actor)))
    assert code == "inactive_wording"


def test_a_reactivated_version_is_accepted_again(
    customer: Client, grant: Callable[..., Any]
) -> None:
    wording = Wording.objects.get(version="email-v1")
    set_wording_active(actor=ADMIN, wording=wording, active=False)
    set_wording_active(actor=ADMIN, wording=wording, active=True)
    assert grant(customer, "email").status == "granted"


def test_a_withdrawal_needs_no_wording(customer: Client, decide: Callable[..., Any]) -> None:
    result = decide(customer, "email", "withdraw")
    assert result.status == "withdrawn"
    assert AuditEntry.objects.get(seq=result.seq).wording_version == ""


@pytest.mark.parametrize("decision", ["grant", "refuse"])
@pytest.mark.parametrize("channel", ["email", "sms_push"])
def test_the_entry_records_the_version_and_the_sha256_of_its_text(
    customer: Client, decide: Callable[..., Any], decision: str, channel: str
) -> None:
    result = decide(customer, channel, decision)
    wording = Wording.objects.get(version=f"{channel}-v1")
    entry = AuditEntry.objects.get(seq=result.seq)
    payload = json.loads(entry.payload)
    assert entry.wording_version == f"{channel}-v1"
    assert payload["wording_sha256"] == wording.sha256
    assert payload["_state"]["wording_version"] == f"{channel}-v1"
    state = ConsentState.objects.get(client=customer, channel=channel)
    assert state.wording_version == f"{channel}-v1"
    assert result.wording_version == f"{channel}-v1"


def test_a_branch_yes_records_its_version_too(
    customer: Client, decide: Callable[..., Any], advisor_as_actor: Any
) -> None:
    result = decide(customer, "email", "grant", **branch(advisor_as_actor))
    entry = AuditEntry.objects.get(seq=result.seq)
    assert entry.wording_version == "email-v1"
    assert json.loads(entry.payload)["wording_sha256"] == (
        Wording.objects.get(version="email-v1").sha256
    )


def test_the_version_displayed_is_recorded_not_the_newest_one(
    customer: Client, grant: Callable[..., Any], time_machine: Any
) -> None:
    """R59: after email-v2 is published, a journey that displayed v1 records v1."""
    time_machine.move_to(dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC), tick=False)
    v2 = publish_email_v2()
    time_machine.shift(60)
    result = grant(customer, "email", wording_version="email-v1")
    entry = AuditEntry.objects.get(seq=result.seq)
    assert entry.wording_version == "email-v1"
    assert json.loads(entry.payload)["wording_sha256"] != v2.sha256
    other = grant(customer, "email", wording_version="email-v2")
    assert json.loads(AuditEntry.objects.get(seq=other.seq).payload)["wording_sha256"] == (
        v2.sha256
    )
