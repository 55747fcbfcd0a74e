"""Shapes of the API's requests and answers. Strict: unknown fields, and values of the wrong
JSON type (a number for a text, a string for a boolean), are field errors."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from clients.models import Civility, Client, ClientKind, ClientStatus, LegalCapacity
from clients.models import ProtectionMeasure as Measure
from optin.models import Channel, ConsentState, ConsentStatus, Journey, Wording
from optin.selectors import MAX_ELIGIBILITY_BATCH
from optin.services import Decision


class Text(serializers.CharField):
    """A JSON string, nothing else (DRF would turn 42 into "42")."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class Boolean(serializers.BooleanField):
    """A JSON true or false, nothing else (DRF would accept "yes" or 1)."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class AwareDateTime(serializers.DateTimeField):
    """An ISO 8601 time with its offset (R21: a time without one is ambiguous)."""

    default_error_messages = {"naive": _("Indiquez le fuseau horaire (par exemple +01:00 ou Z).")}

    def to_internal_value(self, value: Any) -> dt.datetime:
        parsed = None
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None
        if parsed is None:
            self.fail("invalid", format="ISO 8601")
        if parsed.tzinfo is None:
            self.fail("naive")
        return parsed


def utc_text(moment: dt.datetime | str | None) -> str | None:
    """A time as the API writes it: ISO 8601 in UTC with "Z" (R56)."""
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class Strict(serializers.Serializer):  # type: ignore[type-arg]
    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: [_("Champ inconnu.")] for name in unknown})
        return super().to_internal_value(data)


class ErrorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Documentation of the error shape (every 4xx)."""

    class Detail(serializers.Serializer):  # type: ignore[type-arg]
        code = serializers.CharField(help_text="Machine code, e.g. not_affirmative, invalid.")
        message = serializers.CharField(help_text="Human message, in French.")
        # The metaclass takes declared fields out of the class: no clash with .fields.
        fields = serializers.DictField(  # type: ignore[assignment]
            child=serializers.JSONField(),
            help_text="Field errors: by field name, a list of messages (an object of the same "
            "kind for a nested object such as evidence); empty when not a validation error.",
        )

    error = Detail()


# --- clients ----------------------------------------------------------------------------------


class ClientCreateInput(Strict):
    client_number = Text(max_length=32, help_text="1-32 letters, digits or '-'; unique.")
    kind = serializers.ChoiceField(choices=ClientKind.choices)
    civility = serializers.ChoiceField(choices=Civility.choices, required=False, default="")
    first_name = Text(max_length=150, required=False, allow_blank=True, default="")
    last_name = Text(max_length=150)
    birth_date = serializers.DateField(
        required=False, allow_null=True, default=None, help_text="Required for individuals."
    )
    legal_capacity = serializers.ChoiceField(
        choices=LegalCapacity.choices, required=False, default=LegalCapacity.FULL
    )
    protection_measure = serializers.ChoiceField(
        choices=Measure.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="Required when legal_capacity is protected (R6).",
    )
    is_legal_entity = Boolean(required=False, default=False)
    objection_notice_shown = Boolean(
        required=False,
        default=False,
        help_text="A professional was shown, when the e-mail was collected, that it may serve "
        "the bank's offers and how to object (R8).",
    )
    email = Text(max_length=320, required=False, allow_blank=True, default="")
    mobile = Text(max_length=64, required=False, allow_blank=True, default="")
    branch = Text(max_length=16, help_text="The branch's code.")
    status = serializers.ChoiceField(
        choices=ClientStatus.choices, required=False, default=ClientStatus.PROSPECT
    )


class ClientChangeInput(Strict):
    email = Text(
        max_length=320,
        required=False,
        allow_blank=True,
        help_text='The new address; "" removes it; absent leaves it.',
    )
    mobile = Text(max_length=64, required=False, allow_blank=True)
    confirmed = Boolean(
        required=False,
        default=False,
        help_text="The customer confirmed the given contact points unchanged (R33).",
    )


class ConsentOutput(serializers.Serializer):  # type: ignore[type-arg]
    status = serializers.ChoiceField(choices=ConsentStatus.choices)
    effective = serializers.BooleanField(help_text="True when the consent is in force (granted).")
    since = serializers.DateTimeField(allow_null=True)
    journey = serializers.CharField(help_text="Where the current state was decided.")
    wording_version = serializers.CharField()


