"""R25, R26: what a signature may not bring, and forms that may not be signed.

Every case below is refused with a clear error, a ValidationError on the field concerned with
its code, or a DomainError with its code, and NOTHING is written: no log entry, no change of
any form or consent state, no stored file.

- The drawn image: empty, not a PNG data URL, over OPTIN_SIGNATURE_MAX_BYTES, of unexpected
  dimensions, without ink.
- The strokes, checked as the browser checks them (notes/signatures.md §5): strokes of two
  points or fewer do not count, up to two straight lines are ignored, the ink must span at
  least 20 px; and malformed stroke data.
- The paper scan: not a PDF, PNG or JPEG by its content, over OPTIN_SCAN_MAX_BYTES,
  unreadable.
- The form: superseded, expired, cancelled or already signed (`form_not_pending`), another
  client's (`form_wrong_client`), unknown (`unknown_form`).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import math
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from clients.models import Client
from optin.errors import DomainError
from optin.models import AuditEntry, ConsentState
from signatures import capture
from signatures.models import ConsentForm, FormStatus
from signatures.services import Collected, cancel_form, expire_pending_forms
from tests.signatures.drawing import data_url, handwriting, png_of, stroke, tablet_input

Collect = Callable[..., Collected]
Sign = Callable[..., ConsentForm]


# --- what a refusal must leave as it was -------------------------------------------------------


def stored_files(path: str = "forms") -> set[str]:
    try:
        directories, names = default_storage.listdir(path)
    except FileNotFoundError:
        return set()
    found = {f"{path}/{name}" for name in names}
    for directory in directories:
        found |= stored_files(f"{path}/{directory}")
    return found


def everything() -> tuple[Any, ...]:
    """The log, every form's status and signature fields, every state row, the files."""
    forms = list(
        ConsentForm.objects.order_by("pk").values_list(
            "pk", "status", "method", "signed_at", "signed_pdf", "signed_seq", "scan"
        )
    )
    states = list(ConsentState.objects.order_by("pk").values())
    return AuditEntry.objects.count(), forms, states, stored_files()


def refused_field(error: ValidationError) -> tuple[str, str | None]:
    [(field, [first, *_rest])] = error.error_dict.items()
    return field, first.code


