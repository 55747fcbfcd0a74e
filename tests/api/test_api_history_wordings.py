"""GET /api/v1/clients/{n}/history and GET /api/v1/wordings.

R51, R56: a client's log entries come in log order with their actor, action, channel, times,
wording version and hashes, in keyset pages (`after`, `limit` up to 1000, `next_after` null on
the last page).
R64 (and R63): personal data never leave the log through the API: names, contact points, IP
addresses and user agents stay sealed; `has_personal_data` says an entry holds some.
R57, R59: the wordings offered are the active versions, each with its exact text and the
SHA-256 of its UTF-8 bytes, so that a journey shows that text and sends back its version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from clients.models import Client
from optin.audit import Actor
from optin.models import AuditEntry, Wording
from optin.services import WORDING_CHECKLIST, publish_wording, set_wording_active
from tests.api.conftest import error

EVIDENCE = {"ip": "203.0.113.42", "user_agent": "Navigateur-Secret/9.9"}


def history(http: APIClient, client: Client, **query: Any) -> Any:
    return http.get(f"/api/v1/clients/{client.client_number}/history", query)


def decide(http: APIClient, client: Client, channel: str, decision: str) -> None:
    body: dict[str, Any] = {
        "channel": channel,
        "decision": decision,
        "journey": "digital_self_service",
        "evidence": EVIDENCE,
    }
    if decision in ("grant", "refuse"):
        body["wording_version"] = f"{channel}-v1"
    if decision == "grant":
        body["affirmative_action"] = True
    response = http.post(f"/api/v1/clients/{client.client_number}/consents", body, format="json")
    assert response.status_code == 201, response.content


@pytest.fixture
def busy(api: APIClient, customer: Client, client_factory: Callable[..., Client]) -> Client:
    """The customer with seven entries after their creation, and another client's entries
    interleaved."""
    other = client_factory()
    decide(api, customer, "email", "grant")
    decide(api, other, "email", "grant")
    decide(api, customer, "sms_push", "refuse")
    api.patch(
        f"/api/v1/clients/{customer.client_number}",
        {"email": "jeanne.nouvelle@exemple.fr"},
        format="json",
    )
    decide(api, other, "sms_push", "grant")
    decide(api, customer, "email", "withdraw")
    decide(api, customer, "sms_push", "grant")
    decide(api, customer, "email", "grant")
    decide(api, customer, "sms_push", "withdraw")
    return customer


def test_the_history_lists_the_client_s_entries_in_log_order(api: APIClient, busy: Client) -> None:
    response = history(api, busy)
    assert response.status_code == 200
    data = response.json()
    entries = data["entries"]
    expected = list(AuditEntry.objects.filter(client_id=busy.pk).order_by("seq"))
    assert [e["seq"] for e in entries] == [e.seq for e in expected]
    assert [e["action"] for e in entries] == [
        "client.created",
        "consent.granted",
        "consent.refused",
        "client.contact_changed",
        "consent.withdrawn",
        "consent.granted",
        "consent.granted",
        "consent.withdrawn",
    ]
    assert data["next_after"] is None


def test_each_entry_carries_its_actor_times_wording_and_hashes(
    api: APIClient, busy: Client
) -> None:
    entries = history(api, busy).json()["entries"]
    stored = {e.seq: e for e in AuditEntry.objects.filter(client_id=busy.pk)}
    for entry in entries:
        row = stored[entry["seq"]]
        assert (entry["actor_type"], entry["actor_id"]) == (row.actor_type, row.actor_id)
        assert (entry["channel"], entry["wording_version"]) == (row.channel, row.wording_version)
        assert (entry["hash"], entry["prev_hash"]) == (row.hash, row.prev_hash)
        for name in ("recorded_at", "occurred_at"):
            moment = dt.datetime.fromisoformat(entry[name].replace("Z", "+00:00"))
            assert moment == getattr(row, name)
    grant = entries[1]
    assert (grant["actor_type"], grant["actor_id"]) == ("api_client", "api:web")
    assert grant["wording_version"] == "email-v1"
    assert grant["data"]["journey"] == "digital_self_service"


def test_pages_follow_each_other_with_next_after(api: APIClient, busy: Client) -> None:
    full = [e["seq"] for e in history(api, busy).json()["entries"]]
    pages: list[list[int]] = []
    after = 0
    while True:
        response = history(api, busy, after=after, limit=3)
        assert response.status_code == 200
        data = response.json()
        pages.append([e["seq"] for e in data["entries"]])
        if data["next_after"] is None:
            break
        assert data["next_after"] == pages[-1][-1]
        after = data["next_after"]
    assert [len(page) for page in pages] == [3, 3, 2]
    assert [seq for page in pages for seq in page] == full


def test_a_last_page_that_is_exactly_full_has_no_next(api: APIClient, busy: Client) -> None:
    full = [e["seq"] for e in history(api, busy).json()["entries"]]
    first = history(api, busy, limit=4).json()
    assert first["next_after"] == full[3]
    last = history(api, busy, after=first["next_after"], limit=4).json()
    assert [e["seq"] for e in last["entries"]] == full[4:]
    assert last["next_after"] is None


def test_after_the_last_entry_the_page_is_empty(api: APIClient, busy: Client) -> None:
    last = AuditEntry.objects.order_by("-seq").values_list("seq", flat=True).first()
    data = history(api, busy, after=last).json()
    assert data == {"entries": [], "next_after": None}


def test_after_need_not_be_one_of_the_client_s_entries(api: APIClient, busy: Client) -> None:
    seqs = [e["seq"] for e in history(api, busy).json()["entries"]]
    gap = next(s for s in range(seqs[0], seqs[-1]) if s not in seqs)
    data = history(api, busy, after=gap).json()
    assert [e["seq"] for e in data["entries"]] == [s for s in seqs if s > gap]


def test_personal_data_never_appear_in_the_history(api: APIClient, busy: Client) -> None:
    response = history(api, busy)
    text = response.content.decode("utf-8")
    busy.refresh_from_db()
    for secret in (
        "Jeanne",
        busy.last_name,
        "jeanne.dupont",
        "jeanne.nouvelle@exemple.fr",
        busy.mobile,
        busy.mobile[3:],
        EVIDENCE["ip"],
        EVIDENCE["user_agent"],
        "1980-05-17",
    ):
        assert secret not in text, secret
    entries = {e["action"]: e for e in response.json()["entries"]}
    assert entries["client.created"]["has_personal_data"] is True
    assert entries["client.contact_changed"]["has_personal_data"] is True
    assert entries["consent.granted"]["has_personal_data"] is True
    assert "personal" not in entries["consent.granted"]["data"]


def test_another_client_s_entries_are_not_listed(
    api: APIClient, busy: Client, client_factory: Callable[..., Client]
) -> None:
    entries = history(api, busy).json()["entries"]
    assert {e["seq"] for e in entries} == set(
        AuditEntry.objects.filter(client_id=busy.pk).values_list("seq", flat=True)
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": 1001}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": -5}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"after": -1}, "after"),
        ({"after": "last"}, "after"),
        ({"after": "1.5"}, "after"),
        ({"page": 2}, "page"),
    ],
)
def test_a_bad_page_query_is_a_400_naming_it(
    api: APIClient, customer: Client, query: dict[str, Any], field: str
) -> None:
    response = history(api, customer, **query)
    assert response.status_code == 400
    problem = error(response)
    assert problem["code"] == "invalid"
    assert set(problem["fields"]) == {field}


def test_the_largest_page_is_a_thousand(api: APIClient, customer: Client) -> None:
    assert history(api, customer, limit=1000).status_code == 200


def test_the_history_of_an_unknown_client_is_a_404(api: APIClient, customer: Client) -> None:
    response = api.get("/api/v1/clients/NOBODY/history")
    assert response.status_code == 404
    assert error(response)["code"] == "unknown_client"


def test_reading_the_history_writes_nothing(api: APIClient, busy: Client) -> None:
    count = AuditEntry.objects.count()
    history(api, busy)
    assert AuditEntry.objects.count() == count


# --- wordings --------------------------------------------------------------------------------


def _publish(version: str, channel: str = "email") -> Wording:
    return publish_wording(
        actor=Actor.system("tests"),
        channel=channel,
        version=version,
        text=f"J'accepte les offres de Banque Exemple par {channel} ({version}) : « oui » — ✓.",
        checklist=dict.fromkeys(WORDING_CHECKLIST, True),
    )


def test_the_wordings_are_the_active_versions_with_text_and_hash(api: APIClient) -> None:
    response = api.get("/api/v1/wordings")
    assert response.status_code == 200
    wordings = response.json()
    assert {w["version"] for w in wordings} == {"email-v1", "sms_push-v1"}
    for wording in wordings:
        stored = Wording.objects.get(version=wording["version"])
        assert wording["channel"] == stored.channel
        assert wording["language"] == "fr"
        assert wording["text"] == stored.text
        assert wording["sha256"] == hashlib.sha256(wording["text"].encode("utf-8")).hexdigest()
        published = dt.datetime.fromisoformat(wording["published_at"].replace("Z", "+00:00"))
        assert published == stored.published_at


def test_an_inactive_version_is_not_offered(api: APIClient) -> None:
    _publish("email-v2")
    set_wording_active(
        actor=Actor.system("tests"), wording=Wording.objects.get(version="email-v1"), active=False
    )
    wordings = api.get("/api/v1/wordings").json()
    assert {w["version"] for w in wordings} == {"email-v2", "sms_push-v1"}
    v2 = next(w for w in wordings if w["version"] == "email-v2")
    # The text byte for byte, its hash over the UTF-8 bytes (R59).
    assert v2["text"] == Wording.objects.get(version="email-v2").text
    assert v2["sha256"] == hashlib.sha256(v2["text"].encode("utf-8")).hexdigest()


def test_a_reactivated_version_is_offered_again(api: APIClient) -> None:
    email_v1 = Wording.objects.get(version="email-v1")
    set_wording_active(actor=Actor.system("tests"), wording=email_v1, active=False)
    set_wording_active(actor=Actor.system("tests"), wording=email_v1, active=True)
    assert "email-v1" in {w["version"] for w in api.get("/api/v1/wordings").json()}


def test_every_offered_version_can_be_granted_with(api: APIClient, customer: Client) -> None:
    """R59: a journey shows an offered text and sends back its version."""
    _publish("sms_push-v2", channel="sms_push")
    for wording in api.get("/api/v1/wordings").json():
        response = api.post(
            f"/api/v1/clients/{customer.client_number}/consents",
            {
                "channel": wording["channel"],
                "decision": "grant",
                "journey": "digital_self_service",
                "wording_version": wording["version"],
                "affirmative_action": True,
                "evidence": EVIDENCE,
            },
            format="json",
        )
        assert response.status_code == 201, (wording["version"], response.content)


def test_no_wording_is_offered_when_none_is_active(api: APIClient) -> None:
    for wording in Wording.objects.all():
        set_wording_active(actor=Actor.system("tests"), wording=wording, active=False)
    response = api.get("/api/v1/wordings")
    assert (response.status_code, response.json()) == (200, [])
