"""One APIView per resource and method (DESIGN.md §5): validate, call the service or the
selector, serialize. Each method names the scope it requires (`required_scopes`)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clients import services as client_services
from clients.models import Branch, Client
from clients.validators import CLIENT_NUMBER, normalize_mobile
from optin import selectors, services
from optin.api import serializers as s
from optin.audit import Actor
from optin.errors import DomainError, ErrorCode
from optin.mail import public_url
from optin.models import ApiClient, ApiScope, Channel, Journey, Wording
from optin.tokens import unsubscribe_tokens
from privacy.services import erase_client

READ, WRITE = ApiScope.CONSENTS_READ.value, ApiScope.CONSENTS_WRITE.value
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
    OpenApiParameter.HEADER,
    description="Makes a retry safe (R37): a replay returns the first answer and records "
    "nothing; the same key with another body is a 409. At most 255 printable characters.",
)
# R64: the number of an erased client (not created again) answers 410 `erased` on every
# operation on a client but the erasure itself (a repeat of which answers 200).
ERASED = OpenApiResponse(
    s.ErrorSerializer,
    description="The client's data were erased (`erased`, R64); the number is known to the "
    "log only.",
)
IF_MATCH_HEADER = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="The record's `version` (from GET): a record changed since is a 409 (R45).",
)


class JsonOnly(DefaultContentNegotiation):
    """The API answers JSON whatever the Accept header or `?format=` say (the opt-in list
    reads `format` itself: CSV or NDJSON). Request bodies are still JSON only (415)."""

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        return (renderers[0], renderers[0].media_type)


class Api(APIView):
    required_scopes: dict[str, str] = {}
    content_negotiation_class = JsonOnly

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # Every time the API gives is in UTC, written with "Z" (R56); only for this request:
        # the thread serves the pages next, in Paris time.
        with timezone.override(dt.UTC):
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        number = kwargs.get("client_number")
        if number is not None and not CLIENT_NUMBER.match(number):
            # Nothing that cannot be a client number reaches the database (a NUL byte would
            # be an error there): it is simply no client.
            raise DomainError(ErrorCode.UNKNOWN_CLIENT, _("Client inconnu."))

    @property
    def api_client(self) -> ApiClient:
        client = self.request.user
        if not isinstance(client, ApiClient):  # HasScope lets only API clients through
            raise exceptions.NotAuthenticated()
        return client

    def actor(self) -> Actor:
        return services.api_actor(self.api_client)


def _client_or_404(client_number: str) -> Client:
    client = (
        Client.objects.select_related("branch")
        .prefetch_related("consent_states")
        .filter(client_number=client_number)
        .first()
    )
    if client is None:
        raise selectors.missing_client(client_number)
    return client


def _etag(client: Client) -> str:
    return f'"{client.version}"'


def _if_match(request: Request) -> int | None:
    header = request.headers.get("If-Match")
    if header is None:
        return None
    value = header.strip().removeprefix("W/").strip('"')
    if not value.isdigit() or len(value) > 9:
        raise exceptions.ValidationError({"If-Match": [_("Indiquez la version reçue (GET).")]})
    return int(value)


def _client_response(client: Client, status: int = 200, **extra: Any) -> Response:
    data = s.ClientOutput(client).data
    response = Response({**data, **extra}, status=status)
    response["ETag"] = _etag(client)
    return response


class ClientCreateApi(Api):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="clients_create",
        summary="Create a client (digital account opening, core-banking feed)",
        request=s.ClientCreateInput,
        responses={201: s.ClientOutput},
        tags=["clients"],
    )
    def post(self, request: Request) -> Response:
        data = s.ClientCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        branch = Branch.objects.filter(code=values.pop("branch")).first()
        if branch is None:
            raise exceptions.ValidationError({"branch": [_("Agence inconnue.")]})
        client = client_services.create_client(actor=self.actor(), branch=branch, **values)
        return _client_response(_client_or_404(client.client_number), status=201)


class ClientDetailApi(Api):
    required_scopes = {"GET": READ, "PATCH": WRITE}

    @extend_schema(
        operation_id="clients_read",
        summary="A client with its consents",
        responses={200: s.ClientOutput, 410: ERASED},
        tags=["clients"],
    )
    def get(self, request: Request, client_number: str) -> Response:
        return _client_response(_client_or_404(client_number))

    @extend_schema(
        operation_id="clients_change_contact",
        summary="Change or confirm contact data; answers the channels to invite",
        request=s.ClientChangeInput,
        responses={200: s.ClientChangeOutput, 410: ERASED},
        parameters=[IF_MATCH_HEADER],
        tags=["clients"],
    )
    def patch(self, request: Request, client_number: str) -> Response:
        data = s.ClientChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        change = client_services.change_contact_details(
            actor=self.actor(),
            client_number=client_number,
            email=values.get("email"),
            mobile=values.get("mobile"),
            confirmed=values["confirmed"],
            expected_version=_if_match(request),
            journey=Journey.DIGITAL_CONTACT_UPDATE,
        )
        return _client_response(
            _client_or_404(client_number), optin_invitation=change.optin_invitation
        )


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not key or len(key) > 255 or not key.isprintable() or not key.isascii():
        raise exceptions.ValidationError(
            {"Idempotency-Key": [_("De 1 à 255 caractères ASCII imprimables.")]}
        )
    return key


class ClientConsentsApi(Api):
    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(
        operation_id="consents_read",
        summary="The client's consent per channel",
        responses={200: s.ConsentsOutput, 410: ERASED},
        tags=["consents"],
    )
    def get(self, request: Request, client_number: str) -> Response:
        client = _client_or_404(client_number)
        return Response(s.consents_of(list(client.consent_states.all())))

    @extend_schema(
        operation_id="consents_decide",
        summary="Record a decision taken in a digital journey (grant, refuse, withdraw)",
        request=s.DecisionInput,
        responses={
            201: OpenApiResponse(
                s.DecisionOutput,
                description="Recorded. A replay of the same Idempotency-Key answers the same, "
                "with the header Idempotent-Replayed: true.",
            ),
            200: OpenApiResponse(
                s.DecisionOutput,
                description="Nothing new to record (a repeat, R15), or the replay of such an "
                "answer.",
            ),
            410: ERASED,
        },
        parameters=[IDEMPOTENCY_HEADER],
        tags=["consents"],
    )
    def post(self, request: Request, client_number: str) -> Response:
        key = _idempotency_key(request)
        if isinstance(request.data, dict):
            _check_channel(request.data.get("channel"))
        data = s.DecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        result = services.record_decision(
            client_number=client_number,
            channel=values["channel"],
            decision=values["decision"],
            journey=values["journey"],
            actor=self.actor(),
            wording_version=values.get("wording_version"),
            affirmative_action=values.get("affirmative_action"),
            occurred_at=values.get("occurred_at"),
            evidence=dict(values["evidence"]),
            idempotency_key=key,
        )
        body = {
            **result.as_dict(),
            "since": s.utc_text(result.since),
            "effective": result.status == "granted",
        }
        response = Response(body, status=201 if result.recorded else 200)
        if result.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class ClientHistoryApi(Api):
    required_scopes = {"GET": ApiScope.AUDIT_READ.value}

    @extend_schema(
        operation_id="clients_history",
        summary="The client's log entries, in log order (keyset pages)",
        parameters=[s.HistoryQuery],
        responses={200: s.HistoryOutput, 410: ERASED},
        tags=["audit"],
    )
    def get(self, request: Request, client_number: str) -> Response:
        query = s.HistoryQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        client = _client_or_404(client_number)
        limit = query.validated_data["limit"]
        entries = selectors.client_log(client, after=query.validated_data["after"], limit=limit + 1)
        more = len(entries) > limit
        entries = entries[:limit]
        return Response(
            {
                "entries": s.LogEntryOutput(entries, many=True).data,
                "next_after": entries[-1].seq if more else None,
            }
        )


class ClientErasureApi(Api):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="clients_erase",
        summary="Erase the client's personal data at their request (R64)",
        request=s.ErasureInput,
        responses={200: s.ErasureOutput},
        tags=["clients"],
    )
    def post(self, request: Request, client_number: str) -> Response:
        """Withdraws both channels (journey `erasure_request`), puts the contact points on the
        suppression list, cancels pending forms, destroys the client's data key and empties
        the record; the number is freed, and afterwards answers 410 `erased` elsewhere.
        Idempotent: a repeat answers 200 with `recorded` false and the first erasure's `seq`
        and time (a retry after a lost answer is not an error)."""
        s.ErasureInput(data=request.data).is_valid(raise_exception=True)
        erasure = erase_client(client_number=client_number, actor=self.actor())
        return Response({**erasure.as_dict(), "erased_at": s.utc_text(erasure.erased_at)})


class WordingListApi(Api):
    required_scopes = {"GET": READ}

    @extend_schema(
        operation_id="wordings_list",
        summary="The wording versions offered now (show one, send back its version)",
        responses={200: s.WordingOutput(many=True)},
        tags=["consents"],
    )
    def get(self, request: Request) -> Response:
        wordings = Wording.objects.filter(active=True).order_by("channel", "language", "version")
        return Response(s.WordingOutput(wordings, many=True).data)


def _field_error(name: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({name: [message]})


def _check_channel(value: object) -> None:
    """R1: any channel but the two is a rule refusal, `wrong_channel` (422)."""
    if value is not None and value not in Channel.values:
        raise DomainError(
            ErrorCode.WRONG_CHANNEL, _("Canal inconnu : e-mail (email) ou SMS (sms_push).")
        )


class EligibilityApi(Api):
    required_scopes = {"POST": ApiScope.ELIGIBILITY_READ.value}

    @extend_schema(
        operation_id="eligibility",
        summary="Who may receive a commercial message on a channel now (R47, R48)",
        request=s.EligibilityInput,
        responses={200: s.EligibilityOutput},
        tags=["marketing"],
    )
    def post(self, request: Request) -> Response:
        # Checked by hand: a serializer would spend more on 10,000 strings than the query.
        body = request.data
        if not isinstance(body, dict):
            raise _field_error("non_field_errors", _("Un objet JSON est attendu."))
        unknown = sorted(set(body) - {"channel", "client_numbers"})
        if unknown:
            raise exceptions.ValidationError({name: [_("Champ inconnu.")] for name in unknown})
        channel, numbers = body.get("channel"), body.get("client_numbers")
        if channel is None:
            raise _field_error("channel", _("Ce champ est obligatoire."))
        _check_channel(channel)
        if not isinstance(numbers, list) or not all(type(n) is str for n in numbers):
            raise _field_error("client_numbers", _("Une liste de numéros (textes) est attendue."))
        results = selectors.eligibility(channel, numbers)
        return Response(
            {
                "channel": channel,
                "results": [
                    {"client_number": r.client_number, "eligible": r.eligible, "reason": r.reason}
                    for r in results
                ],
            }
        )


COLUMNS = (
    "client_number",
    "channel",
    "contact_point",
    "reason",
    "note",
    "wording_version",
    "unsubscribe_url",
    "stop_instruction",
)


class OptinListApi(Api):
    required_scopes = {"GET": ApiScope.OPTIN_LIST_READ.value}

    @extend_schema(
        operation_id="optin_list",
        summary="The eligible contacts of a channel, streamed as CSV or NDJSON (R49)",
        parameters=[s.OptinListQuery],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="Header line, then one row per contact."
            ),
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR, description="One JSON object per line."
            ),
        },
        tags=["marketing"],
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        _check_channel(request.query_params.get("channel"))
        query = s.OptinListQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        filters = {k: v for k, v in query.validated_data.items() if v}
        if "branch" in filters and not Branch.objects.filter(code=filters["branch"]).exists():
            raise _field_error("branch", _("Agence inconnue."))
        fmt = filters.pop("format", "csv")
        actor = self.actor()
        services.log_optin_export(actor=actor, filters=filters, rows=None, complete=False)
        lines = _export_lines(actor, filters, fmt)
        content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
        response = StreamingHttpResponse(lines, content_type=content_type)
        name = f"optin-{filters['channel']}.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "no-store"
        return response


def _export_lines(actor: Actor, filters: dict[str, str], fmt: str) -> Iterator[str]:
    """The rows, chunk by chunk; the export is logged with its row count when it ends."""
    channel = filters["channel"]
    base = public_url(reverse("optin:unsubscribe", args=["-"]))[:-1]
    stop = settings.OPTIN_SMS_STOP_INSTRUCTION if channel == Channel.SMS_PUSH else ""
    write_chunk = _csv_chunk if fmt == "csv" else _ndjson_chunk
    count, complete = 0, False
    try:
        if fmt == "csv":
            yield ",".join(COLUMNS) + "\r\n"
        for chunk in selectors.optin_list(
            channel, branch=filters.get("branch"), kind=filters.get("kind")
        ):
            tokens = unsubscribe_tokens([row.client_id for row in chunk], channel)
            yield write_chunk(chunk, tokens, channel, base, stop)
            count += len(chunk)
        complete = True
    finally:
        services.log_optin_export(actor=actor, filters=filters, rows=count, complete=complete)


_CSV_SPECIAL = re.compile(r'[",\r\n]')


def _csv_field(value: str) -> str:
    """A CSV field as the csv module writes it (quoted only when it must be)."""
    if _CSV_SPECIAL.search(value):
        return '"' + value.replace('"', '""') + '"'
    return value


def _csv_chunk(
    chunk: list[selectors.OptinRow], tokens: list[str], channel: str, base: str, stop: str
) -> str:
    """The rows as CSV lines, written as text: client numbers, mobiles, reasons, notes and
    tokens never need quoting; the other fields are quoted when they must be."""
    field = _csv_field
    # The URL is the base followed by the token (hex): quoted as a whole if the base must be.
    quoted = bool(_CSV_SPECIAL.search(base))
    before = '"' + base.replace('"', '""') if quoted else base
    after = ('"' if quoted else "") + f",{field(stop)}\r\n"
    return "".join(
        [
            f"{r.client_number},{channel},{field(r.contact_point)},{r.reason},{r.note},"
            f"{field(r.wording_version)},{before}{t}{after}"
            for r, t in zip(chunk, tokens, strict=True)
        ]
    )


def _ndjson_chunk(
    chunk: list[selectors.OptinRow], tokens: list[str], channel: str, base: str, stop: str
) -> str:
    """One JSON object per line, written as text: each string through the JSON encoder's own
    escaping, four times faster than encoding a dict per row."""
    quote = json.encoder.encode_basestring
    head = '{"client_number":'
    middle = f',"channel":{quote(channel)},"contact_point":'
    url = f',"unsubscribe_url":{quote(base)[:-1]}'
    tail = f'","stop_instruction":{quote(stop)}}}\n'
    return "".join(
        [
            f"{head}{quote(r.client_number)}{middle}{quote(r.contact_point)}"
            f',"reason":"{r.reason}","note":{quote(r.note)}'
            f',"wording_version":{quote(r.wording_version)}{url}{t}{tail}'
            for r, t in zip(chunk, tokens, strict=True)
        ]
    )


class SmsStopApi(Api):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="sms_stop",
        summary="A reply forwarded by the SMS gateway: STOP withdraws sms_push (R41)",
        request=s.SmsStopInput,
        responses={200: s.SmsStopOutput},
        tags=["marketing"],
    )
    def post(self, request: Request) -> Response:
        data = s.SmsStopInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            mobile = normalize_mobile(values["mobile"])
        except DjangoValidationError as exc:
            raise exceptions.ValidationError({"mobile": list(exc.messages)}) from None
        result = services.sms_stop(
            mobile=mobile,
            text=values["keyword"],
            message_id=values["message_id"],
            gateway=self.api_client.name,
        )
        return Response(
            {"stop": result.stop, "matched": result.matched, "withdrawn": result.withdrawn}
        )


class AuditVerifyApi(Api):
    required_scopes = {"GET": ApiScope.AUDIT_READ.value}

    @extend_schema(
        operation_id="audit_verify",
        summary="Recompute the log's chain, its checkpoints and the states (R53)",
        responses={200: s.AuditVerifyOutput},
        tags=["audit"],
    )
    def get(self, request: Request) -> Response:
        result = services.run_verification(run_by=str(self.actor()))[0].as_dict()
        return Response({key: result[key] for key in ("ok", "entries", "head", "first_bad")})
