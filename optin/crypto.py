"""Per-client encryption of the log's personal data (crypto-shredding, R64).

Each client has a random 256-bit data key, stored wrapped (AES-GCM) by the master key from the
environment. Personal values of a log entry are sealed with the client's key before the entry
is hashed, so destroying the key later leaves the chain verifiable and the data unreadable.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction

from optin.models import ClientKey, KeyDestruction

SEAL_PREFIX = "v1."
_NONCE = 12


@functools.lru_cache(maxsize=4)
def _decode_master(raw: str) -> bytes:
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except ValueError:
        raise ImproperlyConfigured("OPTIN_AUDIT_MASTER_KEY is not valid base64.") from None
    if len(key) != 32:
        raise ImproperlyConfigured("OPTIN_AUDIT_MASTER_KEY must decode to 32 bytes.")
    return key


def master_key() -> bytes:
    raw = settings.OPTIN_AUDIT_MASTER_KEY
    if not raw:
        path = settings.OPTIN_LOCAL_MASTER_KEY_FILE
        try:
            raw = path.read_text(encoding="ascii")
        except OSError:
            raise ImproperlyConfigured(
                "No master key for the audit log's personal data: set OPTIN_AUDIT_MASTER_KEY "
                f"(or OPTIN_AUDIT_MASTER_KEY_FILE), or run `python manage.py "
                f"create_local_keys` to write {path}."
            ) from None
    return _decode_master(raw)


def _key_id_of(master: bytes) -> str:
    return hashlib.sha256(b"optin-master-key-id" + master).hexdigest()[:16]


def master_key_id() -> str:
    return _key_id_of(master_key())


def master_keys() -> dict[str, bytes]:
    """Every master key that may unwrap a client key, by id: the current one, then the former
    ones of OPTIN_AUDIT_MASTER_KEY_FALLBACKS (kept only until `rotate_master_key` has
    re-wrapped every client key under the current one)."""
    keys = {master_key_id(): master_key()}
    for raw in settings.OPTIN_AUDIT_MASTER_KEY_FALLBACKS:
        former = _decode_master(raw)
        keys.setdefault(_key_id_of(former), former)
    return keys


def _master_for(master_id: str) -> bytes:
    key = master_keys().get(master_id)
    if key is None:
        raise ImproperlyConfigured(
            f"A client key is wrapped by master key {master_id}, which is neither "
            "OPTIN_AUDIT_MASTER_KEY nor one of OPTIN_AUDIT_MASTER_KEY_FALLBACKS."
        )
    return key


def wrap(client_id: int, key: bytes) -> bytes:
    """A client's data key wrapped by the current master key (nonce + AES-GCM)."""
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(master_key()).encrypt(nonce, key, _key_aad(client_id))


def new_master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode("ascii")


def _key_aad(client_id: int) -> bytes:
    return f"optin-client-key:{client_id}".encode()


def _data_aad(client_id: int) -> bytes:
    return f"optin-audit-personal:{client_id}".encode()


_KEY_SQL = (
    "SELECT key_id, wrapped_key, destroyed_at, master_key_id FROM optin_clientkey "
    "WHERE client_id = %s AND destroyed_at IS NULL"
)
_ERASED_SQL = (
    "SELECT key_id FROM optin_clientkey WHERE client_id = %s AND destroyed_at IS NOT NULL "
    "AND destroyed_for <> 'retention' LIMIT 1"
)


def ensure_client_key(client_id: int) -> tuple[str, bytes | None]:
    """The client's live key id and data key, created if it has none (in the caller's
    transaction). After an erasure no key is created again: the key is None. A key destroyed
    at the end of a proof's retention (R63) is replaced by a new one."""
    # Plain queries: this runs for every entry that carries personal data.
    with connection.cursor() as cursor:
        cursor.execute(_KEY_SQL, [client_id])
        row = cursor.fetchone()
        if row is None:
            cursor.execute(_ERASED_SQL, [client_id])
            erased = cursor.fetchone()
            if erased is not None:
                return erased[0], None
    if row is not None:
        return row[0], unwrap(client_id, row[1], row[2], row[3])
    key = AESGCM.generate_key(bit_length=256)
    wrapped = wrap(client_id, key)
    key_id = os.urandom(8).hex()
    try:
        with transaction.atomic():
            ClientKey.objects.create(
                client_id=client_id,
                key_id=key_id,
                wrapped_key=wrapped,
                master_key_id=master_key_id(),
            )
    except IntegrityError:  # created meanwhile by a concurrent writer: theirs serves
        return ensure_client_key(client_id)
    return key_id, key


