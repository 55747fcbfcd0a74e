"""R55, R71: the pages of one customer are scoped to the branch and to the role.

Every page of a customer (the record, the contact update, the opt-in question, the withdrawal,
the legal capacity), by GET and by POST: an advisor of another branch gets the same 404 as for
an unknown client number, and nothing changes; compliance reads the record (200) but every
write page is a clean 403 page (not a 500) and nothing changes. The 403 and 404 pages do not
echo the client number (they would tell which numbers exist). The requests refused below are
the very ones that change the record when the branch's advisor sends them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client as HttpClient

from clients.models import Client
from optin.services import DecisionResult
from tests.clients.helpers import states_of
from tests.clients.pages import (
    ASK,
    CAPACITY,
    CONTACT,
    RECORD,
    WITHDRAW,
    WRITE_PAGES,
    as_user,
    body,
    everything,
    page_url,
)

UNKNOWN = "C-INCONNU-42"
# The channel of each page: the question asks SMS/push (not granted), the withdrawal takes
# back the e-mail (granted).
CHANNEL = {ASK: "sms_push", WITHDRAW: "email"}
NOT_FOUND = "Page introuvable"
FORBIDDEN = "Accès refusé"


@pytest.fixture
def target(customer: Client, grant: Callable[..., DecisionResult]) -> Client:
    """The advisor's customer: e-mail granted, SMS/push without an answer."""
    grant(customer, "email")
    customer.refresh_from_db()
    return customer


def without_token(page: str) -> str:
    """The page without its CSRF token, which differs at each response."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", page)


def url(name: str, client_number: str) -> str:
    return page_url(name, client_number, CHANNEL.get(name, "email"))


def effective_post(name: str, client: Client) -> dict[str, str]:
    """A POST that changes the record when the branch's advisor sends it."""
    return {
        RECORD: {},
        CONTACT: {
            "email": "jeanne.nouvelle@exemple.fr",
            "mobile": client.mobile,
            "version": str(client.version),
        },
        ASK: {"answer_sms_push": "no", "wording_sms_push": "sms_push-v1"},
        WITHDRAW: {"means": "in_person"},
        CAPACITY: {
            "legal_capacity": "protected",
            "protection_measure": "tutelle",
            "reference": "RG 26/01234",
            "confirmed": "True",
        },
    }[name]


def send(http: HttpClient, method: str, name: str, client: Client, number: str) -> Any:
    path = url(name, number)
    if method == "POST":
        return http.post(path, effective_post(name, client))
    return http.get(path)


ALL_REQUESTS = [(name, method) for name in (RECORD, *WRITE_PAGES) for method in ("GET", "POST")]
WRITE_REQUESTS = [(name, method) for name in WRITE_PAGES for method in ("GET", "POST")]


# --- the advisor of the branch -------------------------------------------------------------------


@pytest.mark.parametrize("name", [RECORD, *WRITE_PAGES])
def test_the_branch_advisor_opens_every_page_of_their_customer(
    advisor: Any, target: Client, name: str
) -> None:
    response = as_user(advisor).get(url(name, target.client_number))
    assert response.status_code == 200, name
    assert target.client_number in body(response)


@pytest.mark.parametrize("name", WRITE_PAGES)
def test_the_requests_refused_below_change_the_record_when_the_branch_advisor_sends_them(
    advisor: Any, target: Client, name: str
) -> None:
    before = everything(target)
    response = send(as_user(advisor), "POST", name, target, target.client_number)
    assert response.status_code == 302, name
    assert everything(target) != before


# --- an advisor of another branch ----------------------------------------------------------------


@pytest.mark.parametrize(("name", "method"), ALL_REQUESTS)
def test_an_advisor_of_another_branch_gets_404_and_changes_nothing(
    advisor_other_branch: Any, target: Client, name: str, method: str
) -> None:
    before = everything(target)
    response = send(as_user(advisor_other_branch), method, name, target, target.client_number)
    assert response.status_code == 404
    page = body(response)
    assert NOT_FOUND in page
    assert target.client_number not in page
    assert target.last_name not in page
    assert everything(target) == before


def test_another_branch_and_an_unknown_number_get_the_same_page(
    advisor_other_branch: Any, target: Client
) -> None:
    http = as_user(advisor_other_branch)
    other = http.get(url(RECORD, target.client_number))
    unknown = http.get(url(RECORD, UNKNOWN))
    assert other.status_code == unknown.status_code == 404
    assert without_token(body(other)) == without_token(body(unknown))


# --- compliance ----------------------------------------------------------------------------------


def test_compliance_reads_the_record_of_a_customer_of_any_branch(
    compliance: Any, target: Client
) -> None:
    response = as_user(compliance).get(url(RECORD, target.client_number))
    assert response.status_code == 200
    page = body(response)
    assert target.client_number in page
    assert target.email in page
    assert '<span class="state state-granted">accord</span>' in page


@pytest.mark.parametrize(("name", "method"), WRITE_REQUESTS)
def test_compliance_gets_a_clean_403_on_every_write_page_and_changes_nothing(
    compliance: Any, target: Client, name: str, method: str
) -> None:
    assert not compliance.has_perm("clients.record_consent")
    before = everything(target)
    response = send(as_user(compliance), method, name, target, target.client_number)
    assert response.status_code == 403
    page = body(response)
    assert FORBIDDEN in page
    assert target.client_number not in page
    assert everything(target) == before
    assert states_of(target) == {"email": "granted", "sms_push": "none"}


# --- an unknown client number --------------------------------------------------------------------


@pytest.mark.parametrize(("name", "method"), ALL_REQUESTS)
def test_an_unknown_client_number_is_404_without_echoing_it(
    advisor: Any, target: Client, name: str, method: str
) -> None:
    before = everything(target)
    response = send(as_user(advisor), method, name, target, UNKNOWN)
    assert response.status_code == 404
    page = body(response)
    assert NOT_FOUND in page
    assert UNKNOWN not in page
    assert not Client.objects.filter(client_number=UNKNOWN).exists()
    assert everything(target) == before


def test_compliance_gets_404_on_the_record_of_an_unknown_number(compliance: Any, db: None) -> None:
    response = as_user(compliance).get(url(RECORD, UNKNOWN))
    assert response.status_code == 404
    assert UNKNOWN not in body(response)
