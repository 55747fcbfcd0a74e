"""R57, R21 and STYLE §12: the data migration installing email-v1 and sms_push-v1 has a
reverse, is idempotent, and the reverse cannot remove a version already used."""

import importlib

import pytest
from django.apps import apps
from django.db import DatabaseError, transaction

from optin.models import Wording

migration = importlib.import_module("optin.migrations.0003_initial_wordings")


def installed() -> list[tuple[str, str, str]]:
    return list(
        Wording.objects.filter(version__in=["email-v1", "sms_push-v1"])
        .order_by("version")
        .values_list("version", "sha256", "published_at")
    )


@pytest.mark.django_db
def test_reverse_then_forward_gives_the_same_wordings():
    before = installed()
    assert len(before) == 2
    migration.uninstall(apps, None)  # data only: the schema editor is not used
    assert installed() == []
    migration.install(apps, None)
    assert installed() == before


@pytest.mark.django_db
def test_running_the_forward_twice_changes_nothing():
    before = installed()
    migration.install(apps, None)
    assert installed() == before


@pytest.mark.django_db
def test_the_reverse_cannot_remove_a_used_version(customer, grant):
    grant(customer, "email")
    with pytest.raises(DatabaseError, match="used"), transaction.atomic():
        migration.uninstall(apps, None)
    assert len(installed()) == 2
