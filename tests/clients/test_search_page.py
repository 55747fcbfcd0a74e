"""R55: the search page (the back-office's home) lists the customers of the advisor's branch only.

Compliance finds the customers of every branch; two customers sharing an address are both
listed (R10). Results come by pages ("Suivants" leads to the
next one); a single exact hit on a client number, an e-mail address or a mobile number opens
the record at once. An htmx request (typing in the search box) gets the results fragment
alone, never a whole page. A bad page number is not a 500, and what was typed is shown back
escaped (R68).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse

from clients import selectors
from clients.models import Client
from tests.clients.pages import as_user, body, visible_text

MakeClient = Callable[..., Client]
SEARCH = reverse("clients:search")
HTMX = {"HX-Request": "true"}
NOBODY = "Aucun client ne correspond à cette recherche dans votre périmètre."


def record_url(client: Client) -> str:
    return reverse("clients:record", args=[client.client_number])


def listed(response: Any) -> list[str]:
    """The client numbers of the result rows, in the page's order."""
    page = response.content.decode()
    return re.findall(r'<td class="nowrap"><a href="/clients/([^/"]+)/">', page)


@pytest.fixture
def duponts(client_factory: MakeClient, other_branch: Any) -> dict[str, Client]:
    """Two Duponts in the advisor's branch, one in another branch, and a bystander."""
    return {
        "jeanne": client_factory(
            client_number="C-2001",
            first_name="Jeanne",
            last_name="Dupont",
            email="jeanne.dupont@exemple.fr",
            mobile="06 12 34 56 78",
        ),
        "marc": client_factory(client_number="C-2002", first_name="Marc", last_name="Dupont"),
        "lyon": client_factory(
            client_number="C-9001", first_name="Paul", last_name="Dupont", branch=other_branch
        ),
        "martin": client_factory(client_number="C-2003", first_name="Eve", last_name="Martin"),
    }


# --- scope ---------------------------------------------------------------------------------------


def test_an_advisor_finds_the_matching_customers_of_their_branch_only(
    advisor: Any, duponts: dict[str, Client]
) -> None:
    response = as_user(advisor).get(SEARCH, {"q": "dupont"})
    assert response.status_code == 200
    assert listed(response) == ["C-2001", "C-2002"]
    page = body(response)
    assert "C-9001" not in page
    assert "C-2003" not in page
    assert "Agence Paris Opéra" in page


def test_compliance_finds_the_matching_customers_of_every_branch(
    compliance: Any, duponts: dict[str, Client]
) -> None:
    response = as_user(compliance).get(SEARCH, {"q": "dupont"})
    assert response.status_code == 200
    assert sorted(listed(response)) == ["C-2001", "C-2002", "C-9001"]
    assert "Agence Lyon Bellecour" in body(response)


def test_the_client_number_of_another_branch_finds_nothing(
    advisor: Any, duponts: dict[str, Client]
) -> None:
    response = as_user(advisor).get(SEARCH, {"q": "C-9001"})
    assert response.status_code == 200
    assert listed(response) == []
    assert NOBODY in body(response)
    assert duponts["lyon"].email not in body(response)


def test_the_result_rows_show_each_channels_state(
    advisor: Any, duponts: dict[str, Client], grant: Callable[..., Any]
) -> None:
    grant(duponts["jeanne"], "email")
    response = as_user(advisor).get(SEARCH, {"q": "dupont jeanne"})
    assert response.status_code == 200
    assert listed(response) == ["C-2001"]
    assert "E-mail : accord" in visible_text(response)


# --- pages ---------------------------------------------------------------------------------------


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(selectors, "PAGE_SIZE", 2)
    return 2


def test_results_come_by_pages_with_a_link_to_the_next(
    advisor: Any, duponts: dict[str, Client], client_factory: MakeClient, small_pages: int
) -> None:
    client_factory(client_number="C-2004", first_name="Zoé", last_name="Dupont")
    http = as_user(advisor)
    first = http.get(SEARCH, {"q": "dupont"})
    assert first.status_code == 200
    assert listed(first) == ["C-2001", "C-2002"]
    link = re.search(r'<a href="([^"]+)" rel="next">Suivants', first.content.decode())
    assert link is not None
    assert "Précédents" not in body(first)

    second = http.get(SEARCH + html.unescape(link.group(1)))
    assert second.status_code == 200
    assert listed(second) == ["C-2004"]
    assert "Suivants" not in body(second)
    assert 'rel="prev"' in second.content.decode()
    assert "Page 2" in visible_text(second)


