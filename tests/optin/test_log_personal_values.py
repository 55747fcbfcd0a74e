"""R52, R63, R64: every personal value of every entry type is sealed.

One customer, given distinctive personal values, goes through every journey that writes a log
entry about a person, each through the page, the API or the command that really writes it:
creation and contact change through the API, contact confirmation, answers, signatures on the
tablet and on paper, download, cancellation, withdrawal and capacity change through the
branch pages, digital decisions and STOP through the API, unsubscribe and double opt-in
confirmation through the public pages, form expiry through its command, identity and birth
date through the client admin, the proof bundle through its page; then a STOP from a number
nobody holds. No such value may appear in any column of any entry, nor in its payload outside
the sealed `personal` ciphertext (destroying the customer's key must leave nothing readable),
and the decrypted values of each entry are exactly the ones it should keep.

Staff members appear in the clear on purpose (`staff:<id>` and their branch): they act for the
bank in their professional capacity. So do the client's id and number, channels, states, legal
capacity and protection measure (they explain eligibility and lapses, R6, R7), wording
versions, form references and hashes of files, message ids, the means of a withdrawal in
branch, and the API's pseudonymous session id and authentication level.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client as HttpClient
from django.urls import reverse
from PIL import Image, ImageDraw
from rest_framework.test import APIClient

from clients.models import PARIS, Client
from optin import audit
from optin.audit import Actor
from optin.models import ApiScope, AuditEntry
from optin.selectors import ACTION_LABELS
from optin.services import create_api_client
from optin.tokens import unsubscribe_token
from signatures.models import ConsentForm, IdentityDocument
from tests.auth import login_verified
from tests.clients.helpers import form_data
from tests.signatures.conftest import _seal, seal_p12  # noqa: F401  (forms are sealed)
from tests.signatures.drawing import CANVAS, handwriting, tablet_input

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)  # after the initial wordings

NUMBER = "Z-UNIQUE-1"
FIRST_NAME, NEW_FIRST_NAME = "Zéphyrine", "Zéphyrinette"
LAST_NAME, NEW_LAST_NAME = "Vauquelin-Orsay", "Kerbrat-Landévennec"
BIRTH_DATE, NEW_BIRTH_DATE = "1987-03-14", "1986-11-29"
EMAIL, NEW_EMAIL = "zephyrine.unique@example.org", "zephyrine.nouvelle@example.org"
MOBILE = "+33612345678"
STRANGER = "+33698765432"  # a STOP from a number no client holds
IP, USER_AGENT = "203.0.113.77", "UniqueAgent/9.9"
NOTE = "Zéphyrine Vauquelin-Orsay veut en parler à son fils"
CAPACITY_REFERENCE = "RG 26/77123 TJ Quimper"
BIRTH_REFERENCE = "acte de naissance n° 4471-UNIQUE"

# Every form of these values that must never be readable in the log: as stored, as typed,
# and the digits of the numbers alone. The signature's image and strokes are files (the log
# keeps their hashes): a piece of the image's base64 and of the strokes must not be there.
WATCHED = (
    "curatelle",  # which protection measure (the capacity itself stays clear: R7's proof)
    FIRST_NAME,
    NEW_FIRST_NAME,
    LAST_NAME,
    NEW_LAST_NAME,
    BIRTH_DATE,
    NEW_BIRTH_DATE,
    "14/03/1987",
    "29/11/1986",
    EMAIL,
    NEW_EMAIL,
    "zephyrine.",
    MOBILE,
    "06 12 34 56 78",
    "612345678",
    STRANGER,
    "698765432",
    IP,
    USER_AGENT,
    NOTE,
    CAPACITY_REFERENCE,
    BIRTH_REFERENCE,
    "4471-UNIQUE",
    tablet_input()["signature"][60:120],
    json.dumps(handwriting()[0]["points"][5]),
)

# What the log says about things other than a person: wordings, staff accounts, API clients,
# exports and key rotations. Every other action the code can write (each has its label in
# ACTION_LABELS, which tests/compliance/test_action_labels.py keeps complete) concerns a person
# and must be driven by the scenario below: a new kind of entry fails this test until it is
# either driven here (and its personal values checked) or listed here as being about nobody.
NOT_ABOUT_A_PERSON = frozenset(
    {
        "wording.published",
        "wording.edited",
        "wording.activated",
        "wording.deactivated",
        "staff.created",
        "staff.second_factor_enrolled",
        "staff.backup_codes_renewed",
        "api_client.created",
        "api_client.revoked",
        "optin_list.export_started",
        "optin_list.exported",
        "audit_trail.export_started",
        "audit_trail.exported",
        "master_key.rotated",
        "retention.purged",  # counts and keyed pseudonyms only (R65)
    }
)
# Entries of the erasure and of the retention purges: written after the customer's key is
# destroyed, or about files, they seal nothing; tests/privacy/ drives them and checks it.
PRIVACY_ACTIONS = frozenset({"client.erased", "client.proof_expired", "form.files_deleted"})

IDENTITY = {
    "civility": "MME",
    "first_name": FIRST_NAME,
    "last_name": LAST_NAME,
    "birth_date": BIRTH_DATE,
    "email": EMAIL,
    "mobile": MOBILE,
}
CONTACT_POINT = {"email": NEW_EMAIL, "sms_push": MOBILE}
# The sealed values of the entries whose values do not depend on their channel or actor.
SEALED = {
    "client.created": {**IDENTITY, "protection_measure": ""},
    "client.identity_changed": {"first_name": NEW_FIRST_NAME, "last_name": NEW_LAST_NAME},
    "client.birth_date_corrected": {
        "old": BIRTH_DATE,
        "new": NEW_BIRTH_DATE,
        "reference": BIRTH_REFERENCE,
    },
    "client.capacity_changed": {
        "reference": CAPACITY_REFERENCE,
        "from": {"protection_measure": ""},
        "to": {"protection_measure": "curatelle"},
    },
    "form.signed": {"ip": IP, "user_agent": USER_AGENT},
    "form.cancelled": {"note": NOTE},
}
# Entries that keep nothing personal.
NOTHING_SEALED = frozenset(
    {
        "form.generated",
        "form.superseded",
        "form.expired",
        "form.downloaded",
        "proof_bundle.produced",
        "sms.stop_unmatched",
    }
)
# In this scenario every consent entry of an API client or of the customer is the person's own
# act (a digital decision, an unsubscribe, a confirmation): it carries their IP address and user
# agent (R52). Those of advisors and of the system carry the contact point only.
DIGITAL_ACTORS = frozenset({"api_client", "customer"})

LINK = re.compile(r"https?://[^\s/]+(/confirmer/[0-9a-f]+)")


@dataclass(frozen=True)
class Scenario:
    client: Client
    entries: list[AuditEntry]


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """The public pages' rate limits count in the cache."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api(db: None) -> APIClient:
    """The API client `web` holding every scope, called from the watched address and agent."""
    created = create_api_client(
        actor=Actor.system("tests"), name="web", scopes=list(ApiScope.values)
    )
    http = APIClient(REMOTE_ADDR=IP, HTTP_USER_AGENT=USER_AGENT)
    http.credentials(HTTP_AUTHORIZATION=f"Token {created.token}")
    return http


