"""R64, R54: a client's keyring opens many of their sealed values with one read of their key.

`crypto.ClientKeyring.load` reads and unwraps the client's data key once (a proof bundle opens
hundreds of values); its `unseal` opens what `crypto.unseal` opens and gives None where that
gives None: a destroyed key (erasure), a value sealed under a key that is not the client's.
Both refuse what is no sealed value, and a sealed value altered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from clients.models import Client
from optin import crypto
from optin.models import ClientKey

pytestmark = pytest.mark.django_db


def sealed(client: Client, **values: str) -> str:
    token = crypto.seal(client.pk, values)
    assert token is not None
    return token


def test_it_opens_every_value_of_the_client_with_one_query(
    customer: Client, django_assert_num_queries: Any
) -> None:
    tokens = [sealed(customer, ip=f"192.0.2.{n}", user_agent="pytest") for n in range(5)]

    with django_assert_num_queries(1):
        keyring = crypto.ClientKeyring.load(customer.pk)
        opened = [keyring.unseal(token) for token in tokens]

    assert opened == [{"ip": f"192.0.2.{n}", "user_agent": "pytest"} for n in range(5)]
    assert opened == [crypto.unseal(customer.pk, token) for token in tokens]
    assert keyring.destroyed is False


def test_a_destroyed_key_opens_nothing(customer: Client) -> None:
    token = sealed(customer, contact_point="jeanne@exemple.fr")
    ClientKey.objects.filter(client_id=customer.pk).update(destroyed_at=timezone.now())

    keyring = crypto.ClientKeyring.load(customer.pk)

    assert keyring.destroyed is True
    assert keyring.unseal(token) is None
    assert crypto.unseal(customer.pk, token) is None


def test_a_value_sealed_for_another_client_is_not_opened(
    customer: Client, client_factory: Callable[..., Client]
) -> None:
    sealed(customer, note="a key of her own")
    other = sealed(client_factory(), contact_point="paul@exemple.fr")

    assert crypto.ClientKeyring.load(customer.pk).unseal(other) is None
    assert crypto.unseal(customer.pk, other) is None


def test_an_id_without_key_opens_nothing(customer: Client) -> None:
    token = sealed(customer, note="x")
    keyless = customer.pk + 1000
    assert not ClientKey.objects.filter(client_id=keyless).exists()

    keyring = crypto.ClientKeyring.load(keyless)

    assert (keyring.key_id, keyring.key, keyring.destroyed) == ("", None, False)
    assert keyring.unseal(token) is None


def test_an_altered_value_and_a_value_not_sealed_are_refused(customer: Client) -> None:
    token = sealed(customer, ip="192.0.2.1")
    prefix, body = token.rsplit(".", 1)
    altered = f"{prefix}.{body[:20]}{'A' if body[20] != 'A' else 'B'}{body[21:]}"
    keyring = crypto.ClientKeyring.load(customer.pk)

    for value in (altered, "192.0.2.1", "v1.nodot"):
        with pytest.raises(ValueError):
            keyring.unseal(value)
        with pytest.raises(ValueError):
            crypto.unseal(customer.pk, value)


def test_the_key_is_not_in_its_representation(customer: Client) -> None:
    sealed(customer, note="x")
    keyring = crypto.ClientKeyring.load(customer.pk)
    assert keyring.key is not None

    assert keyring.key.hex() not in repr(keyring)
    assert repr(keyring.key) not in repr(keyring)
