"""R24-R26, R29, R56, R71: signing and cancelling a form through its pages.

The tablet page shows what the customer signs (each channel's wording text) and the form's
reference; a drawn signature posted with the identity document checked signs the form and
sends the advisor back to it with a confirmation. The paper page takes a scan recognised by
its content, the reference read on it, the attested signing time (in Europe/Paris, between
the form's generation and now) and the attestation. Every refusal re-renders its page with
status 422 and the French message, and writes nothing: the form stays pending, the states
and the log are unchanged. The pages of a form that is no longer pending send back to the
form. Cancelling needs a reason and gives the channels back their prior state, without
recording a "Non". The form's page shows the signing time with its UTC offset (R56), the
method and the hashes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.urls import reverse
from PIL import Image, ImageDraw

from clients.models import Client
from signatures import files
from signatures.models import ConsentForm, FormStatus, IdentityDocument
from signatures.services import Collected
from tests.auth import login_verified
from tests.clients.helpers import entries, log_size, payload, states_of
from tests.signatures.drawing import CANVAS, data_url, handwriting, stroke, tablet_input

Collect = Callable[..., Collected]
Sign = Callable[..., ConsentForm]

PARIS = ZoneInfo("Europe/Paris")
# 10:00 in Paris (UTC+1), after the publication of the initial wordings.
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def traveller() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def pending(traveller: time_machine.Coordinates, customer: Client, collect: Collect) -> Any:
    """A form covering both channels, generated at T0; the clock then moves 30 minutes."""
    form = collect(customer, email="yes", sms_push="yes").form
    assert form is not None
    traveller.shift(dt.timedelta(minutes=30))
    return form


def logged_in(user: Any) -> HttpClient:
    http = HttpClient()
    login_verified(http, user)
    return http


@pytest.fixture
def http(advisor: Any) -> HttpClient:
    return logged_in(advisor)


def url(name: str, form: ConsentForm) -> str:
    return reverse(f"signatures:{name}", args=[form.client.client_number, form.reference])


def text(response: Any) -> str:
    """The page as read on screen (entities decoded)."""
    return html.unescape(response.content.decode())


def snapshot(form: ConsentForm) -> tuple[Any, ...]:
    """What a refused request must leave as it was: the form, its states, the log."""
    row = ConsentForm.objects.filter(pk=form.pk).values().get()
    return row, states_of(form.client), log_size()


def drawn(strokes: list[dict[str, Any]]) -> dict[str, str]:
    """The image and the strokes of a drawing, as the pad posts them."""
    data = tablet_input(strokes)
    return {"signature": data["signature"], "strokes": data["strokes"]}


def tablet_post(**overrides: str) -> dict[str, str]:
    """What the tablet page posts once the customer has signed."""
    data = {
        **drawn(handwriting()),
        **CANVAS,
        "identity_document": IdentityDocument.ID_CARD,
    }
    data.update(overrides)
    return data


def scan_png() -> bytes:
    """A scanned page: some printed lines and a signature, as a PNG."""
    image = Image.new("RGB", (620, 877), "white")
    draw = ImageDraw.Draw(image)
    for y in range(60, 500, 24):
        draw.line([(50, y), (560, y)], fill=(90, 90, 90), width=2)
    draw.line([(380, 760), (420, 720), (450, 780), (500, 730)], fill="black", width=3)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def paper_post(form: ConsentForm, png: bytes | None = None, **overrides: Any) -> dict[str, Any]:
    """What the paper page posts: a PNG scan signed 5 minutes after the form's generation."""
    signed_at = form.created_at.astimezone(PARIS) + dt.timedelta(minutes=5)
    data: dict[str, Any] = {
        "scan": SimpleUploadedFile("scan.png", png or scan_png(), content_type="image/png"),
        "reference_read": form.reference,
        "signed_at": signed_at.strftime("%Y-%m-%dT%H:%M"),
        "identity_document": IdentityDocument.PASSPORT,
        "attested": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- the tablet page ---------------------------------------------------------------------------


def test_the_tablet_page_shows_the_wording_texts_and_the_reference(
    http: HttpClient, pending: ConsentForm
) -> None:
    response = http.get(url("sign_tablet", pending))
    assert response.status_code == 200
    page = text(response)
    assert pending.reference in page
    lines = pending.content["lines"]
    assert [line["channel"] for line in lines] == ["email", "sms_push"]
    for line in lines:
        assert line["text"] in page
        assert line["version"] in page
    assert 'name="signature"' in page
    assert 'name="strokes"' in page


def test_a_signature_posted_from_the_tablet_page_signs_the_form(
    http: HttpClient, advisor: Any, pending: ConsentForm, customer: Client
) -> None:
    response = http.post(url("sign_tablet", pending), tablet_post())
    assert response.status_code == 302
    assert response["Location"] == url("detail", pending)
    pending.refresh_from_db()
    assert pending.status == FormStatus.SIGNED
    assert pending.method == "tablet"
    assert pending.identity_document == IdentityDocument.ID_CARD
    assert pending.signed_by == advisor
    assert pending.signed_at == T0 + dt.timedelta(minutes=30)
    assert pending.evidence["tablet"]["canvas_width"] == 600
    # R52: the page runs behind the verified second factor, and the evidence says so.
    assert pending.evidence["advisor"]["second_factor"] is True
    assert states_of(customer) == {"email": "granted", "sms_push": "granted"}
    [entry] = entries("form.signed", customer)
    assert payload(entry)["reference"] == pending.reference
    assert entry.actor_id == f"staff:{advisor.pk}"
    detail = text(http.get(response["Location"]))
    assert "Formulaire signé : l'accord du client est enregistré." in detail


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"signature": ""}, "Le client doit signer dans le cadre avant de valider."),
        ({"signature": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="}, "doit être une image PNG"),
        (
            {"signature": data_url(b"GIF89a" + b"\x00" * 64)},
            "La signature doit être une image PNG.",
        ),
        (drawn([]), "Le client doit signer dans le cadre avant de valider."),
        (
            drawn([stroke([(50 + 5 * i, 120) for i in range(40)])]),
            "Une ligne droite ou un point ne constitue pas une signature.",
        ),
        (drawn([stroke([(100, 100)])]), "Une ligne droite ou un point ne constitue pas une"),
        ({"strokes": "not json"}, "Le tracé de la signature est illisible."),
        (
            {"signature": "data:image/png;base64," + "A" * 300_000},
            "L'image de la signature est trop lourde.",
        ),
        ({"identity_document": ""}, "Ce champ est obligatoire."),
        ({"identity_document": "library_card"}, "Sélectionnez un choix valide."),
    ],
    ids=[
        "empty",
        "jpeg-data-url",
        "not-a-png",
        "blank-pad",
        "straight-line",
        "a-dot",
        "bad-strokes",
        "too-heavy",
        "no-identity-document",
        "unknown-identity-document",
    ],
)
def test_a_bad_tablet_signature_is_refused_with_its_message_and_writes_nothing(
    http: HttpClient, pending: ConsentForm, overrides: dict[str, str], message: str
) -> None:
    before = snapshot(pending)
    response = http.post(url("sign_tablet", pending), tablet_post(**overrides))
    assert response.status_code == 422
    page = text(response)
    assert message in page
    assert f"Signature du formulaire {pending.reference}" in page  # the page, again
    assert snapshot(pending) == before
    pending.refresh_from_db()
    assert pending.status == FormStatus.PENDING


