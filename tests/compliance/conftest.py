"""Fixtures of the compliance pages' tests: logged-in browsers per role, and the seal fixtures
of the signature tests (a signed form in a proof bundle)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client as HttpClient

from tests.clients.pages import as_user
from tests.signatures.conftest import _seal, collect, seal_p12, sign_paper, sign_tablet  # noqa: F401


@pytest.fixture
def compliance_http(compliance: Any) -> HttpClient:
    """A compliance officer's browser, second factor verified."""
    return as_user(compliance)


@pytest.fixture
def advisor_http(advisor: Any) -> HttpClient:
    return as_user(advisor)


@pytest.fixture
def administrator_http(administrator: Any) -> HttpClient:
    return as_user(administrator)
