"""R51, R53: the header hashed for each entry is exactly the canonical JSON of its columns,
and the times read back for verification are those written."""

import datetime as dt

import pytest

from optin import audit
from optin.audit import canonical_json, header_json

ODD_TEXTS = [
    "",
    "plain",
    'quote " inside',
    "back\\slash",
    "new\nline\ttab\x00nul\x1fus",
    "accents éèà ç œ",
    "emoji 🙂 and \u2028 separator",
    "</script>",
]
MOMENT = dt.datetime(2026, 11, 23, 10, 44, 48, 108300, tzinfo=dt.UTC)


@pytest.mark.parametrize("text", ODD_TEXTS)
@pytest.mark.parametrize("client_id", [None, 0, 7, 10**12])
def test_the_header_is_the_canonical_json_of_the_columns(text, client_id):
    times = {"recorded_at": MOMENT, "occurred_at": MOMENT - dt.timedelta(hours=3)}
    expected = canonical_json(
        {
            "action": text,
            "actor_id": text,
            "actor_type": "advisor",
            "channel": text,
            "client_id": client_id,
            "client_number": text,
            "occurred_at": times["occurred_at"].isoformat(timespec="microseconds"),
            "recorded_at": times["recorded_at"].isoformat(timespec="microseconds"),
            "seq": 123456,
            "wording_version": text,
        }
    )
    built = header_json(
        123456,
        times["recorded_at"],
        times["occurred_at"],
        "advisor",
        text,
        text,
        client_id,
        text,
        text,
        text,
    )
    assert built == expected


def test_times_given_as_text_or_as_datetimes_give_the_same_header():
    as_datetime = header_json(1, MOMENT, MOMENT, "system", "job", "a", None, "", "", "")
    text = "2026-11-23T10:44:48.108300+00:00"
    assert header_json(1, text, text, "system", "job", "a", None, "", "", "") == as_datetime


def test_a_time_in_another_zone_is_written_in_utc():
    paris = MOMENT.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert '"recorded_at":"2026-11-23T10:44:48.108300+00:00"' in header_json(
        1, paris, paris, "system", "job", "a", None, "", "", ""
    )


@pytest.mark.parametrize("microsecond", [0, 1, 108300, 999999])
def test_stream_rows_reads_back_the_times_that_were_hashed(db, customer, microsecond):
    """Verification reads times as text; whole seconds included (SQLite drops their fraction)."""
    from django.db import transaction

    from optin.audit import Actor

    moment = MOMENT.replace(microsecond=microsecond)
    with transaction.atomic():
        entry = audit.append(action="test.time", actor=Actor.system("tests"), occurred_at=moment)
    rows = {row[0]: row for row in audit.stream_rows()}
    assert rows[entry.seq][2] == moment.isoformat(timespec="microseconds")
    assert rows[entry.seq][1] == entry.recorded_at.astimezone(dt.UTC).isoformat(
        timespec="microseconds"
    )


def test_a_consent_entry_opens_with_its_state_change(db, customer, grant):
    """Verification decodes only the state object at the head of a consent entry's payload;
    an entry whose payload opened otherwise would not be replayed."""
    from optin.models import AuditEntry

    grant(customer, "email")
    entry = AuditEntry.objects.filter(action="consent.granted").get()
    assert entry.payload.startswith(audit.STATE_PREFIX)