def test_a_tablet_post_without_the_canvas_size_shows_why_it_is_refused(
    http: HttpClient, pending: ConsentForm
) -> None:
    """The canvas size is evidence (R25): without it the service refuses the signature, and
    the advisor must be told why rather than get the page back unexplained."""
    before = snapshot(pending)
    response = http.post(url("sign_tablet", pending), tablet_post(canvas_width=""))
    assert response.status_code == 422
    assert snapshot(pending) == before
    assert "Valeur du cadre de signature invalide." in text(response)


# --- the paper page ----------------------------------------------------------------------------


def test_a_scan_posted_from_the_paper_page_signs_the_form(
    http: HttpClient, advisor: Any, pending: ConsentForm, customer: Client
) -> None:
    scan = scan_png()
    # Generated at 10:00 in Paris, signed at 10:05 as the advisor attests, uploaded at 10:30.
    data = paper_post(pending, scan, signed_at="2026-12-01T10:05")
    page = http.get(url("sign_paper", pending))
    assert page.status_code == 200
    assert 'value="2026-12-01T10:30"' in page.content.decode()  # the time now, suggested
    response = http.post(url("sign_paper", pending), data)
    assert response.status_code == 302
    assert response["Location"] == url("detail", pending)
    pending.refresh_from_db()
    assert pending.status == FormStatus.SIGNED
    assert pending.method == "paper"
    assert pending.signed_at == dt.datetime(2026, 12, 1, 9, 5, tzinfo=dt.UTC)
    assert pending.identity_document == IdentityDocument.PASSPORT
    assert pending.scan_sha256 == hashlib.sha256(scan).hexdigest()
    assert files.read(pending.scan) == scan
    assert states_of(customer) == {"email": "granted", "sms_push": "granted"}
    [entry] = entries("form.signed", customer)
    assert entry.occurred_at == pending.signed_at
    detail = text(http.get(response["Location"]))
    assert "Scan enregistré : l'accord du client est enregistré." in detail


