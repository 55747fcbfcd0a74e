"""API scopes: each view names the scope each of its methods requires."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from optin.models import ApiClient


def required_scope(view: Any, method: str) -> str | None:
    scopes: dict[str, str] = getattr(view, "required_scopes", {})
    return scopes.get(method)


class HasScope(BasePermission):
    """401 without a valid token (DRF), 403 when the token lacks the method's scope."""

    message = "missing_scope"

    def has_permission(self, request: Request, view: Any) -> bool:
        client = request.user
        if not isinstance(client, ApiClient):
            return False
        scope = required_scope(view, request.method or "")
        if scope is None:
            return True  # a method the view does not serve: 405, not 403
        if not client.has_scope(scope):
            self.message = _("Ce client d'API n'a pas le droit %(scope)s.") % {"scope": scope}
            return False
        return True
