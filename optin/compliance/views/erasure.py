"""R64: a customer's erasure request, carried out by compliance.

GET shows what the erasure will do and a form asking for a second confirmation (the client
number typed again and a ticked box); a POST that confirms erases, in one transaction
(privacy.services.erase_client), and redirects to the erasure's result, read back from its log
entry. A POST that does not confirm is a form error (400) and writes nothing. An erased
customer's page says so and links to the result; erasing is never done twice.
"""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from clients.models import Client
from clients.roles import actor_for
from optin.compliance import selectors
from optin.compliance.forms import ErasureForm
from optin.errors import DomainError
from optin.forms import add_service_error
from optin.selectors import erasure_entry
from privacy.services import erase_client

PERMISSION = "clients.erase_client"


@require_http_methods(["GET", "POST"])
@permission_required(PERMISSION, raise_exception=True)
def erasure(request: HttpRequest, client_number: str) -> HttpResponse:
    client = (
        Client.objects.visible_to(request.user)
        .select_related("branch")
        .filter(client_number=client_number)
        .first()
    )
    if client is None or client.erased_at is not None:
        return _already_erased(request, client_number, client)
    form = ErasureForm(request.POST if request.method == "POST" else None, expected=client_number)
    if request.method == "POST" and form.is_valid():
        try:
            actor = actor_for(request.user)
        except PermissionError:
            raise PermissionDenied from None
        try:
            done = erase_client(client_number=client.client_number, actor=actor)
        except DomainError as exc:  # the number vanished in between (another erasure)
            add_service_error(form, exc)
        else:
            if done.seq is not None:
                return redirect("compliance:erasure_done", seq=done.seq)
    context = {"client": client, "form": form, "preview": selectors.erasure_preview(client)}
    return render(
        request, "compliance/erasure.html", context, status=400 if request.method == "POST" else 200
    )


def _already_erased(
    request: HttpRequest, client_number: str, client: Client | None
) -> HttpResponse:
    """The number of an erased customer (freed, or the row's `~<id>`): its erasure, never a
    second one; a number never known is a 404."""
    if client is not None:
        entry = erasure_entry(client_id=client.pk)
    else:
        entry = erasure_entry(client_number=client_number)
    if entry is None:
        raise Http404
    if request.method == "POST":  # a repeated submission: what the first one did
        return redirect("compliance:erasure_done", seq=entry.seq)
    context = {"client_number": client_number, "entry": entry}
    return render(request, "compliance/erasure_already.html", context)


@require_GET
@permission_required(PERMISSION, raise_exception=True)
def erasure_done(request: HttpRequest, seq: int) -> HttpResponse:
    """What an erasure did, as its log entry records it, and the states it left."""
    record = selectors.erasure_record(seq)
    if record is None:
        raise Http404
    return render(request, "compliance/erasure_done.html", {"record": record})
