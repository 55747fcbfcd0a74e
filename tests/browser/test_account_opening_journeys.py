"""The issue's two account-opening journeys, in a browser, end to end.

Journey 1: an advisor logs in through the login pages (password, then the code of the
authenticator app), opens an account ("entrée en relation") for an adult (R4), types the
contact points on "Coordonnées" and answers the questions that appear, "Oui" for e-mail and
"Non" for SMS, with nothing pre-selected and the wording shown (R17, R22); the "Oui" generates
a form (R24), signed on the tablet pad after the identity document is checked (R25); the
client's record then shows the e-mail granted and the SMS refused, in the advisor's own
branch (R55).

Journey 2: with the form of an account opening unsigned, every link that leaves the journey
goes through the warning page, each time; leaving anyway shows the pending form in the banner;
closing the tab or typing another address asks the browser's confirmation (R27).

Every page runs under the Content-Security-Policy, without 'unsafe-inline': a console message
saying the browser refused something fails the test. A full-page screenshot of each step is
saved in var/screenshots/ for a person to look at.
These tests commit (see conftest.py): they run with `-m committed` on PostgreSQL.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from optin.models import ConsentState
from signatures.models import ConsentForm, FormStatus
from tests.factories import ClientFactory
from tests.signatures.drawing import handwriting

pytestmark = [pytest.mark.postgres, pytest.mark.committed]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 1024, "height": 768}
PASSWORD = "Ouverture-de-compte-2025"
WARNING_TITLE = "Formulaire non signé · optin"


# Chromium reports a violation in the console ("Refused to …", or "… violates the following
# Content Security Policy directive …"); this listener, run before the page's own scripts,
# adds what was refused and where.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("CSP violation: " + JSON.stringify({
    directive: event.violatedDirective, blocked: event.blockedURI, source: event.sourceFile,
    line: event.lineNumber, sample: event.sample, page: document.URL,
  }));
});
"""


class Console:
    """What a page says in its console, and its uncaught errors."""

    def __init__(self, page: Any) -> None:
        self.messages: list[str] = []
        self.errors: list[str] = []
        page.add_init_script(REPORT_CSP_VIOLATIONS)
        page.on("console", self._message)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _message(self, message: Any) -> None:
        self.messages.append(f"{message.type}: {message.text} [{message.location.get('url')}]")

    def refused(self) -> list[str]:
        """The Content-Security-Policy violations."""
        signs = ("Refused to", "Content Security Policy", "CSP violation")
        return [m for m in self.messages if any(sign in m for sign in signs)]

    def assert_clean(self) -> None:
        assert self.refused() == [], "CSP violations:\n" + "\n".join(self.refused())
        assert self.errors == [], "uncaught errors:\n" + "\n".join(self.errors)


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def topbar_link(page: Any, name: str) -> Any:
    return page.locator("header.topbar").get_by_role("link", name=name, exact=True)


def path_of(page: Any) -> str:
    return "/" + page.url.split("/", 3)[3]


def unique_number() -> str:
    return f"W{uuid.uuid4().hex[:12].upper()}"


def fill_identity(page: Any, number: str, last_name: str) -> None:
    """Account opening, step 1: an adult individual of full capacity."""
    expect(page.locator("h1")).to_have_text("Entrée en relation")
    page.fill("#id_client_number", number)
    page.click("label[for=id_kind_0]")  # particulier
    page.select_option("#id_civility", "MME")
    page.fill("#id_first_name", "Camille")
    page.fill("#id_last_name", last_name)
    page.fill("#id_birth_date", "1984-06-02")
    expect(page.locator("#id_legal_capacity_0")).to_be_checked()  # majeur capable


def hx_post_with(field: str, value: str) -> Callable[[Any], bool]:
    """Whether a response answers an htmx request posting this value of a contact field."""

    def matches(response: Any) -> bool:
        request = response.request
        if request.method != "POST" or request.headers.get("hx-request") != "true":
            return False
        return parse_qs(request.post_data or "").get(field) == [value]

    return matches


def type_contact(page: Any, selector: str, value: str, *, then_tab: bool = True) -> None:
    """Type a contact point key by key, as the advisor does: htmx shows the questions for
    what was typed (its last request carries the whole value). Then leave the field with
    Tab, whose `change` asks again, and wait for that answer too: an answer clicked while it
    is on its way used to be wiped when it arrived."""
    field = selector.removeprefix("#id_")
    with page.expect_response(hx_post_with(field, value)):
        page.locator(selector).press_sequentially(value, delay=15)
    htmx_settled(page)
    if then_tab:
        with page.expect_response(hx_post_with(field, value)):
            page.locator(selector).press("Tab")
        htmx_settled(page)