class ConsentsOutput(serializers.Serializer):  # type: ignore[type-arg]
    email = ConsentOutput()
    sms_push = ConsentOutput()


def consents_of(states: list[ConsentState]) -> dict[str, dict[str, Any]]:
    by_channel = {state.channel: state for state in states}
    out = {}
    for channel in Channel.values:
        state = by_channel.get(channel)
        status = state.status if state else ConsentStatus.NONE
        out[channel] = {
            "status": status,
            "effective": status == ConsentStatus.GRANTED,
            "since": state.since if state else None,
            "journey": state.journey if state else "",
            "wording_version": state.wording_version if state else "",
        }
    return out


class ClientOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    branch = serializers.CharField(source="branch.code")
    consents = serializers.SerializerMethodField()
    erased = serializers.SerializerMethodField()

    class Meta:
        model = Client
        fields = [
            "client_number",
            "kind",
            "is_legal_entity",
            "civility",
            "first_name",
            "last_name",
            "birth_date",
            "legal_capacity",
            "protection_measure",
            "email",
            "mobile",
            "branch",
            "status",
            "objection_notice_shown",
            "version",
            "created_at",
            "updated_at",
            "erased",
            "consents",
        ]

    def get_consents(self, client: Client) -> dict[str, dict[str, Any]]:
        return consents_of(list(client.consent_states.all()))

    def get_erased(self, client: Client) -> bool:
        return client.erased_at is not None


class ClientChangeOutput(ClientOutput):
    optin_invitation = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices),
        help_text="The channels to invite the customer to opt in to now (R33, R44).",
    )

    class Meta(ClientOutput.Meta):
        fields = [*ClientOutput.Meta.fields, "optin_invitation"]


# --- decisions --------------------------------------------------------------------------------


class EvidenceInput(Strict):
    ip = serializers.IPAddressField(help_text="The customer's address.")
    user_agent = Text(max_length=1000)
    auth_level = Text(max_length=64, required=False, help_text="e.g. the session's SCA level.")
    session_id = Text(max_length=128, required=False, help_text="A pseudonymous session id.")


class DecisionInput(Strict):
    channel = serializers.ChoiceField(choices=Channel.choices)
    decision = serializers.ChoiceField(choices=[(d.value, d.value) for d in Decision])
    journey = serializers.ChoiceField(
        choices=Journey.choices,
        help_text="digital_self_service, digital_contact_update or digital_account_opening; "
        "other journeys are refused (422 journey_not_allowed).",
    )
    wording_version = Text(max_length=32, required=False, help_text="Required to grant or refuse.")
    affirmative_action = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="Must be the JSON true to grant (R17); anything else is not_affirmative.",
    )
    occurred_at = AwareDateTime(required=False, help_text="When the customer acted (R21).")
    evidence = EvidenceInput()


class DecisionOutput(serializers.Serializer):  # type: ignore[type-arg]
    client_number = serializers.CharField()
    channel = serializers.ChoiceField(choices=Channel.choices)
    status = serializers.ChoiceField(choices=ConsentStatus.choices)
    effective = serializers.BooleanField()
    since = serializers.DateTimeField(allow_null=True)
    journey = serializers.CharField()
    wording_version = serializers.CharField()
    recorded = serializers.BooleanField(help_text="False when nothing changed (a repeat).")
    seq = serializers.IntegerField(allow_null=True, help_text="The log entry written.")
    effects = serializers.ListField(child=serializers.CharField())


# --- erasure (R64) ---------------------------------------------------------------------------


class ErasureInput(Strict):
    """No field: the request is the customer's, the number in the path. An empty object (or no
    body) is accepted; any field is refused like elsewhere."""


class ErasureOutput(serializers.Serializer):  # type: ignore[type-arg]
    client_number = serializers.CharField()
    reason = serializers.ChoiceField(
        choices=[("erasure_request", "erasure_request"), ("retention", "retention")],
        help_text="erasure_request here; retention for a purge at the end of retention.",
    )
    erased_at = serializers.DateTimeField(help_text="When the data were erased (the first time).")
    recorded = serializers.BooleanField(
        help_text="False when the client was already erased: nothing was done (a repeat)."
    )
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices),
        help_text="The channels withdrawn by this call (empty on a repeat).",
    )
    forms_cancelled = serializers.IntegerField(help_text="Pending forms cancelled.")
    forms_emptied = serializers.IntegerField(
        help_text="Forms whose files and personal content were deleted (hashes kept)."
    )
    seq = serializers.IntegerField(
        allow_null=True, help_text="The log entry of the erasure (client.erased)."
    )