def test_a_page_past_the_last_lists_nobody(
    advisor: Any, duponts: dict[str, Client], small_pages: int
) -> None:
    response = as_user(advisor).get(SEARCH, {"q": "dupont", "page": "7"})
    assert response.status_code == 200
    assert listed(response) == []
    assert NOBODY in body(response)


@pytest.mark.parametrize("page", ["abc", "0", "-3", "1.5", "10001", "9" * 30, ""])
def test_a_bad_page_number_is_not_a_500(
    advisor: Any, duponts: dict[str, Client], page: str
) -> None:
    response = as_user(advisor).get(SEARCH, {"q": "dupont", "page": page})
    assert response.status_code == 200
    assert 'name="q" id="id_q" value="dupont"' in response.content.decode()


# --- a single exact hit --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "C-2001",
        "  C-2001  ",
        "jeanne.dupont@exemple.fr",
        "JEANNE.DUPONT@EXEMPLE.FR",
        "06 12 34 56 78",
        "+33 6 12 34 56 78",
    ],
)
def test_a_single_exact_hit_on_a_number_an_address_or_a_mobile_opens_the_record(
    advisor: Any, duponts: dict[str, Client], typed: str
) -> None:
    jeanne = duponts["jeanne"]
    response = as_user(advisor).get(SEARCH, {"q": typed})
    assert response.status_code == 302
    assert response["Location"] == record_url(jeanne)


def test_an_address_shared_by_two_customers_lists_both(
    advisor: Any, client_factory: MakeClient
) -> None:
    # R10: two customers may share an address; the search does not pick one.
    client_factory(client_number="C-3001", last_name="Durand", email="famille@exemple.fr")
    client_factory(client_number="C-3002", last_name="Durand", email="famille@exemple.fr")
    response = as_user(advisor).get(SEARCH, {"q": "famille@exemple.fr"})
    assert response.status_code == 200
    assert listed(response) == ["C-3001", "C-3002"]


def test_a_single_hit_on_a_name_is_listed_not_opened(
    advisor: Any, duponts: dict[str, Client]
) -> None:
    response = as_user(advisor).get(SEARCH, {"q": "martin"})
    assert response.status_code == 200
    assert listed(response) == ["C-2003"]


# --- htmx ----------------------------------------------------------------------------------------


def test_an_htmx_request_gets_the_results_fragment_only(
    advisor: Any, duponts: dict[str, Client]
) -> None:
    response = as_user(advisor).get(SEARCH, {"q": "dupont"}, headers=HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page
    assert "<form" not in page
    assert "<table>" in page
    assert listed(response) == ["C-2001", "C-2002"]


def test_an_htmx_request_without_a_hit_gets_the_empty_fragment(
    advisor: Any, duponts: dict[str, Client]
) -> None:
    response = as_user(advisor).get(SEARCH, {"q": "zzz"}, headers=HTMX)
    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    assert NOBODY in body(response)


def test_an_htmx_single_hit_never_swaps_a_whole_page_into_the_results(
    advisor: Any, duponts: dict[str, Client]
) -> None:
    jeanne = duponts["jeanne"]
    response = as_user(advisor).get(SEARCH, {"q": "C-2001"}, headers=HTMX, follow=True)
    assert "<html" not in response.content.decode()
    assert response.headers.get("HX-Redirect") == record_url(jeanne) or listed(response) == [
        "C-2001"
    ]


# --- what was typed ------------------------------------------------------------------------------


def test_an_empty_search_shows_the_form_without_results(advisor: Any, db: None) -> None:
    response = as_user(advisor).get(SEARCH)
    assert response.status_code == 200
    page = body(response)
    assert 'id="id_q"' in page
    assert NOBODY not in page
    assert "<table>" not in page


def test_what_was_typed_is_shown_back_escaped(advisor: Any, duponts: dict[str, Client]) -> None:
    response = as_user(advisor).get(SEARCH, {"q": '<script>alert("x")</script>'})
    assert response.status_code == 200
    page = response.content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert" in page
