"""R52, R54: `pdf.render_html` renders any document as the forms are rendered.

The proof bundle's attestation goes through it as the forms do: PDF/A-3b, the vendored font
("Form Sans") as the only font embedded, nothing fetched but the vendored fonts and inline
data (a refused URL stops the rendering), the identifier it is given, and the attachments;
compressed unless asked not to be (a document put in a ZIP). Python's cycle collector is
paused only while it renders.
"""

from __future__ import annotations

import gc
import io
import re
from pathlib import Path

import pytest
import weasyprint
from pyhanko.pdf_utils.reader import PdfFileReader
from weasyprint.urls import FatalURLFetchingError

from signatures import pdf
from tests.signatures.test_pdf_content import (
    assert_only_vendored_fonts,
    on_disk,
    spaced,
    text_of,
    tool,
)

PAGE = """<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Essai</title>
<style>html { font-family: "Form Sans"; } .h { font-weight: bold; }</style></head>
<body><p class="h">Attestation n° 12 — Zdeněk Dvořák</p>
<p>État : retrait → accord ✓ · empreinte ✗ · « guillemets »</p></body></html>"""
IDENTIFIER = b"0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def rendered() -> bytes:
    return pdf.render_html(PAGE, identifier=IDENTIFIER)


def test_it_prints_the_document_s_text(rendered: bytes, tmp_path: Path) -> None:
    text = spaced(text_of(rendered, tmp_path))

    assert "Attestation n° 12 — Zdeněk Dvořák" in text
    assert "État : retrait → accord ✓ · empreinte ✗ · « guillemets »" in text


def test_it_embeds_only_the_vendored_fonts(rendered: bytes, tmp_path: Path) -> None:
    assert_only_vendored_fonts(rendered, tmp_path)


def test_it_is_pdf_a_3b_with_the_identifier_given(rendered: bytes, tmp_path: Path) -> None:
    metadata = tool("pdfinfo", "-meta", str(on_disk(rendered, tmp_path)))

    assert re.search(r'pdfaid:part(="|>)3', metadata), metadata
    assert re.search(r'pdfaid:conformance(="|>)B', metadata), metadata
    reader = PdfFileReader(io.BytesIO(rendered), strict=False)
    assert "/OutputIntents" in reader.root
    assert str(reader.trailer["/ID"][0]) == IDENTIFIER.decode("ascii")


def test_it_embeds_the_attachments(tmp_path: Path) -> None:
    attachment = weasyprint.Attachment(
        file_obj=io.BytesIO(b'{"ok": true}'), name="data.json", relationship="Data"
    )

    data = pdf.render_html(PAGE, identifier=IDENTIFIER, attachments=[attachment])

    listed = tool("pdfdetach", "-list", str(on_disk(data, tmp_path)))
    assert "1 embedded files" in listed and "data.json" in listed


def test_it_leaves_the_streams_uncompressed_on_request(rendered: bytes, tmp_path: Path) -> None:
    uncompressed = pdf.render_html(PAGE, identifier=IDENTIFIER, compressed=False)

    assert b"/FlateDecode" in rendered
    assert b"/FlateDecode" not in uncompressed
    assert spaced(text_of(uncompressed, tmp_path)) == spaced(text_of(rendered, tmp_path))
    metadata = tool("pdfinfo", "-meta", str(on_disk(uncompressed, tmp_path)))
    assert re.search(r'pdfaid:part(="|>)3', metadata), metadata


@pytest.mark.parametrize(
    "html",
    [
        '<img src="https://example.invalid/x.png">',
        '<link rel="stylesheet" href="http://example.invalid/x.css"><p>x</p>',
        '<img src="file:///etc/hostname">',
        '<img src="../css/optin.css">',  # relative URLs resolve in the fonts directory
    ],
    ids=["remote_image", "remote_stylesheet", "local_file", "relative_outside"],
)
def test_it_fetches_nothing_but_the_vendored_fonts(html: str) -> None:
    with pytest.raises(FatalURLFetchingError):
        pdf.render_html(html, identifier=IDENTIFIER)


def test_the_cycle_collector_runs_again_afterwards_even_after_a_failure() -> None:
    assert gc.isenabled()
    pdf.render_html(PAGE, identifier=IDENTIFIER)
    assert gc.isenabled()
    with pytest.raises(FatalURLFetchingError):
        pdf.render_html('<img src="https://example.invalid/x.png">', identifier=IDENTIFIER)
    assert gc.isenabled()


def test_a_collector_disabled_by_the_process_stays_disabled() -> None:
    gc.disable()
    try:
        pdf.render_html(PAGE, identifier=IDENTIFIER)
        assert not gc.isenabled()
    finally:
        gc.enable()
