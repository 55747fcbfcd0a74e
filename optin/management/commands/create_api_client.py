"""python manage.py create_api_client NAME --scopes S1,S2 — prints the token on its last line."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from optin.audit import Actor
from optin.models import ApiScope
from optin.services import create_api_client


class Command(BaseCommand):
    help = (
        "Create an API client with the given scopes and print its token, alone on the last "
        "line. Only a hash of the token is stored: keep it now, it cannot be shown again. "
        f"Scopes: {', '.join(ApiScope.values)}."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="who calls the API, e.g. web-customer-space")
        parser.add_argument(
            "--scopes", required=True, help="comma-separated, e.g. consents:read,consents:write"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        scopes = [scope.strip() for scope in options["scopes"].split(",") if scope.strip()]
        try:
            created = create_api_client(
                actor=Actor.system("create_api_client"), name=options["name"], scopes=scopes
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{field}: {' '.join(m)}" for field, m in exc.message_dict.items())
            ) from None
        client = created.client
        self.stdout.write(
            f"API client {client.name} created with scopes {', '.join(client.scopes)}. "
            "Its token follows; it is not stored and will not be shown again."
        )
        self.stdout.write(created.token)
