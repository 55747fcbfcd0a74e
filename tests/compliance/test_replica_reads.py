"""DESIGN §7: the audit trail, its export, the access log and the dashboard are read-heavy work:
they read the replica when one is configured, the primary otherwise."""

from __future__ import annotations

from typing import Any

from optin.compliance import dashboard, selectors


def test_the_lists_read_the_primary_without_a_replica(settings: Any) -> None:
    assert "replica" not in settings.DATABASES
    assert selectors.trail_queryset(selectors.TrailFilters()).db == "default"
    assert dashboard._alias() == "default"


def test_the_lists_read_the_replica_when_one_is_configured(settings: Any) -> None:
    settings.DATABASES = {**settings.DATABASES, "replica": dict(settings.DATABASES["default"])}
    assert selectors.trail_queryset(selectors.TrailFilters(channel="email")).db == "replica"
    assert dashboard._alias() == "replica"
