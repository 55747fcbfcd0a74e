"""Helpers of the account-opening page tests (R22, R24, R27): a staff member's logged-in test
client, the identity step's data, an account opened through the pages and its "Oui"."""

from __future__ import annotations

import html
import re
from typing import Any

from django.test import Client as HttpClient
from django.urls import reverse

from clients.models import Client
from signatures.models import ConsentForm
from tests.auth import login_verified

IDENTITY = {
    "client_number": "C-OPEN-1",
    "kind": "individual",
    "civility": "MME",
    "first_name": "Lucie",
    "last_name": "Bernard",
    "birth_date": "1985-04-12",
    "legal_capacity": "full",
    "protection_measure": "",
}
EMAIL = "lucie.bernard@exemple.fr"
MOBILE = "06 12 34 56 78"


def logged_in(user: Any) -> HttpClient:
    """A test client logged in as `user` with a verified second factor."""
    http = HttpClient()
    login_verified(http, user)
    return http


def text(response: Any) -> str:
    """The page as read on screen (entities decoded)."""
    return html.unescape(response.content.decode())


def identity(**overrides: str) -> dict[str, str]:
    """The identity step's fields for an adult individual of full capacity."""
    return {**IDENTITY, **overrides}


def opening_url() -> str:
    return reverse("clients:opening")


def contact_url(client_number: str) -> str:
    return reverse("clients:opening_contact", args=[client_number])


def open_account(http: HttpClient, **overrides: str) -> Client:
    """The identity step through its page; the client it created."""
    data = identity(**overrides)
    response = http.post(opening_url(), data)
    assert response.status_code == 302, text(response)
    assert response["Location"] == contact_url(data["client_number"])
    return Client.objects.get(client_number=data["client_number"])


def answer_yes(http: HttpClient, client: Client, **answers: str) -> ConsentForm:
    """The contact step with both contact points and a "Oui" for the e-mail (by default):
    the form it generated, the advisor being sent to it."""
    data = {"email": EMAIL, "mobile": MOBILE, "answer_email": "yes", "answer_sms_push": "no"}
    data.update(answers)
    response = http.post(contact_url(client.client_number), data)
    assert response.status_code == 302, text(response)
    form = ConsentForm.objects.pending().get(client=client)
    assert response["Location"] == form_url("detail", form)
    return form


def form_url(name: str, form: ConsentForm) -> str:
    return reverse(f"signatures:{name}", args=[form.client.client_number, form.reference])


def radios(page: str, name: str) -> list[str]:
    """The <input type="radio"> tags of one field, as written in the page."""
    return re.findall(rf'<input[^>]*type="radio"[^>]*name="{name}"[^>]*>', page)


def body_tag(page: str) -> str:
    match = re.search(r"<body[^>]*>", page)
    assert match is not None
    return match.group(0)
