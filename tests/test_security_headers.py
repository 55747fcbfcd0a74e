"""R55 and R27: the back-office pages cannot be made to run someone else's script.

The pages where advisors see and act on their branch's customers (R55) and the pending-forms
warnings shown on every page (R27) are served with a Content-Security-Policy that allows
scripts and styles from the site's own files only (no 'unsafe-inline', no 'unsafe-eval') and
forbids framing (`frame-ancestors 'none'`, X-Frame-Options DENY). For that policy to hold
without breaking the pages, no template output carries an inline script, an `on…=` event
handler, a `javascript:` link, a `<style>` element or a `style` attribute: each page's HTML is
scanned. The PDF downloads of a consent form are not HTML and carry no policy.
"""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client as HttpClient
from django_otp.plugins.otp_totp.models import TOTPDevice

from clients.models import Client
from signatures.models import ConsentForm
from signatures.sealing import development_seal_pkcs12
from signatures.services import BranchAnswer, collect_branch_answers
from tests.auth import login_verified

PASSWORD = "pw-for-tests"  # StaffFactory's


# --- reading the header and the page -----------------------------------------------------------


def policy(response: Any) -> dict[str, list[str]]:
    """The Content-Security-Policy header as directive → sources."""
    header = response.headers.get("Content-Security-Policy")
    assert header, "no Content-Security-Policy header"
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            assert words[0].lower() not in directives, f"{words[0]} given twice"
            directives[words[0].lower()] = words[1:]
    return directives


def effective(directives: dict[str, list[str]], name: str) -> list[str]:
    """The sources a fetch directive allows (default-src when it is absent)."""
    sources = directives.get(name, directives.get("default-src"))
    assert sources is not None, f"neither {name} nor default-src"
    return sources


