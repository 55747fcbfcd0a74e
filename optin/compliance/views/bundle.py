"""The proof bundle page (R54): a summary of the customer, and a button that produces and
downloads the bundle. Compliance only; every branch's customers."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from clients.models import Client
from optin.compliance.bundle import bundle_summary, produce_proof_bundle
from optin.selectors import erasure_entry


@permission_required("optin.produce_proof_bundle", raise_exception=True)
@require_http_methods(["GET", "POST"])
def bundle(request: HttpRequest, client_number: str) -> HttpResponse:
    """GET: what the bundle will hold. POST: the ZIP, its production logged (it writes)."""
    clients = Client.objects.visible_to(request.user).select_related("branch")
    client = clients.filter(client_number=client_number).first()
    if client is None:
        # An erased customer gave up their number (R64); their proof is found by it still.
        erased = erasure_entry(client_number=client_number)
        if erased is None or erased.client_id is None:
            raise Http404
        row = get_object_or_404(clients, pk=erased.client_id)
        return redirect("compliance:bundle", client_number=row.client_number)
    if request.method == "POST":
        if not isinstance(request.user, User):
            raise PermissionDenied
        produced = produce_proof_bundle(user=request.user, client=client)
        response = HttpResponse(produced.content, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{produced.filename}"'
        response["Cache-Control"] = "no-store"
        return response
    return render(request, "compliance/bundle.html", {"summary": bundle_summary(client)})
