"""R57, R58 (and R18, R59): a used wording never changes; publishing never rewrites consents.

Once a log entry references a version, the service refuses to edit it (`wording_in_use`) and
the database itself refuses an UPDATE of its text (or any identifying field) and a DELETE of
the row, on SQLite and PostgreSQL alike; only `active` may still change. An unused version
can be corrected (its SHA-256 follows) or deleted. Publishing requires the R18 checklist and
is logged. The initial wordings are the texts of RULES.md §15 with the bank's name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from clients.models import Client
from optin.audit import Actor
from optin.errors import DomainError
from optin.models import ActorType, AuditEntry, ConsentState, Journey, Wording
from optin.selectors import eligibility
from optin.services import (
    WORDING_CHECKLIST,
    edit_unused_wording,
    publish_wording,
    set_wording_active,
    wording_in_use,
)

pytestmark = pytest.mark.django_db

initial_wordings = importlib.import_module("optin.migrations.0003_initial_wordings")

ADMIN = Actor.system("tests-wordings")
FULL_CHECKLIST = dict.fromkeys(WORDING_CHECKLIST, True)
V2_TEXT = (
    "J'accepte de recevoir par e-mail des offres commerciales de Banque Exemple sur ses "
    "produits et services. Je peux changer d'avis à tout moment et gratuitement : espace "
    "client, lien de désabonnement, agence. Les messages liés à mes contrats continuent."
)

# RULES.md §15, verbatim, with "[Banque]" to be replaced by the bank's name.
EMAIL_V1 = (
    "J'accepte de recevoir par e-mail des offres commerciales et des informations sur les "
    "produits et services de [Banque]. Je peux changer d'avis à tout moment et gratuitement : "
    "dans mon espace client, en cliquant sur le lien de désabonnement présent dans chaque "
    "e-mail, ou auprès de mon agence. Ce choix ne concerne pas les messages liés à la gestion "
    "de mes contrats, que je continuerai de recevoir."
)
SMS_PUSH_V1 = (
    "J'accepte de recevoir par SMS et par notifications mobiles (reçues en dehors de "
    "l'application) des offres commerciales et des informations sur les produits et services "
    "de [Banque]. Je peux changer d'avis à tout moment et gratuitement : dans mon espace "
    "client, en répondant STOP à un SMS, ou auprès de mon agence. Ce choix ne concerne pas les "
    "messages liés à la gestion de mes contrats, que je continuerai de recevoir."
)

# The triggers' own refusal, so that no other database error can pass for it.
REFUSED_BY_TRIGGER = r"optin: .*refused"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def publish_v2(**kwargs: Any) -> Wording:
    arguments: dict[str, Any] = {
        "actor": ADMIN,
        "channel": "email",
        "version": "email-v2",
        "text": V2_TEXT,
        "checklist": FULL_CHECKLIST,
    }
    arguments.update(kwargs)
    return publish_wording(**arguments)


def stored(version: str) -> tuple[Any, ...]:
    return (
        Wording.objects.filter(version=version)
        .values_list("channel", "version", "language", "text", "sha256", "published_at")
        .get()
    )


@pytest.fixture
def used(customer: Client, grant: Callable[..., Any]) -> Wording:
    """email-v1 after one grant."""
    grant(customer, "email")
    return Wording.objects.get(version="email-v1")


# --- the service ----------------------------------------------------------------------------


def test_a_version_is_unused_until_a_decision_references_it(
    customer: Client, grant: Callable[..., Any]
) -> None:
    wording = Wording.objects.get(version="email-v1")
    assert not wording_in_use(wording)
    grant(customer, "email")
    assert wording_in_use(wording)
    assert not wording_in_use(Wording.objects.get(version="sms_push-v1"))


@pytest.mark.parametrize(
    ("decision", "journey"),
    [
        ("grant", Journey.DIGITAL_SELF_SERVICE),
        ("refuse", Journey.DIGITAL_SELF_SERVICE),
        ("grant", Journey.BRANCH_ACCOUNT_OPENING),
        ("refuse", Journey.BRANCH_CONTACT_UPDATE),
    ],
)
def test_a_used_wording_cannot_be_edited(
    customer: Client,
    decide: Callable[..., Any],
    advisor_as_actor: Actor,
    web: Actor,
    decision: str,
    journey: str,
) -> None:
    actor = advisor_as_actor if journey.startswith("branch") else web
    decide(customer, "sms_push", decision, journey=journey, actor=actor)
    wording = Wording.objects.get(version="sms_push-v1")
    before = (stored("sms_push-v1"), AuditEntry.objects.count())
    with pytest.raises(DomainError) as caught:
        edit_unused_wording(actor=ADMIN, wording=wording, text="Un autre texte.")
    assert caught.value.code == "wording_in_use"
    assert (stored("sms_push-v1"), AuditEntry.objects.count()) == before


def test_an_unused_wording_can_be_corrected_and_its_sha256_follows() -> None:
    wording = publish_v2()
    corrected = V2_TEXT.replace("continuent", "continuent d'arriver")
    edited = edit_unused_wording(actor=ADMIN, wording=wording, text=corrected)
    wording.refresh_from_db()
    assert (wording.text, wording.sha256) == (corrected, sha256(corrected))
    assert edited.sha256 == sha256(corrected)
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry is not None
    assert entry.action == "wording.edited"
    assert json.loads(entry.payload)["sha256"] == sha256(corrected)


def test_an_unused_wording_can_be_deleted() -> None:
    wording = publish_v2()
    wording.delete()
    assert not Wording.objects.filter(version="email-v2").exists()


def test_a_used_wording_can_be_deactivated_and_reactivated(used: Wording) -> None:
    before = stored("email-v1")
    set_wording_active(actor=ADMIN, wording=used, active=False)
    assert Wording.objects.get(pk=used.pk).active is False
    set_wording_active(actor=ADMIN, wording=used, active=True)
    assert Wording.objects.get(pk=used.pk).active is True
    assert stored("email-v1") == before
    actions = list(
        AuditEntry.objects.filter(action__startswith="wording.").values_list("action", flat=True)
    )
    assert actions[-2:] == ["wording.deactivated", "wording.activated"]


# --- the database ---------------------------------------------------------------------------

CHANGES = {
    "text": "x",
    "sha256": "0" * 64,
    "version": "email-v1b",
    "channel": "sms_push",
    "language": "en",
    "published_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
}


@pytest.mark.parametrize(("field", "value"), list(CHANGES.items()), ids=list(CHANGES))
def test_the_database_refuses_to_update_a_used_wording(
    used: Wording, field: str, value: Any
) -> None:
    before = stored("email-v1")
    with pytest.raises(DatabaseError, match=REFUSED_BY_TRIGGER), transaction.atomic():
        Wording.objects.filter(pk=used.pk).update(**{field: value})
    assert (
        Wording.objects.filter(pk=used.pk)
        .values_list("channel", "version", "language", "text", "sha256", "published_at")
        .get()
        == before
    )


def test_the_database_refuses_to_update_a_used_wording_text_with_its_matching_sha256(
    used: Wording,
) -> None:
    with pytest.raises(DatabaseError, match=REFUSED_BY_TRIGGER), transaction.atomic():
        Wording.objects.filter(pk=used.pk).update(text="x", sha256=sha256("x"))
    assert Wording.objects.get(pk=used.pk).text != "x"


def test_the_database_refuses_a_save_of_a_used_wording_with_a_new_text(used: Wording) -> None:
    used.text = "x"
    with pytest.raises(DatabaseError, match=REFUSED_BY_TRIGGER), transaction.atomic():
        used.save()


def test_the_database_refuses_to_delete_a_used_wording(used: Wording) -> None:
    with pytest.raises(DatabaseError, match=REFUSED_BY_TRIGGER), transaction.atomic():
        Wording.objects.filter(pk=used.pk).delete()
    with pytest.raises(DatabaseError, match=REFUSED_BY_TRIGGER), transaction.atomic():
        used.delete()
    assert Wording.objects.filter(pk=used.pk).exists()


def test_the_database_refuses_raw_sql_on_a_used_wording(used: Wording) -> None:
    with (
        pytest.raises(DatabaseError, match=REFUSED_BY_TRIGGER),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE optin_wording SET text = %s WHERE id = %s", ["x", used.pk])
    with (
        pytest.raises(DatabaseError, match=REFUSED_BY_TRIGGER),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM optin_wording WHERE id = %s", [used.pk])
    assert Wording.objects.get(pk=used.pk).text == used.text


def test_the_database_allows_toggling_active_on_a_used_wording(used: Wording) -> None:
    with transaction.atomic():
        Wording.objects.filter(pk=used.pk).update(active=False)
    assert Wording.objects.get(pk=used.pk).active is False
    with transaction.atomic():
        Wording.objects.filter(pk=used.pk).update(active=True)
    assert Wording.objects.get(pk=used.pk).active is True


def test_the_database_allows_changing_an_unused_wording() -> None:
    wording = publish_v2()
    Wording.objects.filter(pk=wording.pk).update(text="y", sha256=sha256("y"))
    assert Wording.objects.get(pk=wording.pk).text == "y"
    Wording.objects.filter(pk=wording.pk).delete()
    assert not Wording.objects.filter(pk=wording.pk).exists()


@pytest.mark.postgres
def test_the_database_refuses_to_truncate_wordings_in_use(used: Wording) -> None:
    with (
        pytest.raises(DatabaseError, match=REFUSED_BY_TRIGGER),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        # CASCADE, or the foreign key of the forms' channels refuses before the trigger does.
        cursor.execute("TRUNCATE optin_wording CASCADE")
    assert Wording.objects.filter(pk=used.pk).exists()


# --- publishing (R18) -----------------------------------------------------------------------


@pytest.mark.parametrize("missing", list(WORDING_CHECKLIST))
def test_publishing_requires_every_point_of_the_checklist(missing: str) -> None:
    count = AuditEntry.objects.count()
    for checklist in (
        {k: v for k, v in FULL_CHECKLIST.items() if k != missing},
        {**FULL_CHECKLIST, missing: False},
    ):
        with pytest.raises(ValidationError) as caught:
            publish_v2(checklist=checklist)
        assert caught.value.code == "checklist"
        assert WORDING_CHECKLIST[missing] in caught.value.messages[0]
    assert not Wording.objects.filter(version="email-v2").exists()
    assert AuditEntry.objects.count() == count


def test_publishing_with_an_empty_checklist_is_refused() -> None:
    with pytest.raises(ValidationError):
        publish_v2(checklist={})
    assert not Wording.objects.filter(version="email-v2").exists()


def test_publishing_an_existing_version_is_refused() -> None:
    count = AuditEntry.objects.count()
    with pytest.raises(ValidationError):
        publish_v2(version="email-v1")
    assert AuditEntry.objects.count() == count


def test_publishing_is_logged_with_its_checklist_and_is_not_a_use(time_machine: Any) -> None:
    now = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    time_machine.move_to(now, tick=False)
    publisher = Actor(ActorType.ADMINISTRATOR, "staff:42")
    wording = publish_v2(actor=publisher)
    assert (wording.sha256, wording.active, wording.published_at) == (
        sha256(V2_TEXT),
        True,
        now,
    )
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry is not None
    assert (entry.action, entry.actor_type, entry.actor_id, entry.channel) == (
        "wording.published",
        "administrator",
        "staff:42",
        "email",
    )
    payload = json.loads(entry.payload)
    assert payload["version"] == "email-v2"
    assert payload["sha256"] == sha256(V2_TEXT)
    assert sorted(payload["checklist"]) == sorted(WORDING_CHECKLIST)
    assert entry.wording_version == ""
    assert not wording_in_use(wording)


# --- R58: publishing never rewrites existing consents ---------------------------------------


def test_publishing_a_new_version_never_changes_existing_consents(
    client_factory: Callable[..., Client],
    decide: Callable[..., Any],
    advisor_as_actor: Actor,
) -> None:
    granted, refused, pending = (client_factory() for _ in range(3))
    decide(granted, "email", "grant")
    decide(refused, "email", "refuse")
    decide(
        pending, "email", "grant", journey=Journey.BRANCH_ACCOUNT_OPENING, actor=advisor_as_actor
    )
    states = list(
        ConsentState.objects.order_by("pk").values_list(
            "client_id", "channel", "status", "since", "wording_version", "last_seq"
        )
    )
    log = list(AuditEntry.objects.order_by("seq").values_list("seq", "wording_version", "hash"))

    publish_v2()
    set_wording_active(actor=ADMIN, wording=Wording.objects.get(version="email-v1"), active=False)

    assert (
        list(
            ConsentState.objects.order_by("pk").values_list(
                "client_id", "channel", "status", "since", "wording_version", "last_seq"
            )
        )
        == states
    )
    assert (
        list(
            AuditEntry.objects.filter(seq__lte=log[-1][0])
            .order_by("seq")
            .values_list("seq", "wording_version", "hash")
        )
        == log
    )
    answer = eligibility("email", [granted.client_number])[0]
    assert (answer.eligible, answer.reason) == (True, "granted")
    assert ConsentState.objects.get(client=granted, channel="email").wording_version == "email-v1"


def test_a_new_grant_on_the_new_version_binds_only_that_consent(
    client_factory: Callable[..., Client], grant: Callable[..., Any], time_machine: Any
) -> None:
    time_machine.move_to(dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC), tick=False)
    first, second = client_factory(), client_factory()
    grant(first, "email")
    publish_v2()
    time_machine.shift(60)
    grant(second, "email", wording_version="email-v2")
    versions = dict(
        ConsentState.objects.filter(channel="email", client__in=[first, second]).values_list(
            "client_id", "wording_version"
        )
    )
    assert versions == {first.pk: "email-v1", second.pk: "email-v2"}


# --- the initial wordings (R18, R59, §15) ---------------------------------------------------


@pytest.mark.parametrize(
    ("version", "channel", "template"),
    [("email-v1", "email", EMAIL_V1), ("sms_push-v1", "sms_push", SMS_PUSH_V1)],
)
def test_the_initial_wordings_are_the_texts_of_the_rules_with_the_bank_name(
    settings: Any, version: str, channel: str, template: str
) -> None:
    wording = Wording.objects.get(version=version)
    assert settings.OPTIN_BANK_NAME
    assert wording.text == template.replace("[Banque]", settings.OPTIN_BANK_NAME)
    assert "[Banque]" not in wording.text
    assert wording.sha256 == sha256(wording.text)
    assert (wording.channel, wording.language, wording.active) == (channel, "fr", True)
    assert wording.published_at == dt.datetime(2026, 11, 22, 23, 0, tzinfo=dt.UTC)


def test_the_default_bank_name_is_banque_exemple(settings: Any) -> None:
    if "OPTIN_BANK_NAME" in os.environ:
        pytest.skip("OPTIN_BANK_NAME is set in this environment")
    assert settings.OPTIN_BANK_NAME == "Banque Exemple"
    assert "de Banque Exemple." in Wording.objects.get(version="email-v1").text


def test_the_initial_wordings_take_the_configured_bank_name(settings: Any) -> None:
    Wording.objects.filter(version__in=["email-v1", "sms_push-v1"]).delete()
    settings.OPTIN_BANK_NAME = "Banque du Test"
    initial_wordings.install(apps, None)
    for version in ("email-v1", "sms_push-v1"):
        wording = Wording.objects.get(version=version)
        assert "de Banque du Test." in wording.text
        assert "[Banque]" not in wording.text
        assert wording.sha256 == sha256(wording.text)
