"""R56: the API writes every time in UTC with "Z", and only its own answers: the thread that
served an API request renders the next page in Paris time."""

from __future__ import annotations

import re

from django.utils import timezone
from rest_framework.test import APIClient

from clients.models import Client

UTC_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_the_api_writes_times_in_utc_with_z(api: APIClient, customer: Client) -> None:
    body = api.get(f"/api/v1/clients/{customer.client_number}").json()

    assert UTC_Z.match(body["created_at"]), body["created_at"]
    assert UTC_Z.match(body["updated_at"]), body["updated_at"]


def test_after_an_api_request_the_thread_is_back_in_paris_time(
    api: APIClient, customer: Client
) -> None:
    assert api.get(f"/api/v1/clients/{customer.client_number}").status_code == 200

    assert timezone.get_current_timezone_name() == "Europe/Paris"