def browser(user: Any) -> HttpClient:
    """A staff member's browser, on the tablet or desk whose address and agent are watched."""
    http = HttpClient(REMOTE_ADDR=IP, HTTP_USER_AGENT=USER_AGENT)
    login_verified(http, user)
    return http


def ok(response: Any, status: int = 302) -> Any:
    assert response.status_code == status, response.content.decode()[:2000]
    return response


def evidence(**extra: str) -> dict[str, str]:
    return {"ip": IP, "user_agent": USER_AGENT, **extra}


def decision(api: APIClient, channel: str, decision: str) -> None:
    body: dict[str, Any] = {
        "channel": channel,
        "decision": decision,
        "journey": "digital_self_service",
        "evidence": evidence(session_id="sess-42", auth_level="sca"),
    }
    if decision in ("grant", "refuse"):
        body["wording_version"] = f"{channel}-v1"
    if decision == "grant":
        body["affirmative_action"] = True
    ok(api.post(f"/api/v1/clients/{NUMBER}/consents", body, format="json"), 201)


def stop(api: APIClient, mobile: str, message_id: str) -> None:
    body = {"mobile": mobile, "keyword": "STOP", "message_id": message_id}
    ok(api.post("/api/v1/sms/stop", body, format="json"), 200)


def ask_yes(http: HttpClient, *channels: str) -> ConsentForm:
    """The branch question answered "Oui" on each channel: the form to sign."""
    path = reverse("clients:ask", args=[NUMBER]) + "?canaux=" + ",".join(channels)
    answers = {f"answer_{c}": "yes" for c in channels}
    wordings = {f"wording_{c}": f"{c}-v1" for c in channels}
    location = ok(http.post(path, {**answers, **wordings}))["Location"]
    # the page opens the new form: /clients/<number>/formulaires/<reference>/
    return ConsentForm.objects.get(reference=location.rstrip("/").rsplit("/", 1)[1])


