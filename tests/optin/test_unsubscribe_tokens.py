"""R40: the unsubscribe token is signed by the server, opaque (no name, address, client number
or id in clear), bound to one client and one channel, and never expires — it is stable, and a
key rotation keeps old tokens working through OPTIN_LINK_KEY_FALLBACKS. Anything forged,
altered, truncated or extended reads as nothing.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable

import pytest

from clients.models import Client
from optin.tokens import (
    UnsubscribeTarget,
    read_unsubscribe_token,
    unsubscribe_token,
    unsubscribe_tokens,
)

pytestmark = pytest.mark.django_db

CHANNELS = ("email", "sms_push")
HEX = "0123456789abcdef"


@pytest.fixture
def person(client_factory: Callable[..., Client]) -> Client:
    """Client number and address made of characters a hex token could contain."""
    return client_factory(client_number="40817263", email="abcdef@exemple.fr")


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_token_reads_back_as_its_client_and_channel(person: Client, channel: str) -> None:
    token = unsubscribe_token(person.pk, channel)
    assert read_unsubscribe_token(token) == UnsubscribeTarget(client_id=person.pk, channel=channel)


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_token_is_32_lower_case_hex_characters(person: Client, channel: str) -> None:
    token = unsubscribe_token(person.pk, channel)
    assert len(token) == 32
    assert set(token) <= set(HEX)


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_token_is_opaque(person: Client, channel: str) -> None:
    token = unsubscribe_token(person.pk, channel)
    assert person.client_number not in token
    assert person.email.split("@")[0] not in token
    assert person.email not in token
    for shown in (
        f"{person.pk:016x}",  # the id as packed in the block
        f"{person.pk:08x}",
        f"{person.pk:016d}",
        f"{person.pk:08d}",
    ):
        assert shown not in token
    assert not token.startswith(f"{person.pk:x}")


def hamming(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def test_tokens_of_neighbouring_clients_look_unrelated(
    client_factory: Callable[..., Client],
) -> None:
    """An id in clear (with a signature beside it) would share most characters between
    consecutive clients; an encrypted block changes about every character."""
    clients = [client_factory() for _ in range(4)]
    for channel in CHANNELS:
        tokens = [unsubscribe_token(c.pk, channel) for c in clients]
        for i, a in enumerate(tokens):
            for b in tokens[i + 1 :]:
                assert hamming(a, b) >= 16
    for c in clients:
        assert hamming(unsubscribe_token(c.pk, "email"), unsubscribe_token(c.pk, "sms_push")) >= 16


def test_a_token_is_stable_for_a_client_and_channel(person: Client) -> None:
    for channel in CHANNELS:
        assert unsubscribe_token(person.pk, channel) == unsubscribe_token(person.pk, channel)


def test_tokens_are_distinct_per_channel_and_client(
    client_factory: Callable[..., Client],
) -> None:
    clients = [client_factory() for _ in range(5)]
    tokens = {unsubscribe_token(c.pk, ch) for c in clients for ch in CHANNELS}
    assert len(tokens) == 10


def test_the_batch_gives_the_same_tokens_as_one_by_one(
    client_factory: Callable[..., Client],
) -> None:
    ids = [client_factory().pk for _ in range(5)]
    for channel in CHANNELS:
        assert unsubscribe_tokens(ids, channel) == [unsubscribe_token(i, channel) for i in ids]
    assert unsubscribe_tokens([], "email") == []


def test_a_token_does_not_depend_on_the_contact_point(person: Client) -> None:
    """Old messages keep working after an address change (the token never expires)."""
    before = unsubscribe_token(person.pk, "email")
    Client.objects.filter(pk=person.pk).update(email="nouvelle@exemple.fr")
    assert unsubscribe_token(person.pk, "email") == before
    assert read_unsubscribe_token(before) == UnsubscribeTarget(person.pk, "email")


# --- forged, altered, truncated ------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_single_character_alteration_reads_as_nothing(person: Client, channel: str) -> None:
    token = unsubscribe_token(person.pk, channel)
    for position, original in enumerate(token):
        for replacement in HEX:
            if replacement == original:
                continue
            altered = token[:position] + replacement + token[position + 1 :]
            assert read_unsubscribe_token(altered) is None, (position, replacement)


def test_every_truncation_and_extension_reads_as_nothing(person: Client) -> None:
    token = unsubscribe_token(person.pk, "email")
    for length in range(len(token)):
        assert read_unsubscribe_token(token[:length]) is None
        assert read_unsubscribe_token(token[len(token) - length :]) is None
    for suffix in ("0", "00", "a", token, " ", "\n", "/"):
        assert read_unsubscribe_token(token + suffix) is None
        assert read_unsubscribe_token(suffix + token) is None


def test_swapping_the_two_halves_or_mixing_two_tokens_reads_as_nothing(
    client_factory: Callable[..., Client],
) -> None:
    a = unsubscribe_token(client_factory().pk, "email")
    b = unsubscribe_token(client_factory().pk, "email")
    for forged in (a[16:] + a[:16], a[:16] + b[16:], b[:16] + a[16:], a[::-1]):
        assert read_unsubscribe_token(forged) is None


@pytest.mark.parametrize(
    "forged",
    [
        "",
        "g" * 32,
        "z" * 32,
        "0" * 32,
        "f" * 32,
        "0" * 31 + "g",
        "-" * 32,
        "é" * 32,
        "\uff10" * 32,  # full-width digits: not hex
        "0x" + "0" * 30,
        "%30" * 10 + "00",
    ],
)
def test_non_hex_and_trivial_tokens_read_as_nothing(db: None, forged: str) -> None:
    assert read_unsubscribe_token(forged) is None


@pytest.mark.parametrize(
    "forged",
    [" " * 32, "0" * 30 + "  ", "\t" * 32, "0011 2233 4455 6677 8899 aabb cc"],
    ids=["spaces", "trailing-spaces", "tabs", "spaced-pairs"],
)
def test_a_token_holding_whitespace_reads_as_nothing(db: None, forged: str) -> None:
    assert len(forged) == 32
    assert read_unsubscribe_token(forged) is None


def test_non_hex_alterations_read_as_nothing(person: Client) -> None:
    token = unsubscribe_token(person.pk, "email")
    for position in range(len(token)):
        for replacement in ("g", "z", "-", " ", "é", "\x00"):
            altered = token[:position] + replacement + token[position + 1 :]
            assert read_unsubscribe_token(altered) is None


def test_random_tokens_read_as_nothing(db: None) -> None:
    generator = secrets.SystemRandom()
    for _ in range(5_000):
        token = "".join(generator.choice(HEX) for _ in range(32))
        assert read_unsubscribe_token(token) is None


def test_a_random_printable_string_never_raises(db: None) -> None:
    generator = secrets.SystemRandom()
    alphabet = string.printable + "éÊ€𝄞"
    for length in (1, 16, 31, 32, 33, 64):
        for _ in range(200):
            text = "".join(generator.choice(alphabet) for _ in range(length))
            assert read_unsubscribe_token(text) is None


# --- keys: another key is refused, fallbacks keep old tokens working -----------------------


def test_a_token_made_with_another_key_is_refused(person: Client, settings: object) -> None:
    settings.OPTIN_LINK_KEY = "old-link-key-0123456789"  # type: ignore[attr-defined]
    old = unsubscribe_token(person.pk, "email")
    settings.OPTIN_LINK_KEY = "new-link-key-9876543210"  # type: ignore[attr-defined]
    settings.OPTIN_LINK_KEY_FALLBACKS = []  # type: ignore[attr-defined]
    assert read_unsubscribe_token(old) is None
    assert unsubscribe_token(person.pk, "email") != old


def test_the_fallback_keys_keep_old_tokens_working(person: Client, settings: object) -> None:
    settings.OPTIN_LINK_KEY = "old-link-key-0123456789"  # type: ignore[attr-defined]
    old = {ch: unsubscribe_token(person.pk, ch) for ch in CHANNELS}
    settings.OPTIN_LINK_KEY = "new-link-key-9876543210"  # type: ignore[attr-defined]
    settings.OPTIN_LINK_KEY_FALLBACKS = ["older-key", "old-link-key-0123456789"]  # type: ignore[attr-defined]
    for channel, token in old.items():
        assert read_unsubscribe_token(token) == UnsubscribeTarget(person.pk, channel)
    # New tokens are made with the current key only, and read too.
    new = unsubscribe_token(person.pk, "email")
    assert new != old["email"]
    assert read_unsubscribe_token(new) == UnsubscribeTarget(person.pk, "email")
    settings.OPTIN_LINK_KEY_FALLBACKS = []  # type: ignore[attr-defined]
    assert read_unsubscribe_token(new) == UnsubscribeTarget(person.pk, "email")
    assert read_unsubscribe_token(old["email"]) is None


def test_without_a_link_key_the_secret_key_signs(person: Client, settings: object) -> None:
    settings.OPTIN_LINK_KEY = ""  # type: ignore[attr-defined]
    settings.SECRET_KEY = "secret-one-for-tests-0123456789abcdef"  # type: ignore[attr-defined]
    first = unsubscribe_token(person.pk, "email")
    settings.SECRET_KEY = "secret-two-for-tests-0123456789abcdef"  # type: ignore[attr-defined]
    assert unsubscribe_token(person.pk, "email") != first
    assert read_unsubscribe_token(first) is None
