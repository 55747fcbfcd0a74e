"""R24, R59 (with R52, R56): what the consent form says, and how its PDF is built.

The generated form, read back with poppler's `pdftotext`, states the customer (name, client
number), the contact point of each channel, each wording text as published, the answer, the
wording versions and their SHA-256, the reference and how to withdraw; it fits on ONE page.
Its fonts are embedded and are the vendored files of static/fonts (the same glyphs on every
machine), it is PDF/A-3b, and the signed version carries `evidence.json` and
`signature-points.json` as attachments. Rendering is offline: the URL fetcher refuses every
network URL and every file outside static/fonts, and a refused URL stops the rendering.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import weasyprint
from fontTools.ttLib import TTFont
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from weasyprint.urls import FatalURLFetchingError

from clients.models import PARIS, Client
from optin.models import Wording
from signatures import files, pdf
from signatures.models import ConsentForm
from signatures.services import Collected

Collect = Callable[..., Collected]
Sign = Callable[..., ConsentForm]


# --- reading PDFs back -------------------------------------------------------------------------


def tool(*args: str) -> str:
    # poppler-utils' tools, on files the test wrote
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout  # noqa: S603


def on_disk(data: bytes, tmp_path: Path, name: str = "form.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def text_of(data: bytes, tmp_path: Path) -> str:
    return tool("pdftotext", "-layout", str(on_disk(data, tmp_path)), "-")


def spaced(text: str) -> str:
    """Line breaks and runs of spaces as one space (the text wraps)."""
    return " ".join(text.split())


def squeezed(text: str) -> str:
    """No whitespace at all: for hashes and numbers, which may wrap anywhere."""
    return "".join(text.split())


def pdffonts(data: bytes, tmp_path: Path) -> list[dict[str, str]]:
    lines = tool("pdffonts", str(on_disk(data, tmp_path))).splitlines()[2:]
    fonts = []
    for line in lines:
        parts = line.split()
        fonts.append({"name": parts[0], "emb": parts[-5], "sub": parts[-4], "uni": parts[-3]})
    return fonts


def _to_unicode(cmap: bytes) -> dict[int, str]:
    """Glyph id -> text of a font's /ToUnicode CMap (bfchar and bfrange entries)."""
    text = cmap.decode("latin-1")
    found: dict[int, str] = {}
    for block in re.findall(r"beginbfchar(.*?)endbfchar", text, re.S):
        for gid, uni in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            found[int(gid, 16)] = bytes.fromhex(uni).decode("utf-16-be")
    for block in re.findall(r"beginbfrange(.*?)endbfrange", text, re.S):
        for first, last, uni in re.findall(
            r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block
        ):
            for offset, gid in enumerate(range(int(first, 16), int(last, 16) + 1)):
                found[gid] = chr(int(uni, 16) + offset)
    return found


def embedded_fonts(data: bytes) -> dict[str, tuple[TTFont, dict[int, str]]]:
    """Each font used by the pages: its embedded program and the glyphs it draws."""
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    fonts: dict[str, Any] = {}

    def deref(value: Any) -> Any:
        return value.get_object() if hasattr(value, "get_object") else value

    def resources(res: Any) -> None:
        res = deref(res)
        for font in deref(res.get("/Font", {})).values():
            font = deref(font)
            fonts[str(font["/BaseFont"])] = font
        for xobject in deref(res.get("/XObject", {})).values():
            xobject = deref(xobject)
            if "/Resources" in xobject:
                resources(xobject["/Resources"])

    def walk(node: Any) -> None:
        node = deref(node)
        if node["/Type"] == "/Pages":
            for kid in node["/Kids"]:
                walk(kid)
        elif "/Resources" in node:
            resources(node["/Resources"])

    walk(reader.root["/Pages"])
    result = {}
    for name, font in fonts.items():
        descriptor = font["/DescendantFonts"][0]["/FontDescriptor"]
        program = TTFont(io.BytesIO(descriptor["/FontFile2"].data))
        result[name] = (program, _to_unicode(font["/ToUnicode"].data))
    return result


VENDORED = {name: TTFont(pdf.FONTS_DIR / name) for name, _weight in pdf.FONT_FACES}


