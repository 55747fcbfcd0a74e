"""GET /api/v1/optin-list (scope optin-list:read): R49 — only eligible rows, each with the client
number, the contact point, the reason (`b2b_no_objection` marked "offres professionnelles
uniquement"), the wording version, a per-row unsubscribe URL (R39, R40) and the STOP
instruction on SMS rows; CSV and NDJSON; filters; each export logged (R49, R51). With R47: the
list holds exactly what POST /eligibility answers eligible for the same clients; R42: a
withdrawal leaves the list at once; R71: bad parameters are a 400 that writes nothing.

The answer streams: it is read with b"".join(response.streaming_content).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.signals import request_finished
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from clients.models import Branch, Client, ClientKind, today_in_paris
from clients.services import change_contact_details
from optin.models import AuditEntry, ConsentState
from tests.api.conftest import error
from tests.factories import SYSTEM, BranchFactory, advisor_actor

pytestmark = pytest.mark.django_db

URL = "/api/v1/optin-list"
COLUMNS = [
    "client_number",
    "channel",
    "contact_point",
    "reason",
    "note",
    "wording_version",
    "unsubscribe_url",
    "stop_instruction",
]
B2B_NOTE = "offres professionnelles uniquement"
Rows = list[dict[str, str]]


def fetch(api: APIClient, **params: str) -> Any:
    response = api.get(URL, params)
    assert response.status_code == 200, getattr(response, "content", b"")
    assert response.streaming
    return response


def body_of(response: Any) -> str:
    return b"".join(response.streaming_content).decode("utf-8")


def csv_rows(api: APIClient, **params: str) -> Rows:
    response = fetch(api, **params)
    assert response["Content-Type"].startswith("text/csv")
    text = body_of(response)
    lines = text.splitlines()
    assert lines[0] == ",".join(COLUMNS)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert reader.fieldnames == COLUMNS
    return list(reader)


def ndjson_rows(api: APIClient, **params: str) -> Rows:
    response = fetch(api, format="ndjson", **params)
    assert response["Content-Type"].startswith("application/x-ndjson")
    text = body_of(response)
    assert text == "" or text.endswith("\n")
    rows = [json.loads(line) for line in text.splitlines()]
    for row in rows:
        assert list(row) == COLUMNS
    return rows


def numbers(rows: Rows) -> list[str]:
    return [row["client_number"] for row in rows]


def years_ago(years: int) -> dt.date:
    today = today_in_paris()
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return dt.date(today.year - years, 3, 1)


def states_of(client: Client) -> dict[str, str]:
    return dict(ConsentState.objects.filter(client=client).values_list("channel", "status"))


@pytest.fixture
def population(
    client_factory: Callable[..., Client],
    professional_factory: Callable[..., Client],
    grant: Callable[..., Any],
    decide: Callable[..., Any],
    advisor: Any,
    other_branch: Branch,
    settings: Any,
) -> dict[str, Client]:
    """One client per situation; only `granted`, `pro_none`, `pro_granted` and
    `granted_other_branch` may receive anything."""
    made: dict[str, Client] = {}

    made["granted"] = client_factory()
    grant(made["granted"], "email")
    grant(made["granted"], "sms_push")

    made["refused"] = client_factory()
    decide(made["refused"], "email", "refuse")
    decide(made["refused"], "sms_push", "refuse")

    made["withdrawn"] = client_factory()
    for channel in ("email", "sms_push"):
        grant(made["withdrawn"], channel)
        decide(made["withdrawn"], channel, "withdraw")

    made["none"] = client_factory()

    made["minor"] = client_factory()
    grant(made["minor"], "email")
    grant(made["minor"], "sms_push")
    Client.objects.filter(pk=made["minor"].pk).update(birth_date=years_ago(17))

    made["protected"] = client_factory()
    grant(made["protected"], "email")
    grant(made["protected"], "sms_push")
    Client.objects.filter(pk=made["protected"].pk).update(
        legal_capacity="protected", protection_measure="tutelle"
    )

    made["no_contact"] = client_factory()
    grant(made["no_contact"], "email")
    grant(made["no_contact"], "sms_push")
    change_contact_details(
        actor=SYSTEM, client_number=made["no_contact"].client_number, email="", mobile=""
    )

    made["pending_signature"] = client_factory()
    for channel in ("email", "sms_push"):  # a branch "Oui" awaiting its signature
        decide(
            made["pending_signature"],
            channel,
            "grant",
            journey="branch_account_opening",
            actor=advisor_actor(advisor),
        )

    made["pending_confirmation"] = client_factory()
    settings.OPTIN_EMAIL_DOUBLE_OPTIN = True
    grant(made["pending_confirmation"], "email")
    settings.OPTIN_EMAIL_DOUBLE_OPTIN = False

    made["pro_none"] = professional_factory()

    made["pro_withdrew"] = professional_factory()
    decide(made["pro_withdrew"], "email", "withdraw")

    made["pro_refused"] = professional_factory()
    decide(made["pro_refused"], "email", "refuse")

    made["pro_granted"] = professional_factory()
    grant(made["pro_granted"], "sms_push")

    made["pro_no_email"] = professional_factory(email="")

    made["erased"] = client_factory()
    grant(made["erased"], "email")
    grant(made["erased"], "sms_push")
    Client.objects.filter(pk=made["erased"].pk).update(erased_at=timezone.now())

    made["erased_pro"] = professional_factory()
    Client.objects.filter(pk=made["erased_pro"].pk).update(erased_at=timezone.now())

    made["granted_other_branch"] = client_factory(branch=other_branch)
    grant(made["granted_other_branch"], "email")
    return made


@pytest.fixture
def listed(customer: Client, grant: Callable[..., Any]) -> Client:
    """One client on both lists: enough when the rows themselves are not the point."""
    grant(customer, "email")
    grant(customer, "sms_push")
    return customer


EXPECTED = {
    "email": {
        "granted": ("granted", "", "email-v1"),
        "pro_none": ("b2b_no_objection", B2B_NOTE, ""),
        "pro_granted": ("b2b_no_objection", B2B_NOTE, ""),
        "granted_other_branch": ("granted", "", "email-v1"),
    },
    "sms_push": {
        "granted": ("granted", "", "sms_push-v1"),
        "pro_granted": ("granted", "", "sms_push-v1"),
    },
}


# --- R49: what the rows hold --------------------------------------------------------------


@pytest.mark.parametrize("channel", ["email", "sms_push"])
def test_r49_only_eligible_rows_appear_with_their_columns(
    api: APIClient, population: dict[str, Client], channel: str
) -> None:
    rows = csv_rows(api, channel=channel)
    assert ndjson_rows(api, channel=channel) == rows
    by_name = {c.client_number: name for name, c in population.items()}
    assert sorted(by_name[n] for n in numbers(rows)) == sorted(EXPECTED[channel])
    assert len(set(numbers(rows))) == len(rows)
    for row in rows:
        client = population[by_name[row["client_number"]]]
        reason, note, version = EXPECTED[channel][by_name[row["client_number"]]]
        assert row["channel"] == channel
        assert row["reason"] == reason
        assert row["note"] == note
        assert row["wording_version"] == version
        point = client.email if channel == "email" else client.mobile
        assert point
        assert row["contact_point"] == point
        assert row["unsubscribe_url"].startswith(django_settings.OPTIN_PUBLIC_URL + "/u/")
        token = row["unsubscribe_url"].rsplit("/", 1)[1]
        assert len(token) == 32
        if channel == "sms_push":
            assert row["stop_instruction"] == django_settings.OPTIN_SMS_STOP_INSTRUCTION
            assert "STOP" in row["stop_instruction"]
        else:
            assert row["stop_instruction"] == ""


def test_r49_each_row_has_its_own_unsubscribe_url_per_client_and_channel(
    api: APIClient, population: dict[str, Client]
) -> None:
    email = {r["client_number"]: r["unsubscribe_url"] for r in csv_rows(api, channel="email")}
    sms = {r["client_number"]: r["unsubscribe_url"] for r in csv_rows(api, channel="sms_push")}
    assert len(set(email.values())) == len(email)
    number = population["granted"].client_number
    assert email[number] != sms[number]
    # Stable: the same URL on the next export (old messages keep working, R40).
    again = {r["client_number"]: r["unsubscribe_url"] for r in csv_rows(api, channel="email")}
    assert again == email


def test_r49_rows_come_in_a_stable_order(api: APIClient, population: dict[str, Client]) -> None:
    first = numbers(csv_rows(api, channel="email"))
    assert numbers(csv_rows(api, channel="email")) == first
    pks = [Client.objects.get(client_number=n).pk for n in first]
    assert pks == sorted(pks)


def test_r49_an_empty_list_is_a_header_line_only(api: APIClient) -> None:
    response = fetch(api, channel="email")
    assert body_of(response) == ",".join(COLUMNS) + "\r\n"
    assert ndjson_rows(api, channel="email") == []


def test_r49_a_csv_value_with_commas_quotes_and_accents_survives(
    api: APIClient, client_factory: Callable[..., Client], grant: Callable[..., Any]
) -> None:
    client = client_factory(email="élodie+promo@exemple.fr")
    grant(client, "email")
    (row,) = csv_rows(api, channel="email")
    assert row["contact_point"] == "élodie+promo@exemple.fr"
    (line,) = ndjson_rows(api, channel="email")
    assert line["contact_point"] == "élodie+promo@exemple.fr"


def test_r49_csv_and_ndjson_quote_what_must_be_quoted(
    api: APIClient, customer: Client, grant: Callable[..., Any], settings: Any
) -> None:
    """Fields that may hold commas, quotes or line breaks (a wording version, the STOP
    instruction, the public address) come back intact from both formats."""
    from optin.audit import Actor
    from optin.services import WORDING_CHECKLIST, publish_wording

    version = 'sms,"v2"'
    publish_wording(
        actor=Actor.system("tests"),
        channel="sms_push",
        version=version,
        text="J'accepte, par SMS.",
        checklist=dict.fromkeys(WORDING_CHECKLIST, True),
        published_at=timezone.now() - dt.timedelta(minutes=5),
    )
    grant(customer, "sms_push", wording_version=version)
    settings.OPTIN_SMS_STOP_INSTRUCTION = 'STOP, "gratuit"\r\nau 36180'
    settings.OPTIN_PUBLIC_URL = 'https://banque.example/a,"b"'
    for rows in (csv_rows(api, channel="sms_push"), ndjson_rows(api, channel="sms_push")):
        (row,) = rows
        assert row["wording_version"] == version
        assert row["stop_instruction"] == 'STOP, "gratuit"\r\nau 36180'
        assert row["unsubscribe_url"].startswith('https://banque.example/a,"b"/u/')
        assert row["contact_point"] == customer.mobile


def test_r49_the_answer_is_an_attachment_never_cached(api: APIClient, listed: Client) -> None:
    response = fetch(api, channel="sms_push", format="ndjson")
    assert response["Cache-Control"] == "no-store"
    assert 'filename="optin-sms_push.ndjson"' in response["Content-Disposition"]
    body_of(response)
    response = fetch(api, channel="email")
    assert 'filename="optin-email.csv"' in response["Content-Disposition"]
    body_of(response)


# --- filters ------------------------------------------------------------------------------


def test_filter_by_branch_code(
    api: APIClient, population: dict[str, Client], branch: Branch, other_branch: Branch
) -> None:
    here = numbers(csv_rows(api, channel="email", branch=branch.code))
    there = numbers(csv_rows(api, channel="email", branch=other_branch.code))
    assert there == [population["granted_other_branch"].client_number]
    assert sorted(here) == sorted(
        population[name].client_number for name in ("granted", "pro_none", "pro_granted")
    )


def test_a_branch_without_clients_gives_an_empty_list(
    api: APIClient, population: dict[str, Client]
) -> None:
    empty = BranchFactory(code="B999", name="Agence vide")
    assert csv_rows(api, channel="email", branch=empty.code) == []


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("individual", {"granted", "granted_other_branch"}),
        ("professional", {"pro_none", "pro_granted"}),
    ],
)
def test_filter_by_kind(
    api: APIClient, population: dict[str, Client], kind: str, expected: set[str]
) -> None:
    rows = ndjson_rows(api, channel="email", kind=kind)
    assert sorted(numbers(rows)) == sorted(population[n].client_number for n in expected)


def test_filters_combine(api: APIClient, population: dict[str, Client], branch: Branch) -> None:
    rows = csv_rows(api, channel="sms_push", branch=branch.code, kind="professional")
    assert numbers(rows) == [population["pro_granted"].client_number]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "channel"),
        ({"channel": "email", "branch": "NOPE"}, "branch"),
        ({"channel": "email", "kind": "company"}, "kind"),
        ({"channel": "email", "format": "xlsx"}, "format"),
        ({"channel": "email", "since": "2026-01-01"}, "since"),
    ],
    ids=[
        "no-channel",
        "unknown-branch",
        "unknown-kind",
        "unknown-format",
        "unknown-parameter",
    ],
)
def test_r71_bad_parameters_are_a_400_and_nothing_is_logged(
    api: APIClient, listed: Client, params: dict[str, str], field: str
) -> None:
    before = AuditEntry.objects.count()
    response = api.get(URL, params)
    assert response.status_code == 400
    body = error(response)
    assert body["code"] == "invalid"
    assert field in body["fields"]
    assert AuditEntry.objects.count() == before


@pytest.mark.parametrize("channel", ["phone", "EMAIL", "sms", ""])
def test_r1_r71_an_unknown_channel_is_refused_as_wrong_channel(
    api: APIClient, listed: Client, channel: str
) -> None:
    before = AuditEntry.objects.count()
    response = api.get(URL, {"channel": channel})
    body = error(response)
    if channel:
        assert (response.status_code, body["code"]) == (422, "wrong_channel")
    else:  # empty: missing, or not a channel
        assert (response.status_code, body["code"]) in ((400, "invalid"), (422, "wrong_channel"))
    assert AuditEntry.objects.count() == before


# --- R40 through the list: the row's link withdraws that client's channel ------------------


@pytest.mark.parametrize("channel", ["email", "sms_push"])
def test_r40_the_unsubscribe_url_of_a_row_withdraws_exactly_that_clients_channel(
    api: APIClient, population: dict[str, Client], channel: str
) -> None:
    target = population["granted"]
    rows = {r["client_number"]: r for r in csv_rows(api, channel=channel)}
    url = rows[target.client_number]["unsubscribe_url"]
    path = url.removeprefix(django_settings.OPTIN_PUBLIC_URL)
    before = {name: states_of(c) for name, c in population.items()}
    response = HttpClient(enforce_csrf_checks=True).post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    after = {name: states_of(c) for name, c in population.items()}
    other = "sms_push" if channel == "email" else "email"
    assert after["granted"] == {channel: "withdrawn", other: "granted"}
    del before["granted"], after["granted"]
    assert after == before
    # R42: the next export no longer has the row; the other channel still has it.
    assert target.client_number not in numbers(csv_rows(api, channel=channel))
    assert target.client_number in numbers(csv_rows(api, channel=other))


def test_r42_a_withdrawal_leaves_the_list_at_once(
    api: APIClient, population: dict[str, Client], decide: Callable[..., Any]
) -> None:
    assert population["pro_none"].client_number in numbers(csv_rows(api, channel="email"))
    decide(population["pro_none"], "email", "withdraw")
    decide(population["granted"], "email", "withdraw")
    left = numbers(csv_rows(api, channel="email"))
    assert population["pro_none"].client_number not in left
    assert population["granted"].client_number not in left


# --- R47/R49: the list is what eligibility answers ----------------------------------------


@pytest.mark.parametrize("channel", ["email", "sms_push"])
def test_r49_the_list_equals_what_eligibility_answers_eligible(
    api: APIClient, population: dict[str, Client], channel: str
) -> None:
    asked = [c.client_number for c in population.values()]
    response = api.post(
        "/api/v1/eligibility", {"channel": channel, "client_numbers": asked}, format="json"
    )
    assert response.status_code == 200
    eligible = {
        r["client_number"]: r["reason"] for r in response.json()["results"] if r["eligible"]
    }
    listed = {r["client_number"]: r["reason"] for r in csv_rows(api, channel=channel)}
    assert listed == eligible


def test_r49_the_list_and_eligibility_agree_for_a_professional_whose_address_was_suppressed(
    api: APIClient,
    professional_factory: Callable[..., Client],
    grant: Callable[..., Any],
    decide: Callable[..., Any],
) -> None:
    granted = professional_factory(email="contact@entreprise-exemple.fr")
    grant(granted, "email")
    objector = professional_factory(email="contact@entreprise-exemple.fr")
    decide(objector, "email", "withdraw")
    response = api.post(
        "/api/v1/eligibility",
        {"channel": "email", "client_numbers": [granted.client_number]},
        format="json",
    )
    (answer,) = response.json()["results"]
    listed = numbers(csv_rows(api, channel="email"))
    assert (granted.client_number in listed) == answer["eligible"]


# --- R49: each export is logged -----------------------------------------------------------


def export_entries() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action__startswith="optin_list.").order_by("seq"))


def data_of(entry: AuditEntry) -> dict[str, Any]:
    payload = json.loads(entry.payload)
    payload.pop("personal", None)
    return payload


@pytest.mark.parametrize(
    ("params", "filters", "rows"),
    [
        ({"channel": "email"}, {"channel": "email"}, 4),
        ({"channel": "sms_push", "format": "ndjson"}, {"channel": "sms_push"}, 2),
        (
            {"channel": "email", "branch": "B001", "kind": "professional"},
            {"channel": "email", "branch": "B001", "kind": "professional"},
            2,
        ),
    ],
    ids=["email", "sms-ndjson", "filtered"],
)
def test_r49_each_export_is_logged_with_actor_filters_and_row_count(
    api_client: Callable[..., APIClient],
    population: dict[str, Client],
    params: dict[str, str],
    filters: dict[str, str],
    rows: int,
) -> None:
    marketing = api_client("optin-list:read", name="crm")
    response = fetch(marketing, **params)
    started = export_entries()
    assert [e.action for e in started] == ["optin_list.export_started"]
    body_of(response)
    logged = export_entries()
    assert [e.action for e in logged] == ["optin_list.export_started", "optin_list.exported"]
    for entry in logged:
        assert entry.actor_type == "api_client"
        assert entry.actor_id == "api:crm"
        assert entry.channel == params["channel"]
        assert entry.client_id is None
        assert data_of(entry)["filters"] == filters
    assert data_of(logged[0])["rows"] is None
    assert data_of(logged[0])["complete"] is False
    assert data_of(logged[1])["rows"] == rows
    assert data_of(logged[1])["complete"] is True
    assert logged[1].seq == logged[0].seq + 1


def test_r49_the_log_of_an_export_holds_no_contact_point(
    api: APIClient, population: dict[str, Client]
) -> None:
    body_of(fetch(api, channel="email"))
    for entry in export_entries():
        for client in population.values():
            if client.email:
                assert client.email not in entry.payload
            assert client.client_number not in entry.payload


def test_r49_two_exports_are_two_logged_exports(api: APIClient, listed: Client) -> None:
    body_of(fetch(api, channel="email"))
    body_of(fetch(api, channel="email"))
    assert [e.action for e in export_entries()] == [
        "optin_list.export_started",
        "optin_list.exported",
    ] * 2


# --- access -------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["consents:read", "eligibility:read", "audit:read"])
def test_the_optin_list_scope_is_required(
    api_client: Callable[..., APIClient], listed: Client, scope: str
) -> None:
    http = api_client(scope)
    before = AuditEntry.objects.count()
    response = http.get(URL, {"channel": "email"})
    assert response.status_code == 403
    assert error(response)["code"] == "missing_scope"
    assert AuditEntry.objects.count() == before


def test_without_a_token_the_answer_is_401_and_no_row(listed: Client) -> None:
    before = AuditEntry.objects.count()
    response = APIClient().get(URL, {"channel": "email"})
    assert response.status_code == 401
    assert listed.email.encode() not in response.content
    assert AuditEntry.objects.count() == before


# --- streaming: queries per chunk, never per row --------------------------------------------


def exported_with_queries(api: APIClient, **params: str) -> tuple[Rows, int]:
    with CaptureQueriesContext(connection) as queries:
        rows = csv_rows(api, **params)
    return rows, len(queries.captured_queries)


@pytest.mark.parametrize("channel", ["email", "sms_push"])
def test_the_number_of_queries_does_not_grow_with_the_rows(
    api: APIClient,
    client_factory: Callable[..., Client],
    professional_factory: Callable[..., Client],
    grant: Callable[..., Any],
    channel: str,
) -> None:
    def add(individuals: int, professionals: int) -> None:
        for _ in range(individuals):
            grant(client_factory(), channel)
        for _ in range(professionals):
            pro = professional_factory()
            grant(pro, "sms_push")

    add(2, 1)
    csv_rows(api, channel=channel)  # warm-up
    rows, few = exported_with_queries(api, channel=channel)
    assert len(rows) == 3
    add(18, 9)
    rows, many = exported_with_queries(api, channel=channel)
    assert len(rows) == 30
    assert many == few


def test_a_list_longer_than_one_chunk_streams_whole_with_the_same_queries(
    api: APIClient, branch: Branch, grant: Callable[..., Any], client_factory: Callable[..., Client]
) -> None:
    """5,001 rows are two chunks of the selector (5,000 per chunk): every row arrives once,
    and the row count logged is the whole; the queries are those of a short list."""
    grant(client_factory(), "email")
    _rows, few = exported_with_queries(api, channel="email")
    clients = Client.objects.bulk_create(
        [
            Client(
                client_number=f"BULK{i:05d}",
                kind=ClientKind.INDIVIDUAL,
                last_name=f"Masse{i}",
                birth_date=dt.date(1970, 1, 1),
                email=f"masse{i}@exemple.fr",
                branch=branch,
            )
            for i in range(5_000)
        ]
    )
    if clients[0].pk is None:  # backends that do not return ids
        clients = list(Client.objects.filter(client_number__startswith="BULK"))
    ConsentState.objects.bulk_create(
        [
            ConsentState(client=c, channel="email", status="granted", wording_version="email-v1")
            for c in clients
        ]
    )
    rows, many = exported_with_queries(api, channel="email")
    assert len(rows) == 5_001
    assert len(set(numbers(rows))) == 5_001
    assert many <= few + 1  # at most one query more for the second chunk
    assert data_of(export_entries()[-1])["rows"] == 5_001


def test_r49_an_export_abandoned_midway_is_logged_as_incomplete(
    api: APIClient, listed: Client
) -> None:
    response = fetch(api, channel="email")
    stream = iter(response.streaming_content)
    assert next(stream).decode("utf-8").startswith("client_number,")
    # The caller went away: the server closes the response. (Without the end-of-request
    # signal, which would close the test's database connection.)
    with mock.patch.object(request_finished, "send"):
        response.close()
    logged = export_entries()
    assert [e.action for e in logged] == ["optin_list.export_started", "optin_list.exported"]
    assert data_of(logged[1])["complete"] is False


# --- R5 at the boundaries: the list and eligibility count age the same way ------------------


@pytest.mark.parametrize(
    ("born", "today", "adult"),
    [
        (dt.date(2012, 6, 15), dt.datetime(2030, 6, 14, 12, tzinfo=dt.UTC), False),
        (dt.date(2012, 6, 15), dt.datetime(2030, 6, 15, 12, tzinfo=dt.UTC), True),
        # Midnight in Paris comes before midnight UTC.
        (dt.date(2012, 6, 15), dt.datetime(2030, 6, 14, 22, 30, tzinfo=dt.UTC), True),
        (dt.date(2012, 2, 29), dt.datetime(2030, 2, 28, 12, tzinfo=dt.UTC), False),
        (dt.date(2012, 2, 29), dt.datetime(2030, 3, 1, 12, tzinfo=dt.UTC), True),
        (dt.date(2010, 2, 28), dt.datetime(2028, 2, 29, 12, tzinfo=dt.UTC), True),
        (dt.date(2010, 3, 1), dt.datetime(2028, 2, 29, 12, tzinfo=dt.UTC), False),
    ],
    ids=[
        "day-before-18",
        "18th-birthday",
        "birthday-begins-in-paris",
        "born-29-feb-on-28-feb",
        "born-29-feb-on-1-march",
        "on-29-feb-born-28-feb",
        "on-29-feb-born-1-march",
    ],
)
def test_r5_r49_the_list_and_eligibility_agree_on_who_is_an_adult(
    api: APIClient,
    client_factory: Callable[..., Client],
    grant: Callable[..., Any],
    born: dt.date,
    today: dt.datetime,
    adult: bool,
) -> None:

    client = client_factory()
    grant(client, "email")
    Client.objects.filter(pk=client.pk).update(birth_date=born)
    with time_machine.travel(today, tick=False):
        listed = client.client_number in numbers(csv_rows(api, channel="email"))
        response = api.post(
            "/api/v1/eligibility",
            {"channel": "email", "client_numbers": [client.client_number]},
            format="json",
        )
    (answer,) = response.json()["results"]
    assert answer["eligible"] is adult
    assert answer["reason"] == ("granted" if adult else "minor")
    assert listed is adult