def test_the_reference_read_on_the_scan_ignores_case_and_spaces(
    http: HttpClient, pending: ConsentForm
) -> None:
    data = paper_post(pending, reference_read=f"  {pending.reference.lower()} ")
    assert http.post(url("sign_paper", pending), data).status_code == 302
    pending.refresh_from_db()
    assert pending.status == FormStatus.SIGNED


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {
                "scan": SimpleUploadedFile(
                    "scan.pdf", b"Signed by hand, honest.\n", "application/pdf"
                )
            },
            "Le scan doit être un PDF, une image PNG ou une image JPEG (reconnu par son contenu).",
        ),
        (
            {"scan": SimpleUploadedFile("scan.pdf", b"%PDF-1.7\ngarbage", "application/pdf")},
            "Le fichier PDF est illisible.",
        ),
        ({"scan": SimpleUploadedFile("scan.png", b"", "image/png")}, "Le fichier soumis est vide."),
        (
            {
                "scan": SimpleUploadedFile(
                    "scan.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (10 * 1024 * 1024), "image/png"
                )
            },
            "Le scan dépasse 10 Mo.",
        ),
        ({"scan": None}, "Ce champ est obligatoire."),
        ({"reference_read": "ZZZZZZZZ"}, "La référence lue sur le scan n'est pas celle de ce"),
        ({"reference_read": ""}, "Ce champ est obligatoire."),
        ({"attested": None}, "Ce champ est obligatoire."),
        ({"identity_document": ""}, "Ce champ est obligatoire."),
        ({"signed_at": "2026-12-01T09:59"}, "La signature ne peut pas précéder la génération"),
        ({"signed_at": "2026-12-01T10:40"}, "La signature est datée dans le futur."),
        ({"signed_at": "01/12/2026"}, "Saisissez une date et une heure valides."),
    ],
    ids=[
        "text-named-pdf",
        "broken-pdf",
        "empty-file",
        "over-10-mb",
        "no-scan",
        "wrong-reference",
        "no-reference",
        "not-attested",
        "no-identity-document",
        "before-the-form",
        "in-the-future",
        "not-a-datetime",
    ],
)
def test_a_bad_paper_signature_is_refused_with_its_message_and_writes_nothing(
    http: HttpClient, pending: ConsentForm, overrides: dict[str, Any], message: str
) -> None:
    before = snapshot(pending)
    response = http.post(url("sign_paper", pending), paper_post(pending, **overrides))
    assert response.status_code == 422
    page = text(response)
    assert message in page
    assert f"Signature papier du formulaire {pending.reference}" in page
    assert snapshot(pending) == before


