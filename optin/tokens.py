"""The opaque tokens of the public links: unsubscribe (R40) and double opt-in confirmation (R36).

Both are encrypted and authenticated with a key derived from OPTIN_LINK_KEY (SECRET_KEY when
unset), so a token shows nothing in clear and cannot be forged or altered; after a rotation,
OPTIN_LINK_KEY_FALLBACKS keep old links working.

- An unsubscribe token is one AES-256 block holding the client id, the channel and 56 zero
  bits: decrypting a forged or altered token yields random bits, whose zeros fail with
  probability 1 - 2^-56. It never expires (old messages keep working), so it is deterministic
  and the opt-in list computes a whole chunk of them with one cipher call.
- A confirmation token is AES-SIV over the client id, the log entry that made the channel
  pending and a digest of the address it was sent to: it is valid only while that entry is the
  channel's last one and the address unchanged (R36, R46).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from django.conf import settings

from optin.models import Channel

_CHANNEL_CODES = {Channel.EMAIL.value: 1, Channel.SMS_PUSH.value: 2}
_CHANNELS = {code: channel for channel, code in _CHANNEL_CODES.items()}
_PADDING = bytes(7)
_UNSUBSCRIBE = struct.Struct(">QB7s")
_CONFIRMATION = struct.Struct(">QQ8s")
UNSUBSCRIBE_TOKEN_LENGTH = 32  # hex characters
_HEX_BLOCK = re.compile(r"[0-9a-fA-F]{32}")
_HEX = re.compile(r"[0-9a-fA-F]+")


@functools.lru_cache(maxsize=8)
def _derive(secret: str, purpose: bytes, length: int) -> bytes:
    key = hmac.new(secret.encode("utf-8"), b"optin.links." + purpose, hashlib.sha512).digest()
    return key[:length]


def _secrets() -> list[str]:
    current = str(settings.OPTIN_LINK_KEY or settings.SECRET_KEY)
    return [current, *(str(s) for s in settings.OPTIN_LINK_KEY_FALLBACKS)]


# --- unsubscribe (R40) ------------------------------------------------------------------------


@dataclass(frozen=True)
class UnsubscribeTarget:
    client_id: int
    channel: str


def unsubscribe_tokens(client_ids: Sequence[int], channel: str) -> list[str]:
    """The unsubscribe tokens of many clients on one channel, with one cipher call."""
    if not client_ids:
        return []
    code = _CHANNEL_CODES[channel]
    key = _derive(_secrets()[0], b"unsubscribe", 32)
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - one block
    pack = _UNSUBSCRIBE.pack
    sealed = encryptor.update(b"".join([pack(i, code, _PADDING) for i in client_ids])).hex()
    return [sealed[i : i + 32] for i in range(0, len(sealed), 32)]


def unsubscribe_token(client_id: int, channel: str) -> str:
    return unsubscribe_tokens([client_id], channel)[0]


def read_unsubscribe_token(token: str) -> UnsubscribeTarget | None:
    """The client and channel of a token, or None for anything forged, altered or truncated."""
    if not _HEX_BLOCK.fullmatch(token):  # bytes.fromhex would skip spaces
        return None
    block = bytes.fromhex(token)
    for secret in _secrets():
        key = _derive(secret, b"unsubscribe", 32)
        decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305
        client_id, code, padding = _UNSUBSCRIBE.unpack(decryptor.update(block))
        if padding == _PADDING and code in _CHANNELS and client_id > 0:
            return UnsubscribeTarget(client_id=client_id, channel=_CHANNELS[code])
    return None


# --- double opt-in confirmation (R36) ---------------------------------------------------------


@dataclass(frozen=True)
class ConfirmationTarget:
    client_id: int
    seq: int  # the log entry that made the channel pending_confirmation
    address_digest: bytes


def address_digest(address: str) -> bytes:
    """Binds a confirmation link to the address it was sent to (inside the encrypted token)."""
    return hashlib.sha256(address.strip().lower().encode("utf-8")).digest()[:8]


def confirmation_token(client_id: int, seq: int, address: str) -> str:
    siv = AESSIV(_derive(_secrets()[0], b"confirmation", 64))
    plain = _CONFIRMATION.pack(client_id, seq, address_digest(address))
    return siv.encrypt(plain, [b"confirmation"]).hex()


def read_confirmation_token(token: str) -> ConfirmationTarget | None:
    if len(token) != 2 * (_CONFIRMATION.size + 16) or not _HEX.fullmatch(token):
        return None
    sealed = bytes.fromhex(token)
    for secret in _secrets():
        try:
            plain = AESSIV(_derive(secret, b"confirmation", 64)).decrypt(sealed, [b"confirmation"])
        except InvalidTag:
            continue
        client_id, seq, digest = _CONFIRMATION.unpack(plain)
        return ConfirmationTarget(client_id=client_id, seq=seq, address_digest=digest)
    return None
