"""Fixtures of the privacy tests: the compliance pages' browsers and the signing fixtures."""

from __future__ import annotations

from tests.compliance.conftest import (  # noqa: F401
    _seal,
    administrator_http,
    advisor_http,
    collect,
    compliance_http,
    seal_p12,
    sign_paper,
    sign_tablet,
)
