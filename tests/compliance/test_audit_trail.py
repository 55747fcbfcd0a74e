"""The audit trail page: every filter gives exactly the entries it names, keyset pages walk the
whole filtered log both ways without a gap or a repeat, and only compliance opens it
(R51, R53, R55)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.test import Client as HttpClient
from django.urls import reverse

from clients.models import Client
from optin.audit import Actor
from optin.compliance import selectors
from optin.compliance.selectors import TrailFilters
from optin.models import AuditEntry
from tests.conftest import paris

TRAIL = reverse("compliance:trail")


@pytest.fixture
def history(
    client_factory: Callable[..., Client],
    decide: Callable[..., Any],
    advisor_as_actor: Actor,
    advisor_other_branch: Any,
) -> list[Client]:
    """Three customers, decisions on both channels, digital and in two branches, on two days."""
    from clients.roles import actor_for

    other = actor_for(advisor_other_branch)
    customers = [client_factory() for _ in range(3)]
    with time_machine.travel(paris(2027, 3, 2, 10), tick=True):
        for customer in customers:
            decide(customer, "email", "grant")
            decide(
                customer,
                "sms_push",
                "refuse",
                journey="branch_contact_update",
                actor=advisor_as_actor,
            )
    with time_machine.travel(paris(2027, 3, 5, 23, 30), tick=True):
        decide(
            customers[0],
            "email",
            "withdraw",
            journey="branch_request",
            actor=other,
            evidence={"means": "phone"},
        )
        decide(customers[1], "sms_push", "grant", journey="digital_contact_update")
    return customers


def expected(predicate: Callable[[AuditEntry, dict[str, Any]], bool]) -> list[int]:
    """The sequence numbers the filter must give, newest first, computed from the log apart."""
    return [
        e.seq for e in AuditEntry.objects.order_by("-seq") if predicate(e, json.loads(e.payload))
    ]


def walk(filters: TrailFilters, size: int = 2) -> list[int]:
    """Every page from the newest, following the "older" links."""
    seqs, before = [], None
    while True:
        page = selectors.trail_page(filters, before=before, size=size)
        seqs += [e.seq for e in page.entries]
        if page.older is None:
            return seqs
        before = page.older


def walk_back(filters: TrailFilters, size: int = 2) -> list[int]:
    """From the oldest page back to the newest, following the "newer" links."""
    pages, after = [], 0
    while True:
        page = selectors.trail_page(filters, after=after, size=size)
        pages.append([e.seq for e in page.entries])
        if page.newer is None:
            return [seq for chunk in reversed(pages) for seq in chunk]
        after = page.newer


@pytest.mark.parametrize(
    ("name", "make_filters", "predicate"),
    [
        ("all", lambda c, a, o: TrailFilters(), lambda e, p, c, a, o: True),
        (
            "customer",
            lambda c, a, o: TrailFilters(client_number=c[0].client_number),
            lambda e, p, c, a, o: e.client_number == c[0].client_number,
        ),
        (
            "advisor",
            lambda c, a, o: TrailFilters(actor_id=a.id),
            lambda e, p, c, a, o: e.actor_id == a.id,
        ),
        (
            "branch",
            lambda c, a, o: TrailFilters(branch=o.staff_profile.branch.code),
            lambda e, p, c, a, o: p.get("actor_branch") == o.staff_profile.branch.code,
        ),
        (
            "action",
            lambda c, a, o: TrailFilters(action="consent.refused"),
            lambda e, p, c, a, o: e.action == "consent.refused",
        ),
        (
            "channel",
            lambda c, a, o: TrailFilters(channel="sms_push"),
            lambda e, p, c, a, o: e.channel == "sms_push",
        ),
        (
            "journey",
            lambda c, a, o: TrailFilters(journey="branch_contact_update"),
            lambda e, p, c, a, o: p.get("journey") == "branch_contact_update",
        ),
        (
            "days",  # 5 March 23:30 in Paris is the 5th, although the 5th 22:30 in UTC
            lambda c, a, o: TrailFilters(since=dt.date(2027, 3, 5), until=dt.date(2027, 3, 5)),
            lambda e, p, c, a, o: (
                e.recorded_at.astimezone(selectors.PARIS).date() == dt.date(2027, 3, 5)
            ),
        ),
        (
            "combined",
            lambda c, a, o: TrailFilters(
                channel="sms_push",
                journey="branch_contact_update",
                client_number=c[1].client_number,
            ),
            lambda e, p, c, a, o: (
                e.channel == "sms_push"
                and p.get("journey") == "branch_contact_update"
                and e.client_number == c[1].client_number
            ),
        ),
    ],
)
def test_each_filter_gives_exactly_its_entries_in_every_page(
    history: list[Client],
    advisor_as_actor: Actor,
    advisor_other_branch: Any,
    name: str,
    make_filters: Callable[..., TrailFilters],
    predicate: Callable[..., bool],
) -> None:
    filters = make_filters(history, advisor_as_actor, advisor_other_branch)
    wanted = expected(lambda e, p: predicate(e, p, history, advisor_as_actor, advisor_other_branch))
    assert wanted, f"the scenario must give the {name} filter something to find"
    assert walk(filters) == wanted
    assert walk_back(filters) == wanted
    assert [e.seq for e in selectors.trail_queryset(filters).order_by("-seq")] == wanted


def test_a_page_is_read_with_a_fixed_number_of_statements(
    history: list[Client], django_assert_max_num_queries: Any
) -> None:
    deep = AuditEntry.objects.order_by("-seq").values_list("seq", flat=True)[3]
    with django_assert_max_num_queries(3):
        page = selectors.trail_page(TrailFilters(channel="email"), before=deep, size=2)
    assert all(e.seq < deep and e.channel == "email" for e in page.entries)


def test_the_page_lists_the_filtered_entries_with_their_hashes(
    history: list[Client], compliance_http: HttpClient
) -> None:
    number = history[2].client_number
    response = compliance_http.get(TRAIL, {"client": number})
    assert response.status_code == 200
    page = response.content.decode()
    entries = AuditEntry.objects.filter(client_number=number)
    assert entries.count() >= 3
    for entry in entries:
        assert f'href="{reverse("compliance:entry", args=[entry.seq])}"' in page
        assert entry.hash[:12] in page
        assert entry.prev_hash[:12] in page
    others = AuditEntry.objects.exclude(client_number=number).exclude(client_number="")
    assert not any(f">{e.client_number}<" in page for e in others)


def test_the_page_links_older_and_newer_pages(
    history: list[Client], compliance_http: HttpClient
) -> None:
    newest = list(AuditEntry.objects.order_by("-seq").values_list("seq", flat=True))
    response = compliance_http.get(TRAIL, {"before": newest[1], "channel": ""})
    page = response.content.decode()
    # The page starts at the third newest; the newer page is what lies above its first row.
    assert f'href="{reverse("compliance:entry", args=[newest[1]])}"' not in page
    assert f'href="{reverse("compliance:entry", args=[newest[2]])}"' in page
    assert f'href="?channel=&amp;after={newest[2]}"' in page
    assert 'href="?channel="' in page  # back to the newest, filters kept


@pytest.mark.parametrize(
    "query",
    [
        {"before": "abc"},
        {"before": "0"},
        {"before": str(2**70)},
        {"before": "5", "after": "2"},
        {"since": "2026-13-01"},
        {"since": "2026-03-05", "until": "2026-03-01"},
        {"action": "consent.deleted"},
        {"channel": "fax"},
        {"journey": "nowhere"},
        {"branch": "NOPE"},
        {"actor": "nobody-by-this-name"},
        {"client": "x" * 40},
    ],
)
def test_bad_filters_are_form_errors_not_failures(
    history: list[Client], compliance_http: HttpClient, query: dict[str, str]
) -> None:
    response = compliance_http.get(TRAIL, query)
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()


def test_an_actor_is_found_by_user_name_or_as_logged(
    history: list[Client], advisor: Any, compliance_http: HttpClient
) -> None:
    by_name = compliance_http.get(TRAIL, {"actor": advisor.username.upper()})
    as_logged = compliance_http.get(TRAIL, {"actor": f"staff:{advisor.pk}"})
    assert by_name.status_code == as_logged.status_code == 200
    assert by_name.context["page"].entries == as_logged.context["page"].entries
    assert by_name.context["page"].entries


@pytest.mark.parametrize("who", ["advisor_http", "administrator_http"])
def test_only_compliance_opens_the_trail_and_its_entries(
    history: list[Client], who: str, request: pytest.FixtureRequest
) -> None:
    http: HttpClient = request.getfixturevalue(who)
    seq = AuditEntry.objects.values_list("seq", flat=True).first()
    for url in (TRAIL, reverse("compliance:entry", args=[seq]), reverse("compliance:trail_export")):
        assert http.get(url).status_code == 403


def test_an_anonymous_visitor_is_sent_to_the_login(client: HttpClient) -> None:
    response = client.get(TRAIL)
    assert response.status_code == 302
    assert reverse("clients:login") in response["Location"]


def test_days_bound_the_pages_by_sequence_numbers(
    history: list[Client], django_assert_max_num_queries: Any
) -> None:
    """The days are turned into a range of seq (two index reads), so that a month deep in the
    log is read where it lies rather than from the head."""
    filters = TrailFilters(since=dt.date(2027, 3, 2), until=dt.date(2027, 3, 2))
    with django_assert_max_num_queries(4):
        page = selectors.trail_page(filters, size=50)
    day = [
        e.seq
        for e in AuditEntry.objects.order_by("-seq")
        if e.recorded_at.astimezone(selectors.PARIS).date() == dt.date(2027, 3, 2)
    ]
    assert [e.seq for e in page.entries] == day
    assert "seq" in str(selectors.trail_queryset(filters).query).split("WHERE", 1)[1]
    nothing = TrailFilters(since=dt.date(2030, 1, 1))
    assert selectors.trail_page(nothing).entries == []