# --- other reads ------------------------------------------------------------------------------


class LogEntryOutput(serializers.Serializer):  # type: ignore[type-arg]
    seq = serializers.IntegerField()
    recorded_at = serializers.DateTimeField()
    occurred_at = serializers.DateTimeField()
    actor_type = serializers.CharField()
    actor_id = serializers.CharField()
    action = serializers.CharField()
    channel = serializers.CharField()
    wording_version = serializers.CharField()
    data = serializers.DictField(  # type: ignore[assignment]
        help_text="The entry's payload; personal data stay sealed."
    )
    has_personal_data = serializers.BooleanField()
    prev_hash = serializers.CharField()
    hash = serializers.CharField()

    def to_representation(self, entry: Any) -> dict[str, Any]:
        payload = json.loads(entry.payload)
        sealed = payload.pop("personal", None)
        return {
            "seq": entry.seq,
            "recorded_at": utc_text(entry.recorded_at),
            "occurred_at": utc_text(entry.occurred_at),
            "actor_type": entry.actor_type,
            "actor_id": entry.actor_id,
            "action": entry.action,
            "channel": entry.channel,
            "wording_version": entry.wording_version,
            "data": payload,
            "has_personal_data": bool(sealed),
            "prev_hash": entry.prev_hash,
            "hash": entry.hash,
        }


class HistoryOutput(serializers.Serializer):  # type: ignore[type-arg]
    entries = LogEntryOutput(many=True)
    next_after = serializers.IntegerField(
        allow_null=True, help_text="Pass as `after` for the next page; null on the last."
    )


class HistoryQuery(Strict):
    after = serializers.IntegerField(min_value=0, required=False, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=1000, required=False, default=100)


class WordingOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Wording
        fields = ["channel", "version", "language", "text", "sha256", "published_at"]


class EligibilityInput(Strict):
    """Documents the body; the view checks it by hand, 10,000 numbers at full speed."""

    channel = serializers.ChoiceField(choices=Channel.choices)
    client_numbers = serializers.ListField(
        child=Text(allow_blank=True),
        max_length=MAX_ELIGIBILITY_BATCH,
        help_text="Up to 10,000; answered in this order, duplicates included.",
    )


class EligibilityAnswer(serializers.Serializer):  # type: ignore[type-arg]
    client_number = serializers.CharField()
    eligible = serializers.BooleanField()
    reason = serializers.ChoiceField(
        choices=[
            (r, r)
            for r in (
                "granted",
                "b2b_no_objection",
                "no_consent",
                "refused",
                "withdrawn",
                "pending_signature",
                "pending_confirmation",
                "minor",
                "protected_adult",
                "no_contact_point",
                "unknown_client",
                "erased",
            )
        ]
    )


class EligibilityOutput(serializers.Serializer):  # type: ignore[type-arg]
    channel = serializers.ChoiceField(choices=Channel.choices)
    results = EligibilityAnswer(many=True)


class OptinListQuery(Strict):
    channel = serializers.ChoiceField(choices=Channel.choices)
    branch = Text(max_length=16, required=False, help_text="A branch code.")
    kind = serializers.ChoiceField(choices=ClientKind.choices, required=False)
    format = serializers.ChoiceField(choices=["csv", "ndjson"], required=False, default="csv")


class SmsStopInput(Strict):
    mobile = Text(max_length=64, help_text="The sender's number (E.164 or French writing).")
    keyword = Text(max_length=1600, allow_blank=True, help_text="The text of the reply.")
    message_id = Text(max_length=128, help_text="The gateway's id of the reply.")


class SmsStopOutput(serializers.Serializer):  # type: ignore[type-arg]
    stop = serializers.BooleanField(help_text="The reply was a STOP (R41).")
    matched = serializers.IntegerField(help_text="Clients with that mobile.")
    withdrawn = serializers.IntegerField(help_text="Of which sms_push was withdrawn now.")


class AuditVerifyOutput(serializers.Serializer):  # type: ignore[type-arg]
    ok = serializers.BooleanField()
    entries = serializers.IntegerField()
    head = serializers.DictField(allow_null=True)
    first_bad = serializers.DictField(allow_null=True)
