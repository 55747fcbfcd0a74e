"""R27 (with R28, R29): the advisor is warned while a form is unsigned.

Every back-office page (search, a record, the account page, the admin) shows a banner with
the advisor's own pending forms and links to have them signed; it never lists a colleague's,
and a form leaves it once signed, cancelled or expired. After a "Oui" in account opening the
form's pages are the journey: a GET of any other page goes to the leave page, every time,
until the form is signed, cancelled or expired; the form's own pages (detail, tablet, paper,
cancel) do not. The leave page offers to have the form signed or to leave; leaving lets the
advisor through (the banner still shows the form), and opening the form's page again
re-enters the journey. Logging out with the form unsigned goes through the warning first.
The forms of a contact update are shown in the banner only, and never warn. The journey's
pages carry `data-leave-warning` on <body>, for the browser's warning when the tab closes,
and no other page does. The pending page lists the advisor's forms and the branch's, oldest
first, with their age.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import time_machine
from django.urls import reverse

from clients.models import Client, Role
from signatures.models import ConsentForm, FormStatus, IdentityDocument
from signatures.services import Collected, cancel_form, expire_pending_forms
from tests.clients.helpers import states_of
from tests.clients.opening_helpers import (
    answer_yes,
    body_tag,
    contact_url,
    form_url,
    logged_in,
    open_account,
    text,
)
from tests.factories import StaffFactory
from tests.signatures import conftest as form_fixtures
from tests.signatures.drawing import CANVAS, tablet_input

Collect = Callable[..., Collected]
Sign = Callable[..., ConsentForm]

# The fixtures of the forms' tests: a throwaway seal, answers in branch, signing.
seal_p12 = form_fixtures.seal_p12
_seal = form_fixtures._seal
collect = form_fixtures.collect
sign_tablet = form_fixtures.sign_tablet

FORM_PAGES = ("detail", "sign_tablet", "sign_paper", "cancel")
BANNER = '<section class="pending-banner"'
LEAVE_WARNING = "data-leave-warning="
LEAVE_MESSAGE = "Le client n\u2019a pas signé son accord : quitter quand même ?"
# After the publication of the initial wordings.
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def http(advisor: Any) -> Any:
    return logged_in(advisor)


@pytest.fixture
def in_journey(http: Any) -> ConsentForm:
    """An account opened through the pages with a "Oui" by e-mail: the form is unsigned."""
    return answer_yes(http, open_account(http))


def search() -> str:
    return reverse("clients:search")


def leave_url(next_path: str) -> str:
    return reverse("clients:leave_opening") + "?" + urlencode({"next": next_path})


def banner(response: Any) -> str:
    """The pending-forms banner of a page ("" when it has none)."""
    page = response.content.decode()
    start = page.find(BANNER)
    if start < 0:
        return ""
    return page[start : page.index("</section>", start)]


def assert_banner_lists(response: Any, form: ConsentForm) -> None:
    section = banner(response)
    assert form.reference in section
    assert f'href="{form_url("detail", form)}"' in section
    assert f'href="{form_url("sign_tablet", form)}"' in section
    assert "Faire signer" in section


def made(collected: Collected) -> ConsentForm:
    assert collected.form is not None
    return collected.form


def assert_warns(response: Any, path: str) -> None:
    assert response.status_code == 302
    assert response["Location"] == leave_url(path)


# --- the banner ----------------------------------------------------------------------------


@pytest.fixture
def pending(customer: Client, collect: Collect) -> ConsentForm:
    """A form of the advisor's, generated outside account opening's pages (no journey)."""
    return made(collect(customer, email="yes"))


def test_every_page_shows_the_advisors_pending_form_with_links_to_sign_it(
    http: Any, pending: ConsentForm
) -> None:
    for path in (
        search(),
        reverse("clients:record", args=[pending.client.client_number]),
        reverse("clients:account"),
        reverse("signatures:pending"),
        reverse("admin:index"),
    ):
        response = http.get(path)
        assert response.status_code == 200, path
        assert_banner_lists(response, pending)
        assert "Un formulaire d'accord attend la signature du client." in text(response), path


def test_the_banner_does_not_list_a_colleagues_forms(
    client_factory: Callable[..., Client], collect: Collect, branch: Any, advisor: Any
) -> None:
    colleague = StaffFactory(username="claire", role=Role.ADVISOR, branch=branch)
    theirs = made(collect(client_factory(), email="yes", by=colleague))
    mine = made(collect(client_factory(), sms_push="yes"))

    for user, shown, hidden in ((advisor, mine, theirs), (colleague, theirs, mine)):
        response = logged_in(user).get(search())
        assert_banner_lists(response, shown)
        assert hidden.reference not in banner(response)


def test_compliance_gets_no_banner(compliance: Any, pending: ConsentForm) -> None:
    response = logged_in(compliance).get(search())
    assert response.status_code == 200
    assert banner(response) == ""
    assert pending.reference not in response.content.decode()


def test_the_banner_is_gone_once_the_form_is_signed(
    http: Any, pending: ConsentForm, sign_tablet: Sign
) -> None:
    assert pending.reference in banner(http.get(search()))
    sign_tablet(pending)
    response = http.get(search())
    assert response.status_code == 200
    assert banner(response) == ""


def test_the_banner_is_gone_once_the_form_is_cancelled(
    http: Any, advisor: Any, pending: ConsentForm
) -> None:
    cancel_form(
        client_number=pending.client.client_number,
        reference=pending.reference,
        advisor=advisor,
        note="Le client préfère réfléchir.",
    )
    response = http.get(search())
    assert response.status_code == 200
    assert banner(response) == ""
    assert states_of(pending.client)["email"] == "none"


# --- the account-opening journey -----------------------------------------------------------


def test_leaving_the_journey_warns_every_time(http: Any, in_journey: ConsentForm) -> None:
    record = reverse("clients:record", args=[in_journey.client.client_number])
    for path in (search(), search(), record, reverse("clients:account"), reverse("admin:index")):
        assert_warns(http.get(path), path)
    assert_warns(http.get(search() + "?q=dupont"), search() + "?q=dupont")
    # Nothing was changed by the warnings.
    in_journey.refresh_from_db()
    assert in_journey.status == FormStatus.PENDING


def test_the_forms_own_pages_are_the_journey(http: Any, in_journey: ConsentForm) -> None:
    for name in FORM_PAGES:
        response = http.get(form_url(name, in_journey))
        assert response.status_code == 200, name
        assert in_journey.reference in text(response), name
        # Still in the journey afterwards.
        assert_warns(http.get(search()), search())


def test_the_opening_page_of_the_same_client_is_the_journey(
    http: Any, in_journey: ConsentForm
) -> None:
    response = http.get(contact_url(in_journey.client.client_number))
    assert response.status_code == 200
    assert_warns(http.get(search()), search())


def test_the_leave_page_offers_to_sign_or_to_leave(http: Any, in_journey: ConsentForm) -> None:
    response = http.get(leave_url(search()))

    assert response.status_code == 200
    page = text(response)
    assert "Le client n'a pas signé son accord" in page
    assert in_journey.reference in page
    assert in_journey.client.display_name in page
    assert f'href="{form_url("sign_tablet", in_journey)}"' in page
    assert "Faire signer sur la tablette" in page
    assert f'href="{form_url("detail", in_journey)}"' in page
    leave_form = re.search(r'<form method="post">.*?</form>', page, re.S)
    assert leave_form is not None
    assert f'name="next" value="{search()}"' in leave_form.group(0)
    assert "Quitter sans faire signer" in leave_form.group(0)
    assert body_tag(response.content.decode()).count(LEAVE_WARNING) == 0


def test_leaving_lets_the_next_page_through_and_the_banner_keeps_the_form(
    http: Any, in_journey: ConsentForm
) -> None:
    response = http.post(reverse("clients:leave_opening"), {"next": search() + "?q=bernard"})

    assert response.status_code == 302
    assert response["Location"] == search() + "?q=bernard"
    page = http.get(search())
    assert page.status_code == 200
    assert_banner_lists(page, in_journey)
    assert "reste à faire signer" in text(page)
    assert http.get(reverse("clients:account")).status_code == 200
    in_journey.refresh_from_db()
    assert in_journey.status == FormStatus.PENDING
    assert states_of(in_journey.client)["email"] == "pending_signature"


def test_leaving_never_sends_the_advisor_off_site(http: Any, in_journey: ConsentForm) -> None:
    response = http.post(reverse("clients:leave_opening"), {"next": "https://exemple.com/"})
    assert response.status_code == 302
    assert response["Location"] == search()


def test_opening_the_forms_page_again_reenters_the_journey(
    http: Any, in_journey: ConsentForm
) -> None:
    http.post(reverse("clients:leave_opening"), {"next": search()})
    assert http.get(search()).status_code == 200

    # From the banner's link, as the advisor comes back to it.
    assert http.get(form_url("detail", in_journey)).status_code == 200

    assert_warns(http.get(search()), search())
    assert_warns(http.get(search()), search())


def test_a_form_signed_on_the_tablet_page_ends_the_warnings(
    http: Any, in_journey: ConsentForm
) -> None:
    drawn = tablet_input()
    response = http.post(
        form_url("sign_tablet", in_journey),
        {
            "signature": drawn["signature"],
            "strokes": drawn["strokes"],
            **CANVAS,
            "identity_document": IdentityDocument.ID_CARD,
        },
    )
    assert response.status_code == 302
    in_journey.refresh_from_db()
    assert in_journey.status == FormStatus.SIGNED

    page = http.get(search())
    assert page.status_code == 200
    assert banner(page) == ""
    assert http.get(reverse("clients:account")).status_code == 200


def test_a_form_signed_through_the_service_ends_the_warnings(
    http: Any, in_journey: ConsentForm, sign_tablet: Sign
) -> None:
    sign_tablet(in_journey)
    assert http.get(search()).status_code == 200
    assert http.get(search()).status_code == 200
    assert states_of(in_journey.client)["email"] == "granted"


def test_a_form_cancelled_on_its_page_ends_the_warnings(http: Any, in_journey: ConsentForm) -> None:
    response = http.post(form_url("cancel", in_journey), {"note": "Le client veut réfléchir."})
    assert response.status_code == 302
    in_journey.refresh_from_db()
    assert in_journey.status == FormStatus.CANCELLED
    # R29: cancelling is not a refusal.
    assert states_of(in_journey.client)["email"] == "none"

    page = http.get(search())
    assert page.status_code == 200
    assert banner(page) == ""


def test_an_expired_form_ends_the_warnings(settings: Any, advisor: Any) -> None:
    # The advisor stays logged in past the form's 30 days: only the expiry is under test.
    settings.SESSION_COOKIE_AGE = 40 * 86400
    with time_machine.travel(T0, tick=False) as clock:
        http = logged_in(advisor)
        form = answer_yes(http, open_account(http))
        assert_warns(http.get(search()), search())
        clock.shift(dt.timedelta(days=31))
        assert expire_pending_forms() == [form.reference]

        page = http.get(search())

    assert page.status_code == 200
    assert banner(page) == ""
    assert states_of(form.client)["email"] == "none"


def test_opening_another_opening_form_while_in_a_journey_warns_first(
    http: Any, advisor: Any
) -> None:
    first = answer_yes(http, open_account(http, client_number="C-OPEN-1"))
    http.post(reverse("clients:leave_opening"), {"next": search()})
    second = answer_yes(http, open_account(http, client_number="C-OPEN-2", last_name="Roux"))
    assert second.reference != first.reference

    path = form_url("detail", first)
    assert_warns(http.get(path), path)


# --- logging out ---------------------------------------------------------------------------


def test_logging_out_with_the_form_unsigned_goes_through_the_warning(
    http: Any, in_journey: ConsentForm, advisor: Any
) -> None:
    response = http.post(reverse("clients:logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("clients:leave_opening") + "?logout=1"
    # Still logged in: the warning page is shown, not the login page.
    page = http.get(response["Location"])
    assert page.status_code == 200
    content = text(page)
    assert in_journey.reference in content
    assert f'action="{reverse("clients:logout")}"' in content
    assert 'name="leave_confirmed" value="1"' in content
    assert "Se déconnecter sans faire signer" in content


def test_the_confirmed_logout_logs_out(http: Any, in_journey: ConsentForm) -> None:
    response = http.post(reverse("clients:logout"), {"leave_confirmed": "1"})

    assert response.status_code == 302
    assert response["Location"] == reverse("clients:login")
    after = http.get(search())
    assert after.status_code == 302
    assert after["Location"].startswith(reverse("clients:login"))
    in_journey.refresh_from_db()
    assert in_journey.status == FormStatus.PENDING


def test_logging_out_without_a_pending_journey_is_immediate(
    http: Any, pending: ConsentForm
) -> None:
    response = http.post(reverse("clients:logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("clients:login")
    assert http.get(search())["Location"].startswith(reverse("clients:login"))


# --- the contact-update journey ------------------------------------------------------------


@pytest.fixture
def contact_update_form(http: Any, customer: Client) -> ConsentForm:
    """A "Oui" given on the record's contact update (R23), through its pages."""
    response = http.post(
        reverse("clients:contact", args=[customer.client_number]),
        {"email": "jeanne.nouvelle@exemple.fr", "mobile": customer.mobile, "version": "1"},
    )
    assert response.status_code == 302
    ask = response["Location"]
    assert ask.startswith(reverse("clients:ask", args=[customer.client_number]))
    response = http.post(ask, {"answer_email": "yes", "wording_email": "email-v1"})
    assert response.status_code == 302
    form = ConsentForm.objects.pending().get(client=customer)
    assert response["Location"] == form_url("detail", form)
    return form


