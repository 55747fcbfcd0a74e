"""R51, R53, R56: what each log entry records, how entries are chained, and how the personal
data inside them are encrypted per client (R64: destroying the key erases them, the chain
still verifies)."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import math

import pytest
from django.utils import timezone

from clients.services import change_contact_details
from optin import audit
from optin.audit import GENESIS_HASH, canonical_json, chain_hash, header_json
from optin.integrity import verify_log
from optin.models import AuditEntry, ClientKey, ConsentState, Journey, Wording
from optin.services import record_decision
from tests.factories import SYSTEM
from tests.optin.conftest import log_of

# --- canonical JSON -------------------------------------------------------------------------


def test_canonical_json_sorts_keys_and_has_no_whitespace():
    value = {"b": [1, {"z": None, "a": True}], "a": "x y"}
    assert canonical_json(value) == '{"a":"x y","b":[1,{"a":true,"z":null}]}'


def test_canonical_json_keeps_utf8_characters_unescaped():
    text = canonical_json({"nom": "Lefèvre", "ville": "Besançon — 東京"})
    assert text == '{"nom":"Lefèvre","ville":"Besançon — 東京"}'
    assert "\\u" not in text


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_canonical_json_refuses_nan_and_infinities(number):
    with pytest.raises(ValueError):
        canonical_json({"x": number})


def test_canonical_json_refuses_values_that_are_not_json():
    with pytest.raises(TypeError):
        canonical_json({"when": dt.datetime(2026, 11, 23, tzinfo=dt.UTC)})
    with pytest.raises(TypeError):
        canonical_json({"set": {1, 2}})


def test_canonical_json_never_contains_a_raw_newline():
    """The hash input joins prev_hash, header and payload with newlines (audit.py)."""
    assert "\n" not in canonical_json({"text": "line 1\nline 2"})


# --- appending ------------------------------------------------------------------------------


def test_append_outside_a_transaction_raises_runtime_error():
    """No `db` fixture here: the connection is in autocommit, outside any atomic block. The
    refusal comes before any database access."""
    with pytest.raises(RuntimeError, match="inside the writer's transaction"):
        audit.append(action="test.outside", actor=SYSTEM)


@pytest.mark.django_db
def test_entries_get_gapless_sequence_numbers_from_one(customer, client_factory, grant, decide):
    grant(customer, "email")
    grant(customer, "sms_push")
    decide(customer, "email", "withdraw")
    decide(customer, "email", "withdraw")  # R15: writes nothing
    client_factory()
    decide(customer, "sms_push", "refuse")
    seqs = list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 7))


@pytest.mark.django_db
def test_each_entry_links_to_the_hash_of_the_one_before(customer, grant, decide):
    grant(customer, "email")
    decide(customer, "email", "withdraw")
    entries = list(AuditEntry.objects.order_by("seq"))
    assert entries[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    assert len({e.hash for e in entries}) == len(entries)


@pytest.mark.django_db
def test_each_hash_recomputes_from_its_header_and_payload(customer, grant, decide):
    grant(customer, "email")
    decide(customer, "sms_push", "refuse")
    for entry in AuditEntry.objects.order_by("seq"):
        header = header_json(
            entry.seq,
            entry.recorded_at,
            entry.occurred_at,
            entry.actor_type,
            entry.actor_id,
            entry.action,
            entry.client_id,
            entry.client_number,
            entry.channel,
            entry.wording_version,
        )
        assert entry.hash == chain_hash(entry.prev_hash, header, entry.payload)
        # The stored payload is already canonical JSON.
        assert canonical_json(json.loads(entry.payload)) == entry.payload


def test_chain_hash_is_sha256_over_prev_header_and_payload_joined_by_newlines():
    expected = hashlib.sha256(("a" * 64 + "\n" + '{"h":1}' + "\n" + '{"p":"é"}').encode())
    assert chain_hash("a" * 64, '{"h":1}', '{"p":"é"}') == expected.hexdigest()


def test_header_times_are_utc():
    paris = dt.timezone(dt.timedelta(hours=1))
    header = json.loads(
        header_json(
            1,
            dt.datetime(2026, 11, 23, 11, 0, tzinfo=paris),
            dt.datetime(2026, 11, 23, 10, 59, 30, tzinfo=paris),
            "system",
            "tests",
            "test.action",
            None,
            "",
            "",
            "",
        )
    )
    assert header["recorded_at"] == "2026-11-23T10:00:00.000000+00:00"
    assert header["occurred_at"] == "2026-11-23T09:59:30.000000+00:00"


# --- what a decision's entry records (R51) ---------------------------------------------------


@pytest.mark.django_db
def test_an_advisor_decision_records_actor_branch_journey_states_wording_and_evidence(
    customer, advisor, advisor_as_actor
):
    record_decision(
        client_number=customer.client_number,
        channel="email",
        decision="refuse",
        journey=Journey.BRANCH_CONTACT_UPDATE,
        actor=advisor_as_actor,
        wording_version="email-v1",
        evidence={"identity_document": "cni"},
    )
    entry = log_of(customer)[-1]
    payload = json.loads(entry.payload)
    assert (entry.actor_type, entry.actor_id) == ("advisor", f"staff:{advisor.pk}")
    assert payload["actor_branch"] == "B001"
    assert entry.action == "consent.refused"
    assert (entry.client_id, entry.client_number, entry.channel) == (
        customer.pk,
        customer.client_number,
        "email",
    )
    assert payload["journey"] == "branch_contact_update"
    assert payload["decision"] == "refuse"
    assert (payload["_state"]["from"], payload["_state"]["to"]) == ("none", "refused")
    assert entry.wording_version == "email-v1"
    assert payload["wording_sha256"] == Wording.objects.get(version="email-v1").sha256
    assert payload["evidence"] == {"identity_document": "cni"}
    assert audit.personal_data(entry) == {"contact_point": customer.email}


@pytest.mark.django_db
def test_a_digital_decision_records_when_it_occurred_and_when_it_was_recorded(customer, grant):
    occurred = timezone.now() - dt.timedelta(minutes=7)
    before = timezone.now()
    grant(
        customer,
        "sms_push",
        occurred_at=occurred,
        evidence={
            "ip": "203.0.113.9",
            "user_agent": "Mozilla/5.0 (test)",
            "auth_level": "strong",
            "session": "s-42",
        },
        idempotency_key="key-1",
    )
    entry = log_of(customer)[-1]
    payload = json.loads(entry.payload)
    assert entry.occurred_at == occurred
    assert before <= entry.recorded_at <= timezone.now()
    assert entry.recorded_at.utcoffset() == dt.timedelta(0)
    assert (entry.actor_type, entry.actor_id) == ("api_client", "api:web")
    assert "actor_branch" not in payload
    assert payload["journey"] == "digital_self_service"
    assert payload["_state"]["from"] == "none"
    assert payload["_state"]["to"] == "granted"
    assert entry.wording_version == "sms_push-v1"
    assert payload["wording_sha256"] == Wording.objects.get(version="sms_push-v1").sha256
    assert payload["evidence"] == {"auth_level": "strong", "session": "s-42"}
    assert payload["idempotency_key"] == "key-1"
    assert audit.personal_data(entry) == {
        "contact_point": customer.mobile,
        "ip": "203.0.113.9",
        "user_agent": "Mozilla/5.0 (test)",
    }


@pytest.mark.django_db
def test_a_withdrawal_records_the_previous_and_new_state(customer, grant, decide):
    grant(customer, "email")
    decide(customer, "email", "withdraw")
    payload = json.loads(log_of(customer)[-1].payload)
    assert payload["_state"]["from"] == "granted"
    assert payload["_state"]["to"] == "withdrawn"
    assert payload["decision"] == "withdraw"


@pytest.mark.django_db
def test_the_contact_point_recorded_is_the_one_at_the_time_of_the_decision(customer, grant):
    old_email = customer.email
    grant(customer, "email")
    change_contact_details(
        actor=SYSTEM, client_number=customer.client_number, email="nouvelle@exemple.fr"
    )
    grant(customer, "email")
    grants = [e for e in log_of(customer) if e.action == "consent.granted"]
    contact_points = [audit.personal_data(e)["contact_point"] for e in grants]
    assert contact_points == [old_email, "nouvelle@exemple.fr"]


@pytest.mark.django_db
def test_the_state_is_the_last_entry_in_log_order_even_if_it_occurred_earlier(
    customer, grant, decide
):
    """R56: the sequence order is authoritative, not occurred_at."""
    now = timezone.now()
    grant(customer, "email", occurred_at=now - dt.timedelta(minutes=5))
    decide(customer, "email", "withdraw", occurred_at=now - dt.timedelta(minutes=10))
    last = log_of(customer)[-1]
    assert last.occurred_at < log_of(customer)[-2].occurred_at
    state = ConsentState.objects.get(client=customer, channel="email")
    assert state.status == "withdrawn"
    assert state.last_seq == last.seq
    assert verify_log().ok


# --- personal data: encrypted per client (R51, R64) ------------------------------------------

SECRETS = {
    "first_name": "Éloïse",
    "last_name": "Quillebœuf-Zygmunt",
    "email": "eloise.quilleboeuf@exemple.fr",
    "mobile": "+33798765432",
}
IP = "198.51.100.123"
USER_AGENT = "Mozilla/5.0 (Secret-Agent 9.9)"


@pytest.fixture
def private_customer(client_factory, grant, decide):
    client = client_factory(**SECRETS)
    grant(client, "email", evidence={"ip": IP, "user_agent": USER_AGENT})
    grant(client, "sms_push", evidence={"ip": IP, "user_agent": USER_AGENT})
    decide(client, "sms_push", "withdraw", evidence={"ip": IP, "user_agent": USER_AGENT})
    change_contact_details(
        actor=SYSTEM, client_number=client.client_number, email="eloise.q@exemple.fr"
    )
    return client


@pytest.mark.django_db
def test_personal_data_never_appear_in_clear_in_the_stored_entries(private_customer):
    entries = log_of(private_customer)
    assert len(entries) == 5
    clear = [*SECRETS.values(), IP, USER_AGENT, "eloise.q@exemple.fr", "Quilleb", "798765432"]
    for entry in entries:
        stored = " ".join(
            str(v) for v in AuditEntry.objects.filter(pk=entry.pk).values_list().get()
        )
        for value in clear:
            assert value not in stored, (entry.seq, value)
            assert json.dumps(value)[1:-1] not in stored, (entry.seq, value)
        assert json.loads(entry.payload)["personal"].startswith("v1.")


@pytest.mark.django_db
def test_personal_data_decrypt_with_the_clients_key(private_customer):
    created, email_grant, _sms_grant, withdrawal, contact = log_of(private_customer)
    identity = audit.personal_data(created)
    assert identity["first_name"] == "Éloïse"
    assert identity["last_name"] == "Quillebœuf-Zygmunt"
    assert identity["email"] == "eloise.quilleboeuf@exemple.fr"
    assert identity["mobile"] == "+33798765432"
    assert audit.personal_data(email_grant) == {
        "contact_point": "eloise.quilleboeuf@exemple.fr",
        "ip": IP,
        "user_agent": USER_AGENT,
    }
    assert audit.personal_data(withdrawal)["contact_point"] == "+33798765432"
    assert audit.personal_data(contact) == {
        "old": "eloise.quilleboeuf@exemple.fr",
        "new": "eloise.q@exemple.fr",
    }


@pytest.mark.django_db
def test_destroying_the_clients_key_makes_the_data_unreadable_and_the_log_still_verifies(
    private_customer, customer, grant
):
    grant(customer, "email")
    payloads = {e.seq: e.payload for e in log_of(private_customer)}
    ClientKey.objects.filter(client_id=private_customer.pk).delete()

    for entry in log_of(private_customer):
        assert audit.personal_data(entry) is None
        assert entry.payload == payloads[entry.seq]  # the ciphertext (and hash) stay
    # Other clients keep theirs.
    assert audit.personal_data(log_of(customer)[-1]) == {
        "contact_point": customer.email,
        "ip": "192.0.2.1",
        "user_agent": "pytest",
    }
    result = verify_log()
    assert result.ok, result.problems
    assert result.entries == AuditEntry.objects.count()


@pytest.mark.django_db
def test_old_entries_stay_unreadable_not_broken_when_the_client_is_logged_after_key_deletion(
    private_customer, decide
):
    """R64: once the key is gone, a later entry about the same client (here an objection,
    which must always be possible, R38) must not turn the erased entries into errors."""
    erased = log_of(private_customer)
    ClientKey.objects.filter(client_id=private_customer.pk).delete()
    decide(private_customer, "email", "withdraw")
    for entry in erased:
        assert audit.personal_data(entry) is None
    assert verify_log().ok
