"""R48 (and STYLE.md §11): eligibility runs a fixed number of queries whatever the batch size:
one for the clients and their states, plus one for the suppression list on e-mail when
professionals are asked about.

The 10,000 clients are bulk-created directly (not through the service) to keep the test fast;
eligibility reads only the client and state rows and the suppression list.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from clients.models import Client, ClientKind
from optin.models import Channel, ConsentState, SuppressionEntry
from optin.selectors import eligibility
from optin.services import suppression_digest

pytestmark = pytest.mark.django_db

STATUSES = ("none", "granted", "refused", "withdrawn", "pending_signature", "granted")


@pytest.fixture
def many_clients(branch):
    """10,000 clients: every fourth a professional; states cycling through STATUSES; one
    professional address in eight on the suppression list."""
    clients = [
        Client(
            client_number=f"Q{i:05d}",
            kind=ClientKind.PROFESSIONAL if i % 4 == 0 else ClientKind.INDIVIDUAL,
            last_name=f"Nom{i}",
            birth_date=dt.date(1970 + i % 30, 1 + i % 12, 1 + i % 28),
            email=f"client{i}@exemple.fr",
            mobile=f"+336{i:08d}",
            branch=branch,
        )
        for i in range(10_000)
    ]
    Client.objects.bulk_create(clients, batch_size=500)
    ids = dict(
        Client.objects.filter(client_number__startswith="Q").values_list("client_number", "id")
    )
    ConsentState.objects.bulk_create(
        [
            ConsentState(
                client_id=ids[f"Q{i:05d}"],
                channel=channel,
                status=STATUSES[(i + offset) % len(STATUSES)],
            )
            for i in range(10_000)
            for offset, channel in enumerate(Channel.values)
        ],
        batch_size=1000,
    )
    SuppressionEntry.objects.bulk_create(
        [
            SuppressionEntry(channel="email", digest=suppression_digest(f"client{i}@exemple.fr"))
            for i in range(0, 10_000, 32)
        ]
    )
    return [f"Q{i:05d}" for i in range(10_000)]


@pytest.mark.parametrize(("channel", "queries"), [("email", 2), ("sms_push", 1)])
def test_10000_clients_take_as_many_queries_as_10(
    many_clients, channel, queries, django_assert_num_queries
):
    with django_assert_num_queries(queries):
        answers = eligibility(channel, many_clients)
    assert len(answers) == 10_000
    reasons = Counter(a.reason for a in answers)
    assert reasons["granted"] > 0 and reasons["withdrawn"] > 0 and reasons["refused"] > 0

    with django_assert_num_queries(queries):
        assert len(eligibility(channel, many_clients[:10])) == 10

    # Unknown numbers cost one query more, however many: are they erased clients' (R64)?
    with django_assert_num_queries(queries + 1):
        answers = eligibility(channel, [*many_clients[:5000], *[f"X{i}" for i in range(5000)]])
    assert Counter(a.reason for a in answers)["unknown_client"] == 5000


def test_the_suppression_list_is_applied_across_the_batch(many_clients):
    answers = {a.client_number: a.reason for a in eligibility("email", many_clients)}
    assert Counter(answers.values())["b2b_no_objection"] > 0
    for i in range(0, 10_000, 32):  # suppressed professional addresses (R47 line 6)
        expected = "refused" if STATUSES[i % len(STATUSES)] == "refused" else "withdrawn"
        assert answers[f"Q{i:05d}"] == expected, i
