"""Server-side checks of what a signature brings: the drawn image, its strokes, a paper scan.

R25: a drawn signature must not be empty, a dot or a straight line; a scan is a PDF, PNG or
JPEG recognised by its content (never by its name), at most OPTIN_SCAN_MAX_BYTES. The pad's
checks run in the browser (static/js/signature-capture.js) and again here, with the same
thresholds. Every refusal is a ValidationError on the field concerned, with a code.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
PDF_MAGIC = b"%PDF-"
DATA_URL_PREFIX = "data:image/png;base64,"

# The pad's checks (notes/signatures.md §5), in CSS pixels.
MIN_POINTS_PER_STROKE = 3  # strokes of 2 points or fewer are ignored
MAX_IGNORED_STRAIGHT_LINES = 2
STRAIGHT_TOLERANCE_PX = 3.0
MIN_INK_PX = 20.0
# The image: a canvas of a phone to a large tablet at up to 3x density.
MIN_IMAGE_SIZE = (100, 40)
MAX_IMAGE_SIZE = (4000, 2000)
MAX_SCAN_PIXELS = 80_000_000  # a 600 dpi A3 page; above that, a decompression bomb


def _refuse(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


# --- the drawn signature ----------------------------------------------------------------------


@dataclass(frozen=True)
class DrawnSignature:
    png: bytes
    width: int  # pixels of the image
    height: int
    ink_box: tuple[int, int, int, int]  # left, top, right, bottom, in image pixels
    strokes: list[list[dict[str, float]]]  # the kept strokes' points {x, y, pressure, time}
    points_json: bytes  # the strokes as the pad exported them, canonical JSON


def decode_signature_png(data_url: str) -> tuple[bytes, int, int, tuple[int, int, int, int]]:
    """The PNG of a `data:image/png;base64,` URL, checked: type, weight, size, ink."""
    if not data_url or not data_url.strip():
        raise _refuse(
            "signature", _("Le client doit signer dans le cadre avant de valider."), "empty"
        )
    if not data_url.startswith(DATA_URL_PREFIX):
        raise _refuse("signature", _("La signature doit être une image PNG."), "not_png")
    encoded = data_url[len(DATA_URL_PREFIX) :]
    if len(encoded) > settings.OPTIN_SIGNATURE_MAX_BYTES * 4 // 3 + 4:
        raise _refuse("signature", _("L'image de la signature est trop lourde."), "too_large")
    try:
        png = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _refuse("signature", _("L'image de la signature est illisible."), "not_png") from None
    if len(png) > settings.OPTIN_SIGNATURE_MAX_BYTES:
        raise _refuse("signature", _("L'image de la signature est trop lourde."), "too_large")
    if not png.startswith(PNG_MAGIC):
        raise _refuse("signature", _("La signature doit être une image PNG."), "not_png")
    try:
        with Image.open(io.BytesIO(png)) as image:
            if image.format != "PNG":
                raise _refuse("signature", _("La signature doit être une image PNG."), "not_png")
            width, height = image.size
            if not (
                MIN_IMAGE_SIZE[0] <= width <= MAX_IMAGE_SIZE[0]
                and MIN_IMAGE_SIZE[1] <= height <= MAX_IMAGE_SIZE[1]
            ):
                raise _refuse(
                    "signature",
                    _("L'image de la signature a des dimensions inattendues (%(w)s x %(h)s).")
                    % {"w": width, "h": height},
                    "bad_dimensions",
                )
            image.load()
            alpha = image.getchannel("A") if "A" in image.getbands() else None
            # Ink: what is not transparent (the pad draws on a transparent canvas); an
            # opaque image counts what is not white.
            mask = alpha if alpha is not None else image.convert("L").point(lambda v: v < 250)
            box = mask.getbbox()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise _refuse("signature", _("L'image de la signature est illisible."), "not_png") from None
    if box is None:
        raise _refuse(
            "signature", _("Le client doit signer dans le cadre avant de valider."), "empty"
        )
    return png, width, height, box


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("not a number")
    return float(value)


def parse_strokes(raw: str) -> list[list[dict[str, float]]]:
    """The pad's `toData()` export: a list of strokes, each with its points {x, y, ...}."""
    if len(raw.encode("utf-8")) > settings.OPTIN_SIGNATURE_POINTS_MAX_BYTES:
        raise _refuse("strokes", _("Le tracé de la signature est trop lourd."), "too_large")
    try:
        data = json.loads(raw)
        if not isinstance(data, list):
            raise ValueError("not a list")
        strokes = []
        for stroke in data:
            points = stroke["points"] if isinstance(stroke, dict) else None
            if not isinstance(points, list):
                raise ValueError("a stroke without points")
            strokes.append(
                [
                    {
                        "x": _number(p["x"]),
                        "y": _number(p["y"]),
                        "pressure": _number(p.get("pressure", 0.5)),
                        "time": _number(p.get("time", 0)),
                    }
                    for p in points
                ]
            )
    except (ValueError, KeyError, TypeError):
        raise _refuse("strokes", _("Le tracé de la signature est illisible."), "invalid") from None
    return strokes


