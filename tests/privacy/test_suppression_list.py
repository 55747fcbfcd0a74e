"""R62, R47 line 6: the suppression list keeps an objection beyond the record that made it.

A professional's e-mail is eligible by default (R8) until they object. Once they objected, a
new record with the same address (a re-import, or the number created again after an erasure)
stays not eligible (`withdrawn`), and its creation logs that the address is on the list; a
new explicit grant by the person makes it eligible and takes the address off the list. The
list holds keyed hashes only (HMAC under a secret outside the database), never the address.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from clients.models import Client
from clients.roles import actor_for
from optin.models import AuditEntry, SuppressionEntry
from optin.selectors import eligibility
from optin.services import suppression_digest
from privacy.services import erase_client

ADDRESS = "Contact.Pro@Entreprise-Exemple.fr"


def reason(number: str) -> str:
    [answer] = eligibility("email", [number])
    return answer.reason


@pytest.fixture
def objected(professional_factory: Callable[..., Client], decide: Callable[..., Any]) -> Client:
    pro = professional_factory(client_number="B1", email=ADDRESS)
    assert reason("B1") == "b2b_no_objection"
    decide(pro, "email", "refuse")
    assert reason("B1") == "refused"
    return pro


def test_the_list_holds_a_keyed_hash_only(objected: Client, settings: Any) -> None:
    [entry] = SuppressionEntry.objects.filter(channel="email")
    address = objected.email
    assert entry.digest == suppression_digest(address)
    assert entry.digest != hashlib.sha256(address.lower().encode()).hexdigest()
    assert address.lower() not in json.dumps(list(SuppressionEntry.objects.values()), default=str)
    settings.OPTIN_SUPPRESSION_KEY = "another secret"
    assert suppression_digest(address) != entry.digest


def test_a_professional_address_created_again_stays_not_eligible(
    objected: Client, professional_factory: Callable[..., Client]
) -> None:
    professional_factory(client_number="B2", email=ADDRESS.upper())

    assert reason("B2") == "withdrawn"
    created = AuditEntry.objects.get(client_number="B2", action="client.created")
    assert json.loads(created.payload)["on_suppression_list"] == ["email"]


def test_the_number_created_again_after_an_erasure_stays_not_eligible(
    objected: Client,
    professional_factory: Callable[..., Client],
    compliance: Any,
) -> None:
    erase_client(client_number="B1", actor=actor_for(compliance))
    assert reason("B1") == "erased"

    professional_factory(client_number="B1", email=ADDRESS)

    assert reason("B1") == "withdrawn"


def test_a_new_explicit_grant_makes_it_eligible_and_leaves_the_list(
    objected: Client,
    professional_factory: Callable[..., Client],
    grant: Callable[..., Any],
) -> None:
    again = professional_factory(client_number="B3", email=ADDRESS)
    assert reason("B3") == "withdrawn"

    grant(again, "email")

    assert reason("B3") == "granted"
    assert not SuppressionEntry.objects.filter(channel="email").exists()
    # ... so the first record, which only refused, is back to its own answer.
    assert reason("B1") == "refused"


def test_an_unlisted_address_is_logged_as_such(professional_factory: Callable[..., Client]) -> None:
    professional_factory(client_number="B4", email="libre@entreprise-exemple.fr")
    created = AuditEntry.objects.get(client_number="B4", action="client.created")
    assert json.loads(created.payload)["on_suppression_list"] == []
    assert reason("B4") == "b2b_no_objection"