# --- images and strokes ------------------------------------------------------------------------


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def inked(size: tuple[int, int]) -> bytes:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.putpixel((size[0] // 2, size[1] // 2), (0, 0, 0, 255))
    return png(image)


def noise_png(size_bytes: int) -> bytes:
    """A valid signature-sized PNG heavier than `size_bytes` (noise does not compress)."""
    side = math.isqrt(size_bytes // 3) + 40
    noise = random.Random(7).randbytes(side * side * 4)
    return png(Image.frombytes("RGBA", (side, side), noise))


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (600, 200), "white").save(buffer, "JPEG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def loop(cx: float, cy: float, radius: float, points: int = 30) -> list[tuple[float, float]]:
    return [(cx + radius * math.cos(t / 4), cy + radius * math.sin(t / 4)) for t in range(points)]


def horizontal(x: float, y: float, length: float) -> list[tuple[float, float]]:
    return [(x + length * i / 59, y) for i in range(60)]


def vertical(x: float, y: float, length: float) -> list[tuple[float, float]]:
    return [(x, y + length * i / 29) for i in range(30)]


BAD_IMAGES = {
    "empty": ("", "empty"),
    "blank": ("   ", "empty"),
    "jpeg_data_url": ("data:image/jpeg;base64," + b64(jpeg_bytes()), "not_png"),
    "text": ("Jeanne Dupont", "not_png"),
    "text_data_url": ("data:text/plain;base64," + b64(b"Jeanne Dupont"), "not_png"),
    "jpeg_bytes_as_png": ("data:image/png;base64," + b64(jpeg_bytes()), "not_png"),
    "bad_base64": ("data:image/png;base64,@@not base64@@", "not_png"),
    "png_magic_then_garbage": (
        "data:image/png;base64," + b64(capture.PNG_MAGIC + b"garbage" * 20),
        "not_png",
    ),
    "too_small_image": (data_url(inked((60, 30))), "bad_dimensions"),
    "too_wide_image": (data_url(inked((4100, 200))), "bad_dimensions"),
    "transparent": (data_url(png(Image.new("RGBA", (600, 200), (0, 0, 0, 0)))), "empty"),
    "opaque_white": (data_url(png(Image.new("RGB", (600, 200), "white"))), "empty"),
}

BAD_DRAWINGS = {
    "no_stroke": ([], "empty"),
    "a_single_tap": ([stroke([(300, 100)])], "straight_line"),
    "two_point_flicks": (
        [stroke([(100, 100), (300, 150)]), stroke([(120, 60), (280, 170)])],
        "straight_line",
    ),
    "a_straight_line": ([stroke(horizontal(100, 100, 300))], "straight_line"),
    "a_slanted_line": (
        [stroke([(100 + 4 * i, 50 + 2 * i) for i in range(50)])],
        "straight_line",
    ),
    "two_straight_lines": (
        [stroke(horizontal(100, 150, 300)), stroke(vertical(250, 30, 120))],
        "straight_line",
    ),
    "a_line_drawn_back_on_itself": (
        [stroke(horizontal(250, 100, -150)[:-1] + horizontal(100, 100, 300))],
        "straight_line",
    ),
    "a_tiny_10px_scribble": ([stroke(loop(300, 100, 5))], "too_small"),
    "two_lines_and_a_tiny_scribble": (
        [
            stroke(horizontal(100, 150, 300)),
            stroke(vertical(250, 30, 120)),
            stroke(loop(300, 100, 5)),
        ],
        "too_small",
    ),
}

MALFORMED_STROKES = {
    "not_json": "pas du JSON",
    "an_object": json.dumps({"points": []}),
    "points_not_a_list": json.dumps([{"points": "abc"}]),
    "a_stroke_without_points": json.dumps([{"penColor": "black"}]),
    "a_bare_list": json.dumps([[1, 2, 3]]),
    "a_point_without_y": json.dumps([{"points": [{"x": 1}]}]),
    "a_string_coordinate": json.dumps([{"points": [{"x": "1", "y": 2}]}]),
    "a_boolean_coordinate": json.dumps([{"points": [{"x": True, "y": 2}]}]),
    "not_a_number": '[{"points": [{"x": NaN, "y": 2}]}]',
    "infinity": '[{"points": [{"x": 1, "y": Infinity}]}]',
}


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def pending(customer: Client, collect: Collect) -> ConsentForm:
    form = collect(customer, email="yes", sms_push="yes").form
    assert form is not None
    assert form.pdf in stored_files()  # what `everything()` watches does see the files
    return form


def a_png_scan() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 420), "white").save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(params=["tablet", "paper"])
def sign(request: pytest.FixtureRequest, sign_tablet: Sign, sign_paper: Sign) -> Sign:
    """Either way of signing, with valid input."""
    if request.param == "tablet":
        return sign_tablet
    return lambda form, **kwargs: sign_paper(form, a_png_scan(), **kwargs)


# --- the drawn signature -----------------------------------------------------------------------


@pytest.mark.parametrize("name", BAD_IMAGES)
def test_a_bad_signature_image_is_refused_and_nothing_is_written(
    name: str, pending: ConsentForm, sign_tablet: Sign
) -> None:
    signature, code = BAD_IMAGES[name]
    before = everything()

    with pytest.raises(ValidationError) as refused:
        sign_tablet(pending, signature=signature)

    assert refused_field(refused.value) == ("signature", code)
    assert everything() == before


def test_a_png_heavier_than_the_setting_is_refused(pending: ConsentForm, sign_tablet: Sign) -> None:
    heavy = noise_png(django_settings.OPTIN_SIGNATURE_MAX_BYTES)
    assert len(heavy) > django_settings.OPTIN_SIGNATURE_MAX_BYTES
    before = everything()

    with pytest.raises(ValidationError) as refused:
        sign_tablet(pending, signature=data_url(heavy))

    assert refused_field(refused.value) == ("signature", "too_large")
    assert everything() == before


def test_the_weight_limit_is_the_setting(
    pending: ConsentForm, sign_tablet: Sign, settings: Any
) -> None:
    drawn = png_of(handwriting())
    settings.OPTIN_SIGNATURE_MAX_BYTES = len(drawn) - 1
    before = everything()

    with pytest.raises(ValidationError) as refused:
        sign_tablet(pending, signature=data_url(drawn))

    assert refused_field(refused.value) == ("signature", "too_large")
    assert everything() == before


@pytest.mark.parametrize("name", BAD_DRAWINGS)
def test_a_drawing_that_is_not_a_signature_is_refused_and_nothing_is_written(
    name: str, pending: ConsentForm, sign_tablet: Sign
) -> None:
    strokes, code = BAD_DRAWINGS[name]
    before = everything()

    with pytest.raises(ValidationError) as refused:
        sign_tablet(pending, **tablet_input(strokes))

    assert refused_field(refused.value) == ("signature", code)
    assert everything() == before


@pytest.mark.parametrize("name", MALFORMED_STROKES)
def test_malformed_strokes_are_refused_and_nothing_is_written(
    name: str, pending: ConsentForm, sign_tablet: Sign
) -> None:
    before = everything()

    with pytest.raises(ValidationError) as refused:
        sign_tablet(pending, strokes=MALFORMED_STROKES[name])

    assert refused_field(refused.value) == ("strokes", "invalid")
    assert everything() == before


def test_strokes_heavier_than_the_setting_are_refused(
    pending: ConsentForm, sign_tablet: Sign, settings: Any
) -> None:
    settings.OPTIN_SIGNATURE_POINTS_MAX_BYTES = 1024
    before = everything()

    with pytest.raises(ValidationError) as refused:
        sign_tablet(pending)

    assert refused_field(refused.value) == ("strokes", "too_large")
    assert everything() == before


@pytest.mark.parametrize(
    "canvas",
    [
        {},
        {"canvas_width": "600", "canvas_height": "200"},
        {"canvas_width": "six cents", "canvas_height": "200", "device_pixel_ratio": "1"},
        {"canvas_width": "600", "canvas_height": "200", "device_pixel_ratio": "nan"},
        {"canvas_width": "10", "canvas_height": "200", "device_pixel_ratio": "1"},
    ],
    ids=["missing", "no_ratio", "not_a_number", "nan", "too_narrow"],
)
def test_an_impossible_canvas_is_refused(
    canvas: dict[str, str], pending: ConsentForm, sign_tablet: Sign
) -> None:
    before = everything()

    with pytest.raises(ValidationError) as refused:
        sign_tablet(pending, canvas=canvas)

    assert set(refused.value.error_dict) <= {
        "canvas_width",
        "canvas_height",
        "device_pixel_ratio",
    }
    assert everything() == before


def test_up_to_two_straight_lines_are_ignored_but_a_third_counts() -> None:
    """The boundary of the pad's rule, on the server's check alone."""
    lines = [
        stroke(horizontal(100, 150, 300)),
        stroke(vertical(250, 30, 120)),
        stroke(horizontal(100, 40, 300)),
    ]

    drawn = capture.check_drawn_signature(data_url(png_of(lines)), json.dumps(lines))

    assert len(drawn.strokes) == 3


def test_a_scribble_spanning_just_over_20_px_is_enough() -> None:
    strokes = [stroke(loop(300, 100, 11, points=40))]

    drawn = capture.check_drawn_signature(data_url(png_of(strokes)), json.dumps(strokes))

    assert len(drawn.strokes) == 1


def test_the_server_applies_the_browsers_thresholds() -> None:
    script = (Path(django_settings.BASE_DIR) / "static" / "js" / "signature-capture.js").read_text()

    def constant(name: str) -> float:
        found = re.search(rf"var {name} = ([0-9.]+);", script)
        assert found, name
        return float(found.group(1))

    assert constant("MIN_SIZE") == capture.MIN_INK_PX
    assert constant("STRAIGHT_TOLERANCE") == capture.STRAIGHT_TOLERANCE_PX
    assert constant("MAX_IGNORED_LINES") == capture.MAX_IGNORED_STRAIGHT_LINES
    assert "points.length > 2" in script
    assert capture.MIN_POINTS_PER_STROKE == 3


# --- the paper scan ----------------------------------------------------------------------------


def truncated_pdf() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 420), "white").save(buffer, "PDF")
    whole = buffer.getvalue()
    return whole[: len(whole) // 2]


def gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 420), "white").save(buffer, "GIF")
    return buffer.getvalue()


