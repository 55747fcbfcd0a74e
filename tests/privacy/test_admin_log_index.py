"""R64: an erasure renames the client's rows of the admin's history through an index on the
object they name (migration privacy 0001), not a scan of the whole history."""

from __future__ import annotations

from django.db import connection


def test_the_admin_history_is_indexed_by_object(db: None) -> None:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "django_admin_log")
    indexed = [c["columns"] for c in constraints.values() if c["index"]]
    assert ["content_type_id", "object_id"] in indexed
