"""Reads about customers: access to one (R55) and search."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Collate, Lower
from django.http import Http404
from django.utils.translation import gettext as _

from clients.models import Client, search_key
from clients.validators import CLIENT_NUMBER, normalize_mobile

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

PAGE_SIZE = 25

_PHONE = re.compile(r"^[0-9+\s().\-]{6,}\Z")


def get_client_for_user(user: AbstractBaseUser | AnonymousUser, client_number: str) -> Client:
    """R55: the client if this user may see it; a client of another branch is a 404, as an
    unknown one is (the page does not tell which client numbers exist)."""
    client = (
        Client.objects.visible_to(user)
        .select_related("branch")
        .filter(client_number=client_number)
        .first()
    )
    if client is None:
        raise Http404(_("Client inconnu."))
    return client


@dataclass(frozen=True)
class SearchPage:
    clients: list[Client]
    page: int
    has_next: bool
    looked_for: str  # what the query was understood as: number, email, mobile or name

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def _query_for(text: str) -> tuple[list[Q], str]:
    """What a search text matches, as conditions each served by one index range read in the
    page's order (an OR of them would make PostgreSQL walk an index from its start)."""
    if "@" in text:
        return [Q(email_lower=text.lower())], "email"
    if _PHONE.match(text) and sum(c.isdigit() for c in text) >= 6:
        try:
            return [Q(mobile=normalize_mobile(text))], "mobile"
        except ValidationError:
            pass  # not a mobile number: a client number made of digits, perhaps
    key = search_key(text)
    if not key:
        return [], "name"
    words = key.split()
    # "Dupont Jeanne" as typed, and "Jeanne Dupont" or "Jean Pierre Dupont" as "Dupont Jean
    # Pierre": the first names typed first, the whole last name after them (3 rotations at most).
    keys = [key] + [
        " ".join([*words[split:], *words[:split]]) for split in range(1, min(len(words), 4))
    ]
    by_name = [Q(name_key__startswith=k) for k in keys]
    # A client number has digits; a word without any is a name only.
    if CLIENT_NUMBER.match(text) and any(c.isdigit() for c in text):
        return [Q(client_number=text), *by_name], "number_or_name"
    return by_name, "name"


def _name_key() -> Collate | F:
    """`search_name` as its indexes read it: in the "C" collation on PostgreSQL (migration
    0002), where prefix and order are both byte order; as is on SQLite."""
    if connection.vendor == "postgresql":
        return Collate(F("search_name"), "C")
    return F("search_name")


def search_clients(user: AbstractBaseUser | AnonymousUser, text: str, page: int = 1) -> SearchPage:
    """Customers this user may see whose number, e-mail, mobile or name matches `text`.

    A client number and an e-mail address match exactly (the e-mail whatever its case), a
    mobile in any French or international writing, a name by the beginning of "last first"
    without accents or case, or by the first names followed by the whole last name. Pages of
    PAGE_SIZE in name order; no total is counted, so a page costs the same on a million
    customers as on a hundred.
    """
    text = text.strip()[:200]
    page = max(1, page)
    if not text:
        return SearchPage(clients=[], page=1, has_next=False, looked_for="")
    conditions, looked_for = _query_for(text)
    clients: QuerySet[Client] = (
        Client.objects.visible_to(user)
        .alias(email_lower=Lower("email"), name_key=_name_key())
        .select_related("branch")
        .order_by("name_key", "client_number")
    )
    start = (page - 1) * PAGE_SIZE
    end = start + PAGE_SIZE + 1
    if len(conditions) == 1:
        found = list(clients.filter(conditions[0])[start:end])
    else:
        # One ordered range per condition, merged here in the same order (byte order of the
        # name is code point order: what Python's sort gives).
        merged = {c.pk: c for condition in conditions for c in clients.filter(condition)[:end]}
        found = sorted(merged.values(), key=lambda c: (c.search_name, c.client_number))
        found = found[start:end]
    return SearchPage(
        clients=found[:PAGE_SIZE],
        page=page,
        has_next=len(found) > PAGE_SIZE,
        looked_for=looked_for,
    )
