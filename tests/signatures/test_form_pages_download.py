"""R24, R27, R55: downloading a form's PDFs, and the page of the forms still to sign.

A download is a POST that returns the stored PDF, the very one whose SHA-256 the form
recorded (the generated form, or the sealed one once signed), and logs `form.downloaded`
with who downloaded, which file and its hash, at every download. A form not signed has no
signed PDF (404, nothing logged). The pending page lists the advisor's own pending forms and
their branch's, oldest first, with their age, never another branch's; compliance sees the
pending forms of every branch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clients.models import Branch, Client, Role
from clients.services import update_client_identity
from signatures import files
from signatures.models import ConsentForm
from signatures.services import Collected
from tests.auth import login_verified
from tests.clients.helpers import entries, log_size, payload
from tests.factories import SYSTEM, StaffFactory

Collect = Callable[..., Collected]
Sign = Callable[..., ConsentForm]

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)  # 10:00 in Paris


@pytest.fixture
def traveller() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def pending(traveller: time_machine.Coordinates, customer: Client, collect: Collect) -> Any:
    form = collect(customer, email="yes", sms_push="yes").form
    assert form is not None
    return form


@pytest.fixture
def signed(pending: ConsentForm, sign_tablet: Sign) -> ConsentForm:
    return sign_tablet(pending)


def logged_in(user: Any) -> HttpClient:
    http = HttpClient()
    login_verified(http, user)
    return http


def url(name: str, form: ConsentForm) -> str:
    return reverse(f"signatures:{name}", args=[form.client.client_number, form.reference])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- downloads ---------------------------------------------------------------------------------


def test_the_original_pdf_downloaded_is_the_one_whose_hash_the_form_recorded(
    advisor: Any, pending: ConsentForm
) -> None:
    response = logged_in(advisor).post(url("pdf", pending))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Disposition"] == f'inline; filename="{pending.reference}.pdf"'
    assert response.content.startswith(b"%PDF-")
    assert sha256(response.content) == pending.pdf_sha256
    assert response.content == files.read(pending.pdf)


def test_the_signed_pdf_downloaded_is_the_sealed_one_whose_hash_the_form_recorded(
    advisor: Any, signed: ConsentForm
) -> None:
    response = logged_in(advisor).post(url("signed_pdf", signed), {"attachment": "1"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{signed.reference}-signe.pdf"'
    assert sha256(response.content) == signed.signed_pdf_sha256
    assert signed.signed_pdf_sha256 != signed.pdf_sha256
    [entry] = entries("form.signed", signed.client)
    assert payload(entry)["signed_pdf_sha256"] == sha256(response.content)


@pytest.mark.parametrize(("name", "which"), [("pdf", "original"), ("signed_pdf", "signed")])
def test_every_download_is_logged_with_who_which_file_and_its_hash(
    advisor: Any, compliance: Any, signed: ConsentForm, name: str, which: str
) -> None:
    digest = signed.signed_pdf_sha256 if which == "signed" else signed.pdf_sha256
    logged_in(advisor).post(url(name, signed))
    logged_in(advisor).post(url(name, signed))
    logged_in(compliance).post(url(name, signed))

    downloads = entries("form.downloaded", signed.client)
    assert [(e.actor_type, e.actor_id) for e in downloads] == [
        ("advisor", f"staff:{advisor.pk}"),
        ("advisor", f"staff:{advisor.pk}"),
        ("compliance", f"staff:{compliance.pk}"),
    ]
    for entry in downloads:
        data = payload(entry)
        assert data["file"] == which
        assert data["sha256"] == digest
        assert data["reference"] == signed.reference
        assert data["form_id"] == str(signed.uuid)
        assert entry.client_number == signed.client.client_number
    assert payload(downloads[0])["actor_branch"] == "B001"


def test_the_signed_pdf_of_a_form_not_yet_signed_is_not_found(
    advisor: Any, pending: ConsentForm
) -> None:
    size = log_size()
    response = logged_in(advisor).post(url("signed_pdf", pending))
    assert response.status_code == 404
    assert log_size() == size


def test_the_signed_pdf_of_a_cancelled_form_is_not_found_but_its_original_is_kept(
    advisor: Any, pending: ConsentForm
) -> None:
    http = logged_in(advisor)
    http.post(url("cancel", pending), {"note": "Le client veut réfléchir."})
    assert http.post(url("signed_pdf", pending)).status_code == 404
    response = http.post(url("pdf", pending))
    assert response.status_code == 200
    assert sha256(response.content) == pending.pdf_sha256


def test_the_form_page_offers_the_downloads_as_posts(advisor: Any, signed: ConsentForm) -> None:
    page = logged_in(advisor).get(url("detail", signed)).content.decode()
    for name in ("pdf", "signed_pdf"):
        assert f'<form method="post" action="{url(name, signed)}"' in page
    assert "Chaque téléchargement est enregistré au journal." in html.unescape(page)


# --- the pending forms -------------------------------------------------------------------------


@pytest.fixture
def colleague(branch: Branch) -> Any:
    """Another advisor of the same branch."""
    return StaffFactory(username="amelie", first_name="Amélie", role=Role.ADVISOR, branch=branch)


@pytest.fixture
def forms(
    traveller: time_machine.Coordinates,
    advisor: Any,
    colleague: Any,
    advisor_other_branch: Any,
    client_factory: Callable[..., Client],
    other_branch: Branch,
    collect: Collect,
    sign_tablet: Sign,
) -> dict[str, ConsentForm]:
    """Forms made over three days, from T0; the clock is then at T0 + 3 days + 2 hours.

    Mine: `old` (3 days), `recent` (2 hours). My colleague's: `colleague` (2 days). Another
    branch's: `elsewhere` (1 day). Signed, so no longer pending: `signed`.
    """

    def make(by: Any, branch: Branch | None = None) -> ConsentForm:
        client = client_factory(branch=branch) if branch else client_factory()
        form = collect(client, by=by, email="yes").form
        assert form is not None
        return form

    made = {"old": make(advisor)}
    traveller.shift(dt.timedelta(days=1))
    made["colleague"] = make(colleague)
    made["signed"] = sign_tablet(make(advisor))
    traveller.shift(dt.timedelta(days=1))
    made["elsewhere"] = make(advisor_other_branch, other_branch)
    traveller.shift(dt.timedelta(days=1))
    made["recent"] = make(advisor)
    traveller.shift(dt.timedelta(hours=2))
    return made


def sections(page: str) -> dict[str, str]:
    """The page's sections, by their heading."""
    parts = html.unescape(page).split("<h2>")[1:]
    return {part.split("</h2>")[0]: part for part in parts}


