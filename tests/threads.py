"""Helpers of the tests that commit from several threads (marker `committed`)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from django.db import connection


def unique(prefix: str) -> str:
    """A client number or name no other run has used (these tests leave their rows)."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def run_in_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Start `count` threads together on `work(i)`; each closes its connection at the end."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(10)
            work(i)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    return errors
