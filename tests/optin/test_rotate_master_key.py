"""`rotate_master_key` re-wraps every client key under a new master key without touching the
log: personal values stay readable with the new key alone, the chain verifies, destroyed keys
stay destroyed, a second run changes nothing, and a key no configured master unwraps stops the
run before anything changes (R53, R64)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from clients.models import Client
from optin import audit, crypto, integrity
from optin.models import AuditEntry, ClientKey

pytestmark = pytest.mark.django_db

OLD = base64.b64encode(b"k" * 32).decode("ascii")  # the test settings' master key
NEW = base64.b64encode(b"n" * 32).decode("ascii")
OTHER = base64.b64encode(b"o" * 32).decode("ascii")


@pytest.fixture
def customers(client_factory: Callable[..., Client], grant: Callable[..., Any]) -> list[Client]:
    made = [client_factory() for _ in range(5)]
    for customer in made:
        grant(customer, "email")
    return made


def personal_values() -> dict[int, Any]:
    return {
        e.seq: audit.personal_data(e)
        for e in AuditEntry.objects.exclude(client_id=None).order_by("seq")
    }


def log_rows() -> list[tuple[Any, ...]]:
    return list(AuditEntry.objects.order_by("seq").values_list("seq", "payload", "hash"))


def rotate(**options: Any) -> str:
    out = StringIO()
    call_command("rotate_master_key", stdout=out, **options)
    return out.getvalue()


def test_a_new_master_key_with_the_former_one_as_fallback_reads_everything(
    customers: list[Client], settings: Any
) -> None:
    before = personal_values()
    assert all(value for value in before.values())
    settings.OPTIN_AUDIT_MASTER_KEY = NEW
    settings.OPTIN_AUDIT_MASTER_KEY_FALLBACKS = [OLD]
    assert personal_values() == before
    settings.OPTIN_AUDIT_MASTER_KEY_FALLBACKS = []
    with pytest.raises(ImproperlyConfigured, match="OPTIN_AUDIT_MASTER_KEY_FALLBACKS"):
        personal_values()


def test_rotation_rewraps_every_key_and_leaves_the_log_as_it_was(
    customers: list[Client], settings: Any
) -> None:
    before, log = personal_values(), log_rows()
    settings.OPTIN_AUDIT_MASTER_KEY = NEW
    settings.OPTIN_AUDIT_MASTER_KEY_FALLBACKS = [OLD]
    output = rotate(batch_size=2)
    new_id = crypto.master_key_id()
    assert output.startswith("OK: 5 client key(s) re-wrapped")
    assert set(ClientKey.objects.values_list("master_key_id", flat=True)) == {new_id}
    # The former key can go: everything reads with the new one alone.
    settings.OPTIN_AUDIT_MASTER_KEY_FALLBACKS = []
    assert personal_values() == before
    # The log is as it was, plus one entry saying what was done.
    assert log_rows()[: len(log)] == log
    assert len(log_rows()) == len(log) + 1
    rotated = AuditEntry.objects.order_by("-seq").first()
    assert rotated is not None and rotated.action == "master_key.rotated"
    assert '"rewrapped":5' in rotated.payload
    assert integrity.verify_log().ok


def test_a_second_run_changes_nothing(customers: list[Client], settings: Any) -> None:
    settings.OPTIN_AUDIT_MASTER_KEY = NEW
    settings.OPTIN_AUDIT_MASTER_KEY_FALLBACKS = [OLD]
    rotate()
    keys = list(ClientKey.objects.order_by("pk").values_list("wrapped_key", "master_key_id"))
    entries = AuditEntry.objects.count()
    assert rotate().startswith("OK: every client key is wrapped by master key")
    keys_after = list(ClientKey.objects.order_by("pk").values_list("wrapped_key", "master_key_id"))
    assert [(bytes(w), m) for w, m in keys_after] == [(bytes(w), m) for w, m in keys]
    assert AuditEntry.objects.count() == entries


def test_a_destroyed_key_stays_destroyed(customers: list[Client], settings: Any) -> None:
    erased = customers[0]
    ClientKey.objects.filter(client_id=erased.pk).update(
        destroyed_at=timezone.now(), wrapped_key=b""
    )
    settings.OPTIN_AUDIT_MASTER_KEY = NEW
    settings.OPTIN_AUDIT_MASTER_KEY_FALLBACKS = [OLD]
    assert rotate().startswith("OK: 4 client key(s) re-wrapped")
    destroyed = ClientKey.objects.get(client_id=erased.pk)
    assert destroyed.destroyed_at is not None and bytes(destroyed.wrapped_key) == b""
    entry = AuditEntry.objects.filter(client_id=erased.pk).exclude(payload__contains='"personal"')
    assert all(
        audit.personal_data(e) is None for e in AuditEntry.objects.filter(client_id=erased.pk)
    ), entry


def test_a_key_no_configured_master_unwraps_stops_the_run_before_any_change(
    customers: list[Client], settings: Any
) -> None:
    settings.OPTIN_AUDIT_MASTER_KEY = NEW
    settings.OPTIN_AUDIT_MASTER_KEY_FALLBACKS = [OTHER]  # not the key that wrapped them
    keys = list(ClientKey.objects.order_by("pk").values_list("master_key_id", flat=True))
    with pytest.raises(CommandError) as caught:
        rotate()
    assert caught.value.returncode == 1
    assert "OPTIN_AUDIT_MASTER_KEY_FALLBACKS" in str(caught.value)
    assert list(ClientKey.objects.order_by("pk").values_list("master_key_id", flat=True)) == keys


def test_new_keys_are_wrapped_by_the_current_master(
    client_factory: Callable[..., Client], grant: Callable[..., Any], settings: Any
) -> None:
    settings.OPTIN_AUDIT_MASTER_KEY = NEW
    customer = client_factory()
    grant(customer, "email")
    assert ClientKey.objects.get(client_id=customer.pk).master_key_id == crypto.master_key_id()
