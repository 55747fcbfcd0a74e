"""R11, R55, R56: the customer knowledge record ("Connaissance Client").

The record shows the customer's identity and contact points, each channel's state (R11) with
the date it began in Europe/Paris with its UTC offset (R56), its journey and the wording
version, the consent forms, and the history of the customer's log entries newest first (the
log's order is authoritative, R56). A withdrawal link is offered for a granted channel only;
a pending form is offered to sign. Compliance reads the same record without any link that
writes (R55). What a customer typed is escaped on output (R68).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.urls import reverse

from clients.models import Client
from clients.services import change_legal_capacity
from optin.models import ConsentState
from signatures.models import ConsentForm
from tests.clients.helpers import child_birth_date
from tests.clients.pages import answer_in_branch, as_user, body, page_url, text_of, visible_text
from tests.factories import SYSTEM
from tests.signatures.conftest import _seal, seal_p12  # noqa: F401  (forms are sealed)

# 10:00 in Paris in winter (UTC+1); 10:00 in summer (UTC+2).
WINTER = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
SUMMER = dt.datetime(2027, 7, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def traveller() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(WINTER, tick=False) as traveller:
        yield traveller


def record(user: Any, client: Client) -> Any:
    response = as_user(user).get(page_url("record", client.client_number))
    assert response.status_code == 200
    return response


def channel_row(response: Any, label: str) -> str:
    """The text of one channel's row in the table of consents."""
    return text_of(channel_row_html(response, label))


def channel_row_html(response: Any, label: str) -> str:
    page = response.content.decode()
    match = re.search(r'<th scope="row">' + re.escape(label) + r"</th>(.*?)</tr>", page, re.DOTALL)
    assert match is not None, label
    return match.group(1)


