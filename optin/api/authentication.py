"""`Authorization: Token <token>`: the token's SHA-256 names an API client that is not revoked."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from optin.models import ApiClient

KEYWORD = "Token"


def new_token() -> str:
    """A random token of 256 bits; only its hash is kept."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # The token is random and long: a plain SHA-256 is enough to make the stored value useless.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ApiTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiClient, ApiClient] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("En-tête Authorization mal formé."))
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Jeton non valide.")) from None
        client = ApiClient.objects.filter(token_hash=token_hash(token)).first()
        if client is None or client.is_revoked:
            raise exceptions.AuthenticationFailed(_("Jeton non valide ou révoqué."))
        return client, client

    def authenticate_header(self, request: Any) -> str:
        return KEYWORD  # makes a missing or wrong token a 401, not a 403