def vendored_source(glyphs: dict[int, str]) -> list[str]:
    """The vendored files this font was cut from: WeasyPrint keeps the glyph ids of the font
    it subsets, so every glyph id must be, in the vendored file, the glyph of its character.
    (A system DejaVu has thousands more glyphs, numbered differently.)"""
    sources = []
    for name, font in VENDORED.items():
        cmap, order = font.getBestCmap(), font.getGlyphOrder()
        if all(
            gid < len(order) and cmap.get(ord(char)) == order[gid]
            for gid, char in glyphs.items()
            if len(char) == 1
        ):
            sources.append(name)
    return sources


def assert_only_vendored_fonts(data: bytes, tmp_path: Path) -> None:
    listed = pdffonts(data, tmp_path)
    assert listed, "no font at all"
    assert all(font["emb"] == "yes" for font in listed), listed
    fonts = embedded_fonts(data)
    assert len(fonts) == len(listed)
    foreign = {
        name: "".join(sorted(set(glyphs.values())))
        for name, (_program, glyphs) in fonts.items()
        if not vendored_source(glyphs)
    }
    assert foreign == {}, f"fonts not from static/fonts, and the characters they draw: {foreign}"
    for program, _glyphs in fonts.values():
        assert program["name"].getDebugName(1) == "DejaVu Sans"


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def client(client_factory: Callable[..., Client]) -> Client:
    return client_factory(
        civility="MME",
        first_name="Hélène",
        last_name="Lefèvre-Cœur",
        email="helene.lefevre@exemple.fr",
        mobile="+33612345678",
    )


@pytest.fixture
def form(client: Client, collect: Collect) -> ConsentForm:
    collected = collect(client, email="yes", sms_push="yes").form
    assert collected is not None
    return collected


@pytest.fixture
def generated(form: ConsentForm) -> bytes:
    return files.read(form.pdf)


@pytest.fixture
def signed(form: ConsentForm, sign_tablet: Sign) -> ConsentForm:
    return sign_tablet(form)


# --- what the form says ------------------------------------------------------------------------


def test_the_form_names_the_customer_and_their_client_number(
    generated: bytes, client: Client, tmp_path: Path
) -> None:
    text = spaced(text_of(generated, tmp_path))

    assert "Mme Hélène Lefèvre-Cœur" in text
    assert client.client_number in text
    assert "17/05/1980" in text


def test_the_form_shows_the_contact_point_of_each_channel(generated: bytes, tmp_path: Path) -> None:
    text = squeezed(text_of(generated, tmp_path))

    assert "helene.lefevre@exemple.fr" in text
    assert "+33612345678" in text


def test_the_form_prints_each_wording_text_as_published(generated: bytes, tmp_path: Path) -> None:
    text = squeezed(text_of(generated, tmp_path))

    for version in ("email-v1", "sms_push-v1"):
        wording = Wording.objects.get(version=version)
        assert squeezed(wording.text) in text, version


def test_the_form_prints_each_wording_version_and_its_sha256(
    generated: bytes, tmp_path: Path
) -> None:
    text = squeezed(text_of(generated, tmp_path))

    for version in ("email-v1", "sms_push-v1"):
        wording = Wording.objects.get(version=version)
        assert f"Formulation{wording.version}" in text
        assert wording.sha256 in text


def test_the_form_shows_the_yes_answer_of_each_channel(generated: bytes, tmp_path: Path) -> None:
    text = spaced(text_of(generated, tmp_path))

    assert text.count("☒ Oui ☐ Non") == 2
    assert "☐ Oui" not in text


def test_the_form_carries_its_reference_template_and_time_of_generation(
    generated: bytes, form: ConsentForm, tmp_path: Path
) -> None:
    text = spaced(text_of(generated, tmp_path))
    created = form.created_at.astimezone(PARIS)

    assert text.count(form.reference) >= 2  # in the header and in the footer
    assert form.template_version in text
    assert f"{created:%d/%m/%Y} à {created:%H:%M}" in text
    assert created.strftime("%z") in squeezed(text)  # R56: Paris time with its offset


def test_the_form_names_the_bank_branch_and_advisor(
    generated: bytes, form: ConsentForm, advisor: Any, tmp_path: Path
) -> None:
    text = spaced(text_of(generated, tmp_path))

    assert form.content["bank_name"] in text
    assert "Agence Paris Opéra" in text
    assert f"staff:{advisor.pk}" in text