def test_a_contact_update_form_is_in_the_banner_and_never_warns(
    http: Any, contact_update_form: ConsentForm
) -> None:
    for _ in range(2):
        response = http.get(search())
        assert response.status_code == 200
        assert_banner_lists(response, contact_update_form)
    # Its own pages do not make it a journey either.
    detail = http.get(form_url("detail", contact_update_form))
    assert detail.status_code == 200
    assert LEAVE_WARNING not in body_tag(detail.content.decode())
    assert http.get(search()).status_code == 200
    assert http.post(reverse("clients:logout"))["Location"] == reverse("clients:login")


# --- the browser's warning when the tab closes ---------------------------------------------


def test_the_journeys_pages_carry_the_leave_warning(http: Any, in_journey: ConsentForm) -> None:
    for name in FORM_PAGES:
        response = http.get(form_url(name, in_journey))
        assert response.status_code == 200, name
        assert f'data-leave-warning="{LEAVE_MESSAGE}"' in body_tag(text(response)), name


def test_the_opening_page_of_the_journeys_client_carries_the_leave_warning(
    http: Any, in_journey: ConsentForm
) -> None:
    response = http.get(contact_url(in_journey.client.client_number))
    assert LEAVE_WARNING in body_tag(response.content.decode())


def test_other_pages_do_not_carry_the_leave_warning(http: Any, in_journey: ConsentForm) -> None:
    # Inside the journey, the pages that are not its own are behind the leave page.
    assert LEAVE_WARNING not in body_tag(http.get(leave_url(search())).content.decode())
    http.post(reverse("clients:leave_opening"), {"next": search()})
    for path in (
        search(),
        reverse("clients:record", args=[in_journey.client.client_number]),
        reverse("clients:account"),
        reverse("signatures:pending"),
        reverse("clients:opening"),
    ):
        response = http.get(path)
        assert response.status_code == 200, path
        assert LEAVE_WARNING not in body_tag(response.content.decode()), path


