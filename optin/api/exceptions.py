"""One JSON shape for every API error: {"error": {"code", "message", "fields"}} (DESIGN.md §5).

Format errors come from serializers and parsers (400, 413, 415), access errors from DRF (401,
403, 404, 405, 429), rule refusals from `optin.errors.DomainError` (422 with the rule's code, or
the status its code maps to) and field errors of the services from Django's ValidationError.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from optin.api.throttling import AddressRateThrottle
from optin.errors import DomainError

# DRF exception class → our machine code.
CODES: dict[type[exceptions.APIException], str] = {
    exceptions.ParseError: "malformed_json",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "invalid_token",
    exceptions.PermissionDenied: "missing_scope",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.Throttled: "rate_limited",
}


def error_body(code: str, message: str, fields: dict[str, Any] | None = None, **extra: Any) -> Any:
    return {"error": {"code": code, "message": message, "fields": fields or {}, **extra}}


def _messages(detail: Any) -> Any:
    """DRF's nested ErrorDetail lists as plain strings, keeping the nesting of fields."""
    if isinstance(detail, dict):
        return {str(k): _messages(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_messages(v) for v in detail]
    return str(detail)


def _django_fields(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {
            field: [str(m) for e in errors for m in e.messages]
            for field, errors in exc.error_dict.items()
        }
    return {"non_field_errors": [str(m) for m in exc.messages]}


def _is_duplicate_number(exc: DjangoValidationError) -> bool:
    errors = getattr(exc, "error_dict", {}).get("client_number", [])
    return any(e.code == "duplicate" for e in errors)


def _counted_against_address(
    exc: exceptions.APIException, context: dict[str, Any]
) -> exceptions.APIException:
    """DRF checks the rate limits after the token and the scope, so a request without a valid
    token never reaches them: its 401 counts against its address here, a 429 past the rate."""
    throttle = AddressRateThrottle()
    if throttle.allow_request(context["request"], context.get("view")):
        return exc
    return exceptions.Throttled(throttle.wait())


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        set_rollback()
        extra = {k: v for k, v in exc.extra.items() if k != "fields"}
        return Response(
            error_body(str(exc.code), exc.message, exc.extra.get("fields"), **extra),
            status=exc.http_status,
        )
    if isinstance(exc, DjangoValidationError):
        set_rollback()
        if _is_duplicate_number(exc):
            return Response(
                error_body(
                    "duplicate_client_number",
                    _("Ce numéro client existe déjà."),
                    _django_fields(exc),
                ),
                status=409,
            )
        return Response(
            error_body("invalid", _("Certains champs ne sont pas valides."), _django_fields(exc)),
            status=400,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return Response(
            error_body("invalid", _("Certains champs ne sont pas valides."), _messages(detail)),
            status=400,
        )
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        exc = _counted_against_address(exc, context)
    if isinstance(exc, exceptions.APIException):
        set_rollback()
        code = next((c for cls, c in CODES.items() if isinstance(exc, cls)), None)
        code = code or str(exc.default_code)
        message = _messages(exc.detail)
        if not isinstance(message, str) or message == code:
            message = str(exc.default_detail)
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
        return Response(error_body(code, message), status=exc.status_code, headers=headers)
    return None  # a bug: Django's 500 handler (JSON under /api/, optin.urls)


def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any path under /api/ that names no endpoint."""
    return JsonResponse(error_body("not_found", _("Aucune ressource à cette adresse.")), status=404)