def test_the_form_says_how_to_withdraw(generated: bytes, tmp_path: Path) -> None:
    text = spaced(text_of(generated, tmp_path))
    # The paragraph after the heading "Changer d'avis", up to the GDPR notice.
    section = text[text.index("Changer d'avis") : text.index("Données personnelles")]

    for way in ("espace client", "lien de désabonnement", "STOP", "auprès de votre agence"):
        assert way in section, way
    assert "gratuitement" in section


def test_the_generated_form_fits_on_one_page(generated: bytes, tmp_path: Path) -> None:
    info = tool("pdfinfo", str(on_disk(generated, tmp_path)))

    assert re.search(r"^Pages:\s+1$", info, re.M), info


def test_the_form_with_long_contact_points_still_fits_on_one_page(
    client_factory: Callable[..., Client], collect: Collect, tmp_path: Path
) -> None:
    long = client_factory(
        civility="M",
        first_name="Jean-Baptiste-Marie-Emmanuel",
        last_name="de La Rochefoucauld-Montmorency",
        email="jean-baptiste-marie-emmanuel.de-la-rochefoucauld@exemple-long.fr",
    )
    collected = collect(long, email="yes", sms_push="yes").form
    assert collected is not None

    info = tool("pdfinfo", str(on_disk(files.read(collected.pdf), tmp_path)))

    assert re.search(r"^Pages:\s+1$", info, re.M), info


# --- fonts and PDF/A ---------------------------------------------------------------------------


def test_the_generated_form_embeds_only_the_vendored_fonts(
    generated: bytes, tmp_path: Path
) -> None:
    assert_only_vendored_fonts(generated, tmp_path)
    used = {
        source
        for _p, glyphs in embedded_fonts(generated).values()
        for source in vendored_source(glyphs)
    }
    assert used == set(VENDORED)


def test_the_signed_form_embeds_only_the_vendored_fonts(
    signed: ConsentForm, tmp_path: Path
) -> None:
    assert_only_vendored_fonts(files.read(signed.signed_pdf), tmp_path)


def test_a_name_with_central_european_letters_is_printed_with_the_vendored_fonts(
    client_factory: Callable[..., Client], collect: Collect, tmp_path: Path
) -> None:
    """Customers are named Dvořák, Wałęsa or Şahin too: their form must not depend on the
    fonts installed on the machine that renders it."""
    customer = client_factory(first_name="Zdeněk", last_name="Dvořák")
    collected = collect(customer, email="yes").form
    assert collected is not None
    generated = files.read(collected.pdf)

    assert "Zdeněk Dvořák" in spaced(text_of(generated, tmp_path))
    assert_only_vendored_fonts(generated, tmp_path)


@pytest.mark.parametrize("which", ["generated", "signed"])
def test_the_form_is_pdf_a_3b(
    which: str, form: ConsentForm, sign_tablet: Sign, tmp_path: Path
) -> None:
    data = (
        files.read(form.pdf) if which == "generated" else files.read(sign_tablet(form).signed_pdf)
    )

    metadata = tool("pdfinfo", "-meta", str(on_disk(data, tmp_path)))

    assert re.search(r'pdfaid:part(="|>)3', metadata), metadata
    assert re.search(r'pdfaid:conformance(="|>)B', metadata), metadata
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    assert "/OutputIntents" in reader.root


# --- attachments -------------------------------------------------------------------------------


def attachments(data: bytes, tmp_path: Path) -> dict[str, bytes]:
    path = on_disk(data, tmp_path)
    out = tmp_path / "attachments"
    out.mkdir()
    tool("pdfdetach", "-saveall", "-o", str(out), str(path))
    return {p.name: p.read_bytes() for p in out.iterdir()}


def relationships(data: bytes) -> dict[str, str]:
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    return {str(names[i]): str(names[i + 1]["/AFRelationship"]) for i in range(0, len(names), 2)}


def test_the_generated_form_has_no_attachment(generated: bytes, tmp_path: Path) -> None:
    assert "0 embedded files" in tool("pdfdetach", "-list", str(on_disk(generated, tmp_path)))