def htmx_settled(page: Any) -> None:
    """htmx has swapped what it received (it drops .htmx-request after the swap)."""
    page.wait_for_function("() => document.querySelector('.htmx-request') === null")


def answer(page: Any, channel: str, choice: str) -> None:
    """Click the "Oui" or "Non" label of a channel's question (radios answer_<channel>_0/1)."""
    index = {"Oui": 0, "Non": 1}[choice]
    label = page.locator(f"label[for=id_answer_{channel}_{index}]")
    expect(label).to_have_text(choice)
    label.click()
    expect(page.locator(f"#id_answer_{channel}_{index}")).to_be_checked()


def draw_with_mouse(page: Any) -> None:
    """Draw handwriting() on the pad with the mouse: a loop, a wave and an underline."""
    pad = page.locator("#signature-pad")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()  # in the viewport, where the mouse is
    assert box is not None and box["width"] > 500 and box["height"] > 170
    for stroke in handwriting():
        points = stroke["points"]
        page.mouse.move(box["x"] + points[0]["x"], box["y"] + points[0]["y"])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])
        page.mouse.up()


def totp_token(device: TOTPDevice) -> str:
    token = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
    return f"{token:0{device.digits}d}"


@pytest.fixture
def desktop(new_context: Callable[..., Any]) -> Any:
    return new_context(viewport=DESKTOP).new_page()


def test_journey_1_login_open_an_account_answer_sign_on_the_tablet_and_see_the_record(
    desktop: Any, live_url: str, advisor: Any
) -> None:
    advisor.set_password(PASSWORD)
    advisor.save(update_fields=["password"])
    device = TOTPDevice(user=advisor, name="application", confirmed=True)
    device.save()
    page = desktop
    console = Console(page)
    number = unique_number()
    last_name = f"Lefèvre-{number[-4:]}"

    # Log in: password, then the authenticator's code; the search page follows.
    page.goto(live_url + reverse("clients:search"))
    expect(page).to_have_url(re.compile(re.escape(reverse("clients:login")) + r"\?next="))
    page.fill("#id_username", advisor.username)
    page.fill("#id_password", PASSWORD)
    shot(page, "journey1-01-login")
    page.get_by_role("button", name="Continuer").click()
    expect(page.locator("h1")).to_have_text("Code de vérification")
    page.fill("#id_token", totp_token(device))
    shot(page, "journey1-02-code")
    page.get_by_role("button", name="Vérifier").click()
    expect(page.locator("h1")).to_have_text("Rechercher un client")
    assert path_of(page) == reverse("clients:search")
    shot(page, "journey1-03-search")

    # Account opening, step 1: identity.
    topbar_link(page, "Entrée en relation").click()
    fill_identity(page, number, last_name)
    shot(page, "journey1-04-identity")
    page.get_by_role("button", name="Continuer : coordonnées").click()
    expect(page).to_have_url(re.compile(re.escape(f"/{number}/coordonnees/")))
    shot(page, "journey1-05-contact")

    # Step 2: the questions appear as the contact points are typed, nothing pre-selected,
    # each with its wording.
    type_contact(page, "#id_email", f"camille.{number.lower()}@exemple.fr")
    expect(page.locator("#id_answer_email_0")).to_be_visible()
    type_contact(page, "#id_mobile", "06 12 34 56 78")
    expect(page.locator("#id_answer_sms_push_0")).to_be_visible()
    for channel in ("email", "sms_push"):
        question = page.locator(f"#question-{channel}")
        expect(question.locator("blockquote.wording")).to_be_visible()
        expect(question.locator("input[type=radio]:checked")).to_have_count(0)
    shot(page, "journey1-06-questions")
    answer(page, "email", "Oui")
    answer(page, "sms_push", "Non")
    shot(page, "journey1-07-answered")
    page.get_by_role("button", name="Valider les coordonnées").click()

    # The "Oui" generated a form, to be signed; the banner shows it.
    expect(page.locator("h1")).to_have_text(re.compile(r"^Formulaire "))
    form = ConsentForm.objects.get(client__client_number=number)
    assert form.status == FormStatus.PENDING
    expect(page.locator(".flash-success")).to_contain_text(f"Formulaire {form.reference} généré")
    expect(page.locator(".pending-banner")).to_contain_text(form.reference)
    shot(page, "journey1-08-form")

    # Signing on the tablet: the identity document, then the customer's drawn signature.
    page.set_viewport_size(TABLET)
    page.get_by_role("button", name="Signer sur la tablette").click()
    expect(page.locator("h1")).to_have_text(f"Signature du formulaire {form.reference}")
    page.select_option("#id_identity_document", "id_card")
    draw_with_mouse(page)
    assert page.evaluate("() => window.optinSignature.pad.toData().length") == 3
    shot(page, "journey1-09-tablet")
    with page.expect_navigation():
        page.get_by_role("button", name="Je signe ce formulaire").click()
    expect(page.locator(".flash-success")).to_have_text(
        "Formulaire signé : l'accord du client est enregistré."
    )
    expect(page.locator(".pending-banner")).to_have_count(0)
    page.set_viewport_size(DESKTOP)
    shot(page, "journey1-10-signed")

    # The record: e-mail granted, SMS refused.
    topbar_link(page, "Clients").click()
    page.fill("#id_q", last_name)
    page.get_by_role("link", name=number).click()
    expect(page.locator("h1")).to_have_text(f"Mme Camille {last_name}")
    rows = page.locator("tr:has(th[scope=row])")
    expect(rows.filter(has_text="E-mail").locator(".state")).to_have_text("accord")
    expect(rows.filter(has_text="SMS et notifications mobiles").locator(".state")).to_have_text(
        "refus"
    )
    shot(page, "journey1-11-record")

    states = {s.channel: s.status for s in ConsentState.objects.filter(client=form.client)}
    assert states == {"email": "granted", "sms_push": "refused"}
    form.refresh_from_db()
    assert (form.status, form.method, form.identity_document) == ("signed", "tablet", "id_card")
    assert form.evidence["tablet"]["strokes"] == 3
    console.assert_clean()


