"""R55: the pages of a consent form are scoped to the branch and to the role.

An advisor sees and signs the forms of their branch's clients; an advisor of another branch
gets 404 on every page of the form, downloads included (the form's existence is not
revealed). Compliance reads everything (the form, both PDFs) and signs nothing: 403 on the
tablet, paper and cancel pages, as it has no `sign_consentform` permission; administrators
neither sign nor download. Anonymous visitors are sent to the login page. A form reached
under another client's number is not found. The downloads refuse GET (405): each download
writes a log entry, so it is a POST. No refused request writes anything (R71).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.test import Client as HttpClient
from django.urls import reverse

from clients.models import Client
from signatures.models import ConsentForm, FormStatus, IdentityDocument
from signatures.services import Collected
from tests.auth import login_verified
from tests.clients.helpers import log_size, states_of
from tests.signatures.drawing import CANVAS, tablet_input

Collect = Callable[..., Collected]
Sign = Callable[..., ConsentForm]

PAGES = ("detail", "sign_tablet", "sign_paper", "cancel")
DOWNLOADS = ("pdf", "signed_pdf")
SIGNING_PAGES = ("sign_tablet", "sign_paper", "cancel")


def url(name: str, form: ConsentForm, client_number: str | None = None) -> str:
    return reverse(
        f"signatures:{name}", args=[client_number or form.client.client_number, form.reference]
    )


def request(http: HttpClient, method: str, path: str) -> Any:
    return http.post(path) if method == "POST" else http.get(path)


@pytest.fixture
def pending(customer: Client, collect: Collect) -> ConsentForm:
    form = collect(customer, email="yes", sms_push="yes").form
    assert form is not None
    return form


@pytest.fixture
def signed(client_factory: Callable[..., Client], collect: Collect, sign_tablet: Sign) -> Any:
    form = collect(client_factory(), email="yes").form
    assert form is not None
    return sign_tablet(form)


def as_user(user: Any) -> HttpClient:
    http = HttpClient()
    login_verified(http, user)
    return http


def snapshot(*forms: ConsentForm) -> tuple[Any, ...]:
    """What a refused request must leave as it was: the forms, their states, the log."""
    rows = [ConsentForm.objects.filter(pk=f.pk).values().get() for f in forms]
    return rows, [states_of(f.client) for f in forms], log_size()


# --- the advisor of the branch -----------------------------------------------------------------


def test_an_advisor_sees_every_page_of_a_form_of_their_branch(
    advisor: Any, pending: ConsentForm
) -> None:
    http = as_user(advisor)
    for name in PAGES:
        response = http.get(url(name, pending))
        assert response.status_code == 200, name
        assert pending.reference in response.content.decode()
    detail = http.get(url("detail", pending)).content.decode()
    for name in SIGNING_PAGES:
        assert f'href="{url(name, pending)}"' in detail
    response = http.post(url("pdf", pending))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"


def test_an_advisor_signs_a_form_of_their_branch(advisor: Any, pending: ConsentForm) -> None:
    drawn = tablet_input()
    response = as_user(advisor).post(
        url("sign_tablet", pending),
        {
            "signature": drawn["signature"],
            "strokes": drawn["strokes"],
            **CANVAS,
            "identity_document": IdentityDocument.ID_CARD,
        },
    )
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == FormStatus.SIGNED
    assert pending.signed_by == advisor


# --- an advisor of another branch --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("detail", "GET"),
        ("sign_tablet", "GET"),
        ("sign_tablet", "POST"),
        ("sign_paper", "GET"),
        ("sign_paper", "POST"),
        ("cancel", "GET"),
        ("cancel", "POST"),
        ("pdf", "POST"),
    ],
)
def test_an_advisor_of_another_branch_gets_404_on_every_page_of_the_form(
    advisor_other_branch: Any, pending: ConsentForm, name: str, method: str
) -> None:
    before = snapshot(pending)
    response = request(as_user(advisor_other_branch), method, url(name, pending))
    assert response.status_code == 404
    assert pending.reference not in response.content.decode()
    assert snapshot(pending) == before


def test_an_advisor_of_another_branch_gets_404_on_the_signed_pdf(
    advisor_other_branch: Any, signed: ConsentForm
) -> None:
    # A signed form: the 404 is the branch's, not the one of a form without a signed PDF.
    before = snapshot(signed)
    response = as_user(advisor_other_branch).post(url("signed_pdf", signed))
    assert response.status_code == 404
    assert snapshot(signed) == before


# --- compliance and administrators -------------------------------------------------------------


def test_compliance_sees_the_detail_of_any_branch_without_the_signing_links(
    compliance: Any, pending: ConsentForm
) -> None:
    response = as_user(compliance).get(url("detail", pending))
    assert response.status_code == 200
    page = response.content.decode()
    assert pending.reference in page
    for name in SIGNING_PAGES:
        assert url(name, pending) not in page
    assert f'action="{url("pdf", pending)}"' in page


def test_compliance_downloads_the_original_and_the_signed_pdf(
    compliance: Any, signed: ConsentForm
) -> None:
    http = as_user(compliance)
    for name in DOWNLOADS:
        response = http.post(url(name, signed))
        assert response.status_code == 200, name
        assert response["Content-Type"] == "application/pdf"


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("name", SIGNING_PAGES)
def test_compliance_gets_403_on_the_signing_and_cancelling_pages(
    compliance: Any, pending: ConsentForm, name: str, method: str
) -> None:
    assert not compliance.has_perm("signatures.sign_consentform")
    before = snapshot(pending)
    response = request(as_user(compliance), method, url(name, pending))
    assert response.status_code == 403
    assert snapshot(pending) == before


@pytest.mark.parametrize(
    ("name", "method"), [(n, "GET") for n in SIGNING_PAGES] + [("pdf", "POST")]
)
def test_an_administrator_neither_signs_nor_downloads_a_form(
    administrator: Any, pending: ConsentForm, name: str, method: str
) -> None:
    before = snapshot(pending)
    response = request(as_user(administrator), method, url(name, pending))
    assert response.status_code == 403
    assert snapshot(pending) == before


# --- anonymous visitors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "method"),
    [(n, "GET") for n in PAGES] + [(n, "POST") for n in (*SIGNING_PAGES, *DOWNLOADS)],
)
def test_anonymous_visitors_are_sent_to_the_login_page(
    client: HttpClient, pending: ConsentForm, name: str, method: str
) -> None:
    before = snapshot(pending)
    path = url(name, pending)
    response = request(client, method, path)
    assert response.status_code == 302
    assert response["Location"] == f"{resolve_url(settings.LOGIN_URL)}?next={quote(path)}"
    assert snapshot(pending) == before


def test_anonymous_visitors_are_sent_to_the_login_page_from_the_pending_list(
    client: HttpClient, db: None
) -> None:
    response = client.get(reverse("signatures:pending"))
    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL) + "?next=")


# --- the form's address ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "method"),
    [(n, "GET") for n in PAGES] + [(n, "POST") for n in (*SIGNING_PAGES, *DOWNLOADS)],
)
def test_a_form_under_another_clients_number_is_not_found(
    advisor: Any,
    client_factory: Callable[..., Client],
    signed: ConsentForm,
    pending: ConsentForm,
    name: str,
    method: str,
) -> None:
    # Both clients are of the advisor's branch: only the pairing is wrong.
    form = signed if name == "signed_pdf" else pending
    other = client_factory()
    before = snapshot(form)
    response = request(as_user(advisor), method, url(name, form, other.client_number))
    assert response.status_code == 404
    assert snapshot(form) == before


@pytest.mark.parametrize("name", PAGES)
def test_an_unknown_reference_is_not_found(advisor: Any, customer: Client, name: str) -> None:
    path = reverse(f"signatures:{name}", args=[customer.client_number, "ZZZZZZZZ"])
    assert as_user(advisor).get(path).status_code == 404


@pytest.mark.parametrize("name", (*SIGNING_PAGES, "pdf"))
def test_a_post_without_the_csrf_token_is_refused(
    advisor: Any, pending: ConsentForm, name: str
) -> None:
    http = HttpClient(enforce_csrf_checks=True)
    login_verified(http, advisor)
    before = snapshot(pending)
    response = http.post(url(name, pending), {"note": "Sans jeton."})
    assert response.status_code == 403
    assert snapshot(pending) == before


@pytest.mark.parametrize("name", DOWNLOADS)
def test_a_download_by_get_is_refused_because_it_writes_a_log_entry(
    advisor: Any, signed: ConsentForm, name: str
) -> None:
    before = snapshot(signed)
    response = as_user(advisor).get(url(name, signed))
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert snapshot(signed) == before