def test_the_signed_form_carries_its_evidence_and_the_strokes_as_attachments(
    signed: ConsentForm, tmp_path: Path
) -> None:
    data = files.read(signed.signed_pdf)

    attached = attachments(data, tmp_path)

    assert set(attached) == {"evidence.json", "signature-points.json"}
    assert relationships(data) == {
        "evidence.json": "/Data",
        "signature-points.json": "/Source",
    }
    evidence = json.loads(attached["evidence.json"])
    assert evidence == signed.evidence
    assert evidence["form_id"] == str(signed.uuid)
    assert evidence["method"] == "tablet"
    assert evidence["generated_pdf_sha256"] == signed.pdf_sha256
    assert evidence["tablet"]["image_sha256"] == files.sha256(files.read(signed.signature_image))
    assert attached["signature-points.json"] == files.read(signed.signature_points)
    assert evidence["tablet"]["points_sha256"] == files.sha256(attached["signature-points.json"])
    for channel, line in evidence["channels"].items():
        assert line["wording_sha256"] == Wording.objects.get(version=f"{channel}-v1").sha256


def test_the_signed_form_shows_the_signature_and_the_evidence_page(
    signed: ConsentForm, tmp_path: Path
) -> None:
    data = files.read(signed.signed_pdf)
    text = spaced(text_of(data, tmp_path))
    signed_at = signed.signed_at
    assert signed_at is not None

    assert "Signé sur tablette" in text
    assert f"{signed_at.astimezone(PARIS):%d/%m/%Y à %H:%M}" in text
    assert "Dossier de preuve" in text
    assert str(signed.uuid) in squeezed(text)
    images = tool("pdfimages", "-list", str(on_disk(data, tmp_path, "s.pdf"))).splitlines()[2:]
    assert [row.split()[0] for row in images if row.split()[2] == "image"] == ["1"]


# --- offline rendering -------------------------------------------------------------------------

FONT_URI = (pdf.FONTS_DIR / "DejaVuSans-Latin.ttf").as_uri()
REFUSED_URLS = [
    "http://example.invalid/x.png",
    "https://example.invalid/font.ttf",
    "HTTP://EXAMPLE.INVALID/x.png",
    "ftp://example.invalid/x.png",
    "//example.invalid/x.png",
    "javascript:alert(1)",
    "file:///etc/passwd",
    f"{pdf.FONTS_DIR.as_uri()}/../../manage.py",
    f"{pdf.FONTS_DIR.as_uri()}/%2e%2e/%2e%2e/manage.py",
    f"{pdf.FONTS_DIR.as_uri()}-elsewhere/x.ttf",
    f"{pdf.FONTS_DIR.parent.as_uri()}/css/optin.css",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_a_form_may_not_fetch_anything_but_the_vendored_fonts(url: str) -> None:
    assert pdf.is_allowed_url(url) is False
    with pytest.raises(FatalURLFetchingError):
        pdf.offline_fetcher_class()().fetch(url)


@pytest.mark.parametrize("url", [FONT_URI, "data:image/png;base64,iVBORw0KGgo="])
def test_the_vendored_fonts_and_inline_data_are_allowed(url: str) -> None:
    assert pdf.is_allowed_url(url) is True


def test_the_fetcher_reads_a_vendored_font() -> None:
    response = pdf.offline_fetcher_class()().fetch(FONT_URI)

    assert response is not None


@pytest.mark.parametrize(
    "html",
    [
        '<img src="http://example.invalid/x.png">',
        '<p style="background: url(https://example.invalid/bg.png)">x</p>',
        '<link rel="stylesheet" href="https://example.invalid/form.css"><p>x</p>',
        "<style>@import url(http://example.invalid/form.css);</style><p>x</p>",
        "<style>@font-face { font-family: X; src: url(https://example.invalid/x.ttf); }"
        "p { font-family: X; }</style><p>x</p>",
        '<img src="file:///etc/hostname">',
    ],
    ids=["img", "background", "stylesheet", "import", "font_face", "local_file"],
)
def test_rendering_stops_when_a_template_refers_to_a_refused_url(html: str) -> None:
    document = weasyprint.HTML(string=html, url_fetcher=pdf.offline_fetcher_class()())

    with pytest.raises(FatalURLFetchingError):
        document.write_pdf()


def test_rendering_with_inline_data_only_succeeds() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), "black").save(buffer, "PNG")
    png = base64.b64encode(buffer.getvalue()).decode("ascii")
    html = f'<p>x</p><img src="data:image/png;base64,{png}">'

    data = weasyprint.HTML(string=html, url_fetcher=pdf.offline_fetcher_class()()).write_pdf()

    assert data.startswith(b"%PDF-")


def test_the_form_template_refers_to_nothing_outside() -> None:
    template = Path(pdf.FONTS_DIR.parent.parent / "templates" / "signatures" / "form_pdf.html")

    assert not re.search(r"(https?|ftp)://", template.read_text())