def history(response: Any) -> list[tuple[int, str]]:
    """The history's rows: sequence number and text, in the page's order."""
    page = response.content.decode()
    table = page[page.index('<table class="history">') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr><td>(\d+)</td>(.*?)</tr>", table, re.DOTALL)
    return [(int(seq), text_of(rest)) for seq, rest in rows]


@pytest.fixture
def followed(
    traveller: time_machine.Coordinates,
    customer: Client,
    grant: Callable[..., Any],
    advisor: Any,
) -> ConsentForm:
    """E-mail granted online at 10:00 (Paris); SMS/push "Oui" in branch at 10:30, to sign."""
    grant(customer, "email")
    traveller.shift(dt.timedelta(minutes=30))
    form = answer_in_branch(customer, advisor, sms_push="yes").form
    assert form is not None
    traveller.shift(dt.timedelta(minutes=5))
    return form


# --- what the record shows -----------------------------------------------------------------------


def test_the_record_shows_the_identity_and_the_contact_points(
    advisor: Any, customer: Client, followed: ConsentForm
) -> None:
    response = record(advisor, customer)
    text = visible_text(response)
    assert "Jeanne Dupont" in text
    assert f"n° {customer.client_number}" in text
    assert "Particulier" in text
    assert "Agence Paris Opéra" in text
    assert "Date de naissance 17/05/1980" in text
    assert "Capacité juridique Majeur capable" in text
    assert f"E-mail {customer.email}" in text
    assert f"Mobile{customer.mobile}" in text.replace(" ", "")  # however it is spaced


def test_each_channel_shows_its_state_date_in_paris_with_the_offset_journey_and_wording(
    advisor: Any, customer: Client, followed: ConsentForm
) -> None:
    response = record(advisor, customer)
    email = channel_row(response, "E-mail").lower()
    assert email.startswith(f"{customer.email} accord 01/12/2026 10:00 (utc+01:00) espace client")
    assert "email-v1" in email
    sms = channel_row(response, "SMS et notifications mobiles").lower()
    assert customer.mobile in sms.replace(" ", "")
    assert (
        "en attente de signature 01/12/2026 10:30 (utc+01:00) agence : connaissance client" in sms
    )
    assert "sms_push-v1" in sms


def test_a_summer_date_is_shown_with_the_summer_offset(
    advisor: Any, customer: Client, grant: Callable[..., Any]
) -> None:
    with time_machine.travel(SUMMER, tick=False):
        grant(customer, "sms_push")
        response = record(advisor, customer)
    row = channel_row(response, "SMS et notifications mobiles")
    assert "accord 01/07/2027 10:00 (UTC+02:00)" in row
    assert history(response)[0][1].startswith("01/07/2027 10:00 (UTC+02:00) Accord")


def test_a_channel_never_answered_shows_no_answer_and_no_date(
    advisor: Any, customer: Client
) -> None:
    response = record(advisor, customer)
    assert channel_row(response, "E-mail") == f"{customer.email} sans réponse — — —"
    assert set(ConsentState.objects.filter(client=customer).values_list("status", flat=True)) == {
        "none"
    }


def test_the_record_lists_the_forms_with_a_link_to_sign_the_pending_one(
    advisor: Any, customer: Client, followed: ConsentForm
) -> None:
    response = record(advisor, customer)
    page = body(response)
    detail = reverse("signatures:detail", args=[customer.client_number, followed.reference])
    assert "Formulaires" in page
    form_row = re.search(
        r"<tr><td class=\"nowrap\"><a href=\"" + re.escape(detail) + r"\">(.*?)</tr>",
        response.content.decode(),
        re.DOTALL,
    )
    assert form_row is not None
    shown = text_of(form_row.group(1)).lower()
    assert shown == f"{followed.reference.lower()} 01/12/2026 10:30 (utc+01:00) " + (
        "agence : connaissance client à signer"
    )
    sms = channel_row(response, "SMS et notifications mobiles")
    assert f"Formulaire {followed.reference} à signer" in sms


def test_the_history_shows_the_log_entries_newest_first(
    advisor: Any, customer: Client, followed: ConsentForm
) -> None:
    response = record(advisor, customer)
    rows = history(response)
    seqs = [seq for seq, _text in rows]
    assert seqs == sorted(seqs, reverse=True)
    assert len(rows) >= 4
    assert "Fiche créée" in rows[-1][1]
    labels = [text for _seq, text in rows]
    grant_row = next(t for t in labels if ") Accord e-mail" in t)
    assert grant_row.lower().startswith("01/12/2026 10:00 (utc+01:00) accord e-mail espace client")
    assert grant_row.endswith("email-v1")
    requested = next(t for t in labels if "Accord demandé" in t)
    assert requested.startswith("01/12/2026 10:30 (UTC+01:00)")
    assert "alice" in requested  # the advisor behind the entry
    assert labels.index(requested) < labels.index(grant_row)


def test_the_record_shows_why_a_minor_and_a_protected_adult_are_apart(
    advisor: Any, client_factory: Callable[..., Client]
) -> None:
    minor = client_factory(birth_date=child_birth_date())
    assert "— mineur" in visible_text(record(advisor, minor))
    protected = client_factory()
    change_legal_capacity(
        actor=SYSTEM,
        client_number=protected.client_number,
        legal_capacity="protected",
        protection_measure="curatelle",
        reference="RG 1",
    )
    text = visible_text(record(advisor, protected))
    assert "Capacité juridique Majeur protégé : curatelle (dont renforcée)" in text


def test_what_a_customer_typed_is_escaped(
    advisor: Any, client_factory: Callable[..., Client]
) -> None:
    client = client_factory(first_name="<b>Jo</b>", last_name="O'Hara <i>")
    page = record(advisor, client).content.decode()
    assert "<b>Jo</b>" not in page
    assert "&lt;b&gt;Jo&lt;/b&gt;" in page


# --- the links that act --------------------------------------------------------------------------


def test_the_advisor_gets_the_links_to_change_contact_and_capacity(
    advisor: Any, customer: Client
) -> None:
    page = record(advisor, customer).content.decode()
    assert f'href="{page_url("contact", customer.client_number)}"' in page
    assert f'href="{page_url("capacity", customer.client_number)}"' in page


@pytest.mark.parametrize(
    ("decisions", "linked"),
    [
        ((), False),
        ((("email", "grant"),), True),
        ((("email", "refuse"),), False),
        ((("email", "grant"), ("email", "withdraw")), False),
    ],
    ids=["none", "granted", "refused", "withdrawn"],
)
def test_a_withdrawal_link_is_offered_for_a_granted_channel_only(
    advisor: Any,
    customer: Client,
    decide: Callable[..., Any],
    decisions: tuple[tuple[str, str], ...],
    linked: bool,
) -> None:
    for channel, decision in decisions:
        decide(customer, channel, decision)
    response = record(advisor, customer)
    withdraw = page_url("withdraw", customer.client_number, "email")
    assert (f'href="{withdraw}"' in channel_row_html(response, "E-mail")) is linked
    assert page_url("withdraw", customer.client_number, "sms_push") not in body(response)


def test_a_channel_pending_signature_has_no_withdrawal_link(
    advisor: Any, customer: Client, followed: ConsentForm
) -> None:
    response = record(advisor, customer)
    assert page_url("withdraw", customer.client_number, "sms_push") not in body(response)
    assert page_url("withdraw", customer.client_number, "email") in body(response)


def test_compliance_reads_the_record_without_any_link_that_writes(
    compliance: Any, customer: Client, followed: ConsentForm
) -> None:
    response = record(compliance, customer)
    page = body(response)
    number = customer.client_number
    assert "accord 01/12/2026 10:00 (UTC+01:00)" in channel_row(response, "E-mail")
    for name in ("contact", "capacity"):
        assert page_url(name, number) not in page
    assert f"/clients/{number}/retrait/" not in page
    assert f"/clients/{number}/accord/" not in page
    for name in ("sign_tablet", "sign_paper", "cancel"):
        assert reverse(f"signatures:{name}", args=[number, followed.reference]) not in page
    assert f"Formulaire {followed.reference} à signer" not in page
    assert "Actions" not in page
    # Reading the form stays possible.
    assert reverse("signatures:detail", args=[number, followed.reference]) in page