def open_account_answering_yes(page: Any, number: str, last_name: str) -> ConsentForm:
    topbar_link(page, "Entrée en relation").click()
    fill_identity(page, number, last_name)
    page.get_by_role("button", name="Continuer : coordonnées").click()
    type_contact(page, "#id_email", f"camille.{number.lower()}@exemple.fr")
    answer(page, "email", "Oui")
    page.get_by_role("button", name="Valider les coordonnées").click()
    expect(page.locator("h1")).to_have_text(re.compile(r"^Formulaire "))
    return ConsentForm.objects.get(client__client_number=number)


def expect_warning(page: Any, form: ConsentForm) -> None:
    expect(page).to_have_title(WARNING_TITLE)
    assert path_of(page).startswith(reverse("clients:leave_opening"))
    expect(page.locator("#leave-title")).to_have_text("Le client n'a pas signé son accord")
    expect(page.locator("#leave-text")).to_contain_text(form.reference)


def test_an_answer_clicked_right_after_typing_a_contact_point_is_kept(
    page_as: Any, live_url: str, advisor: Any
) -> None:
    page = page_as(advisor, viewport=DESKTOP)
    number = unique_number()
    page.goto(live_url + reverse("clients:opening"))
    fill_identity(page, number, f"Blanc-{number[-4:]}")
    page.get_by_role("button", name="Continuer : coordonnées").click()
    type_contact(page, "#id_email", f"camille.{number.lower()}@exemple.fr")
    type_contact(page, "#id_mobile", "06 12 34 56 78", then_tab=False)
    # The advisor reads the wording and clicks "Oui": the mobile field loses the focus.
    with page.expect_response(hx_post_with("mobile", "06 12 34 56 78")):
        page.locator("label[for=id_answer_email_0]").click()
    htmx_settled(page)
    expect(page.locator("#id_answer_email_0")).to_be_checked(timeout=1000)


