"""Helpers of the tests of the customer pages: a logged-in browser, the pages' addresses, what
a refused request must leave as it was, and what a page's form shows."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any

from django.test import Client as HttpClient
from django.urls import reverse

from clients.models import Client
from signatures.models import ConsentForm
from signatures.services import BranchAnswer, Collected, collect_branch_answers
from tests.auth import login_verified
from tests.clients.helpers import snapshot

# The pages of one customer, as named in clients/urls.py.
RECORD = "record"
CONTACT = "contact"
ASK = "ask"
WITHDRAW = "withdraw"
CAPACITY = "capacity"
WRITE_PAGES = (CONTACT, ASK, WITHDRAW, CAPACITY)


def as_user(user: Any) -> HttpClient:
    """A browser logged in as `user`, second factor verified."""
    http = HttpClient()
    login_verified(http, user)
    return http


def page_url(name: str, client_number: str, channel: str = "email") -> str:
    """The address of one of a customer's pages (the withdrawal page is per channel, the
    question page lists the channels to ask)."""
    if name == WITHDRAW:
        return reverse("clients:withdraw", args=[client_number, channel])
    path = reverse(f"clients:{name}", args=[client_number])
    if name == ASK:
        path += f"?canaux={channel}"
    return path


def everything(client: Client) -> tuple[Any, ...]:
    """What a refused request must leave as it was: the row, its states, the log, its forms."""
    forms = list(ConsentForm.objects.filter(client=client).order_by("pk").values())
    return (*snapshot(client), forms)


def body(response: Any) -> str:
    """The page's text with its entities decoded (French apostrophes, accents)."""
    return html.unescape(response.content.decode())


def text_of(fragment: str) -> str:
    """A piece of HTML without its tags, single-spaced: what a reader sees."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def visible_text(response: Any) -> str:
    """The page's text, as `text_of` reads it."""
    return text_of(response.content.decode())


class _Inputs(HTMLParser):
    """The <input> elements of a page, with their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input":
            self.inputs.append({k: v or "" for k, v in attrs})


def inputs(response: Any, name: str) -> list[dict[str, str]]:
    """The inputs named `name` on the page (one per radio choice)."""
    reader = _Inputs()
    reader.feed(response.content.decode())
    return [a for a in reader.inputs if a.get("name") == name]


def radio_labels(response: Any, name: str) -> dict[str, str]:
    """Each radio choice's value and the text of its label."""
    page = response.content.decode()
    labels = {}
    for choice in inputs(response, name):
        match = re.search(
            r'<label for="' + re.escape(choice["id"]) + r'">(.*?)</label>', page, re.DOTALL
        )
        assert match is not None, f"no label for {choice['id']}"
        labels[choice["value"]] = text_of(match.group(1))
    return labels


def answer_in_branch(
    client: Client, advisor: Any, journey: str = "branch_contact_update", **answers: str
) -> Collected:
    """Answers given in branch, as the question page records them: email="yes", sms_push="no"
    (a "yes" generates a form: the test needs the seal fixtures of tests.signatures)."""
    return collect_branch_answers(
        client=client,
        answers={c: BranchAnswer(a, f"{c}-v1") for c, a in answers.items()},
        advisor=advisor,
        journey=journey,
    )
