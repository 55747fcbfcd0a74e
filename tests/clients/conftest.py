"""Fixtures of the tests of the clients app."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from clients.models import Branch, Client
from clients.roles import actor_for
from optin.audit import Actor
from tests.factories import SYSTEM


@pytest.fixture
def admin_actor(administrator: Any) -> Actor:
    return actor_for(administrator)


@pytest.fixture
def create(branch: Branch) -> Callable[..., Client]:
    """Call `create_client` with valid defaults for an adult individual; keywords override."""
    from clients.services import create_client

    def do(**kwargs: Any) -> Client:
        arguments: dict[str, Any] = {
            "actor": SYSTEM,
            "client_number": "C-NEW-1",
            "kind": "individual",
            "last_name": "Martin",
            "first_name": "Paul",
            "branch": branch,
            "birth_date": dt.date(1985, 3, 2),
            "email": "paul.martin@exemple.fr",
            "mobile": "06 12 34 56 78",
        }
        arguments.update(kwargs)
        return create_client(**arguments)

    return do
