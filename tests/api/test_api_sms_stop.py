"""POST /api/v1/sms/stop (scope consents:write): R41 — a STOP forwarded by the SMS gateway
withdraws `sms_push` of every client holding the sender's number (R10), journey `sms_stop`, actor
system, with the gateway's message id; other words are not a withdrawal; an unknown number is
logged without personal data. With R15 (a repeat writes nothing), R38/R42 (immediate effect),
R62 (the number joins the suppression list as a keyed hash), R67 (the sender's number in any
French writing) and R71 (bad input is a 400 that changes nothing).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from clients.models import Client
from optin.models import AuditEntry, ConsentState, SuppressionEntry
from optin.services import suppression_digest
from signatures.models import ConsentForm, FormStatus
from signatures.services import BranchAnswer, collect_branch_answers
from tests.api.conftest import error

pytestmark = pytest.mark.django_db

URL = "/api/v1/sms/stop"
MOBILE = "+33612345678"


def stop(api: APIClient, keyword: str, mobile: str = MOBILE, message_id: str = "gw-1") -> Any:
    response = api.post(
        URL, {"mobile": mobile, "keyword": keyword, "message_id": message_id}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"stop", "matched", "withdrawn"}
    return body


def states_of(client: Client) -> dict[str, str]:
    return dict(ConsentState.objects.filter(client=client).values_list("channel", "status"))


def data_of(entry: AuditEntry) -> dict[str, Any]:
    payload = json.loads(entry.payload)
    payload.pop("personal", None)
    return payload


@pytest.fixture
def holder(client_factory: Callable[..., Client], grant: Callable[..., Any]) -> Client:
    """A client who granted both channels, with the mobile +33 6 12 34 56 78."""
    client = client_factory(mobile=MOBILE)
    grant(client, "email")
    grant(client, "sms_push")
    return client


STOP_WORDS = [
    "STOP",
    "Stop",
    "stop",
    "sToP",
    "ARRET",
    "ARRÊT",
    "arrêt",
    "Arret",
    "STOP merci",
    "  stop.",
    "STOP SMS",
    "stop!",
    "ARRÊT des SMS svp",
    "\tSTOP\n",
]


@pytest.mark.parametrize("keyword", STOP_WORDS)
def test_r41_a_stop_word_withdraws_sms_push(api: APIClient, holder: Client, keyword: str) -> None:
    assert stop(api, keyword, message_id="gw-42") == {"stop": True, "matched": 1, "withdrawn": 1}
    assert states_of(holder) == {"email": "granted", "sms_push": "withdrawn"}
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry is not None
    assert entry.action == "consent.withdrawn"
    assert entry.client_id == holder.pk
    assert entry.channel == "sms_push"
    assert entry.actor_type == "system"
    data = data_of(entry)
    assert data["journey"] == "sms_stop"
    assert data["evidence"]["message_id"] == "gw-42"
    state = ConsentState.objects.get(client=holder, channel="sms_push")
    assert state.journey == "sms_stop"
    assert state.last_seq == entry.seq


@pytest.mark.parametrize(
    "keyword",
    ["STOPPER", "Bonjour", "", "   ", "Merci STOP", "ST OP", "OK", "ARRETER", "STOPS", "5T0P"],
)
def test_r41_other_words_change_nothing_and_answer_stop_false(
    api: APIClient, holder: Client, keyword: str
) -> None:
    before = AuditEntry.objects.count()
    assert stop(api, keyword) == {"stop": False, "matched": 0, "withdrawn": 0}
    assert states_of(holder) == {"email": "granted", "sms_push": "granted"}
    assert AuditEntry.objects.count() == before


def test_r10_r41_every_client_sharing_the_number_is_withdrawn(
    api: APIClient,
    holder: Client,
    client_factory: Callable[..., Client],
    grant: Callable[..., Any],
    decide: Callable[..., Any],
) -> None:
    joint = client_factory(mobile=MOBILE)
    grant(joint, "sms_push")
    never = client_factory(mobile=MOBILE)  # state none: the STOP is still an objection
    elsewhere = client_factory(mobile="+33698765432")
    grant(elsewhere, "sms_push")
    assert stop(api, "STOP") == {"stop": True, "matched": 3, "withdrawn": 3}
    for client in (holder, joint, never):
        assert states_of(client)["sms_push"] == "withdrawn"
        entry = AuditEntry.objects.filter(client_id=client.pk).order_by("-seq").first()
        assert entry is not None
        assert (entry.action, entry.actor_type) == ("consent.withdrawn", "system")
    assert states_of(elsewhere)["sms_push"] == "granted"
    assert states_of(holder)["email"] == "granted"
    assert states_of(joint)["email"] == "none"


@pytest.mark.parametrize(
    "written",
    ["06 12 34 56 78", "0612345678", "06.12.34.56.78", "+33 6 12 34 56 78", "0033612345678"],
)
def test_r67_the_number_in_french_writing_matches_its_e164_form(
    api: APIClient, holder: Client, written: str
) -> None:
    assert stop(api, "STOP", mobile=written) == {"stop": True, "matched": 1, "withdrawn": 1}
    assert states_of(holder)["sms_push"] == "withdrawn"


def test_r15_a_repeated_stop_writes_nothing_new(api: APIClient, holder: Client) -> None:
    stop(api, "STOP", message_id="gw-1")
    size = AuditEntry.objects.count()
    assert stop(api, "STOP", message_id="gw-2") == {"stop": True, "matched": 1, "withdrawn": 0}
    assert stop(api, "ARRÊT", message_id="gw-3") == {"stop": True, "matched": 1, "withdrawn": 0}
    assert AuditEntry.objects.count() == size
    assert states_of(holder) == {"email": "granted", "sms_push": "withdrawn"}


def test_r41_a_stop_leaves_the_email_consent_untouched(
    api: APIClient, holder: Client, client_factory: Callable[..., Client]
) -> None:
    email_state = ConsentState.objects.get(client=holder, channel="email")
    stop(api, "STOP")
    after = ConsentState.objects.get(client=holder, channel="email")
    assert (after.status, after.since, after.last_seq, after.wording_version) == (
        email_state.status,
        email_state.since,
        email_state.last_seq,
        email_state.wording_version,
    )
    assert not AuditEntry.objects.filter(
        client_id=holder.pk, channel="email", action="consent.withdrawn"
    ).exists()


def test_r12_a_stop_on_a_channel_awaiting_its_signature_cancels_the_form(
    api: APIClient, client_factory: Callable[..., Client], advisor: Any
) -> None:
    client = client_factory(mobile=MOBILE)
    collected = collect_branch_answers(
        client=client,
        answers={"sms_push": BranchAnswer("yes", "sms_push-v1")},
        advisor=advisor,
        journey="branch_account_opening",
    )
    assert collected.form is not None
    assert stop(api, "STOP") == {"stop": True, "matched": 1, "withdrawn": 1}
    assert states_of(client)["sms_push"] == "withdrawn"
    assert ConsentForm.objects.get(pk=collected.form.pk).status == FormStatus.CANCELLED


def test_r42_eligibility_answers_withdrawn_at_once(api: APIClient, holder: Client) -> None:
    def ask(channel: str) -> tuple[bool, str]:
        response = api.post(
            "/api/v1/eligibility",
            {"channel": channel, "client_numbers": [holder.client_number]},
            format="json",
        )
        (answer,) = response.json()["results"]
        return answer["eligible"], answer["reason"]

    assert ask("sms_push") == (True, "granted")
    stop(api, "stop")
    assert ask("sms_push") == (False, "withdrawn")
    assert ask("email") == (True, "granted")


def test_r62_a_stop_puts_the_number_on_the_suppression_list_as_a_keyed_hash(
    api: APIClient, holder: Client
) -> None:
    stop(api, "STOP")
    entry = SuppressionEntry.objects.get(channel="sms_push", digest=suppression_digest(MOBILE))
    assert MOBILE not in entry.digest
    assert "612345678" not in str(entry.__dict__)


def test_r41_an_unknown_number_is_logged_without_personal_data_and_changes_nothing(
    api: APIClient, holder: Client
) -> None:
    states = {c.pk: states_of(c) for c in Client.objects.all()}
    before = AuditEntry.objects.count()
    unknown = "+33687654321"
    answer = stop(api, "STOP", mobile="06 87 65 43 21", message_id="gw-unknown")
    assert answer == {"stop": True, "matched": 0, "withdrawn": 0}
    assert {c.pk: states_of(c) for c in Client.objects.all()} == states
    assert AuditEntry.objects.count() == before + 1
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry is not None
    assert entry.action == "sms.stop_unmatched"
    assert entry.actor_type == "system"
    assert entry.client_id is None
    assert entry.client_number == ""
    assert data_of(entry)["message_id"] == "gw-unknown"
    for clear in (unknown, "687654321", "0687654321", "06 87 65 43 21", "87 65 43 21"):
        assert clear not in entry.payload
        assert clear not in entry.actor_id
    assert "personal" not in json.loads(entry.payload)
    assert not SuppressionEntry.objects.filter(digest=suppression_digest(unknown)).exists()


def test_r64_an_erased_client_is_matched_by_no_stop(api: APIClient, holder: Client) -> None:
    Client.objects.filter(pk=holder.pk).update(erased_at=timezone.now())
    before = AuditEntry.objects.filter(client_id=holder.pk).count()
    assert stop(api, "STOP")["matched"] == 0
    assert AuditEntry.objects.filter(client_id=holder.pk).count() == before


# --- R71: bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mobile",
    [
        "01 23 45 67 89",
        "06 12 34 56 7",
        "not a number",
        "",
        "+33 6 12 34 56 78 ext 2",
        "0800123456",
    ],
    ids=["landline", "short", "letters", "empty", "extension", "freephone"],
)
def test_r71_an_invalid_mobile_is_a_400_that_changes_nothing(
    api: APIClient, holder: Client, mobile: str
) -> None:
    before = AuditEntry.objects.count()
    response = api.post(
        URL, {"mobile": mobile, "keyword": "STOP", "message_id": "gw-1"}, format="json"
    )
    assert response.status_code == 400
    assert "mobile" in error(response)["fields"]
    assert AuditEntry.objects.count() == before
    assert states_of(holder)["sms_push"] == "granted"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"keyword": "STOP", "message_id": "gw-1"}, "mobile"),
        ({"mobile": MOBILE, "message_id": "gw-1"}, "keyword"),
        ({"mobile": MOBILE, "keyword": "STOP"}, "message_id"),
        ({"mobile": 33612345678, "keyword": "STOP", "message_id": "gw-1"}, "mobile"),
        ({"mobile": MOBILE, "keyword": ["STOP"], "message_id": "gw-1"}, "keyword"),
        ({"mobile": MOBILE, "keyword": "STOP", "message_id": 12}, "message_id"),
        ({"mobile": MOBILE, "keyword": "STOP", "message_id": "gw-1", "x": 1}, "x"),
    ],
    ids=[
        "no-mobile",
        "no-keyword",
        "no-message-id",
        "number-mobile",
        "list-keyword",
        "number-message-id",
        "unknown-field",
    ],
)
def test_r71_a_malformed_body_is_a_400_that_changes_nothing(
    api: APIClient, holder: Client, body: dict[str, Any], field: str
) -> None:
    before = AuditEntry.objects.count()
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in error(response)["fields"]
    assert AuditEntry.objects.count() == before
    assert states_of(holder)["sms_push"] == "granted"


@pytest.mark.parametrize("scope", ["consents:read", "eligibility:read", "optin-list:read"])
def test_the_consents_write_scope_is_required(
    api_client: Callable[..., APIClient], holder: Client, scope: str
) -> None:
    http = api_client(scope)
    before = AuditEntry.objects.count()
    response = http.post(
        URL, {"mobile": MOBILE, "keyword": "STOP", "message_id": "gw-1"}, format="json"
    )
    assert response.status_code == 403
    assert error(response)["code"] == "missing_scope"
    assert AuditEntry.objects.count() == before
    assert states_of(holder)["sms_push"] == "granted"


def test_the_gateway_named_in_the_entry_is_the_api_client(
    api_client: Callable[..., APIClient], holder: Client
) -> None:
    gateway = api_client("consents:write", name="sms-gateway")
    stop(gateway, "STOP", message_id="gw-9")
    entry = AuditEntry.objects.filter(client_id=holder.pk).order_by("-seq").first()
    assert entry is not None
    assert data_of(entry)["evidence"] == {"message_id": "gw-9", "gateway": "sms-gateway"}