def scan_png() -> bytes:
    """A scanned page signed by hand."""
    image = Image.new("RGB", (620, 877), "white")
    ImageDraw.Draw(image).line([(380, 760), (420, 720), (450, 780)], fill="black", width=3)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def form_url(name: str, form: ConsentForm) -> str:
    return reverse(f"signatures:{name}", args=[NUMBER, form.reference])


def confirmation_link(api: APIClient, capture: Any) -> str:
    """The digital e-mail grant (double opt-in on), committed: the link it mails."""
    with capture(execute=True):
        decision(api, "email", "grant")
    [message] = mail.outbox
    assert message.to == [NEW_EMAIL]
    found = LINK.search(str(message.body))
    assert found is not None, message.body
    return found.group(1)


@pytest.fixture
def scenario(
    settings: Any,
    time_machine: Any,
    django_capture_on_commit_callbacks: Any,
    api: APIClient,
    branch: Any,
    advisor: Any,
    administrator: Any,
    compliance: Any,
) -> Scenario:
    """Every kind of entry about a person, each written by its real page, API or command."""
    settings.OPTIN_EMAIL_DOUBLE_OPTIN = True
    time_machine.move_to(T0, tick=False)
    first_seq = AuditEntry.objects.count() + 1

    # client.created, then client.contact_changed (API), client.contact_confirmed (branch)
    created = {**IDENTITY, "client_number": NUMBER, "kind": "individual"}
    created.update(mobile="06 12 34 56 78", branch=branch.code)
    ok(api.post("/api/v1/clients", created, format="json"), 201)
    ok(api.patch(f"/api/v1/clients/{NUMBER}", {"email": NEW_EMAIL}, format="json"), 200)
    desk = browser(advisor)
    client = Client.objects.get(client_number=NUMBER)
    contact = {"email": NEW_EMAIL, "mobile": MOBILE, "version": client.version}
    ok(desk.post(reverse("clients:contact", args=[NUMBER]), {**contact, "confirmed": "on"}))

    # consent.pending_confirmation (API) and consent.confirmed (the link's page)
    public = HttpClient(REMOTE_ADDR=IP, HTTP_USER_AGENT=USER_AGENT)
    ok(public.post(confirmation_link(api, django_capture_on_commit_callbacks)), 200)
    # consent.granted (API), consent.withdrawn (unsubscribe page, STOP), consent.refused (API)
    decision(api, "sms_push", "grant")
    ok(public.post(f"/u/{unsubscribe_token(client.pk, 'email')}"), 200)
    stop(api, MOBILE, "gw-unique-1")
    decision(api, "email", "refuse")

    # consent.requested, form.generated; a second "Oui": form.superseded, consent.restored
    ask_yes(desk, "email", "sms_push")
    form = ask_yes(desk, "email")
    # form.signed on the tablet, its PDF downloaded, a withdrawal in branch
    time_machine.shift(dt.timedelta(minutes=30))
    tablet = {**tablet_input(), **CANVAS, "identity_document": IdentityDocument.ID_CARD}
    ok(desk.post(form_url("sign_tablet", form), tablet))
    ok(desk.post(form_url("signed_pdf", form)), 200)
    withdraw = reverse("clients:withdraw", args=[NUMBER, "email"])
    ok(desk.post(withdraw, {"means": "phone"}))
    # form.signed on paper
    form = ask_yes(desk, "sms_push")
    time_machine.shift(dt.timedelta(minutes=30))
    paper = {
        "scan": SimpleUploadedFile("scan.png", scan_png(), content_type="image/png"),
        "reference_read": form.reference,
        "signed_at": (form.created_at.astimezone(PARIS) + dt.timedelta(minutes=5)).strftime(
            "%Y-%m-%dT%H:%M"
        ),
        "identity_document": IdentityDocument.PASSPORT,
        "attested": "on",
    }
    ok(desk.post(form_url("sign_paper", form), paper))
    # form.cancelled, with a note naming the customer; form.expired by the daily command
    ok(desk.post(form_url("cancel", ask_yes(desk, "email")), {"note": NOTE}))
    ask_yes(desk, "email")
    time_machine.shift(dt.timedelta(days=settings.OPTIN_SIGNATURE_DELAY_DAYS + 1))
    call_command("expire_pending_forms", stdout=None)

    # client.capacity_changed and consent.lapsed (branch page, confirmed)
    desk = browser(advisor)
    measure = {"legal_capacity": "protected", "protection_measure": "curatelle"}
    measure.update(reference=CAPACITY_REFERENCE, confirmed="True")
    ok(desk.post(reverse("clients:capacity", args=[NUMBER]), measure))
    # client.identity_changed and client.birth_date_corrected (client admin)
    admin = browser(administrator)
    change = reverse("admin:clients_client_change", args=[client.pk])
    data = form_data(ok(admin.get(change), 200).content.decode())
    data.update(first_name=NEW_FIRST_NAME, last_name=NEW_LAST_NAME, birth_date=NEW_BIRTH_DATE)
    data.update(capacity_reference=BIRTH_REFERENCE)
    ok(admin.post(change, data))
    # proof_bundle.produced (compliance page); sms.stop_unmatched
    ok(browser(compliance).post(reverse("compliance:bundle", args=[NUMBER])), 200)
    stop(api, STRANGER, "gw-unique-2")

    written = list(AuditEntry.objects.filter(seq__gte=first_seq).order_by("seq"))
    return Scenario(client=client, entries=written)