BAD_SCANS = {
    "a_text_file_named_pdf": (b"hello", "bad_type"),
    "an_empty_file": (b"", "empty"),
    "a_gif": (gif(), "bad_type"),
    "a_truncated_pdf": (truncated_pdf(), "unreadable"),
    "a_corrupt_pdf": (b"%PDF-1.7\n" + b"\x00garbage\x01" * 200, "unreadable"),
    "png_magic_then_garbage": (capture.PNG_MAGIC + b"garbage" * 200, "unreadable"),
    "a_truncated_jpeg": (jpeg_bytes()[:300], "unreadable"),
}


@pytest.mark.parametrize("name", BAD_SCANS)
def test_a_bad_scan_is_refused_and_nothing_is_written(
    name: str, pending: ConsentForm, sign_paper: Sign
) -> None:
    scan, code = BAD_SCANS[name]
    before = everything()

    with pytest.raises(ValidationError) as refused:
        sign_paper(pending, scan)

    assert refused_field(refused.value) == ("scan", code)
    assert everything() == before


def test_a_scan_heavier_than_the_setting_is_refused(
    pending: ConsentForm, sign_paper: Sign, settings: Any
) -> None:
    scan = a_png_scan()
    settings.OPTIN_SCAN_MAX_BYTES = len(scan) - 1
    before = everything()

    with pytest.raises(ValidationError) as refused:
        sign_paper(pending, scan)

    assert refused_field(refused.value) == ("scan", "too_large")
    assert everything() == before


