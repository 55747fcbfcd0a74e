"""R57, R58 (decision D5), R59: a pending form stays signable with its own wording.

Publishing a newer version, or withdrawing the old one from new collection, changes nothing
for a form already printed: the customer signs the text on it, and the grant is recorded on
that version, whose text can no longer change.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, transaction

from optin.audit import Actor
from optin.models import AuditEntry, ConsentState, Wording
from optin.services import WORDING_CHECKLIST, publish_wording, set_wording_active

ADMIN = Actor.system("tests")
NEW_TEXT = (
    "J'accepte de recevoir par e-mail les offres commerciales de Banque Exemple, y compris "
    "celles de ses partenaires. Je peux changer d'avis à tout moment et gratuitement : dans mon "
    "espace client, par le lien de désabonnement de chaque e-mail, ou en agence. Les messages "
    "liés à mes contrats ne sont pas concernés."
)


@pytest.fixture
def newer_email_wording() -> Wording:
    return publish_wording(
        actor=ADMIN,
        channel="email",
        version="email-v2",
        text=NEW_TEXT,
        checklist=dict.fromkeys(WORDING_CHECKLIST, True),
    )


def test_a_form_printed_before_a_new_version_is_signed_on_its_own_version(
    customer: Any, collect: Any, sign_tablet: Any, newer_email_wording: Wording
) -> None:
    form = collect(customer, email="yes").form
    old = Wording.objects.get(version="email-v1")
    set_wording_active(actor=ADMIN, wording=old, active=False)

    sign_tablet(form)

    state = ConsentState.objects.get(client=customer, channel="email")
    assert (state.status, state.wording_version) == ("granted", "email-v1")
    granted = AuditEntry.objects.get(client_id=customer.pk, action="consent.granted")
    assert granted.wording_version == "email-v1"
    form.refresh_from_db()
    assert form.content["lines"][0]["text"] == old.text  # what was printed, byte for byte
    assert form.content["lines"][0]["sha256"] == old.sha256


def test_the_new_version_does_not_touch_the_pending_form_or_its_channel(
    customer: Any, collect: Any, newer_email_wording: Wording
) -> None:
    form = collect(customer, email="yes").form
    line = form.channels.get()
    assert line.wording.version == "email-v1"
    state = ConsentState.objects.get(client=customer, channel="email")
    assert (state.status, state.wording_version) == ("pending_signature", "email-v1")


def test_the_wording_of_a_form_can_no_longer_change(customer: Any, collect: Any) -> None:
    collect(customer, email="yes")
    with pytest.raises(DatabaseError, match="used"), transaction.atomic():
        Wording.objects.filter(version="email-v1").update(text="autre texte")
