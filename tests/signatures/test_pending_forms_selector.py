"""R27 (with R55): the unsigned forms, per advisor and per branch, oldest first, with their age.

`signatures.selectors.pending_forms` lists only pending forms (not signed, cancelled,
superseded or expired), filtered by the advisor who generated them and/or the branch they were
generated in, oldest first, each with its age at `now`; it runs a fixed number of queries
whatever the number of forms, the client, advisor and branch included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine

from clients.models import Branch, Client
from signatures.models import ConsentForm
from signatures.selectors import pending_forms
from signatures.services import Collected, cancel_form

Collect = Callable[..., Collected]
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(days=3, hours=2)


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def forms(
    clock: Any,
    collect: Collect,
    client_factory: Callable[..., Client],
    advisor: Any,
    advisor_other_branch: Any,
    other_branch: Branch,
) -> dict[str, ConsentForm]:
    """Pending forms of both advisors, created in an order that differs from their age (the
    second oldest is created first), plus a cancelled and a superseded form that must not be
    listed."""

    def yes(by: Any, client: Client, channel: str = "email") -> ConsentForm:
        form = collect(client, by=by, **{channel: "yes"}).form
        assert form is not None
        return form

    created = {}
    clock.move_to(T0 + dt.timedelta(days=1))
    created["alice_2"] = yes(advisor, client_factory(first_name="Bruno"), "sms_push")
    clock.move_to(T0)
    created["alice_1"] = yes(advisor, client_factory(first_name="Anne"))
    clock.move_to(T0 + dt.timedelta(hours=12))
    created["bob_1"] = yes(advisor_other_branch, client_factory(branch=other_branch))
    clock.move_to(T0 + dt.timedelta(days=2))
    cancelled = yes(advisor, client_factory(first_name="Chloé"))
    cancel_form(
        client_number=cancelled.client.client_number,
        reference=cancelled.reference,
        advisor=advisor,
        note="Le client ne souhaite pas signer.",
    )
    superseded_client = client_factory(first_name="David")
    yes(advisor, superseded_client)
    clock.move_to(T0 + dt.timedelta(days=2, hours=1))
    created["alice_3"] = yes(advisor, superseded_client)
    return created


def references(listed: list[tuple[ConsentForm, dt.timedelta]]) -> list[str]:
    return [form.reference for form, _age in listed]


def test_an_advisors_pending_forms_are_listed_oldest_first(
    forms: dict[str, ConsentForm], advisor: Any
) -> None:
    listed = pending_forms(advisor=advisor, now=NOW)

    assert references(listed) == [
        forms[name].reference for name in ("alice_1", "alice_2", "alice_3")
    ]


def test_each_form_comes_with_its_age(forms: dict[str, ConsentForm], advisor: Any) -> None:
    listed = pending_forms(advisor=advisor, now=NOW)

    assert [age for _form, age in listed] == [
        dt.timedelta(days=3, hours=2),
        dt.timedelta(days=2, hours=2),
        dt.timedelta(days=1, hours=1),
    ]


def test_the_age_is_counted_from_now_by_default(
    clock: Any, forms: dict[str, ConsentForm], advisor: Any
) -> None:
    clock.move_to(NOW)

    assert pending_forms(advisor=advisor) == pending_forms(advisor=advisor, now=NOW)


def test_a_branchs_pending_forms_are_listed_oldest_first(
    forms: dict[str, ConsentForm], branch: Branch, other_branch: Branch
) -> None:
    assert references(pending_forms(branch_id=branch.pk, now=NOW)) == [
        forms[name].reference for name in ("alice_1", "alice_2", "alice_3")
    ]
    assert references(pending_forms(branch_id=other_branch.pk, now=NOW)) == [
        forms["bob_1"].reference
    ]


def test_without_a_filter_every_pending_form_is_listed_oldest_first(
    forms: dict[str, ConsentForm],
) -> None:
    assert references(pending_forms(now=NOW)) == [
        forms[name].reference for name in ("alice_1", "bob_1", "alice_2", "alice_3")
    ]


def test_advisor_and_branch_filters_combine(
    forms: dict[str, ConsentForm], advisor: Any, other_branch: Branch
) -> None:
    assert pending_forms(advisor=advisor, branch_id=other_branch.pk, now=NOW) == []


def test_forms_no_longer_pending_are_not_listed(forms: dict[str, ConsentForm]) -> None:
    listed = {form.pk for form, _age in pending_forms(now=NOW)}

    assert listed == {form.pk for form in forms.values()}
    assert ConsentForm.objects.exclude(pk__in=listed).count() == 2  # cancelled, superseded


def test_a_signed_form_leaves_the_list(
    forms: dict[str, ConsentForm], advisor: Any, sign_tablet: Callable[..., ConsentForm]
) -> None:
    sign_tablet(forms["alice_1"])

    assert references(pending_forms(advisor=advisor, now=NOW)) == [
        forms["alice_2"].reference,
        forms["alice_3"].reference,
    ]


def test_visible_to_keeps_only_the_clients_the_user_may_see(
    customer: Client,
    collect: Collect,
    advisor: Any,
    advisor_other_branch: Any,
    compliance: Any,
) -> None:
    """R55: an advisor's list shows the forms of their branch's clients; compliance sees all."""
    form = collect(customer, email="yes").form
    assert form is not None

    assert references(pending_forms(visible_to=advisor)) == [form.reference]
    assert pending_forms(visible_to=advisor_other_branch) == []
    assert references(pending_forms(visible_to=compliance)) == [form.reference]


@pytest.mark.parametrize("count", [1, 6])
def test_a_fixed_number_of_queries_whatever_the_number_of_forms(
    client_factory: Callable[..., Client],
    collect: Collect,
    advisor: Any,
    branch: Branch,
    django_assert_num_queries: Any,
    count: int,
) -> None:
    for _ in range(count):
        collect(client_factory(), email="yes")

    with django_assert_num_queries(1):
        listed = pending_forms(advisor=advisor, branch_id=branch.pk, visible_to=advisor)
        shown = [
            (form.reference, form.client.client_number, form.advisor.username, form.branch.code)
            for form, _age in listed
        ]

    assert len(shown) == count
