"""The dashboard page: only compliance opens it, read only (R55); it shows the figures of the
history of test_dashboard.py in its tables, each chart is well-formed SVG that escapes its
text, and nothing on it needs an inline style or script (the Content-Security-Policy)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
import time_machine
from django.test import Client as HttpClient
from django.urls import reverse

from clients.models import Branch, Client, StaffProfile
from tests.compliance.test_dashboard import (
    DECISIONS,
    NOW,
    PENDING,
    RATES,
    WITHDRAWALS,
    make_history,
)

DASHBOARD = reverse("compliance:dashboard")
SVG = "{http://www.w3.org/2000/svg}"


class Tables(HTMLParser):
    """The page's tables by caption: each a list of rows of cell texts (th and td)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._caption: list[str] | None = None
        self._rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_svg = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._rows, self._caption = [], []
        elif tag == "caption":
            self._caption = []
        elif tag == "tr":
            self._rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self._rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "caption" and self._caption is not None:
            self._title = " ".join("".join(self._caption).split())
            self._caption = None
        elif tag == "table":
            self.tables[self._title] = self._rows

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._caption is not None:
            self._caption.append(data)


def tables_of(html: str) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed(html)
    return parser.tables


def svgs_of(html: str) -> list[ET.Element]:
    """Each chart, parsed as XML: a malformed or unescaped one raises here."""
    charts = re.findall(r"<svg\b.*?</svg>", html, re.DOTALL)
    return [ET.fromstring(svg) for svg in charts]  # noqa: S314 (the page under test)


@pytest.fixture
def history(
    client_factory: Callable[..., Client],
    branch: Branch,
    other_branch: Branch,
    advisor_other_branch: Any,
    decide: Callable[..., Any],
    collect: Callable[..., Any],
    sign_tablet: Callable[..., Any],
) -> dict[str, Client]:
    """The history of test_dashboard.py."""
    return make_history(
        client_factory, branch, other_branch, advisor_other_branch, decide, collect, sign_tablet
    )


def get(http: HttpClient, query: str = "") -> Any:
    with time_machine.travel(NOW, tick=False):
        return http.get(DASHBOARD + query)


# --- access ------------------------------------------------------------------------------------


def test_advisors_and_administrators_may_not_open_it(
    advisor_http: HttpClient, administrator_http: HttpClient
) -> None:
    assert advisor_http.get(DASHBOARD).status_code == 403
    assert administrator_http.get(DASHBOARD).status_code == 403


def test_anonymous_visitors_are_sent_to_the_login(db: None) -> None:
    response = HttpClient().get(DASHBOARD)
    assert response.status_code == 302
    assert "next=" in response["Location"]


def test_it_is_read_only(compliance_http: HttpClient) -> None:
    assert compliance_http.post(DASHBOARD, {"mois": "3"}).status_code == 405
    assert compliance_http.head(DASHBOARD).status_code == 200


# --- the figures on the page -------------------------------------------------------------------


