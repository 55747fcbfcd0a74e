"""R39, R40, R42 and DESIGN §7: settings a deployment must get right for the API and its links.

`check --deploy` warns while the links would point at the local default address, and the
marketing reads go to the replica when one is configured.
"""

from __future__ import annotations

from typing import Any

import pytest

from optin.checks import public_url_check
from optin.selectors import marketing_database


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://optin.banque.example", "https://127.0.0.1:8443"]
)
def test_deploy_check_warns_when_links_would_not_reach_the_public_address(
    settings: Any, url: str
) -> None:
    settings.OPTIN_PUBLIC_URL = url
    assert [w.id for w in public_url_check(None)] == ["optin.W001"]


def test_deploy_check_accepts_a_public_https_address(settings: Any) -> None:
    settings.OPTIN_PUBLIC_URL = "https://optin.banque.example"
    assert public_url_check(None) == []


def test_marketing_reads_use_the_primary_without_a_replica(settings: Any) -> None:
    assert "replica" not in settings.DATABASES
    assert marketing_database() == "default"


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_marketing_reads_use_the_replica_when_configured(settings: Any) -> None:
    settings.DATABASES = {**settings.DATABASES, "replica": dict(settings.DATABASES["default"])}
    assert marketing_database() == "replica"
