"""Customer search (issue 4): "by client number, name, e-mail or mobile, fast on a million
customers (indexed, paginated)", within R55's scope: an advisor finds only the customers of
their branch, compliance finds them all, and another branch's customer is a 404 like an unknown
one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from clients import services
from clients.models import Branch, Client, search_key
from clients.selectors import (
    PAGE_SIZE,
    _name_key,
    _query_for,
    get_client_for_user,
    search_clients,
)
from tests.factories import SYSTEM

MakeClient = Callable[..., Client]
RSQUO = "\u2019"  # the typographic apostrophe, as word processors and phones type it


def found(user: Any, text: str, page: int = 1) -> list[str]:
    return [client.client_number for client in search_clients(user, text, page).clients]


def fresh(user: Any) -> User:
    """The user as a request would load it: no profile cached yet."""
    return User.objects.get(pk=user.pk)


@pytest.fixture
def helene(client_factory: MakeClient) -> Client:
    return client_factory(
        client_number="C-1001",
        first_name="Hélène",
        last_name="d'Arc-Dupont",
        email="Helene.Darc@Exemple.fr",
        mobile="06 12 34 56 78",
    )


@pytest.fixture
def bystanders(client_factory: MakeClient) -> list[Client]:
    """Customers of the same branch that none of the queries below should find."""
    return [
        client_factory(client_number="C-BY-1", first_name="Paul", last_name="Martin"),
        client_factory(client_number="C-BY-2", first_name="Arc", last_name="Lenoir"),
        client_factory(client_number="C-BY-3", first_name="Hélène", last_name="Bernard"),
    ]


# --- by client number, e-mail and mobile ---------------------------------------------------


def test_the_exact_client_number_finds_the_customer(helene, bystanders, advisor):
    assert found(advisor, "C-1001") == ["C-1001"]
    assert found(advisor, "  C-1001 ") == ["C-1001"]


def test_a_client_number_is_matched_exactly_not_by_prefix(helene, advisor):
    assert found(advisor, "C-100") == []


@pytest.mark.parametrize(
    "typed", ["Helene.Darc@Exemple.fr", "helene.darc@exemple.fr", "HELENE.DARC@EXEMPLE.FR"]
)
def test_the_e_mail_finds_the_customer_whatever_its_case(helene, bystanders, advisor, typed):
    page = search_clients(advisor, typed)
    assert [c.client_number for c in page.clients] == ["C-1001"]
    assert page.looked_for == "email"


def test_an_e_mail_is_matched_whole_not_by_prefix(helene, advisor):
    assert found(advisor, "helene.darc@exemple") == []


@pytest.mark.parametrize(
    "typed",
    [
        "06 12 34 56 78",
        "0612345678",
        "06.12.34.56.78",
        "+33612345678",
        "+33 6 12 34 56 78",
        "0033 6 12 34 56 78",
        "0033612345678",
    ],
)
def test_the_mobile_in_any_writing_finds_the_e164_stored_one(helene, bystanders, advisor, typed):
    assert Client.objects.get(client_number="C-1001").mobile == "+33612345678"
    page = search_clients(advisor, typed)
    assert [c.client_number for c in page.clients] == ["C-1001"]
    assert page.looked_for == "mobile"


def test_a_part_of_a_mobile_finds_nobody(helene, advisor):
    assert found(advisor, "06 12 34") == []


# --- by name ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "d'Arc-Dupont",
        "d'arc",
        "D ARC DUPONT",
        "d arc dupont hel",
        "d'Arc-Dupont Hélène",
        "d arc dupont helene",
    ],
)
def test_the_name_by_its_beginning_without_accents_or_case(helene, bystanders, advisor, typed):
    assert found(advisor, typed) == ["C-1001"]


@pytest.mark.parametrize(
    "typed", ["Hélène d'Arc-Dupont", "helene d arc dupont", "HELENE D'ARC-DUPONT"]
)
def test_first_name_then_last_name_finds_the_customer(helene, bystanders, advisor, typed):
    assert found(advisor, typed) == ["C-1001"]


def test_after_the_first_name_the_whole_last_name_is_needed(helene, advisor):
    """search_clients' docstring: "last first" by its beginning, "first last" with the whole
    last name (each rotation is one index range)."""
    assert found(advisor, "Hélène d'Arc") == []
    assert found(advisor, "d'Arc-Dupont Hél") == ["C-1001"]


def test_an_unaccented_lower_case_prefix_finds_an_accented_name(client_factory, advisor):
    client_factory(client_number="C-1", first_name="Paul", last_name="Hélène")
    client_factory(client_number="C-2", first_name="Zoé", last_name="Éléonore")
    client_factory(client_number="C-3", first_name="Ana", last_name="Müller")
    assert found(advisor, "helene") == ["C-1"]
    assert found(advisor, "HEL") == ["C-1"]
    assert found(advisor, "eleonore zoe") == ["C-2"]
    assert found(advisor, "zoe eleonore") == ["C-2"]
    assert found(advisor, "muller") == ["C-3"]


@pytest.mark.parametrize(
    "typed",
    [f"Hélène d{RSQUO}Arc-Dupont", f"d{RSQUO}arc", "d`arc", "d.arc-dupont", "d - arc dupont"],
)
def test_other_apostrophes_and_punctuation_read_as_a_space(helene, advisor, typed):
    assert found(advisor, typed) == ["C-1001"]


@pytest.mark.parametrize(
    "typed",
    [
        "Dupont Jean-Pierre",
        "dupont jean pierre",
        "Dupont-Jean",  # the hyphen is read as a space
    ],
)
def test_a_hyphenated_first_name_after_the_last_name(client_factory, advisor, typed):
    client_factory(client_number="C-JP", first_name="Jean-Pierre", last_name="Dupont")
    client_factory(client_number="C-JS", first_name="Jeanne", last_name="Durand")
    assert found(advisor, typed) == ["C-JP"]


@pytest.mark.parametrize("typed", ["Jean-Pierre Dupont", "jean pierre dupont"])
def test_a_hyphenated_first_name_before_the_last_name(client_factory, advisor, typed):
    client_factory(client_number="C-JP", first_name="Jean-Pierre", last_name="Dupont")
    client_factory(client_number="C-PD", first_name="Jean", last_name="Pierre-Durand")
    assert found(advisor, typed) == ["C-JP"]


def test_two_first_names_before_a_last_name_of_two_words(client_factory, advisor):
    client_factory(client_number="C-MC", first_name="Marie-Claire", last_name="Le Gall")
    assert found(advisor, "Marie-Claire Le Gall") == ["C-MC"]
    assert found(advisor, "le gall marie claire") == ["C-MC"]


def test_a_last_name_of_two_words_after_the_first_name(client_factory, advisor):
    client_factory(client_number="C-LG", first_name="Anne", last_name="Le Gall")
    client_factory(client_number="C-GA", first_name="Anne", last_name="Gall")
    assert found(advisor, "Anne Le Gall") == ["C-LG"]
    assert found(advisor, "le gall anne") == ["C-LG"]
    assert found(advisor, "Le-Gall") == ["C-LG"]


def test_a_name_made_only_of_punctuation_finds_nobody(helene, advisor):
    assert found(advisor, "'") == []
    assert found(advisor, f"-- {RSQUO} --") == []


def test_like_wildcards_typed_match_nothing_more(helene, client_factory, advisor):
    """An underscore is a word character kept in the key and matched as itself (unescaped,
    LIKE would let it stand for the space of "d arc"); "%" is punctuation, read as a space."""
    client_factory(client_number="C-US", first_name="Léa", last_name="d_arc")
    assert found(advisor, "d_arc") == ["C-US"]
    assert found(advisor, "%arc") == []


# --- scope (R55) -----------------------------------------------------------------------------


@pytest.fixture
def theirs(client_factory: MakeClient, other_branch: Branch) -> Client:
    return client_factory(
        client_number="C-2001",
        first_name="Élodie",
        last_name="Faure",
        email="elodie.faure@exemple.fr",
        mobile="07 81 23 45 67",
        branch=other_branch,
    )


QUERIES_FOR_THEIRS = [
    "C-2001",
    "elodie.faure@exemple.fr",
    "ELODIE.FAURE@EXEMPLE.FR",
    "07 81 23 45 67",
    "+33781234567",
    "faure",
    "Faure Élodie",
    "Élodie Faure",
]


@pytest.mark.parametrize("typed", QUERIES_FOR_THEIRS)
def test_an_advisor_never_finds_another_branch_s_customer(theirs, helene, advisor, typed):
    assert found(advisor, typed) == []


@pytest.mark.parametrize("typed", QUERIES_FOR_THEIRS)
def test_compliance_and_the_branch_s_advisor_find_the_customer(
    theirs, helene, compliance, advisor_other_branch, typed
):
    assert found(compliance, typed) == ["C-2001"]
    assert found(advisor_other_branch, typed) == ["C-2001"]


def test_a_name_shared_by_two_branches_gives_each_advisor_their_own(
    client_factory, other_branch, advisor, advisor_other_branch, compliance
):
    client_factory(client_number="C-PARIS", first_name="Luc", last_name="Petit")
    client_factory(client_number="C-2001", first_name="Luc", last_name="Petit", branch=other_branch)
    assert found(advisor, "petit luc") == ["C-PARIS"]
    assert found(advisor_other_branch, "petit luc") == ["C-2001"]
    assert found(compliance, "petit luc") == ["C-2001", "C-PARIS"]


def test_an_anonymous_or_inactive_user_finds_nobody(helene, advisor):
    from django.contrib.auth.models import AnonymousUser

    assert found(AnonymousUser(), "C-1001") == []
    advisor.is_active = False
    advisor.save()
    assert found(fresh(advisor), "C-1001") == []


def test_get_client_for_user_returns_a_customer_of_the_branch(helene, advisor, compliance):
    assert get_client_for_user(advisor, "C-1001") == helene
    assert get_client_for_user(compliance, "C-1001") == helene


def test_get_client_for_user_is_a_404_for_another_branch_s_customer(theirs, advisor, compliance):
    with pytest.raises(Http404):
        get_client_for_user(advisor, "C-2001")
    assert get_client_for_user(compliance, "C-2001") == theirs


def test_get_client_for_user_is_the_same_404_for_an_unknown_number(theirs, advisor):
    with pytest.raises(Http404) as unknown:
        get_client_for_user(advisor, "C-NOBODY")
    with pytest.raises(Http404) as elsewhere:
        get_client_for_user(advisor, "C-2001")
    assert str(unknown.value) == str(elsewhere.value)


# --- pagination and cost ---------------------------------------------------------------------


@pytest.fixture
def sixty_martins(client_factory: MakeClient) -> list[str]:
    """60 customers whose name begins with "martin" (twenty of them the very same name, so
    that the order rests on the client number too), among others that do not match."""
    numbers = []
    for i in range(60):
        first_name = "Jeanne" if i % 3 == 0 else f"Prénom{i:02d}"
        number = f"M{(i * 37) % 100:03d}"  # not created in client number order
        client_factory(client_number=number, first_name=first_name, last_name="Martin")
        numbers.append(number)
    client_factory(client_number="X-1", first_name="Martin", last_name="Bernard")
    client_factory(client_number="X-2", first_name="Jeanne", last_name="Marti")
    return numbers


def test_sixty_matches_come_in_pages_of_25_25_and_10(sixty_martins, advisor):
    pages = [search_clients(advisor, "martin", page) for page in (1, 2, 3, 4)]
    assert PAGE_SIZE == 25
    assert [len(p.clients) for p in pages] == [25, 25, 10, 0]
    assert [p.has_next for p in pages] == [True, True, False, False]
    assert [p.has_previous for p in pages] == [False, True, True, True]
    assert [p.page for p in pages] == [1, 2, 3, 4]


def test_the_pages_hold_every_match_once_in_name_then_number_order(sixty_martins, advisor):
    listed = [c for page in (1, 2, 3) for c in search_clients(advisor, "martin", page).clients]
    numbers = [c.client_number for c in listed]
    assert len(numbers) == len(set(numbers)) == 60
    assert set(numbers) == set(sixty_martins)
    assert [(c.search_name, c.client_number) for c in listed] == sorted(
        (c.search_name, c.client_number) for c in listed
    )


def test_the_order_is_the_same_on_every_call(sixty_martins, advisor):
    first = [found(advisor, "martin", page) for page in (1, 2, 3)]
    again = [found(advisor, "martin", page) for page in (3, 2, 1)][::-1]
    assert first == again


def test_a_page_below_one_is_the_first(sixty_martins, advisor):
    assert search_clients(advisor, "martin", 0).page == 1
    assert found(advisor, "martin", -3) == found(advisor, "martin", 1)


def test_exactly_a_page_of_matches_has_no_next_page(client_factory, advisor):
    for i in range(PAGE_SIZE):
        client_factory(client_number=f"R{i:03d}", first_name="Yves", last_name="Roux")
    page = search_clients(advisor, "roux")
    assert len(page.clients) == PAGE_SIZE
    assert not page.has_next


@pytest.mark.parametrize("typed", ["", "   ", "\t\n"])
def test_an_empty_query_returns_nothing(sixty_martins, advisor, compliance, typed):
    for user in (advisor, compliance):
        page = search_clients(user, typed)
        assert page.clients == []
        assert not page.has_next


@pytest.mark.parametrize("typed", ["martin", "martin jeanne", "C-QUERY-1", "q@exemple.fr"])
@pytest.mark.parametrize("matches", [1, 40])
def test_a_search_costs_a_fixed_number_of_queries_whatever_the_matches(
    client_factory, advisor, django_assert_max_num_queries, typed, matches
):
    """One query for the staff profile (R55's scope), then one per way of reading the text
    (a name and its rotations, a client number), each with its branches: never per match."""
    for i in range(matches):
        client_factory(
            client_number=f"C-QUERY-{i + 1}",
            first_name="Jeanne",
            last_name="Martin",
            email="q@exemple.fr",
        )
    user = fresh(advisor)
    conditions, _looked_for = _query_for(typed)
    with django_assert_max_num_queries(1 + len(conditions)):
        page = search_clients(user, typed)
        branches = {client.branch.code for client in page.clients}
    assert branches == {"B001"}


# --- search_name kept by the model -----------------------------------------------------------


def test_search_name_is_written_on_create(helene):
    assert Client.objects.get(pk=helene.pk).search_name == "d arc dupont helene"


def test_search_name_follows_a_change_of_names_through_the_service(helene, advisor):
    services.update_client_identity(
        actor=SYSTEM, client_number="C-1001", last_name="Lefèvre", first_name="Élise"
    )
    assert Client.objects.get(pk=helene.pk).search_name == "lefevre elise"
    assert found(advisor, "lefevre") == ["C-1001"]
    assert found(advisor, "elise lefevre") == ["C-1001"]
    assert found(advisor, "d arc") == []


def test_search_name_follows_a_change_of_the_first_name_alone(helene, advisor):
    services.update_client_identity(actor=SYSTEM, client_number="C-1001", first_name="Inès")
    assert Client.objects.get(pk=helene.pk).search_name == "d arc dupont ines"
    assert found(advisor, "ines d'arc-dupont") == ["C-1001"]


def test_search_name_is_kept_by_a_change_that_leaves_the_names(helene, advisor):
    services.update_client_identity(actor=SYSTEM, client_number="C-1001", civility="MME")
    assert Client.objects.get(pk=helene.pk).search_name == "d arc dupont helene"


def test_search_key_is_what_the_name_search_compares():
    assert search_key("Hélène d'Arc-Dupont") == "helene d arc dupont"
    assert search_key("  ÉLOÏSE   Lefèvre-Noël ") == "eloise lefevre noel"


# --- indexes on PostgreSQL -------------------------------------------------------------------

LAST_NAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand", "Leroy"]


def search_querysets(user: Any, text: str) -> list[QuerySet[Client]]:
    """The statements `search_clients` runs for the first page, one per condition (checked
    against it below)."""
    conditions, _looked_for = _query_for(text)
    base = (
        Client.objects.visible_to(user)
        .alias(email_lower=Lower("email"), name_key=_name_key())
        .select_related("branch")
        .order_by("name_key", "client_number")
    )
    return [base.filter(condition)[: PAGE_SIZE + 1] for condition in conditions]


def plan_of(user: Any, text: str) -> str:
    """EXPLAIN of the first page's statements, after checking that they are the selector's."""
    statements = [qs.query.sql_with_params() for qs in search_querysets(user, text)]
    with CaptureQueriesContext(connection) as captured:
        search_clients(user, text)
    ran = [query["sql"] for query in captured.captured_queries[-len(statements) :]]
    assert ran == [connection.ops.compose_sql(sql, params) for sql, params in statements]
    plans = []
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(f"EXPLAIN {sql}", params)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return "\n".join(plans)


def conditions_on_the_clients(plan: str) -> list[str]:
    """The index conditions of the scans of clients_client (not of the branches' join)."""
    return [
        line.strip()
        for line in plan.splitlines()
        if "Index Cond:" in line and "clients_client.branch_id" not in line
    ]


@pytest.fixture
def five_thousand(branch: Branch, other_branch: Branch) -> None:
    """5,000 customers in two branches (bulk_create skips save(): search_name set here)."""
    rows = []
    for n in range(5_000):
        first, last = f"Prénom{n % 97}", f"{LAST_NAMES[n % len(LAST_NAMES)]}{n}"
        rows.append(
            Client(
                client_number=f"P{n:06d}",
                kind="individual",
                first_name=first,
                last_name=last,
                search_name=search_key(f"{last} {first}"),
                birth_date=dt.date(1950 + n % 50, 1 + n % 12, 1 + n % 28),
                email=f"client.{n}@Exemple.fr",
                mobile=f"+336{n:08d}",
                branch=branch if n % 2 else other_branch,
            )
        )
    Client.objects.bulk_create(rows, batch_size=1_000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE clients_client")


@pytest.mark.postgres
@pytest.mark.parametrize("persona", ["advisor", "compliance"])
@pytest.mark.parametrize(
    ("typed", "column"),
    [
        ("P001234", "client_number"),
        ("Client.1234@EXEMPLE.fr", "lower((email)::text)"),
        ("06 00 00 12 34", "mobile"),
        ("martin12", "search_name"),
        ("martin1232 prenom", "search_name"),
        ("prenom68 martin1232", "search_name"),
    ],
)
def test_each_kind_of_search_reads_an_index_on_postgresql(
    five_thousand, persona, typed, column, request
):
    plan = plan_of(request.getfixturevalue(persona), typed)
    assert "Seq Scan on clients_client" not in plan, plan
    assert any(column in condition for condition in conditions_on_the_clients(plan)), plan


@pytest.mark.postgres
@pytest.mark.parametrize("persona", ["advisor", "compliance"])
def test_a_common_name_prefix_is_read_as_an_index_range_on_postgresql(
    five_thousand, persona, request
):
    """ "dubois" begins an eighth of the names: the page must still come from the range of names
    beginning with it, not from a walk through every name in order."""
    plan = plan_of(request.getfixturevalue(persona), "dubois")
    assert any("search_name" in condition for condition in conditions_on_the_clients(plan)), plan
