"""Pages of consent forms: the form, signing on the tablet or on paper, cancelling,
downloading, and the pending forms (R24-R29). Thin: parse, authorize, call one service."""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from clients import twofactor
from clients.models import Client
from optin.errors import DomainError
from optin.forms import add_service_error
from signatures import selectors, services
from signatures.forms import CancelForm, PaperSignatureForm, TabletSignatureForm
from signatures.models import ConsentForm, FormStatus


def get_form_for_user(user: Any, client_number: str, reference: str) -> ConsentForm:
    """R55: the form, if it belongs to this client and the user may see the client; else 404."""
    client = Client.objects.visible_to(user).filter(client_number=client_number).first()
    if client is None:
        raise Http404(_("Client inconnu."))
    form = (
        ConsentForm.objects.filter(reference=reference, client=client)
        .select_related("client", "advisor", "branch", "signed_by", "superseded_by")
        .first()
    )
    if form is None:
        raise Http404(_("Formulaire inconnu."))
    return form


def signer_context(request: HttpRequest) -> services.SignerContext:
    """R52: the session the signature was captured in; the session key is never kept."""
    session_key = request.session.session_key or ""
    return services.SignerContext(
        ip=request.META.get("REMOTE_ADDR", ""),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:500],
        session_ref=hashlib.sha256(session_key.encode()).hexdigest()[:16] if session_key else "",
        second_factor=twofactor.is_verified(request.user),
    )


def staff(request: HttpRequest) -> User:
    """The signed-in staff member (the views are behind login_required)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def _detail(form: ConsentForm) -> HttpResponse:
    return redirect("signatures:detail", form.client.client_number, form.reference)


@login_required
@permission_required("signatures.view_consentform", raise_exception=True)
def form_detail(request: HttpRequest, client_number: str, reference: str) -> HttpResponse:
    form = get_form_for_user(request.user, client_number, reference)
    return render(
        request,
        "signatures/form_detail.html",
        {
            "form": form,
            "content": form.content,
            "end_reason": services.describe_end(form) if form.end_reason else "",
            "can_sign": form.is_pending and request.user.has_perm("signatures.sign_consentform"),
            "can_download": request.user.has_perm("signatures.download_consentform"),
        },
    )


@login_required
@permission_required("signatures.sign_consentform", raise_exception=True)
@require_http_methods(["GET", "POST"])
def sign_tablet(request: HttpRequest, client_number: str, reference: str) -> HttpResponse:
    form = get_form_for_user(request.user, client_number, reference)
    if not form.is_pending:
        return _detail(form)
    page = TabletSignatureForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and page.is_valid():
        data = page.cleaned_data
        try:
            services.sign_on_tablet(
                client_number=client_number,
                reference=reference,
                advisor=staff(request),
                signature=data["signature"],
                strokes=data["strokes"],
                canvas=data,
                identity_document=data["identity_document"],
                context=signer_context(request),
            )
        except (DomainError, ValidationError) as exc:
            add_service_error(page, exc)
        else:
            messages.success(request, _("Formulaire signé : l'accord du client est enregistré."))
            return _detail(form)
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "signatures/sign_tablet.html",
        {"form": form, "content": form.content, "page": page},
        status=status,
    )


@login_required
@permission_required("signatures.sign_consentform", raise_exception=True)
@require_http_methods(["GET", "POST"])
def sign_paper(request: HttpRequest, client_number: str, reference: str) -> HttpResponse:
    form = get_form_for_user(request.user, client_number, reference)
    if not form.is_pending:
        return _detail(form)
    page = PaperSignatureForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        initial={"signed_at": timezone.localtime().replace(second=0, microsecond=0)},
    )
    if request.method == "POST" and page.is_valid():
        data = page.cleaned_data
        try:
            services.sign_on_paper(
                client_number=client_number,
                reference=reference,
                advisor=staff(request),
                scan=data["scan"].read(),
                reference_read=data["reference_read"],
                signed_at=data["signed_at"],
                identity_document=data["identity_document"],
                attested=data["attested"],
                context=signer_context(request),
            )
        except (DomainError, ValidationError) as exc:
            add_service_error(page, exc)
        else:
            messages.success(request, _("Scan enregistré : l'accord du client est enregistré."))
            return _detail(form)
    status = 422 if request.method == "POST" else 200
    return render(
        request, "signatures/sign_paper.html", {"form": form, "page": page}, status=status
    )


@login_required
@permission_required("signatures.sign_consentform", raise_exception=True)
@require_http_methods(["GET", "POST"])
def cancel(request: HttpRequest, client_number: str, reference: str) -> HttpResponse:
    form = get_form_for_user(request.user, client_number, reference)
    if not form.is_pending:
        return _detail(form)
    page = CancelForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and page.is_valid():
        try:
            services.cancel_form(
                client_number=client_number,
                reference=reference,
                advisor=staff(request),
                note=page.cleaned_data["note"],
            )
        except (DomainError, ValidationError) as exc:
            add_service_error(page, exc)
        else:
            messages.info(request, _("Formulaire annulé : les canaux reviennent à leur état."))
            return _detail(form)
    status = 422 if request.method == "POST" else 200
    return render(request, "signatures/cancel.html", {"form": form, "page": page}, status=status)


@login_required
@permission_required("signatures.download_consentform", raise_exception=True)
@require_POST
def download(request: HttpRequest, client_number: str, reference: str, which: str) -> HttpResponse:
    """The original or the sealed PDF; each download is logged (a POST: it writes)."""
    form = get_form_for_user(request.user, client_number, reference)
    if which == "signed" and form.status != FormStatus.SIGNED:
        raise Http404(_("Ce formulaire n'est pas signé."))
    data = services.record_download(form=form, user=staff(request), which=which)
    suffix = "-signe" if which == "signed" else ""
    response = HttpResponse(data, content_type="application/pdf")
    disposition = "attachment" if request.POST.get("attachment") else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{form.reference}{suffix}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@permission_required("signatures.view_consentform", raise_exception=True)
def pending(request: HttpRequest) -> HttpResponse:
    """R27: pending forms, oldest first, with their age: the advisor's, and the branch's."""
    profile = getattr(request.user, "staff_profile", None)
    branch_id = profile.branch_id if profile is not None else None
    mine = (
        selectors.pending_forms(advisor=staff(request), visible_to=request.user)
        if branch_id
        else []
    )
    others = selectors.pending_forms(branch_id=branch_id, visible_to=request.user)
    return render(
        request,
        "signatures/pending.html",
        {
            "mine": mine,
            "others": others,
            "branch": profile.branch if profile and branch_id else None,
        },
    )
