"""Customer search and the customer knowledge record ("Connaissance Client"): identity,
contact points, the state of each channel and its history; contact update (R23, R43-R45),
withdrawal at the customer's request (R31), a protection measure (R6, R7)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from clients import selectors, services
from clients.forms import CapacityForm, ContactForm, SearchForm, WithdrawalForm
from clients.models import Client, LegalCapacity
from clients.roles import actor_for
from clients.views.questions import B2B_NOTICE, AnswersForm, consent_questions
from optin import selectors as consent_selectors
from optin.errors import DomainError, ErrorCode
from optin.forms import add_service_error
from optin.models import Channel, ConsentState, ConsentStatus, Journey
from optin.services import record_decision
from signatures import services as form_services
from signatures.models import ConsentForm

HISTORY_LIMIT = 200
# R7: the states a protection measure makes lapse.
LAPSING = (
    ConsentStatus.GRANTED,
    ConsentStatus.PENDING_SIGNATURE,
    ConsentStatus.PENDING_CONFIRMATION,
)


def staff(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


def _record(client: Client) -> HttpResponse:
    return redirect("clients:record", client.client_number)


@permission_required("clients.view_client", raise_exception=True)
def search(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET or None)
    result = None
    if form.is_valid() and form.cleaned_data["q"]:
        result = selectors.search_clients(
            request.user, form.cleaned_data["q"], form.cleaned_data["page"] or 1
        )
        # One answer to a number, an address or a mobile: straight to the record (not while
        # typing: the results update in place then).
        only = result.clients[0] if len(result.clients) == 1 and not result.has_next else None
        exact = only is not None and (
            result.looked_for in ("email", "mobile")
            or only.client_number == form.cleaned_data["q"].strip()
        )
        if only is not None and exact and not request.headers.get("HX-Request"):
            return _record(only)
    states: dict[int, dict[str, ConsentState]] = {}
    if result is not None and result.clients:
        for state in ConsentState.objects.filter(client__in=result.clients):
            states.setdefault(state.client_id, {})[state.channel] = state
    template = "clients/_search_results.html" if request.headers.get("HX-Request") else None
    context = {
        "form": form,
        "result": result,
        "rows": [
            (client, [states.get(client.pk, {}).get(c) for c in Channel.values])
            for client in (result.clients if result else [])
        ],
        "query": urlencode({"q": form.cleaned_data.get("q", "")}) if form.is_valid() else "",
    }
    return render(request, template or "clients/search.html", context)


@permission_required("clients.view_client", raise_exception=True)
def record(request: HttpRequest, client_number: str) -> HttpResponse:
    """The customer knowledge record, read by advisors of the branch and by compliance."""
    client = selectors.get_client_for_user(request.user, client_number)
    states = {s.channel: s for s in ConsentState.objects.filter(client=client)}
    forms = (
        ConsentForm.objects.filter(client=client).select_related("advisor").order_by("-created_at")
    )
    history = consent_selectors.consent_history(client, HISTORY_LIMIT)
    can_act = request.user.has_perm("clients.record_consent")
    return render(
        request,
        "clients/record.html",
        {
            "client": client,
            "channels": [
                (value, label, states.get(value), client.contact_point(value))
                for value, label in Channel.choices
            ],
            "questions": {q.channel: q for q in consent_questions(client)},
            "forms": forms,
            "history": history,
            "staff_names": _staff_names(row.actor_id for row in history),
            "history_truncated": len(history) == HISTORY_LIMIT,
            "can_act": can_act,
            "can_change_contact": request.user.has_perm("clients.change_contact"),
            "can_change_capacity": request.user.has_perm("clients.change_capacity"),
            "withdrawable": (ConsentStatus.GRANTED, ConsentStatus.PENDING_CONFIRMATION),
        },
    )


def _staff_names(actor_ids: Iterable[str]) -> dict[str, str]:
    """The names of the staff members a history names as "staff:<id>" (one query)."""
    ids = {a.removeprefix("staff:") for a in actor_ids if a.startswith("staff:")}
    users = User.objects.filter(pk__in=[i for i in ids if i.isdigit()])
    return {f"staff:{u.pk}": u.get_full_name() or u.get_username() for u in users}


@permission_required("clients.change_contact", raise_exception=True)
@require_http_methods(["GET", "POST"])
def contact(request: HttpRequest, client_number: str) -> HttpResponse:
    """R23, R43-R45: change or confirm the contact points; then ask the channels not granted.

    The record's version travels with the form: a colleague's change in between is a
    conflict showing the current values, never a silent overwrite.
    """
    client = selectors.get_client_for_user(request.user, client_number)
    initial = {"email": client.email, "mobile": client.mobile, "version": client.version}
    form = ContactForm(request.POST if request.method == "POST" else None, initial=initial)
    conflict: dict[str, Any] | None = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            change = services.change_contact_details(
                actor=actor_for(staff(request)),
                client_number=client.client_number,
                email=data["email"],
                mobile=data["mobile"],
                expected_version=data["version"],
                confirmed=data["confirmed"],
                journey=Journey.BRANCH_CONTACT_UPDATE,
            )
        except DomainError as exc:
            if exc.code != ErrorCode.CONFLICT:
                raise
            conflict = exc.extra.get("current")
            form.add_error(None, exc.message)
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            if change.optin_invitation and request.user.has_perm("clients.record_consent"):
                messages.success(request, _("Coordonnées enregistrées."))
                query = urlencode({"canaux": ",".join(change.optin_invitation)})
                return redirect(reverse("clients:ask", args=[client.client_number]) + "?" + query)
            messages.success(
                request,
                _("Coordonnées enregistrées ; l'accord déjà donné est conservé.")
                if change.changed
                else _("Coordonnées confirmées."),
            )
            return _record(client)
    status = 200 if request.method == "GET" else (409 if conflict else 400)
    return render(
        request,
        "clients/contact.html",
        {"client": client, "form": form, "conflict": conflict},
        status=status,
    )


@permission_required("clients.record_consent", raise_exception=True)
@require_http_methods(["GET", "POST"])
def ask(request: HttpRequest, client_number: str) -> HttpResponse:
    """R23, R44: the opt-in question for the channels whose contact point was just added,
    changed or confirmed and that are not granted. "Ne souhaite pas répondre" records
    nothing; "Oui" generates the form to sign (R24); "Non" is recorded at once (R14)."""
    client = selectors.get_client_for_user(request.user, client_number)
    wanted = set(str(request.GET.get("canaux", "")).split(","))
    questions = [q for q in consent_questions(client) if q.channel in wanted and q.asked]
    if not questions:
        return _record(client)
    form = AnswersForm(
        request.POST if request.method == "POST" else None,
        questions=questions,
        allow_unanswered=True,
    )
    if request.method == "POST" and form.is_valid():
        answers = form.branch_answers()
        if not answers:
            messages.info(request, _("Le client ne souhaite pas répondre : rien n'est enregistré."))
            return _record(client)
        try:
            collected = form_services.collect_branch_answers(
                client=client,
                answers=answers,
                advisor=staff(request),
                journey=Journey.BRANCH_CONTACT_UPDATE,
            )
        except DomainError as exc:
            add_service_error(form, exc)
        else:
            if collected.form is not None:
                messages.success(
                    request,
                    _("Formulaire %(ref)s généré : faites-le signer par le client.")
                    % {"ref": collected.form.reference},
                )
                return redirect("signatures:detail", client.client_number, collected.form.reference)
            messages.success(request, _("Réponse enregistrée."))
            return _record(client)
    status = 200 if request.method == "GET" else 400
    return render(
        request,
        "clients/ask.html",
        {"client": client, "form": form, "questions": questions, "b2b_notice": B2B_NOTICE},
        status=status,
    )


@permission_required("clients.record_consent", raise_exception=True)
@require_http_methods(["GET", "POST"])
def withdraw(request: HttpRequest, client_number: str, channel: str) -> HttpResponse:
    """R31: a withdrawal at the customer's request, one click and a confirmation, with the
    means of the request; effective at once (R38, R42)."""
    client = selectors.get_client_for_user(request.user, client_number)
    if channel not in Channel.values:
        raise Http404(_("Canal inconnu."))
    state = ConsentState.objects.filter(client=client, channel=channel).first()
    form = WithdrawalForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            record_decision(
                client_number=client.client_number,
                channel=channel,
                decision="withdraw",
                journey=Journey.BRANCH_REQUEST,
                actor=actor_for(staff(request)),
                evidence={"means": form.cleaned_data["means"]},
            )
        except DomainError as exc:
            add_service_error(form, exc)
        else:
            messages.success(
                request,
                _("Retrait enregistré : plus aucune offre par %(channel)s.")
                % {"channel": Channel(channel).label},
            )
            return _record(client)
    status = 200 if request.method == "GET" else 400
    return render(
        request,
        "clients/withdraw.html",
        {"client": client, "channel": Channel(channel), "state": state, "form": form},
        status=status,
    )


@permission_required("clients.change_capacity", raise_exception=True)
@require_http_methods(["GET", "POST"])
def capacity(request: HttpRequest, client_number: str) -> HttpResponse:
    """R6, R7: record a protection measure (or its lifting). The first POST shows what the
    measure will end; the second, confirmed, records it."""
    client = selectors.get_client_for_user(request.user, client_number)
    initial = {
        "legal_capacity": client.legal_capacity,
        "protection_measure": client.protection_measure,
    }
    form = CapacityForm(request.POST if request.method == "POST" else None, initial=initial)
    preview = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["confirmed"]:
            try:
                lapsed = services.change_legal_capacity(
                    actor=actor_for(staff(request)),
                    client_number=client.client_number,
                    legal_capacity=data["legal_capacity"],
                    protection_measure=data["protection_measure"],
                    reference=data["reference"],
                )
            except (DomainError, ValidationError) as exc:
                add_service_error(form, exc)
            else:
                messages.success(
                    request,
                    _("Capacité juridique enregistrée.")
                    + (
                        " "
                        + _("Accords et demandes en cours terminés : %(channels)s.")
                        % {"channels": ", ".join(str(Channel(c).label) for c in lapsed)}
                        if lapsed
                        else ""
                    ),
                )
                return _record(client)
        else:
            preview = _capacity_preview(client, data["legal_capacity"])
            form = CapacityForm(initial={**data, "confirmed": True})
    status = 200 if request.method == "GET" or preview is not None else 400
    return render(
        request,
        "clients/capacity.html",
        {"client": client, "form": form, "preview": preview},
        status=status,
    )


def _capacity_preview(client: Client, legal_capacity: str) -> dict[str, Any]:
    """What recording this capacity would end (R7): the channels granted or pending, the
    pending forms. Lifting a measure ends nothing and revives nothing."""
    if legal_capacity != LegalCapacity.PROTECTED:
        return {"protected": False, "states": [], "forms": []}
    return {
        "protected": True,
        "states": list(ConsentState.objects.filter(client=client, status__in=LAPSING)),
        "forms": list(ConsentForm.objects.pending().filter(client=client)),
    }