def test_the_tables_show_the_figures_of_the_history(
    compliance_http: HttpClient, history: dict[str, Client]
) -> None:
    response = get(compliance_http, "?mois=6")
    assert response.status_code == 200
    tables = tables_of(response.content.decode())

    rates = tables["Taux d'accord par mois"][2:]  # two header rows
    assert [(int(r[1]), int(r[2]), int(r[4])) for r in rates] == RATES["all"]
    assert rates[0][0] == "jan. 2027"
    assert rates[0][3] == rates[0][5] == "50,0 %"
    assert rates[-1][0] == "juin 2027 (à ce jour)"
    assert rates[-1][3:] == ["10,0 %", "0", "0,0 %"]

    by_branch = tables["Taux d'accord par agence, canal et mois (en %)"]
    months = ["jan. 27", "fév. 27", "mars 27", "avr. 27", "mai 27", "juin 27"]
    assert by_branch[0] == ["Agence, canal", *months]
    assert by_branch[1] == ["B001 Agence Paris Opéra"]
    assert by_branch[2][:2] == ["E-mail", "0,0 0/2"]
    assert by_branch[4] == ["B002 Agence Lyon Bellecour"]
    assert by_branch[6][0] == "SMS, push"
    expected_b002_sms = [f"{sms}/{n}" for n, _email, sms in RATES["B002"]]
    assert [cell.split()[-1] for cell in by_branch[6][1:]] == expected_b002_sms

    decisions = {row[0]: tuple(map(int, row[1:4])) for row in tables["Décisions par parcours"][1:]}
    assert decisions.pop("Total") == tuple(map(sum, zip(*DECISIONS.values(), strict=True)))
    assert decisions == {
        "Agence : connaissance client": DECISIONS["branch_contact_update"],
        "Agence : demande du client": DECISIONS["branch_request"],
        "Espace client": DECISIONS["digital_self_service"],
        "Ouverture de compte en ligne": DECISIONS["digital_account_opening"],
        "Lien de désabonnement": DECISIONS["unsubscribe_link"],
        "STOP SMS": DECISIONS["sms_stop"],
        "Demande d'effacement": DECISIONS["erasure_request"],
    }

    pending = tables["Formulaires à signer par agence"]
    assert pending[0] == [
        "Agence",
        "En attente",
        "Le plus ancien",
        "Moins d'un jour",
        "1 à 7 jours",
        "7 à 30 jours",
        "Plus de 30 jours",
    ]
    for row, (code, (n, oldest, buckets)) in zip(pending[1:], PENDING.items(), strict=False):
        assert row[0].startswith(code)
        assert int(row[1]) == n
        assert row[2].startswith(f"{oldest:%d/%m/%Y}")
        assert [int(x) for x in row[3:]] == buckets
    assert pending[-1][1:2] == ["5"]  # the total
    advisors = tables["Formulaires à signer par conseiller, le plus ancien en premier"]
    assert [(row[0], row[2]) for row in advisors[1:]] == [("alice", "3"), ("bob", "2")]

    withdrawals = tables["Retraits par mois et par chemin"]
    assert withdrawals[0][1:] == [
        "Espace client",
        "Lien de désabonnement",
        "STOP SMS",
        "Agence",
        "Autre (effacement, système…)",
        "Total",
    ]
    assert [[int(x) for x in row[1:-1]] for row in withdrawals[1:]] == WITHDRAWALS
    assert [int(row[-1]) for row in withdrawals[1:]] == [sum(w) for w in WITHDRAWALS]


def test_the_page_states_its_definitions(
    compliance_http: HttpClient, history: dict[str, Client]
) -> None:
    text = " ".join(get(compliance_http).content.decode().split())
    assert "Part des clients enregistrés à la fin de chaque mois (heure de Paris)" in text
    assert "un « Oui » en agence ne compte qu'une fois signé" in text
    assert "par agence actuelle du client et par conseiller" in text
    assert "espace client (parcours numériques), lien de désabonnement, STOP SMS" in text


def test_each_chart_is_accessible_well_formed_svg(
    compliance_http: HttpClient, history: dict[str, Client]
) -> None:
    html = get(compliance_http, "?mois=24").content.decode()
    charts = svgs_of(html)

    assert [svg.get("id") for svg in charts] == [
        "chart-rates",
        "chart-decisions",
        "chart-pending",
        "chart-withdrawals",
    ]
    for svg in charts:
        assert svg.get("role") == "img"
        title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
        assert title is not None and title.text
        assert desc is not None and desc.text
        assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
        # Each chart is followed by its data as a table.
        after = html[html.index(f'id="{svg.get("id")}"') :]
        assert after.index("<table") < after.index("</section>")
    rates = charts[0]
    legend = [t.text for t in rates.iter(f"{SVG}text")]
    assert "E-mail" in legend and "SMS et notifications mobiles" in legend
    title = rates.find(f"{SVG}title")
    assert title is not None
    assert title.text == "Taux d'accord par canal, toutes les agences"


