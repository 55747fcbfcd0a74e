"""Paths of the vendored front-end files, in one place (static/README.md lists them)."""

from __future__ import annotations

from django.http import HttpRequest

VENDOR = {
    "PICO_CSS": "vendor/pico-2.1.1/pico.min.css",
    "SIGNATURE_PAD_JS": "vendor/signature_pad-5.1.4/signature_pad.umd.min.js",
    "HTMX_JS": "vendor/htmx-2.0.11/htmx.min.js",
}


def vendor(request: HttpRequest) -> dict[str, str]:
    return VENDOR
