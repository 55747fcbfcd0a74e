"""Rendering of consent forms to PDF/A-3b with WeasyPrint (R24, R52, R59).

The form is a Django template (templates/signatures/form_pdf.html) rendered offline: the font
is vendored under static/fonts and loaded with @font-face, so the output is the same on every
machine, and the URL fetcher refuses anything but those files and inline data. `render_html`
renders any other document the same way (the proof bundle's attestation).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import datetime as dt
import functools
import gc
import io
import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import phonenumbers
import segno
from django.conf import settings
from django.template.loader import render_to_string
from django.utils.translation import override

from clients.models import PARIS, Client
from optin.models import Channel, Wording

TEMPLATE_VERSION = "formulaire-optin-v1"
FONTS_DIR = Path(settings.BASE_DIR) / "static" / "fonts"


def is_allowed_url(url: str, allowed_dir: Path = FONTS_DIR) -> bool:
    """Forms read the vendored fonts and inline `data:` URLs, and nothing else: a form must
    never depend on, or leak anything to, the network."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "data":
        return True
    if scheme != "file":
        return False
    path = Path(unquote(url.removeprefix("file://").split("?", 1)[0])).resolve()
    return path.is_relative_to(allowed_dir.resolve())


@functools.cache
def offline_fetcher_class() -> type:
    """WeasyPrint's URL fetcher for forms (built on first use: importing WeasyPrint is slow).

    A refused URL stops the rendering instead of leaving a hole in the document.
    """
    from weasyprint.urls import FatalURLFetchingError, URLFetcher

    class OfflineFetcher(URLFetcher):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(allowed_protocols={"file", "data"}, fail_on_errors=True)

        def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> Any:
            if not is_allowed_url(url):
                raise FatalURLFetchingError(f"forms may not fetch {url}")
            return super().fetch(url, headers)

    return OfflineFetcher


def form_content(
    *,
    form_id: str,
    reference: str,
    journey_label: str,
    created_at: dt.datetime,
    client: Client,
    branch_name: str,
    branch_code: str,
    advisor_name: str,
    advisor_id: str,
    lines: Iterable[tuple[str, Wording]],
) -> dict[str, Any]:
    """What a form states, as JSON kept with the form (R59: the wording byte for byte).

    The original and the signed PDF are both rendered from it, so they state the same thing
    even if the customer's record changes in between.
    """
    return {
        "form_id": form_id,
        "reference": reference,
        "template_version": TEMPLATE_VERSION,
        "journey_label": journey_label,
        "created_at": created_at.isoformat(),
        "bank_name": settings.OPTIN_BANK_NAME,
        "bank_address": settings.OPTIN_BANK_ADDRESS,
        "branch_name": branch_name,
        "branch_code": branch_code,
        "advisor_name": advisor_name,
        "advisor_id": advisor_id,
        "client": {
            "client_number": client.client_number,
            "civility": client.get_civility_display() if client.civility else "",
            "first_name": client.first_name,
            "last_name": client.last_name,
            "birth_date": client.birth_date.isoformat() if client.birth_date else "",
        },
        "lines": [
            {
                "channel": channel,
                "label": channel_label(channel),
                "contact_point": _displayed_contact(client.contact_point(channel)),
                "version": wording.version,
                "sha256": wording.sha256,
                "text": wording.text,
                "answer": "yes",
            }
            for channel, wording in lines
        ],
    }


@dataclass(frozen=True)
class SignedPart:
    """What the signed PDF adds: the signature (image or scan) and the evidence."""

    method: str
    signed_at: dt.datetime
    evidence: dict[str, Any]
    signature_png: bytes | None = None
    scan: bytes | None = None
    scan_content_type: str = ""
    # What the signature was made of, attached as its source: the pad's strokes or the scan.
    source: tuple[str, bytes] | None = None

    def attachments(self) -> list[tuple[str, bytes, str]]:
        """(file name, content, PDF/A-3 relationship): the evidence, and the source."""
        attached = [("evidence.json", evidence_json(self.evidence), "Data")]
        if self.source is not None:
            attached.append((*self.source, "Source"))
        return attached