def clear_text(entry: AuditEntry) -> list[str]:
    """Everything an entry shows without its client's key: each column as stored, and each
    key and string of its payload decoded (escapes undone) outside `personal`."""
    texts = [str(getattr(entry, f.attname)) for f in AuditEntry._meta.concrete_fields]
    payload = json.loads(entry.payload)
    payload.pop("personal", None)

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                texts.append(str(key))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        else:
            texts.append(str(value))

    walk(payload)
    return texts


def expected_personal(entry: AuditEntry) -> dict[str, Any] | None:
    if entry.action in NOTHING_SEALED:
        return None
    if entry.action in ("client.contact_changed", "client.contact_confirmed"):
        old = EMAIL if entry.action == "client.contact_changed" else CONTACT_POINT[entry.channel]
        return {"old": old, "new": CONTACT_POINT[entry.channel]}
    if entry.action.startswith("consent."):
        sealed = {"contact_point": CONTACT_POINT[entry.channel]}
        if entry.actor_type in DIGITAL_ACTORS:
            sealed.update(ip=IP, user_agent=USER_AGENT)
        return sealed
    return SEALED[entry.action]


def test_every_action_about_a_person_is_driven(scenario: Scenario) -> None:
    assert set(ACTION_LABELS) >= NOT_ABOUT_A_PERSON
    driven = {entry.action for entry in scenario.entries}
    assert sorted(driven) == sorted(set(ACTION_LABELS) - NOT_ABOUT_A_PERSON - PRIVACY_ACTIONS)
    journeys = {json.loads(e.payload).get("journey") for e in scenario.entries}
    assert {"unsubscribe_link", "sms_stop", "double_optin_confirmation"} <= journeys
    assert {"digital_self_service", "branch_request", "system_capacity"} <= journeys


def test_no_personal_value_is_readable_outside_the_sealed_part(scenario: Scenario) -> None:
    leaks = [
        (entry.seq, entry.action, value)
        for entry in scenario.entries
        for text in clear_text(entry)
        for value in WATCHED
        if value.casefold() in text.casefold()
    ]
    assert leaks == []
    # The sealed part is ciphertext: none of the values shows in the stored payload either.
    for entry in scenario.entries:
        assert not [v for v in WATCHED if v.casefold() in entry.payload.casefold()], entry.action


def test_each_entry_seals_exactly_what_it_should(scenario: Scenario) -> None:
    found = {(entry.seq, entry.action): audit.personal_data(entry) for entry in scenario.entries}
    expected = {(entry.seq, entry.action): expected_personal(entry) for entry in scenario.entries}
    assert found == expected
    # Every entry naming the customer is theirs: their key alone unlocks it (R64).
    assert {e.client_id for e in scenario.entries if e.action != "sms.stop_unmatched"} == {
        scenario.client.pk
    }
