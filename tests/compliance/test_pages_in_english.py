"""The compliance pages follow the staff member's language like every page; the proof bundle's
own documents stay in French (one language throughout the evidence)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from clients.models import StaffProfile
from tests.clients.pages import visible_text


@pytest.fixture
def english(compliance: Any, compliance_http: HttpClient) -> HttpClient:
    StaffProfile.objects.filter(user=compliance).update(language="en")
    return compliance_http


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("compliance:trail", "Audit log"),
        ("compliance:integrity", "Log integrity"),
        ("compliance:access", "Access to customer files"),
    ],
)
def test_the_pages_are_in_english(english: HttpClient, name: str, title: str) -> None:
    text = visible_text(english.get(reverse(name)))
    assert title in text
    assert "Journal d'audit" not in text
