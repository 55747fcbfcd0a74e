"""R55 (SHOULD): every page of a customer's data opened by a staff member is recorded (who,
when, which customer, which page), the record cannot be altered, and compliance alone reviews
it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client as HttpClient
from django.urls import reverse

from clients.models import Client
from optin.models import AuditEntry, RecordAccess
from tests.clients.pages import visible_text

ACCESS = reverse("compliance:access")


def record_url(client: Client) -> str:
    return reverse("clients:record", args=[client.client_number])


def test_an_advisor_opening_a_record_is_recorded(
    customer: Client, advisor: Any, advisor_http: HttpClient
) -> None:
    assert advisor_http.get(record_url(customer)).status_code == 200
    access = RecordAccess.objects.get()
    assert (access.staff_id, access.actor_type, access.branch) == (
        advisor.pk,
        "advisor",
        advisor.staff_profile.branch.code,
    )
    assert (access.client_id, access.client_number) == (customer.pk, customer.client_number)
    assert (access.page, access.method) == ("clients:record", "GET")


def test_each_opening_is_a_row(customer: Client, advisor_http: HttpClient) -> None:
    advisor_http.get(record_url(customer))
    advisor_http.get(reverse("clients:contact", args=[customer.client_number]))
    advisor_http.get(record_url(customer))
    assert list(RecordAccess.objects.order_by("id").values_list("page", flat=True)) == [
        "clients:record",
        "clients:contact",
        "clients:record",
    ]


def test_compliance_opening_an_entry_or_a_customers_trail_is_recorded(
    customer: Client, grant: Callable[..., Any], compliance: Any, compliance_http: HttpClient
) -> None:
    grant(customer, "email")
    entry = AuditEntry.objects.filter(client_id=customer.pk).last()
    assert entry is not None
    compliance_http.get(reverse("compliance:entry", args=[entry.seq]))
    compliance_http.get(reverse("compliance:trail"), {"client": customer.client_number})
    compliance_http.get(record_url(customer))
    rows = RecordAccess.objects.order_by("id")
    assert [(r.page, r.actor_type, r.staff_id) for r in rows] == [
        ("compliance:entry", "compliance", compliance.pk),
        ("compliance:trail", "compliance", compliance.pk),
        ("clients:record", "compliance", compliance.pk),
    ]


def test_a_refused_or_unknown_page_records_nothing(
    customer: Client, advisor_other_branch: Any
) -> None:
    from tests.clients.pages import as_user

    outsider = as_user(advisor_other_branch)
    assert outsider.get(record_url(customer)).status_code in (403, 404)
    assert outsider.get(reverse("clients:record", args=["NOPE-404"])).status_code == 404
    assert not RecordAccess.objects.exists()


def test_an_htmx_refresh_of_a_page_already_open_is_not_a_new_opening(
    customer: Client, advisor_http: HttpClient
) -> None:
    url = reverse("clients:contact", args=[customer.client_number])
    advisor_http.get(url)
    advisor_http.get(url, headers={"HX-Request": "true"})
    assert RecordAccess.objects.count() == 1


def test_the_access_log_cannot_be_altered(customer: Client, advisor_http: HttpClient) -> None:
    advisor_http.get(record_url(customer))
    access = RecordAccess.objects.get()
    for attempt in (
        lambda: RecordAccess.objects.filter(pk=access.pk).update(client_number="OTHER"),
        lambda: RecordAccess.objects.filter(pk=access.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()
    if connection.vendor == "postgresql":
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("TRUNCATE optin_recordaccess")
    assert RecordAccess.objects.get().client_number == customer.client_number


def test_compliance_reviews_the_openings_by_customer_and_by_staff_member(
    client_factory: Callable[..., Client],
    advisor: Any,
    advisor_http: HttpClient,
    compliance_http: HttpClient,
) -> None:
    first, second = client_factory(), client_factory()
    advisor_http.get(record_url(first))
    advisor_http.get(record_url(second))
    advisor_http.get(reverse("clients:contact", args=[second.client_number]))
    response = compliance_http.get(ACCESS, {"client": second.client_number})
    assert response.status_code == 200
    assert [r.access.page for r in response.context["rows"]] == [
        "clients:contact",
        "clients:record",
    ]
    text = visible_text(response)
    assert "Mise à jour des coordonnées" in text
    assert advisor.get_full_name() in text
    by_staff = compliance_http.get(ACCESS, {"staff": advisor.username})
    assert len(by_staff.context["rows"]) == 3


def test_the_access_log_pages_walk_every_opening(
    customer: Client, advisor_http: HttpClient, compliance_http: HttpClient
) -> None:
    from optin.compliance import selectors

    for _ in range(5):
        advisor_http.get(record_url(customer))
    ids = list(RecordAccess.objects.order_by("-id").values_list("id", flat=True))
    seen, before = [], None
    while True:
        page = selectors.access_page(selectors.AccessFilters(), before=before, size=2)
        seen += [row.pk for row in page.rows]
        if page.older is None:
            break
        before = page.older
    assert seen == ids


@pytest.mark.parametrize("query", [{"staff": "nobody"}, {"before": "x"}, {"since": "31/02"}])
def test_bad_filters_are_form_errors(compliance_http: HttpClient, query: dict[str, str]) -> None:
    assert compliance_http.get(ACCESS, query).status_code == 400


@pytest.mark.parametrize("who", ["advisor_http", "administrator_http"])
def test_only_compliance_reviews_the_access_log(who: str, request: pytest.FixtureRequest) -> None:
    http: HttpClient = request.getfixturevalue(who)
    assert http.get(ACCESS).status_code == 403
