"""Fixtures of the consent-domain tests: a client's log, tamper helpers."""

from __future__ import annotations

from clients.models import Client
from optin.audit import GENESIS_HASH, chain_hash, header_of
from optin.models import AuditEntry


def log_of(client: Client) -> list[AuditEntry]:
    """The client's log entries, in sequence order."""
    return list(AuditEntry.objects.filter(client_id=client.pk).order_by("seq"))


def head() -> AuditEntry:
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry is not None
    return entry


def rehash_from(seq: int) -> None:
    """Recompute the hash of entry `seq` and of every later entry, as somebody able to write
    to the table (behind the triggers' back) would do to hide an edit from the chain."""
    previous = AuditEntry.objects.filter(seq=seq - 1).values_list("hash", flat=True).first()
    prev_hash = previous or GENESIS_HASH
    for entry in AuditEntry.objects.filter(seq__gte=seq).order_by("seq"):
        own_hash = chain_hash(prev_hash, header_of(entry), entry.payload)
        AuditEntry.objects.filter(pk=entry.pk).update(prev_hash=prev_hash, hash=own_hash)
        prev_hash = own_hash
