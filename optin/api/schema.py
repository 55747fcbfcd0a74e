"""The OpenAPI description: the token scheme, each operation's scope and its error answers."""

from __future__ import annotations

import copy
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse

from optin.api.permissions import required_scope
from optin.api.serializers import ErrorSerializer, Strict

ERRORS = {
    "400": "Validation error (`invalid`, `malformed_json`, `batch_too_large`): see `fields`.",
    "401": "No token, or a wrong or revoked one (`not_authenticated`, `invalid_token`).",
    "403": "The token lacks this operation's scope (`missing_scope`).",
    "404": "Unknown client (`unknown_client`) or path (`not_found`).",
    "409": "Conflict: a stale If-Match, a reused Idempotency-Key, a duplicate client number.",
    "413": "Body over the size limit (`payload_too_large`).",
    "415": "Not `application/json` (`unsupported_media_type`).",
    "422": "Refused by a rule; `code` names it (`not_affirmative`, `ineligible_person`, …).",
    "429": "Over the rate limit (`rate_limited`): nothing was done; retry after `Retry-After`.",
}
RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer", "minimum": 1},
        "description": "Seconds until the rate limit lets requests through again.",
    }
}
# The error answers each kind of operation can give, besides 401, 403 and 429.
_BY_KIND = {
    "read": ("400", "404"),
    "write": ("400", "404", "409", "413", "415", "422"),
}
_WRITES = {"POST", "PATCH", "PUT"}


class TokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "optin.api.authentication.ApiTokenAuthentication"
    name = "TokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>`, the token printed by `create_api_client`.",
        }


class ApiAutoSchema(AutoSchema):
    def get_description(self) -> str:  # type: ignore[override]
        scope = required_scope(self.view, self.method)
        text = str(super().get_description() or "")
        if scope:
            text = f"Requires the scope `{scope}`.\n\n{text}".strip()
        return text

    def _map_serializer(
        self, serializer: Any, direction: Any, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer(  # type: ignore[no-untyped-call]
            serializer, direction, bypass_extensions
        )
        if isinstance(serializer, Strict) and direction == "request":
            schema["additionalProperties"] = False  # an unknown field is a 400
        return schema

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        bodies: dict[str, Any] = super()._get_response_bodies(direction)
        kind = "write" if self.method in _WRITES else "read"
        for status in ("401", "403", "429", *_BY_KIND[kind]):
            if status not in bodies:
                bodies[status] = self._get_response_for_code(  # type: ignore[no-untyped-call]
                    OpenApiResponse(ErrorSerializer, description=ERRORS[status]),
                    status,
                    direction=direction,
                )
        bodies["429"]["headers"] = copy.deepcopy(RETRY_AFTER)
        return bodies
