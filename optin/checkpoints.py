"""Signed checkpoints of the chain head, stored and exported outside the database (R53).

A checkpoint is the Ed25519 signature of the canonical statement
``{"log": "optin-audit", "seq": N, "hash": H, "signed_at": T}``. Verification checks every
checkpoint found in the database *and* in the export directory: a tail deleted from the log
(with its checkpoint rows) is still caught by the exported files.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from optin import audit
from optin.models import AuditCheckpoint, AuditEntry

LOG_ID = "optin-audit"
EXPORTED_FILE = re.compile(r"checkpoint-(\d+)\.json")  # named by create_checkpoint


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    signed_at: str
    key_id: str
    signature: str
    source: str  # "database" or the exported file's name

    def statement(self) -> bytes:
        return statement(self.seq, self.hash, self.signed_at)


def statement(seq: int, entry_hash: str, signed_at: str) -> bytes:
    return audit.canonical_json(
        {"log": LOG_ID, "seq": seq, "hash": entry_hash, "signed_at": signed_at}
    ).encode("utf-8")


def load_private_key() -> Ed25519PrivateKey:
    path = Path(settings.OPTIN_CHECKPOINT_KEY_FILE)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"Cannot read the checkpoint signing key {path} ({exc}). Set "
            "OPTIN_CHECKPOINT_KEY_PATH, or run `python manage.py create_local_keys`."
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{path} is not an Ed25519 private key.")
    return key


def load_public_key() -> Ed25519PublicKey:
    """The verification key: OPTIN_CHECKPOINT_PUBLIC_KEY_PATH, else the signing key's."""
    public_path = getattr(settings, "OPTIN_CHECKPOINT_PUBLIC_KEY_FILE", None)
    if public_path:
        key = serialization.load_pem_public_key(Path(public_path).read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise ImproperlyConfigured(f"{public_path} is not an Ed25519 public key.")
        return key
    return load_private_key().public_key()


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def write_local_keys(directory: Path) -> list[Path]:
    """Create the local master key and checkpoint key if missing; returns the files written."""
    from optin.crypto import new_master_key

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    master = directory / "audit-master.key"
    if not master.exists():
        master.write_text(new_master_key() + "\n", encoding="ascii")
        master.chmod(0o600)
        written.append(master)
    signing = directory / "checkpoint-ed25519.pem"
    if not signing.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        signing.write_bytes(pem)
        signing.chmod(0o600)
        written.append(signing)
    return written


def create_checkpoint() -> AuditCheckpoint | None:
    """Sign the current head, store it and export it as a file; None when the log is empty
    or the head is already checkpointed."""
    private_key = load_private_key()
    directory = Path(settings.OPTIN_CHECKPOINT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    with transaction.atomic():
        audit.lock_chain_head()  # a stable head, and one checkpointer at a time
        head = AuditEntry.objects.order_by("-seq").values_list("seq", "hash").first()
        if head is None or AuditCheckpoint.objects.filter(seq=head[0]).exists():
            return None
        signed_at = audit.iso_or_none(timezone.now()) or ""
        signature = private_key.sign(statement(head[0], head[1], signed_at))
        checkpoint = AuditCheckpoint.objects.create(
            seq=head[0],
            entry_hash=head[1],
            signed_at=dt.datetime.fromisoformat(signed_at),
            key_id=key_id(private_key.public_key()),
            signature=base64.b64encode(signature).decode("ascii"),
        )
        # Written inside the transaction: if the file cannot be written, nothing is stored.
        exported = {
            "log": LOG_ID,
            "seq": head[0],
            "hash": head[1],
            "signed_at": signed_at,
            "key_id": checkpoint.key_id,
            "signature": checkpoint.signature,
        }
        path = directory / f"checkpoint-{head[0]:012d}.json"
        path.write_text(json.dumps(exported, indent=2) + "\n", encoding="utf-8")
    return checkpoint


def _from_row(row: AuditCheckpoint) -> Checkpoint:
    return Checkpoint(
        row.seq,
        row.entry_hash,
        audit.iso_or_none(row.signed_at) or "",
        row.key_id,
        row.signature,
        "database",
    )


def _read_exported(path: Path, seq_if_unreadable: int) -> Checkpoint:
    """An exported checkpoint file; an unreadable one gives a checkpoint without signature,
    which fails verification."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Checkpoint(
            int(data["seq"]),
            str(data["hash"]),
            str(data["signed_at"]),
            str(data.get("key_id", "")),
            str(data["signature"]),
            path.name,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return Checkpoint(seq_if_unreadable, "", "", "", "", path.name)


def stored_checkpoints(directory: Path | None = None) -> list[Checkpoint]:
    """Every checkpoint in the database and in the export directory (deduplicated)."""
    found: dict[tuple[int, str, str], Checkpoint] = {}
    for row in AuditCheckpoint.objects.order_by("seq"):
        cp = _from_row(row)
        found[cp.seq, cp.hash, cp.signature] = cp
    directory = Path(directory or settings.OPTIN_CHECKPOINT_DIR)
    if directory.is_dir():
        for path in sorted(directory.glob("checkpoint-*.json")):
            cp = _read_exported(path, 0)
            found.setdefault((cp.seq, cp.hash, cp.signature), cp)
    return sorted(found.values(), key=lambda c: (c.seq, c.source))


def covering(seq: int, directory: Path | None = None) -> list[Checkpoint]:
    """The checkpoints that first cover entry `seq`: those of the lowest sequence at or after
    `seq`, from the database and from the export directory (one of each when both hold that
    sequence, more when they differ).

    Reads the export directory's file names, then only the files named for the lowest
    sequence (a proof about one entry need not read years of checkpoints); an unreadable one
    comes without signature. A file whose content names an earlier sequence than `seq` covers
    nothing. The signatures are not checked here (`signature_valid`), nor the log's entry at
    that sequence.
    """
    found: list[Checkpoint] = []
    row = AuditCheckpoint.objects.filter(seq__gte=seq).order_by("seq", "pk").first()
    if row is not None:
        found.append(_from_row(row))
    directory = Path(directory or settings.OPTIN_CHECKPOINT_DIR)
    lowest_name: int | None = None
    names: list[str] = []
    if directory.is_dir():
        with os.scandir(directory) as listing:
            for item in listing:
                match = EXPORTED_FILE.fullmatch(item.name)
                if match is None or int(match.group(1)) < seq:
                    continue
                named = int(match.group(1))
                if lowest_name is None or named < lowest_name:
                    lowest_name, names = named, [item.name]
                elif named == lowest_name:
                    names.append(item.name)
    if lowest_name is not None:
        found.extend(_read_exported(directory / name, lowest_name) for name in sorted(names))
    found = [cp for cp in found if cp.seq >= seq]
    if not found:
        return []
    lowest = min(cp.seq for cp in found)
    return [cp for cp in found if cp.seq == lowest]


def signature_valid(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(base64.b64decode(checkpoint.signature), checkpoint.statement())
    except (InvalidSignature, ValueError):
        return False
    return True
