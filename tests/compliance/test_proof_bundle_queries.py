"""R54: a proof bundle costs the same number of queries whatever the customer's history.

Its verification reads the customer's entries with their neighbours in one statement, their
personal values under one read of the customer's key, the covering checkpoint, the wordings,
staff names, states and forms once each: not one query per entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from clients.models import Client
from optin import checkpoints
from optin.compliance.bundle import produce_proof_bundle
from optin.models import AuditEntry
from signatures.models import ConsentForm
from signatures.services import Collected

MAX_QUERIES = 30


def alternate(decide: Callable[..., Any], client: Client, times: int) -> None:
    """Grants and withdrawals on both channels, `times` of each per channel."""
    for _ in range(times):
        for channel in ("email", "sms_push"):
            decide(client, channel, "grant")
            decide(client, channel, "withdraw")


def queries_of_a_bundle(client: Client, compliance: Any) -> int:
    with CaptureQueriesContext(connection) as captured:
        produced = produce_proof_bundle(user=compliance, client=client)
    assert produced.ok
    return len(captured)


def test_the_query_count_does_not_grow_with_the_entries(
    client_factory: Callable[..., Client],
    decide: Callable[..., Any],
    collect: Callable[..., Collected],
    sign_tablet: Callable[..., ConsentForm],
    compliance: Any,
    django_assert_max_num_queries: Any,
) -> None:
    few, many = client_factory(), client_factory()
    alternate(decide, few, 1)
    alternate(decide, many, 15)
    for client in (few, many):
        form = collect(client, email="yes", sms_push="yes").form
        assert form is not None
        sign_tablet(form)
    assert checkpoints.create_checkpoint() is not None
    assert AuditEntry.objects.filter(client_id=many.pk).count() > 60

    queries_of_a_bundle(few, compliance)  # the first one loads the staff member's profile
    with django_assert_max_num_queries(MAX_QUERIES):
        for_many = queries_of_a_bundle(many, compliance)
    assert for_many == queries_of_a_bundle(few, compliance)
