"""Files of the forms, stored by their SHA-256 through the default storage (DESIGN.md §7).

A name is derived from the content, so a file is never overwritten: storing the same bytes
twice finds them already there. With an object store under write-once locking, a stored proof
cannot be replaced either.
"""

from __future__ import annotations

import hashlib

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store(data: bytes, *, kind: str, extension: str) -> tuple[str, str]:
    """Store `data` under forms/<kind>/<sha[:2]>/<sha>.<extension>; returns (name, sha256)."""
    digest = sha256(data)
    name = f"forms/{kind}/{digest[:2]}/{digest}.{extension}"
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(data))
        if saved != name:  # a storage that renamed it would break the name-by-content rule
            raise RuntimeError(f"storage saved {name} as {saved}")
    return name, digest


def read(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        data: bytes = handle.read()
    return data