class InlineCode(HTMLParser):
    """Collects what a strict policy would block or what it takes on trust: inline scripts,
    event handlers, javascript: URLs, style elements and style attributes."""

    # Script types the browser does not run (data blocks such as json_script's).
    DATA_TYPES = frozenset({"application/json", "application/ld+json"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.handlers: list[str] = []
        self.javascript_urls: list[str] = []
        self.style_elements: list[str] = []
        self.style_attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        text = self.get_starttag_text() or tag
        names = {name.lower(): value or "" for name, value in attrs}
        script_type = names.get("type", "").strip().lower()
        if tag == "script" and "src" not in names and script_type not in self.DATA_TYPES:
            self.scripts.append(text)
        if tag == "style":
            self.style_elements.append(text)
        for name, value in names.items():
            if name.startswith("on"):
                self.handlers.append(text)
            if name == "style":
                self.style_attributes.append(text)
            if name in ("href", "src", "action", "formaction") and value.strip().lower().startswith(
                "javascript:"
            ):
                self.javascript_urls.append(text)

    handle_startendtag = handle_starttag


def scan(response: Any) -> InlineCode:
    assert response["Content-Type"].startswith("text/html"), response["Content-Type"]
    reader = InlineCode()
    reader.feed(response.content.decode())
    reader.close()
    return reader


# --- the pages -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seal_p12(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway seal for the consent forms' PDFs, generated once."""
    path: Path = tmp_path_factory.mktemp("seal") / "seal.p12"
    path.write_bytes(development_seal_pkcs12(bank_name="Banque Test", passphrase="pw"))
    return path


@pytest.fixture(autouse=True)
def _seal(settings: Any, seal_p12: Path) -> None:
    settings.OPTIN_SEAL_PKCS12 = seal_p12
    settings.OPTIN_SEAL_PASSPHRASE = "pw"


@pytest.fixture
def pending_form(advisor: User, customer: Client) -> ConsentForm:
    """A form waiting for the customer's signature: every page then shows the R27 banner."""
    collected = collect_branch_answers(
        client=customer,
        answers={"email": BranchAnswer("yes", "email-v1")},
        advisor=advisor,
        journey="branch_account_opening",
    )
    assert collected.form is not None
    return collected.form


Fetch = Callable[[str], Any]


@pytest.fixture
def fetch(
    request: pytest.FixtureRequest,
    advisor: User,
    administrator: User,
    compliance: User,
    customer: Client,
    client_factory: Callable[..., Client],
) -> Fetch:
    """GET one named page as the person who uses it.

    The tests reading the pages' HTML also ask for `pending_form`, so that the R27 banner is
    part of what they read; the form's own pages create it when they need it.
    """
    client_factory(first_name="Paul", last_name="Dupont")  # the search then lists two
    number = customer.client_number
    as_advisor: dict[str, str] = {
        "search": "/?q=dupont",
        "search_results_fragment": "/?q=dupont",
        "record": f"/clients/{number}/",
        "contact": f"/clients/{number}/coordonnees/",
        "ask": f"/clients/{number}/accord/?canaux=sms_push",
        "capacity": f"/clients/{number}/capacite/",
        "withdraw": f"/clients/{number}/retrait/email/",
        "opening": "/entree-en-relation/",
        "pending": "/formulaires/en-attente/",
        "account": "/compte/",
        "not_found": "/clients/NOPE-404/",
    }
    form_pages = {
        "form_detail": "",
        "sign_tablet": "tablette/",
        "sign_paper": "papier/",
        "cancel": "annuler/",
    }
    as_administrator = {
        "admin_index": "/admin/",
        "admin_client_list": "/admin/clients/client/",
        "admin_client_change": f"/admin/clients/client/{customer.pk}/change/",
        "admin_audit_list": "/admin/optin/auditentry/",
    }

    def log_in(user: User, with_password_only: bool = False) -> HttpClient:
        http = HttpClient()
        if with_password_only:
            http.post("/connexion/", {"username": user.get_username(), "password": PASSWORD})
        else:
            login_verified(http, user)
        return http

    def get(name: str) -> Any:
        if name == "login":
            return HttpClient().get("/connexion/?next=/")
        if name == "second_factor":
            TOTPDevice.objects.create(user=advisor, name="application", confirmed=True)
            return log_in(advisor, with_password_only=True).get("/connexion/code/")
        if name == "enrolment":  # the administrator has no authenticator yet
            return log_in(administrator, with_password_only=True).get("/connexion/activation/")
        if name == "backup_codes":
            http = log_in(advisor)
            return http.get(http.post("/compte/codes-de-secours/")["Location"])
        if name == "forbidden":  # compliance opens no account
            return log_in(compliance).get("/entree-en-relation/")
        if name in as_administrator:
            return log_in(administrator).get(as_administrator[name])
        if name in form_pages:
            form: ConsentForm = request.getfixturevalue("pending_form")
            path = f"/clients/{number}/formulaires/{form.reference}/{form_pages[name]}"
            return log_in(advisor).get(path)
        headers = {"HX-Request": "true"} if name == "search_results_fragment" else {}
        return log_in(advisor).get(as_advisor[name], headers=headers)

    return get


# The pages named in the issue, then every other page of the back-office.
MAIN_PAGES = ("login", "search", "record", "opening", "pending", "admin_index")
OTHER_PAGES = (
    "second_factor",
    "enrolment",
    "backup_codes",
    "account",
    "search_results_fragment",
    "contact",
    "ask",
    "capacity",
    "withdraw",
    "form_detail",
    "sign_tablet",
    "sign_paper",
    "cancel",
    "not_found",
    "forbidden",
)
OUR_PAGES = MAIN_PAGES[:-1] + OTHER_PAGES
ADMIN_PAGES = ("admin_index", "admin_client_list", "admin_client_change", "admin_audit_list")
EXPECTED_STATUS = {"not_found": 404, "forbidden": 403}


def test_the_pages_show_the_pending_form_banner(fetch: Fetch, pending_form: ConsentForm) -> None:
    """The scanned pages carry the R27 banner, so its template is scanned too."""
    for name in ("search", "record", "pending", "account"):
        assert pending_form.reference in fetch(name).content.decode(), name


@pytest.mark.parametrize("name", MAIN_PAGES + OTHER_PAGES + ADMIN_PAGES[1:])
def test_every_html_page_has_a_strict_content_security_policy(fetch: Fetch, name: str) -> None:
    response = fetch(name)
    assert response.status_code == EXPECTED_STATUS.get(name, 200), response.status_code
    directives = policy(response)
    for directive in ("script-src", "style-src", "default-src"):
        sources = effective(directives, directive)
        assert "'unsafe-inline'" not in sources, directive
        assert "'unsafe-eval'" not in sources, directive
        assert "*" not in sources, directive
        assert not any(s.startswith(("http:", "https:", "data:")) for s in sources), directive
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives.get("object-src") == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("name", OUR_PAGES)
def test_no_page_carries_inline_script_or_style(
    fetch: Fetch, name: str, pending_form: ConsentForm
) -> None:
    response = fetch(name)
    assert response.status_code == EXPECTED_STATUS.get(name, 200), response.status_code
    found = scan(response)
    assert found.scripts == []
    assert found.handlers == []
    assert found.javascript_urls == []
    assert found.style_elements == []
    assert found.style_attributes == []


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_the_admin_pages_carry_no_inline_script_or_style_either(
    fetch: Fetch, name: str, pending_form: ConsentForm
) -> None:
    """Django's admin templates (and ours over them) need no exception to the policy."""
    response = fetch(name)
    assert response.status_code == 200
    found = scan(response)
    assert found.scripts == []
    assert found.handlers == []
    assert found.javascript_urls == []
    assert found.style_elements == []
    assert found.style_attributes == []


def test_the_scan_finds_what_the_policy_would_block() -> None:
    """The scanner itself: each kind of inline code is caught, scripts from files are not."""

    class Page:
        headers = {"Content-Type": "text/html; charset=utf-8"}
        content = (
            b'<script src="/static/js/a.js"></script><script type="application/json">{}</script>'
            b"<script>alert(1)</script><button onclick='x()'>b</button>"
            b'<a href="JavaScript:void(0)">a</a><style>p{}</style><p style="color:red">p</p>'
            b"<img src=x onerror=alert(1) />"
        )

        def __getitem__(self, key: str) -> str:
            return self.headers[key]

    found = scan(Page())
    assert found.scripts == ["<script>"]
    assert len(found.handlers) == 2
    assert len(found.javascript_urls) == 1
    assert found.style_elements == ["<style>"]
    assert found.style_attributes == ['<p style="color:red">']


# --- the PDF downloads -----------------------------------------------------------------------


def test_the_pdf_download_carries_no_content_security_policy(
    advisor: User, customer: Client, pending_form: ConsentForm
) -> None:
    http = HttpClient()
    login_verified(http, advisor)
    response = http.post(
        f"/clients/{customer.client_number}/formulaires/{pending_form.reference}/pdf/"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response).startswith(b"%PDF-")
    assert "Content-Security-Policy" not in response.headers