def unwrap(client_id: int, wrapped: Any, destroyed_at: Any, master_id: str) -> bytes | None:
    """A client's data key, unwrapped by the master key that wrapped it (the current one or a
    former one during a rotation); None once destroyed (erasure)."""
    if destroyed_at is not None or not wrapped:
        return None
    raw = bytes(wrapped)
    master = _master_for(master_id)
    return AESGCM(master).decrypt(raw[:_NONCE], raw[_NONCE:], _key_aad(client_id))


def seal(client_id: int, data: dict[str, Any]) -> str | None:
    """Encrypt personal values for one client's log entry: ``v1.<key id>.<base64>``.

    Returns None when the client's key was destroyed: an erased person's data are not
    recorded again.
    """
    key_id, key = ensure_client_key(client_id)
    if key is None:
        return None
    nonce = os.urandom(_NONCE)
    plain = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    sealed = AESGCM(key).encrypt(nonce, plain.encode("utf-8"), _data_aad(client_id))
    return f"{SEAL_PREFIX}{key_id}.{base64.b64encode(nonce + sealed).decode('ascii')}"


def _split(token: str) -> tuple[str, str]:
    """A sealed value's key id and body (base64 of the nonce and ciphertext)."""
    if not token.startswith(SEAL_PREFIX) or token.count(".") < 2:
        raise ValueError("not a sealed value")
    key_id, body = token[len(SEAL_PREFIX) :].split(".", 1)
    return key_id, body


def _open(client_id: int, key: bytes, body: str) -> dict[str, Any]:
    raw = base64.b64decode(body)
    try:
        plain = AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], _data_aad(client_id))
    except InvalidTag:
        raise ValueError("sealed value does not belong to this client or was altered") from None
    result: dict[str, Any] = json.loads(plain)
    return result


def unseal(client_id: int, token: str) -> dict[str, Any] | None:
    """The personal values, or None when the key that sealed them is gone (erasure)."""
    key_id, body = _split(token)
    row = (
        ClientKey.objects.filter(key_id=key_id, client_id=client_id)
        .values_list("wrapped_key", "destroyed_at", "master_key_id")
        .first()
    )
    key = unwrap(client_id, *row) if row else None
    if key is None:
        return None
    return _open(client_id, key, body)


@dataclass(frozen=True)
class ClientKeyring:
    """One client's data key, read and unwrapped once to open many of their sealed values
    (`unseal` reads it for each value: a proof bundle opens hundreds)."""

    client_id: int
    key_id: str  # the live key's id; "" when the client has none
    key: bytes | None = field(repr=False)  # None: no live key
    destroyed: bool  # the client's keys were destroyed by an erasure (R64)

    @classmethod
    def load(cls, client_id: int) -> ClientKeyring:
        """The client's keyring, in one query. Values sealed under a key destroyed at the end
        of their retention (R63) open as None, like those of an erased client."""
        rows = ClientKey.objects.filter(client_id=client_id).values_list(
            "key_id", "wrapped_key", "destroyed_at", "master_key_id", "destroyed_for"
        )
        live, erased = None, False
        for key_id, wrapped, destroyed_at, master_id, destroyed_for in rows:
            if destroyed_at is None:
                live = (key_id, unwrap(client_id, wrapped, None, master_id))
            elif destroyed_for != KeyDestruction.RETENTION:
                erased = True
        if live is None or erased:
            return cls(client_id, "", None, destroyed=erased)
        return cls(client_id, live[0], live[1], destroyed=False)

    def unseal(self, token: str) -> dict[str, Any] | None:
        """As `unseal`: the values, or None when sealed under a key the client no longer has
        (destroyed, or not theirs); ValueError if `token` is no sealed value or was altered."""
        key_id, body = _split(token)
        if self.key is None or key_id != self.key_id:
            return None
        return _open(self.client_id, self.key, body)
