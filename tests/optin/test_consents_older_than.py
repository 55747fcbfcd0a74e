"""R16: no expiry during the relationship; old consents can only be listed for a refresh."""

import datetime as dt

import time_machine

from optin.models import ConsentState
from optin.selectors import consents_granted_before


def test_an_old_grant_stays_granted_and_is_listed_for_refresh(customer, grant):
    with time_machine.travel(dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC), tick=False):
        grant(customer, "email")
    six_years_later = dt.datetime(2032, 12, 2, tzinfo=dt.UTC)

    listed = list(consents_granted_before(years=5, now=six_years_later))

    assert [(s.client_id, s.channel) for s in listed] == [(customer.pk, "email")]
    state = ConsentState.objects.get(client=customer, channel="email")
    assert state.status == "granted"  # listing asks again; it never ends a consent


def test_a_recent_grant_is_not_listed(customer, grant):
    grant(customer, "sms_push")
    assert not consents_granted_before(years=5).exists()