def test_the_wrong_reference_message_names_the_pending_form(
    http: HttpClient, pending: ConsentForm
) -> None:
    data = paper_post(pending, reference_read="ZZZZZZZZ")
    response = http.post(url("sign_paper", pending), data)
    assert response.status_code == 422
    assert (
        f"La référence lue sur le scan n'est pas celle de ce formulaire ({pending.reference})."
        in text(response)
    )


def test_the_attested_time_is_read_in_paris_time(
    advisor: Any, traveller: time_machine.Coordinates, customer: Client, collect: Collect
) -> None:
    """R56: the advisor types Paris time; 10:00 in summer is 08:00 UTC."""
    traveller.move_to(dt.datetime(2027, 7, 1, 7, 55, tzinfo=dt.UTC))
    http = logged_in(advisor)  # signed in now, months later
    form = collect(customer, email="yes").form
    assert form is not None
    traveller.shift(dt.timedelta(minutes=20))
    response = http.post(url("sign_paper", form), paper_post(form, signed_at="2027-07-01T10:00"))
    assert response.status_code == 302
    form.refresh_from_db()
    assert form.signed_at == dt.datetime(2027, 7, 1, 8, 0, tzinfo=dt.UTC)


def test_an_ambiguous_attested_time_is_refused(
    advisor: Any, traveller: time_machine.Coordinates, customer: Client, collect: Collect
) -> None:
    """On the night clocks go back, 02:30 in Paris happens twice: the page asks again rather
    than guess which one the customer signed at."""
    traveller.move_to(dt.datetime(2027, 10, 31, 0, 0, tzinfo=dt.UTC))  # 02:00, summer time
    form = collect(customer, email="yes").form
    assert form is not None
    traveller.move_to(dt.datetime(2027, 10, 31, 2, 0, tzinfo=dt.UTC))  # 03:00, winter time
    http = logged_in(advisor)
    before = snapshot(form)
    response = http.post(url("sign_paper", form), paper_post(form, signed_at="2027-10-31T02:30"))
    assert response.status_code == 422
    assert "pas pu être interprétée dans le fuseau horaire Europe/Paris" in text(response)
    assert snapshot(form) == before


# --- forms no longer pending -------------------------------------------------------------------


@pytest.fixture
def signed(pending: ConsentForm, sign_tablet: Sign) -> ConsentForm:
    return sign_tablet(pending)


@pytest.fixture
def cancelled(http: HttpClient, pending: ConsentForm) -> ConsentForm:
    http.post(url("cancel", pending), {"note": "Le client veut réfléchir."})
    pending.refresh_from_db()
    assert pending.status == FormStatus.CANCELLED
    return pending


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("name", ["sign_tablet", "sign_paper", "cancel"])
@pytest.mark.parametrize("ended", ["signed", "cancelled"])
def test_the_pages_of_a_form_no_longer_pending_redirect_to_the_form(
    request: pytest.FixtureRequest, http: HttpClient, ended: str, name: str, method: str
) -> None:
    form: ConsentForm = request.getfixturevalue(ended)
    before = snapshot(form)
    if method == "GET":
        response = http.get(url(name, form))
    else:
        data = {"sign_tablet": tablet_post(), "sign_paper": paper_post(form)}
        response = http.post(url(name, form), data.get(name, {"note": "Encore."}))
    assert response.status_code == 302
    assert response["Location"] == url("detail", form)
    assert snapshot(form) == before