def test_a_signed_forms_page_does_not_carry_the_leave_warning(
    http: Any, in_journey: ConsentForm, sign_tablet: Sign
) -> None:
    sign_tablet(in_journey)
    response = http.get(form_url("detail", in_journey))
    assert response.status_code == 200
    assert LEAVE_WARNING not in body_tag(response.content.decode())


# --- the pending page ----------------------------------------------------------------------


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def test_the_pending_page_lists_per_advisor_and_per_branch_oldest_first_with_their_age(
    clock: time_machine.Coordinates,
    advisor: Any,
    advisor_other_branch: Any,
    branch: Any,
    other_branch: Any,
    client_factory: Callable[..., Client],
    collect: Collect,
) -> None:
    colleague = StaffFactory(username="claire", role=Role.ADVISOR, branch=branch)
    oldest = made(collect(client_factory(last_name="Aubert"), email="yes"))
    clock.shift(dt.timedelta(days=1))
    colleagues = made(collect(client_factory(last_name="Blanc"), email="yes", by=colleague))
    clock.shift(dt.timedelta(days=1))
    newest = made(collect(client_factory(last_name="Carré"), sms_push="yes"))
    elsewhere = made(
        collect(
            client_factory(last_name="Durand", branch=other_branch),
            email="yes",
            by=advisor_other_branch,
        )
    )
    # The page is read five hours after the newest form.
    clock.shift(dt.timedelta(hours=5))

    response = logged_in(advisor).get(reverse("signatures:pending"))

    assert response.status_code == 200
    page = text(response)
    mine, branch_part = page.split("<h2>Les miens</h2>")[1].split("<h2>")
    assert "Agence Paris Opéra : tous les conseillers" in branch_part
    rows = re.findall(
        r"<tr>\s*<td[^>]*><a[^>]*>(OPT-[\w-]+)</a>.*?<td>([^<]*)</td>\s*</tr>", mine, re.S
    )
    assert rows == [(oldest.reference, "2 j"), (newest.reference, "5\xa0heures")]
    branch_rows = re.findall(r">(OPT-[\w-]+)</a>", branch_part)
    assert branch_rows == [oldest.reference, colleagues.reference, newest.reference]
    assert elsewhere.reference not in page
    assert "claire" in branch_part


def test_compliance_sees_the_pending_forms_of_every_branch(
    compliance: Any,
    advisor_other_branch: Any,
    client_factory: Callable[..., Client],
    other_branch: Any,
    collect: Collect,
) -> None:
    here = made(collect(client_factory(), email="yes"))
    there = made(collect(client_factory(branch=other_branch), email="yes", by=advisor_other_branch))
    response = logged_in(compliance).get(reverse("signatures:pending"))
    assert response.status_code == 200
    page = text(response)
    assert "Toutes les agences" in page
    assert "Les miens" not in page
    assert re.findall(r">(OPT-[\w-]+)</a>", page) == [here.reference, there.reference]