def test_journey_2_leaving_an_unsigned_opening_is_warned_every_time(
    page_as: Any, live_url: str, advisor: Any
) -> None:
    page = page_as(advisor, viewport=DESKTOP)
    console = Console(page)
    dialogs: list[str] = []
    accept = {"dialog": False}

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.type)
        if accept["dialog"]:
            dialog.accept()
        else:
            dialog.dismiss()

    page.on("dialog", on_dialog)
    number = unique_number()
    page.goto(live_url + reverse("clients:search"))
    shot(page, "journey2-01-search")
    form = open_account_answering_yes(page, number, f"Roux-{number[-4:]}")
    form_url = page.url
    assert page.locator("body").get_attribute("data-leave-warning")
    expect(page.locator(".pending-banner")).to_contain_text(form.reference)
    shot(page, "journey2-02-form")

    # Closing the tab asks the browser's confirmation (after a user gesture on the page);
    # dismissed, the page stays.
    page.locator("h1").click()
    with page.expect_event("dialog"):
        page.close(run_before_unload=True)
    assert dialogs == ["beforeunload"]
    assert not page.is_closed()
    assert page.url == form_url

    # A link of the back-office goes through the warning page, every time.
    topbar_link(page, "Clients").click()
    expect_warning(page, form)
    shot(page, "journey2-03-warning")
    page.get_by_role("button", name="Revenir au formulaire").click()
    assert page.url == form_url
    shot(page, "journey2-04-back-to-form")
    topbar_link(page, "Clients").click()
    expect_warning(page, form)
    shot(page, "journey2-05-warning-again")

    # Typing another address: the browser asks first, then the server warns too.
    page.get_by_role("button", name="Revenir au formulaire").click()
    page.locator("h1").click()
    accept["dialog"] = True
    page.goto(live_url + reverse("clients:search"))
    assert dialogs == ["beforeunload", "beforeunload"]
    expect_warning(page, form)
    shot(page, "journey2-06-warning-typed-address")

    # Leaving anyway: the next page's banner shows the pending form.
    page.get_by_role("button", name="Quitter sans faire signer").click()
    expect(page.locator("h1")).to_have_text("Rechercher un client")
    banner = page.locator(".pending-banner")
    expect(banner).to_contain_text(form.reference)
    expect(banner.get_by_role("link", name="Faire signer")).to_have_attribute(
        "href", reverse("signatures:sign_tablet", args=[number, form.reference])
    )
    expect(page.locator(".flash-warning")).to_contain_text(form.reference)
    shot(page, "journey2-07-left")
    # The journey is left: the back-office's links no longer warn.
    topbar_link(page, "Entrée en relation").click()
    expect(page.locator("h1")).to_have_text("Entrée en relation")
    form.refresh_from_db()
    assert form.status == FormStatus.PENDING
    console.assert_clean()


def test_the_console_check_catches_what_the_policy_refuses(
    page_as: Any, live_url: str, advisor: Any
) -> None:
    """The check above would see a page that relies on an inline style or handler."""
    page = page_as(advisor)
    console = Console(page)
    page.goto(live_url + reverse("clients:search"))
    page.evaluate(
        """() => {
        const box = document.createElement("div");
        box.innerHTML = '<p style="color: red">x</p><img src="data:," onload="window.x = 1">';
        document.body.appendChild(box);
    }"""
    )
    for _ in range(20):
        refused = "\n".join(console.refused())
        if "script-src" in refused:
            break
        page.wait_for_timeout(100)
    assert "style-src" in refused and "script-src" in refused
    assert page.evaluate("() => window.x") is None


def test_searching_a_client_number_never_nests_a_page_in_the_results(
    page_as: Any, live_url: str, advisor: Any
) -> None:
    number = unique_number()
    ClientFactory(client_number=number, branch=advisor.staff_profile.branch)
    page = page_as(advisor, viewport=DESKTOP)
    page.goto(live_url + reverse("clients:search"))

    def answers_the_number(response: Any) -> bool:
        return response.request.headers.get("hx-request") == "true" and number in response.url

    with page.expect_response(answers_the_number):
        page.locator("#id_q").press_sequentially(number, delay=15)
    htmx_settled(page)
    expect(page.locator("header.topbar")).to_have_count(1)
    expect(page.locator("h1")).to_have_count(1)


def test_the_form_pages_show_no_template_comment(
    page_as: Any, live_url: str, advisor: Any, collect: Any
) -> None:
    customer = ClientFactory(client_number=unique_number(), branch=advisor.staff_profile.branch)
    form = collect(customer, email="yes").form
    page = page_as(advisor, viewport=DESKTOP)
    for name in ("signatures:detail", "signatures:sign_tablet"):
        page.goto(live_url + reverse(name, args=[customer.client_number, form.reference]))
        assert "{#" not in page.locator("body").inner_text()


def test_a_warning_message_does_not_look_like_a_success(
    page_as: Any, live_url: str, advisor: Any
) -> None:
    page = page_as(advisor, viewport=DESKTOP)
    page.goto(live_url + reverse("clients:search"))
    backgrounds = page.evaluate(
        """() => Object.fromEntries(["success", "warning"].map(level => {
        const flash = document.createElement("p");
        flash.className = "flash flash-" + level;
        document.querySelector("main").prepend(flash);
        const background = getComputedStyle(flash).backgroundColor;
        flash.remove();
        return [level, background];
    }))"""
    )
    assert backgrounds["warning"] != backgrounds["success"]