# --- forms that cannot be signed ---------------------------------------------------------------


def assert_refused(
    sign: Sign, form: ConsentForm, code: str, status: str | None = None, **kwargs: Any
) -> None:
    before = everything()

    with pytest.raises(DomainError) as refused:
        sign(form, **kwargs)

    assert refused.value.code == code
    if status is not None:
        assert refused.value.extra == {"status": status}
    assert everything() == before


def test_a_superseded_form_cannot_be_signed(
    sign: Sign, pending: ConsentForm, collect: Collect, customer: Client
) -> None:
    newer = collect(customer, email="yes").form
    assert newer is not None
    pending.refresh_from_db()
    assert pending.status == FormStatus.SUPERSEDED

    assert_refused(sign, pending, "form_not_pending", "superseded")


def test_an_expired_form_cannot_be_signed(sign: Sign, pending: ConsentForm) -> None:
    with time_machine.travel(timezone.now() + dt.timedelta(days=31)):
        assert expire_pending_forms() == [pending.reference]

        assert_refused(sign, pending, "form_not_pending", "expired")


def test_a_cancelled_form_cannot_be_signed(sign: Sign, pending: ConsentForm, advisor: Any) -> None:
    cancel_form(
        client_number=pending.client.client_number,
        reference=pending.reference,
        advisor=advisor,
        note="Le client ne souhaite pas signer.",
    )

    assert_refused(sign, pending, "form_not_pending", "cancelled")


def test_a_signed_form_cannot_be_signed_again(
    sign: Sign, pending: ConsentForm, sign_tablet: Sign
) -> None:
    sign_tablet(pending)

    assert_refused(sign, pending, "form_not_pending", "signed")


def test_another_clients_form_cannot_be_signed(
    sign: Sign, pending: ConsentForm, client_factory: Callable[..., Client]
) -> None:
    other = client_factory(first_name="Paul")

    assert_refused(sign, pending, "form_wrong_client", client=other)


def test_an_unknown_reference_cannot_be_signed(sign: Sign, pending: ConsentForm) -> None:
    assert_refused(sign, pending, "unknown_form", reference="OPT-0000-0000")


def test_an_unknown_client_cannot_sign(sign: Sign, pending: ConsentForm) -> None:
    assert_refused(sign, pending, "unknown_client", client_number="C-NOBODY")


def test_an_advisor_of_another_branch_cannot_have_the_form_signed(
    sign: Sign, pending: ConsentForm, advisor_other_branch: Any
) -> None:
    assert_refused(sign, pending, "not_allowed", advisor=advisor_other_branch)


def test_compliance_cannot_have_the_form_signed(
    sign: Sign, pending: ConsentForm, compliance: Any
) -> None:
    assert_refused(sign, pending, "not_allowed", advisor=compliance)
