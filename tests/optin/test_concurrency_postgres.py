"""R45, R53, R56, DESIGN §3-4: concurrent writers on PostgreSQL, with real commits.

Eight threads record decisions on one client at once: every decision is logged, the chain stays
gapless and intact, and each state equals the last entry for its channel. Two advisors changing
the same contact data from the same version: exactly one wins, the other gets `conflict`.

These tests commit (no test transaction: threads must see each other's commits), so they run
in their own pytest invocation (`-m committed`) on a fresh test database, and use unique client
numbers. `transactional_db` is not used: its teardown TRUNCATEs every table, which the log's
triggers refuse.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from clients.models import Client, Role
from clients.services import change_contact_details
from optin.audit import Actor
from optin.errors import DomainError
from optin.integrity import verify_log
from optin.models import AuditEntry, ConsentState, Journey
from optin.services import DecisionResult, record_decision
from tests.factories import BranchFactory, ClientFactory, StaffFactory, advisor_actor, web_actor
from tests.threads import run_in_threads, unique

pytestmark = [pytest.mark.postgres, pytest.mark.committed]

THREADS = 8
CALLS_PER_THREAD = 6
DECISIONS = ("grant", "withdraw", "refuse")
CHANNELS = ("email", "sms_push")


@pytest.fixture
def committed(committed_database: None, django_db_blocker: Any) -> Any:
    """Database access without a test transaction: what is written here is committed."""
    with django_db_blocker.unblock():
        yield


def decision_kwargs(i: int, j: int, advisor: Actor, web: Actor) -> dict[str, Any]:
    """Thread i, call j: alternating grant / withdraw / refuse on both channels; odd threads
    are an advisor in branch for refusals and withdrawals, the others a digital journey."""
    channel = CHANNELS[(i + j) % 2]
    decision = DECISIONS[(i + j) % 3]
    in_branch = i % 2 == 1 and decision != "grant"
    kwargs: dict[str, Any] = {
        "channel": channel,
        "decision": decision,
        "actor": advisor if in_branch else web,
        "journey": (
            (Journey.BRANCH_CONTACT_UPDATE if decision == "refuse" else Journey.BRANCH_REQUEST)
            if in_branch
            else Journey.DIGITAL_SELF_SERVICE
        ),
    }
    if decision in ("grant", "refuse"):
        kwargs["wording_version"] = f"{channel}-v1"
    if decision == "grant":
        kwargs["affirmative_action"] = True
        kwargs["evidence"] = {"ip": "192.0.2.7", "user_agent": f"thread-{i}"}
    return kwargs


def test_concurrent_decisions_on_one_client_are_all_logged_and_the_state_is_the_last(
    committed,
):
    branch = BranchFactory(code="B001")
    advisor = advisor_actor(StaffFactory(username=unique("adv"), role=Role.ADVISOR, branch=branch))
    web = web_actor(unique("web"))
    client = ClientFactory(client_number=unique("K"), branch=branch)
    results: list[DecisionResult] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        for j in range(CALLS_PER_THREAD):
            result = record_decision(
                client_number=client.client_number, **decision_kwargs(i, j, advisor, web)
            )
            with lock:
                results.append(result)

    errors = run_in_threads(THREADS, work)

    assert errors == []
    assert len(results) == THREADS * CALLS_PER_THREAD
    written = [r for r in results if r.recorded]
    entries = list(
        AuditEntry.objects.filter(client_id=client.pk, action__startswith="consent.").order_by(
            "seq"
        )
    )
    assert len(entries) == len(written)
    assert sorted(r.seq for r in written) == [e.seq for e in entries]

    seqs = list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))

    result = verify_log()
    assert result.ok, [str(p) for p in result.problems]

    for channel in CHANNELS:
        last = [e for e in entries if e.channel == channel][-1]
        state = ConsentState.objects.get(client=client, channel=channel)
        assert state.last_seq == last.seq
        assert state.status == json.loads(last.payload)["_state"]["to"]


def test_two_advisors_changing_contact_data_from_the_same_version_one_gets_conflict(
    committed,
):
    branch = BranchFactory(code="B001")
    advisors = [
        advisor_actor(StaffFactory(username=unique("adv"), role=Role.ADVISOR, branch=branch))
        for _ in range(2)
    ]
    client = ClientFactory(client_number=unique("K"), branch=branch)
    version = client.version
    new_emails = [f"{unique('nouvelle')}@exemple.fr" for _ in range(2)]
    outcomes: dict[int, Any] = {}

    def work(i: int) -> None:
        try:
            change_contact_details(
                actor=advisors[i],
                client_number=client.client_number,
                email=new_emails[i],
                expected_version=version,
                journey=Journey.BRANCH_CONTACT_UPDATE,
            )
            outcomes[i] = "ok"
        except DomainError as exc:
            outcomes[i] = exc

    errors = run_in_threads(2, work)

    assert errors == []
    winners = [i for i, outcome in outcomes.items() if outcome == "ok"]
    losers = [outcome for outcome in outcomes.values() if outcome != "ok"]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].code == "conflict"
    saved = Client.objects.get(pk=client.pk)
    assert saved.email == new_emails[winners[0]]
    assert saved.version == version + 1
    # R45: the refusal carries the current values.
    assert losers[0].extra["current"]["email"] == new_emails[winners[0]]
    changes = AuditEntry.objects.filter(client_id=client.pk, action="client.contact_changed")
    assert changes.count() == 1
    assert verify_log().ok