def _data_uri(content_type: str, data: bytes) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


def _paris(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(PARIS)


def _context(content: Mapping[str, Any], signed: SignedPart | None) -> dict[str, Any]:
    created_at = _paris(dt.datetime.fromisoformat(content["created_at"]))
    birth_date = content["client"]["birth_date"]
    context: dict[str, Any] = {
        "form": content,
        "client": content["client"],
        "birth_date": dt.date.fromisoformat(birth_date) if birth_date else None,
        "lines": content["lines"],
        "created_at": created_at,
        "qr_uri": segno.make(content["reference"], error="m").svg_data_uri(
            scale=3, border=0, dark="#111"
        ),
        "proof_years": settings.OPTIN_PROOF_RETENTION_YEARS,
        "signed": signed,
    }
    if signed is not None:
        context["signed_at"] = _paris(signed.signed_at)
        context["evidence_rows"] = evidence_rows(signed.evidence)
        if signed.signature_png:
            context["signature_uri"] = _data_uri("image/png", signed.signature_png)
        if signed.scan and signed.scan_content_type.startswith("image/"):
            context["scan_uri"] = _data_uri(signed.scan_content_type, signed.scan)
    return context


def _displayed_contact(value: str) -> str:
    """A mobile number as people read it (+33 6 12 34 56 78); an e-mail address as is."""
    if not value.startswith("+"):
        return value
    try:
        number = phonenumbers.parse(value)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


# The evidence page names each fact in French; evidence.json keeps the keys.
EVIDENCE_LABELS = {
    "form_id": "Identifiant du formulaire",
    "reference": "Référence",
    "template_version": "Modèle",
    "client_number": "Numéro client",
    "journey": "Parcours",
    "generated_at": "Généré le (UTC)",
    "generated_pdf_sha256": "SHA-256 du PDF généré",
    "method": "Mode de signature",
    "signed_at": "Signé le (UTC)",
    "identity_document": "Pièce d'identité (code)",
    "identity_document_label": "Pièce d'identité vérifiée",
    "advisor.id": "Conseiller : identifiant",
    "advisor.name": "Conseiller : nom",
    "advisor.branch": "Conseiller : agence",
    "advisor.second_factor": "Conseiller : second facteur vérifié",
    "session.ip": "Session : adresse IP",
    "session.user_agent": "Session : navigateur",
    "session.session_ref": "Session : référence",
    "seal.subject": "Sceau : titulaire",
    "seal.serial": "Sceau : numéro de certificat",
    "seal.certificate_sha256": "Sceau : empreinte du certificat",
    "seal.level": "Sceau : niveau",
    "tablet.canvas_width": "Tablette : largeur du cadre (px CSS)",
    "tablet.canvas_height": "Tablette : hauteur du cadre (px CSS)",
    "tablet.device_pixel_ratio": "Tablette : densité de l'écran",
    "tablet.image_sha256": "Tablette : SHA-256 de l'image",
    "tablet.image_size": "Tablette : taille de l'image (px)",
    "tablet.points_sha256": "Tablette : SHA-256 du tracé",
    "tablet.strokes": "Tablette : traits",
    "tablet.points": "Tablette : points",
    "paper.scan_sha256": "Papier : SHA-256 du scan",
    "paper.scan_type": "Papier : type du scan",
    "paper.scan_bytes": "Papier : taille du scan (octets)",
    "paper.scan_pages": "Papier : pages du scan",
    "paper.reference_confirmed": "Papier : référence confirmée",
    "paper.attestation.text": "Papier : attestation du conseiller",
    "paper.attestation.by": "Papier : attestée par",
    "paper.attestation.at": "Papier : attestée le (UTC)",
    "paper.uploaded_at": "Papier : scan déposé le (UTC)",
}


def _label(key: str) -> str:
    if key in EVIDENCE_LABELS:
        return EVIDENCE_LABELS[key]
    parts = key.split(".")
    if parts[0] == "channels" and len(parts) == 3:
        return f"Canal {parts[1]} : {parts[2].replace('_', ' ')}"
    return key


def evidence_rows(evidence: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """The evidence as (label, value) rows for the PDF's evidence page, nested keys dotted."""
    rows: list[tuple[str, str]] = []
    for key in evidence:
        value = evidence[key]
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(evidence_rows(value, f"{name}."))
        elif isinstance(value, list | tuple):
            rows.append((_label(name), ", ".join(str(v) for v in value)))
        elif isinstance(value, bool):
            rows.append((_label(name), "oui" if value else "non"))
        else:
            rows.append((_label(name), "" if value is None else str(value)))
    return rows


FONT_FACES = (("DejaVuSans-Latin.ttf", "normal"), ("DejaVuSans-Bold-Latin.ttf", "bold"))
_render_lock = threading.Lock()


@functools.cache
def _fonts() -> tuple[Any, Any]:
    """The form's font, loaded once per process: a FontConfiguration and its @font-face CSS.

    Loading the font files on each rendering cost a fifth of it.
    """
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    font_config = FontConfiguration()
    faces = "\n".join(
        f'@font-face {{ font-family: "Form Sans"; src: url("{(FONTS_DIR / name).as_uri()}"); '
        f"font-weight: {weight}; }}"
        for name, weight in FONT_FACES
    )
    css = CSS(string=faces, font_config=font_config, url_fetcher=offline_fetcher_class()())
    # Released before the interpreter tears its modules down (its finalizer needs them).
    atexit.register(_fonts.cache_clear)
    return font_config, css


def render_html(
    html: str, *, identifier: bytes, attachments: Sequence[Any] = (), compressed: bool = True
) -> bytes:
    """`html` as PDF/A-3b bytes, rendered offline: the vendored font is the family "Form Sans",
    the URL fetcher refuses anything but the vendored fonts and inline `data:` URLs (a refused
    URL stops the rendering), relative URLs resolve in the fonts directory.

    `identifier` is the PDF's identifier (ASCII bytes); `attachments` are
    `weasyprint.Attachment`s, embedded as PDF/A-3 associated files. `compressed=False` leaves
    the content streams uncompressed, for a document that goes into a ZIP: WeasyPrint deflates
    them at the highest level, a tenth of a long document's time, and the ZIP compresses the
    whole file better at once. One rendering at a time per process: the shared font
    configuration serves one at once.
    """
    import weasyprint

    document = weasyprint.HTML(
        string=html, base_url=FONTS_DIR.as_uri() + "/", url_fetcher=offline_fetcher_class()()
    )
    font_config, font_css = _fonts()
    with _render_lock, _collector_paused():
        rendered: bytes = document.write_pdf(
            stylesheets=[font_css],
            font_config=font_config,
            pdf_variant="pdf/a-3b",
            attachments=list(attachments),
            pdf_identifier=identifier,
            uncompressed_pdf=not compressed,
        )
    return rendered


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector paused while WeasyPrint works, restored after.

    A rendering allocates hundreds of thousands of objects, and each full collection it would
    trigger walks every object of the process (a server's whole heap): about a tenth of the
    time of a long document. The cycles it leaves are collected once it is over.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def render(content: Mapping[str, Any], signed: SignedPart | None = None) -> bytes:
    """The form as PDF/A-3b bytes; with `signed`, the signed version and its attachments."""
    import weasyprint

    with override("fr"):
        html = render_to_string("signatures/form_pdf.html", _context(content, signed))
    attachments: list[Any] = []
    if signed is not None:
        attachments = [
            weasyprint.Attachment(
                file_obj=io.BytesIO(data),
                name=name,
                description=name,
                relationship=relationship,
                created=signed.signed_at,
                modified=signed.signed_at,
            )
            for name, data, relationship in signed.attachments()
        ]
    return render_html(
        html,
        identifier=content["form_id"].replace("-", "").encode("ascii"),
        attachments=attachments,
    )


def evidence_json(evidence: Mapping[str, Any]) -> bytes:
    return json.dumps(evidence, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")


def channel_label(channel: str) -> str:
    with override("fr"):
        return str(Channel(channel).label)
