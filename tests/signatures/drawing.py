"""Signatures drawn for tests: strokes as signature_pad exports them, and their PNG."""

from __future__ import annotations

import base64
import io
import json
import math
from typing import Any

from PIL import Image, ImageDraw

CANVAS = {"canvas_width": "600", "canvas_height": "200", "device_pixel_ratio": "1"}


def stroke(points: list[tuple[float, float]]) -> dict[str, Any]:
    return {
        "penColor": "black",
        "dotSize": 0,
        "minWidth": 0.5,
        "maxWidth": 2.5,
        "velocityFilterWeight": 0.7,
        "compositeOperation": "source-over",
        "points": [
            {"x": x, "y": y, "pressure": 0.5, "time": 1_700_000_000_000 + 16 * i}
            for i, (x, y) in enumerate(points)
        ],
    }


def handwriting() -> list[dict[str, Any]]:
    """Three strokes, 240 points: a loop, a wave and an underline."""
    loop = [(80 + 40 * math.cos(t / 12), 100 + 30 * math.sin(t / 12)) for t in range(80)]
    wave = [(150 + 3 * t, 100 + 25 * math.sin(t / 6)) for t in range(100)]
    underline = [(70 + 7 * t, 160.0) for t in range(60)]
    return [stroke(loop), stroke(wave), stroke(underline)]


def png_of(strokes: list[dict[str, Any]], size: tuple[int, int] = (600, 200)) -> bytes:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for s in strokes:
        points = [(p["x"], p["y"]) for p in s["points"]]
        if len(points) == 1:
            draw.point(points[0], fill=(0, 0, 0, 255))
        else:
            draw.line(points, fill=(0, 0, 0, 255), width=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def tablet_input(strokes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What the tablet page posts: the image, the strokes and the canvas."""
    strokes = handwriting() if strokes is None else strokes
    return {
        "signature": data_url(png_of(strokes)),
        "strokes": json.dumps(strokes),
        "canvas": dict(CANVAS),
    }
