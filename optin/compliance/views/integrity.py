"""Integrity: the verification `verify_audit` runs, on the whole log or a range, from a page;
the last signed checkpoints and the last runs (R53)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from clients.roles import actor_for
from optin import services
from optin.compliance.forms import VerificationForm
from optin.integrity import head_seq
from optin.models import AuditCheckpoint, AuditEntry, VerificationRun, VerificationScope

SHOWN = 10  # checkpoints and runs listed


@require_http_methods(["GET", "POST"])
@permission_required("optin.review_audit", raise_exception=True)
def integrity(request: HttpRequest) -> HttpResponse:
    form = VerificationForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("optin.verify_audit"):
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            if data["scope"] == VerificationScope.FULL and (
                head_seq() > settings.OPTIN_VERIFY_PAGE_MAX_ENTRIES
            ):
                form.add_error(
                    "scope",
                    _(
                        "Le journal compte plus de %(n)s entrées : il est vérifié en entier par "
                        "la commande verify_audit planifiée, dont les résultats sont listés "
                        "ci-dessous. Vérifiez ici un intervalle."
                    )
                    % {"n": f"{settings.OPTIN_VERIFY_PAGE_MAX_ENTRIES:,}".replace(",", " ")},
                )
            else:
                _result, run = services.run_verification(
                    run_by=str(actor_for(request.user)), first=data["first"], last=data["last"]
                )
                return redirect(reverse("compliance:integrity") + f"?run={run.pk}")
    shown = None
    run_id = request.GET.get("run", "")
    if run_id.isdigit():
        shown = VerificationRun.objects.filter(pk=int(run_id)).first()
    head = AuditEntry.objects.order_by("-seq").only("seq", "hash", "recorded_at").first()
    context = {
        "form": form,
        "head": head,
        "shown": shown,
        "last_full": VerificationRun.objects.filter(scope=VerificationScope.FULL).first(),
        "runs": VerificationRun.objects.all()[:SHOWN],
        "checkpoints": AuditCheckpoint.objects.order_by("-seq")[:SHOWN],
        "can_verify": request.user.has_perm("optin.verify_audit"),
        "page_limit": settings.OPTIN_VERIFY_PAGE_MAX_ENTRIES,
    }
    status = 400 if request.method == "POST" else 200  # a valid POST has redirected
    return render(request, "compliance/integrity.html", context, status=status)