def test_the_page_needs_no_inline_style_or_script(
    compliance_http: HttpClient, history: dict[str, Client]
) -> None:
    response = get(compliance_http)
    html = response.content.decode()

    assert "style-src 'self'" in response["Content-Security-Policy"]
    assert not re.search(r"\sstyle\s*=", html)
    assert "<style" not in html
    assert re.findall(r"<script\b[^>]*>", html) == [
        tag for tag in re.findall(r"<script\b[^>]*>", html) if " src=" in tag
    ]
    assert '<link rel="stylesheet" href="/static/css/dashboard.css">' in html


def test_text_from_the_data_is_escaped(
    compliance_http: HttpClient, history: dict[str, Client], other_branch: Branch
) -> None:
    Branch.objects.filter(pk=other_branch.pk).update(name='<script>alert("x")</script> & Co')

    html = get(compliance_http).content.decode()

    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in html
    pending = next(svg for svg in svgs_of(html) if svg.get("id") == "chart-pending")
    labels = [t.text or "".join(t.itertext()) for t in pending.iter(f"{SVG}text")]
    assert any(
        'B002 <script>alert("x")</script> & Co'.startswith(label.rstrip("…")) for label in labels
    )


# --- the filters -------------------------------------------------------------------------------


def test_a_branch_and_a_period_can_be_chosen(
    compliance_http: HttpClient, history: dict[str, Client]
) -> None:
    html = get(compliance_http, "?mois=3&agence=B002").content.decode()
    tables = tables_of(html)

    rates = tables["Taux d'accord par mois"][2:]
    assert [(int(r[1]), int(r[2]), int(r[4])) for r in rates] == RATES["B002"][-3:]
    by_branch = tables["Taux d'accord par agence, canal et mois (en %)"]
    assert [row for row in by_branch if len(row) == 1] == [["B002 Agence Lyon Bellecour"]]
    assert '<option value="B002" selected>' in html
    assert '<option value="3" selected>' in html
    title = svgs_of(html)[0].find(f"{SVG}title")
    assert title is not None
    assert title.text == "Taux d'accord par canal, B002 Agence Lyon Bellecour"


def test_bad_filters_fall_back_to_the_defaults(
    compliance_http: HttpClient, history: dict[str, Client]
) -> None:
    response = get(compliance_http, "?mois=7&agence=NOPE")

    assert response.status_code == 200
    rates = tables_of(response.content.decode())["Taux d'accord par mois"][2:]
    assert len(rates) == 12
    assert [(int(r[1]), int(r[2]), int(r[4])) for r in rates[-6:]] == RATES["all"]
    assert 'class="errorlist' in response.content.decode()


def test_an_empty_database_shows_an_empty_dashboard(compliance_http: HttpClient) -> None:
    response = get(compliance_http)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Aucune décision sur la période." in html
    assert "Aucun formulaire en attente de signature." in html
    assert [svg.get("id") for svg in svgs_of(html)] == ["chart-rates", "chart-withdrawals"]


def test_the_page_in_english_formats_its_numbers_in_english(
    compliance: Any, compliance_http: HttpClient, history: dict[str, Client]
) -> None:
    StaffProfile.objects.filter(user=compliance).update(language="en")

    response = get(compliance_http, "?mois=6")

    html = response.content.decode()
    assert '<html lang="en"' in html
    rates = tables_of(html)["Consent rate by month"][2:]
    assert rates[0][0] == "Jan. 2027"
    assert rates[0][3] == "50.0 %"
    assert len(svgs_of(html)) == 4


# --- statements --------------------------------------------------------------------------------


@pytest.mark.parametrize("months", ["3", "24"])
def test_the_page_runs_a_bounded_number_of_statements(
    compliance_http: HttpClient,
    history: dict[str, Client],
    django_assert_max_num_queries: Any,
    months: str,
) -> None:
    get(compliance_http)  # the session and permissions cached as usual
    with django_assert_max_num_queries(16):
        assert get(compliance_http, f"?mois={months}&agence=B001").status_code == 200
