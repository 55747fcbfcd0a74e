"""The one request format: a JSON object, of bounded size and depth."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.parsers import JSONParser


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "payload_too_large"
    default_detail = "payload_too_large"


class JsonParser(JSONParser):
    """DRF's strict JSON parser, refusing oversized bodies (413) and absurd nesting (400)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        request = (parser_context or {}).get("request")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        except ValueError:
            length = 0
        if length > settings.OPTIN_API_MAX_BODY_BYTES:
            raise PayloadTooLarge(
                _("Corps de requête trop grand (au plus %(n)s octets).")
                % {"n": settings.OPTIN_API_MAX_BODY_BYTES}
            )
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(_("JSON trop profondément imbriqué.")) from None
        try:
            # "\ud800" is valid JSON but no character: refused here, not deep in a service.
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except (UnicodeEncodeError, RecursionError):
            raise exceptions.ParseError(_("Le JSON contient un caractère non valide.")) from None
        return data
