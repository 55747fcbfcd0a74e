"""R24, R25, R52: the customer signs the form on the tablet, in the advisor's presence.

Once signed, every channel of the form is `granted` (and eligible) with the form as its
evidence. The form records the method, the signing time, the identity document checked and
the advisor present, and keeps the drawn image and the stroke data. The log gains one
`form.signed` entry (both PDF hashes, reference, method, identity document) and, per channel,
one `consent.granted` entry carrying the form, both hashes and the channel's wording version;
the sealed PDF stored is the one whose hash is logged, and the log still verifies.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from clients.models import Client
from optin.audit import personal_data
from optin.errors import DomainError
from optin.integrity import verify_log
from optin.models import ConsentState, Wording
from optin.selectors import eligibility
from optin.services import WORDING_CHECKLIST, publish_wording
from signatures import files, sealing
from signatures.models import ConsentForm, FormStatus, IdentityDocument
from signatures.services import Collected, SignerContext
from tests.clients.helpers import entries, log_size, payload, states_of
from tests.factories import SYSTEM
from tests.signatures.conftest import SIGNER
from tests.signatures.drawing import handwriting, png_of

Collect = Callable[..., Collected]
Sign = Callable[..., ConsentForm]


@pytest.fixture
def pending(customer: Client, collect: Collect) -> ConsentForm:
    """A form covering both channels, waiting for the signature."""
    form = collect(customer, email="yes", sms_push="yes").form
    assert form is not None
    return form


@pytest.fixture
def signed(pending: ConsentForm, sign_tablet: Sign) -> ConsentForm:
    sign_tablet(pending)
    return ConsentForm.objects.get(pk=pending.pk)


def eligible(channel: str, client: Client) -> tuple[bool, str]:
    answer = eligibility(channel, [client.client_number])[0]
    return answer.eligible, answer.reason


def test_a_pending_form_is_not_eligible_before_the_signature(
    pending: ConsentForm, customer: Client
) -> None:
    assert states_of(customer) == {"email": "pending_signature", "sms_push": "pending_signature"}
    assert eligible("email", customer) == (False, "pending_signature")
    assert eligible("sms_push", customer) == (False, "pending_signature")


def test_signing_grants_every_channel_of_the_form_and_makes_it_eligible(
    signed: ConsentForm, customer: Client
) -> None:
    assert states_of(customer) == {"email": "granted", "sms_push": "granted"}
    assert eligible("email", customer) == (True, "granted")
    assert eligible("sms_push", customer) == (True, "granted")


def test_signing_a_form_for_one_channel_leaves_the_other_channel_alone(
    customer: Client, collect: Collect, sign_tablet: Sign
) -> None:
    form = collect(customer, email="yes").form
    assert form is not None

    sign_tablet(form)

    assert states_of(customer) == {"email": "granted", "sms_push": "none"}
    assert eligible("sms_push", customer) == (False, "no_consent")


def test_the_form_records_method_time_identity_document_and_advisor(
    pending: ConsentForm, sign_tablet: Sign, advisor: Any
) -> None:
    before = timezone.now()
    sign_tablet(pending, identity_document=IdentityDocument.RESIDENCE_PERMIT)
    after = timezone.now()

    form = ConsentForm.objects.get(pk=pending.pk)
    assert form.status == FormStatus.SIGNED
    assert form.method == "tablet"
    assert form.signed_at is not None
    assert before <= form.signed_at <= after
    assert form.identity_document == "residence_permit"
    assert form.signed_by == advisor
    assert form.scan == "" and form.scan_sha256 == ""
    assert form.ended_at is None


def test_the_drawn_image_and_the_strokes_are_stored_as_posted(signed: ConsentForm) -> None:
    image = files.read(signed.signature_image)
    assert image == png_of(handwriting())
    assert signed.signature_image.endswith(f"{files.sha256(image)}.png")

    points = json.loads(files.read(signed.signature_points))
    posted = [s["points"] for s in handwriting()]
    assert len(points) == len(posted) == 3
    assert [len(s) for s in points] == [len(s) for s in posted]
    assert points[0][0] == {
        "x": posted[0][0]["x"],
        "y": posted[0][0]["y"],
        "pressure": 0.5,
        "time": posted[0][0]["time"],
    }


def test_the_evidence_holds_what_the_checklist_asks_for_a_tablet_signature(
    signed: ConsentForm, advisor: Any
) -> None:
    evidence = signed.evidence
    assert evidence["form_id"] == str(signed.uuid)
    assert evidence["reference"] == signed.reference
    assert evidence["method"] == "tablet"
    assert evidence["generated_pdf_sha256"] == signed.pdf_sha256
    assert evidence["identity_document"] == "id_card"
    assert evidence["advisor"]["id"] == f"staff:{advisor.pk}"
    assert evidence["advisor"]["branch"] == "B001"
    assert evidence["session"] == {
        "ip": SIGNER.ip,
        "user_agent": SIGNER.user_agent,
        "session_ref": SIGNER.session_ref,
    }
    assert dt.datetime.fromisoformat(evidence["signed_at"]) == signed.signed_at
    tablet = evidence["tablet"]
    assert tablet["canvas_width"] == 600 and tablet["canvas_height"] == 200
    assert tablet["device_pixel_ratio"] == 1
    assert tablet["image_sha256"] == files.sha256(files.read(signed.signature_image))
    assert tablet["points_sha256"] == files.sha256(files.read(signed.signature_points))
    assert (tablet["strokes"], tablet["points"], tablet["image_size"]) == (3, 240, "600x200")
    assert evidence["seal"]["certificate_sha256"] == sealing.seal_certificate().sha256
    assert evidence["seal"]["level"] == "PAdES-B-B"
    assert set(evidence["channels"]) == {"email", "sms_push"}
    for channel, line in evidence["channels"].items():
        wording = Wording.objects.get(version=f"{channel}-v1")
        assert line["wording_version"] == wording.version
        assert line["wording_sha256"] == wording.sha256
        assert line["answer"] == "yes"


def test_form_signed_is_logged_with_both_hashes_the_reference_method_and_identity_document(
    signed: ConsentForm, customer: Client, advisor: Any
) -> None:
    [entry] = entries("form.signed", customer)
    data = payload(entry)
    assert data["form_id"] == str(signed.uuid)
    assert data["reference"] == signed.reference
    assert data["method"] == "tablet"
    assert data["identity_document"] == "id_card"
    assert data["pdf_sha256"] == signed.pdf_sha256
    assert data["signed_pdf_sha256"] == signed.signed_pdf_sha256
    assert data["signature_image_sha256"] == signed.evidence["tablet"]["image_sha256"]
    assert data["signature_points_sha256"] == signed.evidence["tablet"]["points_sha256"]
    assert (entry.actor_type, entry.actor_id) == ("advisor", f"staff:{advisor.pk}")
    assert entry.occurred_at == signed.signed_at
    assert entry.client_number == customer.client_number


def test_the_signed_form_points_to_its_form_signed_entry(
    signed: ConsentForm, customer: Client
) -> None:
    [entry] = entries("form.signed", customer)

    assert signed.signed_seq == entry.seq


def test_the_ip_and_user_agent_are_logged_encrypted(signed: ConsentForm, customer: Client) -> None:
    [entry] = entries("form.signed", customer)

    assert SIGNER.ip not in entry.payload
    assert personal_data(entry) == {"ip": SIGNER.ip, "user_agent": SIGNER.user_agent}


def test_each_channel_is_granted_in_the_log_with_the_form_hashes_and_its_wording_version(
    signed: ConsentForm, customer: Client
) -> None:
    [form_entry] = entries("form.signed", customer)
    granted = entries("consent.granted", customer)

    assert [e.channel for e in granted] == ["email", "sms_push"]
    for entry in granted:
        wording = Wording.objects.get(version=f"{entry.channel}-v1")
        data = payload(entry)
        assert entry.seq > form_entry.seq
        assert entry.wording_version == wording.version
        assert data["wording_sha256"] == wording.sha256
        assert data["form_id"] == str(signed.uuid)
        assert data["reference"] == signed.reference
        assert data["method"] == "tablet"
        assert data["pdf_sha256"] == signed.pdf_sha256
        assert data["signed_pdf_sha256"] == signed.signed_pdf_sha256
        assert data["_state"]["from"] == "pending_signature"
        assert data["_state"]["to"] == "granted"
        assert entry.occurred_at == signed.signed_at


def test_each_state_keeps_its_wording_version_and_its_grant_entry(
    signed: ConsentForm, customer: Client
) -> None:
    granted = {e.channel: e for e in entries("consent.granted", customer)}
    for state in ConsentState.objects.filter(client=customer):
        assert state.wording_version == f"{state.channel}-v1"
        assert state.last_seq == granted[state.channel].seq
        assert state.since == signed.signed_at


def test_the_sealed_pdf_stored_is_the_one_whose_hash_is_logged(
    signed: ConsentForm, customer: Client
) -> None:
    [entry] = entries("form.signed", customer)
    sealed = files.read(signed.signed_pdf)

    assert files.sha256(sealed) == payload(entry)["signed_pdf_sha256"] == signed.signed_pdf_sha256
    check = sealing.verify_sealed_pdf(sealed, expected_sha256=payload(entry)["signed_pdf_sha256"])
    assert check.ok, check.reason


def test_the_generated_pdf_is_kept_unchanged_next_to_the_sealed_one(
    pending: ConsentForm, sign_tablet: Sign
) -> None:
    generated = files.read(pending.pdf)

    sign_tablet(pending)

    form = ConsentForm.objects.get(pk=pending.pk)
    assert form.pdf == pending.pdf
    assert files.read(form.pdf) == generated
    assert files.sha256(generated) == form.pdf_sha256
    assert form.signed_pdf != form.pdf


def test_the_second_factor_of_the_advisor_session_is_recorded(
    pending: ConsentForm, sign_tablet: Sign, customer: Client
) -> None:
    context = SignerContext(
        ip="203.0.113.9", user_agent="Tablet", session_ref="s-2fa", second_factor=True
    )

    form = sign_tablet(pending, context=context)

    assert form.evidence["advisor"]["second_factor"] is True
    [entry] = entries("form.signed", customer)
    assert payload(entry)["second_factor"] is True


def test_a_form_is_signed_on_its_own_wordings_after_a_new_version_is_published(
    pending: ConsentForm, sign_tablet: Sign, customer: Client
) -> None:
    """R58: the customer signs the text printed on the form."""
    publish_wording(
        actor=SYSTEM,
        channel="email",
        version="email-v2",
        text="J'accepte de recevoir par e-mail les offres de la banque (nouvelle version).",
        checklist=dict.fromkeys(WORDING_CHECKLIST, True),
    )

    sign_tablet(pending)

    granted = {e.channel: e for e in entries("consent.granted", customer)}
    assert granted["email"].wording_version == "email-v1"
    assert ConsentState.objects.get(client=customer, channel="email").wording_version == "email-v1"


def test_a_form_past_the_delay_is_no_longer_signed_even_before_the_daily_job(
    pending: ConsentForm, sign_tablet: Sign, settings: Any
) -> None:
    """R28: the delay is the rule; the daily job only records the expiry."""
    late = pending.created_at + dt.timedelta(days=settings.OPTIN_SIGNATURE_DELAY_DAYS, hours=1)
    before = log_size()

    with time_machine.travel(late), pytest.raises(DomainError) as refused:
        sign_tablet(pending)

    assert (refused.value.code, refused.value.extra["status"]) == ("form_not_pending", "expired")
    pending.refresh_from_db()
    assert pending.status == FormStatus.PENDING
    assert log_size() == before


def test_a_form_one_hour_within_the_delay_is_still_signed(
    pending: ConsentForm, sign_tablet: Sign, settings: Any
) -> None:
    almost = pending.created_at + dt.timedelta(days=settings.OPTIN_SIGNATURE_DELAY_DAYS, hours=-1)

    with time_machine.travel(almost):
        form = sign_tablet(pending)

    assert form.status == FormStatus.SIGNED


def test_the_log_still_verifies_after_a_signature(signed: ConsentForm) -> None:
    result = verify_log()

    assert result.ok, [str(p) for p in result.problems]
