"""R55 (SHOULD): every page of a customer's data that a staff member opens is recorded."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from optin.compliance.services import record_access

# The URL namespaces whose pages named by a client number show that customer's data.
CUSTOMER_NAMESPACES = frozenset({"clients", "signatures", "compliance"})


class RecordAccessMiddleware:
    """Records each successful page (status 200) whose URL names a client number, for any
    method; an htmx partial refreshing part of a page already opened is not a new opening."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = request.resolver_match
        if (
            response.status_code == 200
            and match is not None
            and match.namespace in CUSTOMER_NAMESPACES
            and "client_number" in match.kwargs
            and request.user.is_authenticated
            and request.method not in ("HEAD", "OPTIONS")
            and not request.headers.get("HX-Request")
        ):
            record_access(
                user=request.user,
                client_number=match.kwargs["client_number"],
                page=match.view_name,
                method=request.method or "GET",
            )
        return response
