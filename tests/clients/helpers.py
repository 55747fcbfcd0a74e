"""Helpers shared by the tests of the clients app: log and state readers, admin forms."""

from __future__ import annotations

import datetime as dt
import json
from html.parser import HTMLParser
from typing import Any

from clients.models import Client
from optin.models import AuditEntry, ConsentState

# Every decision below must come after the publication of the initial wordings
# (2026-11-22T23:00Z); this is the reference day of the birthday tests.
REFERENCE_DAY = dt.date(2026, 12, 10)


def log_size() -> int:
    return AuditEntry.objects.count()


def states_of(client: Client) -> dict[str, str]:
    return dict(ConsentState.objects.filter(client=client).values_list("channel", "status"))


def entries(action: str, client: Client | None = None) -> list[AuditEntry]:
    queryset = AuditEntry.objects.filter(action=action)
    if client is not None:
        queryset = queryset.filter(client_id=client.pk)
    return list(queryset.order_by("seq"))


def payload(entry: AuditEntry) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(entry.payload)
    return data


class _FormReader(HTMLParser):
    """Collects what a browser would submit from the page's main form."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self._select: str | None = None
        self._select_first: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name", "")
        if tag == "input" and name and "disabled" not in a:
            kind = a.get("type", "text")
            if kind in ("submit", "button", "image", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.data[name] = a.get("value", "on" if kind == "checkbox" else "")
        elif tag == "select" and name:
            self._select, self._select_first = name, None
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
                self.data.setdefault(self._select, value)
            if "selected" in a:
                self.data[self._select] = value
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.data[self._textarea] += (
                data.lstrip("\n") if not self.data[self._textarea] else data
            )


def form_data(html: str) -> dict[str, str]:
    """The fields of an admin page's form, as the browser would post them unchanged."""
    reader = _FormReader()
    reader.feed(html)
    reader.data.pop("csrfmiddlewaretoken", None)
    return reader.data


def snapshot(client: Client) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """Everything a refused write must leave as it was: the row, its states, the log."""
    row = Client.objects.filter(pk=client.pk).values().get()
    states = list(ConsentState.objects.filter(client=client).order_by("channel").values())
    return row, states, log_size()


def child_birth_date() -> dt.date:
    """A birth date that makes a person about ten years old whenever the suite runs."""
    from clients.models import today_in_paris

    return dt.date(today_in_paris().year - 10, 1, 1)