# --- cancelling --------------------------------------------------------------------------------


def test_cancelling_with_a_reason_gives_the_channels_back_their_prior_state(
    http: HttpClient,
    traveller: time_machine.Coordinates,
    advisor: Any,
    customer: Client,
    collect: Collect,
) -> None:
    collect(customer, email="no")
    form = collect(customer, email="yes", sms_push="yes").form
    assert form is not None
    assert states_of(customer) == {"email": "pending_signature", "sms_push": "pending_signature"}
    refusals = len(entries("consent.refused", customer))

    response = http.post(url("cancel", form), {"note": "  Le client veut réfléchir.  "})

    assert response.status_code == 302
    assert response["Location"] == url("detail", form)
    form.refresh_from_db()
    assert form.status == FormStatus.CANCELLED
    assert form.end_reason == "declined: Le client veut réfléchir."
    assert states_of(customer) == {"email": "refused", "sms_push": "none"}
    [entry] = entries("form.cancelled", customer)
    assert entry.actor_id == f"staff:{advisor.pk}"
    assert payload(entry)["reason"] == "declined"
    assert len(entries("consent.refused", customer)) == refusals  # R29: not a refusal
    detail = text(http.get(response["Location"]))
    assert "Formulaire annulé : les canaux reviennent à leur état." in detail
    assert "le client ne souhaite pas signer (Le client veut réfléchir.)" in detail


def test_the_cancel_page_suggests_a_reason(http: HttpClient, pending: ConsentForm) -> None:
    response = http.get(url("cancel", pending))
    assert response.status_code == 200
    assert "Le client ne souhaite pas signer." in text(response)


@pytest.mark.parametrize("note", ["", "   "])
def test_cancelling_without_a_reason_is_refused_and_writes_nothing(
    http: HttpClient, pending: ConsentForm, note: str
) -> None:
    before = snapshot(pending)
    response = http.post(url("cancel", pending), {"note": note})
    assert response.status_code == 422
    page = text(response)
    assert "Ce champ est obligatoire." in page
    assert f"Annuler le formulaire {pending.reference}" in page
    assert snapshot(pending) == before


# --- the signed form's page (R56) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC), "01/12/2026 à 10:00 (UTC+0100)"),
        (dt.datetime(2027, 7, 1, 9, 0, tzinfo=dt.UTC), "01/07/2027 à 11:00 (UTC+0200)"),
    ],
    ids=["winter", "summer"],
)
def test_the_page_of_a_signed_form_shows_the_time_with_its_offset_the_method_and_the_hashes(
    advisor: Any,
    traveller: time_machine.Coordinates,
    customer: Client,
    collect: Collect,
    moment: dt.datetime,
    shown: str,
) -> None:
    traveller.move_to(moment)
    http = logged_in(advisor)
    form = collect(customer, email="yes").form
    assert form is not None
    assert http.post(url("sign_tablet", form), tablet_post()).status_code == 302
    form.refresh_from_db()

    response = http.get(url("detail", form))

    assert response.status_code == 200
    page = text(response)
    assert f"Signé le</th><td>{shown}, tablette, en présence de" in page
    assert f"Généré le</th><td>{shown} par" in page
    assert form.pdf_sha256 in page
    assert form.signed_pdf_sha256 in page
    assert f"n° {form.signed_seq}" in page
    assert "carte nationale d'identité" in page
    # Signed: no more links to sign or cancel.
    for name in ("sign_tablet", "sign_paper", "cancel"):
        assert url(name, form) not in page


def test_the_tablet_page_keeps_what_the_advisor_chose_after_a_refusal(
    http: HttpClient, pending: ConsentForm
) -> None:
    data = tablet_post(signature="", identity_document=IdentityDocument.RESIDENCE_PERMIT)
    response = http.post(url("sign_tablet", pending), data)
    assert response.status_code == 422
    assert '<option value="residence_permit" selected>' in response.content.decode()
