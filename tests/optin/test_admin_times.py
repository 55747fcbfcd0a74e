"""R56: times are stored in UTC and shown in Europe/Paris with the offset."""

import datetime as dt

from django.urls import reverse

from optin.admin import paris_time
from optin.models import AuditEntry
from tests.auth import login_verified


def test_winter_and_summer_times_carry_their_paris_offset():
    assert paris_time(dt.datetime(2026, 1, 15, 11, 0, tzinfo=dt.UTC)) == "2026-01-15 12:00:00+01:00"
    assert paris_time(dt.datetime(2026, 7, 15, 11, 0, tzinfo=dt.UTC)) == "2026-07-15 13:00:00+02:00"


def test_the_log_entry_page_shows_its_times_in_paris_with_the_offset(
    client, compliance, customer, grant
):
    grant(customer, "email")
    entry = AuditEntry.objects.filter(action="consent.granted").get()
    login_verified(client, compliance)
    page = client.get(reverse("admin:optin_auditentry_change", args=[entry.pk])).content.decode()
    assert paris_time(entry.recorded_at) in page
    assert paris_time(entry.occurred_at) in page