def listed(section: str, forms: dict[str, ConsentForm]) -> list[str]:
    """The forms a section lists, in their order on the page."""
    found = {section.find(f">{form.reference}</a>"): key for key, form in forms.items()}
    return [found[position] for position in sorted(found) if position >= 0]


def row_of(section: str, form: ConsentForm) -> str:
    start = section.index(f">{form.reference}</a>")
    return section[start : section.index("</tr>", start)]


def test_the_pending_page_lists_my_forms_and_my_branchs_oldest_first_with_their_age(
    advisor: Any, forms: dict[str, ConsentForm]
) -> None:
    response = logged_in(advisor).get(reverse("signatures:pending"))
    assert response.status_code == 200
    page = sections(response.content.decode())
    assert list(page) == ["Les miens", "Agence Paris Opéra : tous les conseillers"]
    mine, branch = page.values()
    assert listed(mine, forms) == ["old", "recent"]
    assert listed(branch, forms) == ["old", "colleague", "recent"]
    assert "<td>3 j</td>" in row_of(mine, forms["old"])
    assert "<td>2 j</td>" in row_of(branch, forms["colleague"])
    assert "<td>2\xa0heures</td>" in row_of(mine, forms["recent"])
    assert "Amélie" in row_of(branch, forms["colleague"])
    assert f'href="{url("detail", forms["old"])}"' in mine


def test_the_pending_page_never_shows_another_branchs_forms(
    advisor: Any, advisor_other_branch: Any, forms: dict[str, ConsentForm]
) -> None:
    page = logged_in(advisor).get(reverse("signatures:pending")).content.decode()
    assert forms["elsewhere"].reference not in page
    assert forms["elsewhere"].client.client_number not in page
    response = logged_in(advisor_other_branch).get(reverse("signatures:pending"))
    other = sections(response.content.decode())
    assert [listed(s, forms) for s in other.values()] == [["elsewhere"], ["elsewhere"]]


def test_compliance_sees_the_pending_forms_of_every_branch(
    compliance: Any, forms: dict[str, ConsentForm]
) -> None:
    response = logged_in(compliance).get(reverse("signatures:pending"))
    assert response.status_code == 200
    page = sections(response.content.decode())
    assert list(page) == ["Toutes les agences"]
    assert listed(page["Toutes les agences"], forms) == ["old", "colleague", "elsewhere", "recent"]


def test_the_pending_page_hides_a_form_whose_client_moved_to_another_branch(
    advisor: Any, pending: ConsentForm, customer: Client, other_branch: Branch
) -> None:
    """R55: once the customer belongs to another branch, the advisor who collected the
    answers no longer sees the customer, so their list must not show the customer's name and
    number either (the form's link would be a 404 anyway)."""
    update_client_identity(actor=SYSTEM, client_number=customer.client_number, branch=other_branch)
    http = logged_in(advisor)
    assert http.get(url("detail", pending)).status_code == 404
    page = html.unescape(http.get(reverse("signatures:pending")).content.decode())
    assert customer.client_number not in page
    assert pending.reference not in page


def test_the_pending_page_of_the_new_branch_lists_a_form_whose_client_moved_there(
    advisor_other_branch: Any, pending: ConsentForm, customer: Client, other_branch: Branch
) -> None:
    """R27, R55: only an advisor of the customer's branch may now have the form signed, so
    it belongs on that branch's list, or nobody who can act on it sees it until it expires."""
    update_client_identity(actor=SYSTEM, client_number=customer.client_number, branch=other_branch)
    http = logged_in(advisor_other_branch)
    assert http.get(url("detail", pending)).status_code == 200
    page = sections(http.get(reverse("signatures:pending")).content.decode())
    assert listed(page["Agence Lyon Bellecour : tous les conseillers"], {"moved": pending}) == [
        "moved"
    ]


def test_the_pending_page_says_when_nothing_waits(advisor: Any, signed: ConsentForm) -> None:
    page = sections(logged_in(advisor).get(reverse("signatures:pending")).content.decode())
    assert all("Aucun formulaire en attente." in section for section in page.values())


def test_the_pending_page_costs_the_same_queries_whatever_the_number_of_forms(
    advisor: Any, customer: Client, client_factory: Callable[..., Client], collect: Collect
) -> None:
    http = logged_in(advisor)
    collect(customer, email="yes")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert http.get(reverse("signatures:pending")).status_code == 200
        return len(captured)

    one = queries()
    for _ in range(3):
        collect(client_factory(), email="yes", sms_push="yes")
    assert queries() == one