def _is_straight(points: list[dict[str, float]]) -> bool:
    """Every point lies within STRAIGHT_TOLERANCE_PX of the line through the first point and
    the point farthest from it: a line, a dot, or a line drawn back over itself. The pad's
    script (isStraight) applies the same rule in the browser."""
    x1, y1 = points[0]["x"], points[0]["y"]
    far = max(points, key=lambda p: math.hypot(p["x"] - x1, p["y"] - y1))
    length = math.hypot(far["x"] - x1, far["y"] - y1)
    if length == 0:
        return True
    dx, dy = far["x"] - x1, far["y"] - y1
    return all(
        abs(dx * (y1 - p["y"]) - (x1 - p["x"]) * dy) / length <= STRAIGHT_TOLERANCE_PX
        for p in points
    )


def check_strokes(strokes: list[list[dict[str, float]]]) -> list[list[dict[str, float]]]:
    """The pad's checks (notes/signatures.md §5): the strokes that count, or a refusal.

    Strokes of two points or fewer do not count; up to two straight lines are ignored (an
    underline, a crossing stroke); what remains must span at least MIN_INK_PX.
    """
    if not any(strokes):
        raise _refuse(
            "signature", _("Le client doit signer dans le cadre avant de valider."), "empty"
        )
    kept = [s for s in strokes if len(s) >= MIN_POINTS_PER_STROKE]
    ignored = 0
    remaining = []
    for stroke in kept:
        if ignored < MAX_IGNORED_STRAIGHT_LINES and _is_straight(stroke):
            ignored += 1
            continue
        remaining.append(stroke)
    if not remaining:
        raise _refuse(
            "signature",
            _("Une ligne droite ou un point ne constitue pas une signature."),
            "straight_line",
        )
    xs = [p["x"] for s in remaining for p in s]
    ys = [p["y"] for s in remaining for p in s]
    if max(max(xs) - min(xs), max(ys) - min(ys)) < MIN_INK_PX:
        raise _refuse(
            "signature",
            _("La signature est trop petite : signez en grand dans le cadre."),
            "too_small",
        )
    return remaining


def check_drawn_signature(data_url: str, strokes_json: str) -> DrawnSignature:
    """Both checks of a tablet signature: the image and the strokes it was drawn with."""
    png, width, height, box = decode_signature_png(data_url)
    strokes = parse_strokes(strokes_json)
    check_strokes(strokes)
    points_json = json.dumps(strokes, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return DrawnSignature(
        png=png, width=width, height=height, ink_box=box, strokes=strokes, points_json=points_json
    )


# --- the paper scan ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    data: bytes
    content_type: str
    extension: str
    pages: int
    width: int | None = None  # images only, in pixels
    height: int | None = None


def _pdf_pages(data: bytes) -> int:
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            raise _refuse(
                "scan", _("Le scan PDF est protégé : déposez-le sans mot de passe."), "encrypted"
            )
        pages = int(reader.root["/Pages"]["/Count"])
    except ValidationError:
        raise
    except (PdfReadError, KeyError, TypeError, ValueError, IndexError, OSError):
        raise _refuse("scan", _("Le fichier PDF est illisible."), "unreadable") from None
    if pages < 1:
        raise _refuse("scan", _("Le fichier PDF ne contient aucune page."), "unreadable")
    return pages


def check_scan(data: bytes) -> Scan:
    """A scanned signed form: PDF, PNG or JPEG by its content, at most OPTIN_SCAN_MAX_BYTES."""
    limit = settings.OPTIN_SCAN_MAX_BYTES
    if not data:
        raise _refuse("scan", _("Le fichier est vide."), "empty")
    if len(data) > limit:
        raise _refuse(
            "scan",
            _("Le scan dépasse %(mb)s Mo.") % {"mb": limit // (1024 * 1024) or 1},
            "too_large",
        )
    if data.startswith(PDF_MAGIC):
        return Scan(data, "application/pdf", "pdf", _pdf_pages(data))
    # Phone cameras write JPEG files carrying a preview picture (MPO, a JPEG extension).
    for magic, formats, content_type, extension in (
        (PNG_MAGIC, ("PNG",), "image/png", "png"),
        (JPEG_MAGIC, ("JPEG", "MPO"), "image/jpeg", "jpg"),
    ):
        if data.startswith(magic):
            try:
                with Image.open(io.BytesIO(data)) as image:
                    if image.format not in formats:
                        break
                    width, height = image.size
                    if width * height > MAX_SCAN_PIXELS:
                        raise _refuse("scan", _("L'image du scan est trop grande."), "too_large")
                    image.load()
            except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
                raise _refuse("scan", _("L'image du scan est illisible."), "unreadable") from None
            return Scan(data, content_type, extension, 1, width, height)
    raise _refuse(
        "scan",
        _("Le scan doit être un PDF, une image PNG ou une image JPEG (reconnu par son contenu)."),
        "bad_type",
    )
