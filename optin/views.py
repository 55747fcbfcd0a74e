"""The public pages reached from customers' messages: unsubscribe (R40) and the double opt-in
confirmation (R36). No login; French; a GET never changes anything."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from clients.models import Client
from optin import services
from optin.errors import DomainError
from optin.models import Channel
from optin.throttle import client_address, public_rate_exceeded, record_invalid_link
from optin.tokens import read_confirmation_token, read_unsubscribe_token

CHANNEL_PHRASES = {
    Channel.EMAIL: "par e-mail",
    Channel.SMS_PUSH: "par SMS et notifications mobiles",
}
INVALID_UNSUBSCRIBE = "Ce lien de désabonnement est incomplet ou a été modifié."
INVALID_CONFIRMATION = (
    "Ce lien de confirmation a expiré, a déjà servi ou a été remplacé par une demande plus récente."
)


def _page(request: HttpRequest, template: str, status: int = 200, **context: Any) -> HttpResponse:
    with translation.override("fr"):
        response = render(
            request,
            f"public/{template}",
            {"bank": settings.OPTIN_BANK_NAME, **context},
            status=status,
        )
    response["Cache-Control"] = "no-store"
    return response


def _evidence(request: HttpRequest) -> dict[str, Any]:
    return {
        "ip": client_address(request),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:512],
    }


@csrf_exempt  # RFC 8058: the one-click POST carries no cookie and no CSRF token
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the confirmation button; POST (the button, or a mail client's RFC 8058
    one-click) withdraws the token's channel and answers 200, the same on every repeat."""
    target = read_unsubscribe_token(token)
    one_click = request.method == "POST" and (request.POST.get("List-Unsubscribe") == "One-Click")
    # A mail provider's one-click POST of a genuine link is always honoured (R38, R40): the
    # limits are for pages and for guessing.
    if not (one_click and target is not None) and public_rate_exceeded(request):
        return _page(request, "rate_limited.html", status=429)
    if target is None:
        # One answer for everything forged: it says nothing of which clients exist.
        record_invalid_link(request)
        return _page(request, "invalid_link.html", status=404, message=INVALID_UNSUBSCRIBE)
    phrase = CHANNEL_PHRASES[Channel(target.channel)]
    if request.method == "GET":
        known = Client.objects.filter(pk=target.client_id, erased_at__isnull=True).exists()
        if not known:  # erased: the neutral answer, nothing to confirm
            return _page(request, "unsubscribed.html", channel_phrase=phrase)
        return _page(
            request,
            "unsubscribe.html",
            channel_phrase=phrase,
            offer_sms=target.channel == Channel.EMAIL,
        )
    also = (
        [Channel.SMS_PUSH.value]
        if target.channel == Channel.EMAIL and request.POST.get("also_sms_push") and not one_click
        else []
    )
    services.unsubscribe(
        client_id=target.client_id,
        channel=target.channel,
        also=also,
        evidence={**_evidence(request), "one_click": one_click},
    )
    if also:
        phrase = "par e-mail, SMS et notifications mobiles"
    return _page(request, "unsubscribed.html", channel_phrase=phrase)


@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """R36: GET shows the button (link scanners open links: nothing changes); POST confirms."""
    if public_rate_exceeded(request):
        return _page(request, "rate_limited.html", status=429)
    target = read_confirmation_token(token)
    if target is None:
        record_invalid_link(request)
        return _page(request, "invalid_link.html", status=404, message=INVALID_CONFIRMATION)
    if request.method == "GET":
        client = Client.objects.filter(pk=target.client_id).first()
        if client is None or services.pending_confirmation_entry(client, target.seq) is None:
            return _page(request, "invalid_link.html", status=404, message=INVALID_CONFIRMATION)
        return _page(request, "confirm.html")
    try:
        services.confirm_email_optin(
            client_id=target.client_id,
            seq=target.seq,
            address_digest=target.address_digest,
            evidence=_evidence(request),
        )
    except DomainError:
        if services.confirmed_by(target.client_id, target.seq):
            return _page(request, "confirmed.html")  # a second click on the button
        return _page(request, "invalid_link.html", status=404, message=INVALID_CONFIRMATION)
    return _page(request, "confirmed.html")
