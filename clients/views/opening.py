"""Account opening ("entrée en relation"): identity and legal capacity, then contact details
("Coordonnées") where each channel with a contact point demands a yes/no answer with its
wording shown (R22); a "Oui" generates the form and leads to signing (R24). Leaving the
journey with the form unsigned is warned every time (R27, clients.views.journey)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from clients import selectors, services
from clients.forms import ContactFieldsMixin, IdentityForm
from clients.models import Client, ClientStatus, StaffProfile
from clients.roles import actor_for
from clients.views import journey
from clients.views.customers import staff
from clients.views.questions import B2B_NOTICE, AnswersForm, consent_questions
from optin.errors import DomainError
from optin.forms import add_service_error
from optin.models import Journey
from signatures import services as form_services

OPENING = Journey.BRANCH_ACCOUNT_OPENING


def _advisor_profile(request: HttpRequest) -> StaffProfile:
    """Only an advisor opens accounts, in their own branch (R55)."""
    profile: StaffProfile | None = getattr(request.user, "staff_profile", None)
    if profile is None or profile.branch_id is None or profile.role != "advisor":
        raise PermissionDenied(_("Seul un conseiller d'agence ouvre un compte."))
    return profile


@permission_required(["clients.add_client", "clients.record_consent"], raise_exception=True)
@require_http_methods(["GET", "POST"])
def identity(request: HttpRequest) -> HttpResponse:
    """First step: who the customer is. The client is created in the advisor's branch."""
    profile = _advisor_profile(request)
    form = IdentityForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            client = services.create_client(
                actor=actor_for(staff(request)),
                client_number=data["client_number"],
                kind=data["kind"],
                is_legal_entity=data["is_legal_entity"],
                civility=data["civility"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                birth_date=data["birth_date"],
                legal_capacity=data["legal_capacity"],
                protection_measure=data["protection_measure"],
                branch=profile.branch,  # type: ignore[arg-type]
                status=ClientStatus.CUSTOMER,
            )
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            return redirect("clients:opening_contact", client.client_number)
    status = 200 if request.method == "GET" else 400
    return render(request, "clients/opening/identity.html", {"form": form}, status=status)


class OpeningContactForm(ContactFieldsMixin):
    pass


def _contacts_typed(request: HttpRequest, client: Client) -> dict[str, str]:
    """The contact points as typed so far (normalised when valid), to know what to ask."""
    if request.method != "POST":
        return {"email": client.email, "mobile": client.mobile}
    typed = OpeningContactForm(request.POST)
    typed.is_valid()
    return {
        name: str(typed.cleaned_data.get(name, request.POST.get(name, ""))).strip()
        for name in ("email", "mobile")
    }


@permission_required(["clients.add_client", "clients.record_consent"], raise_exception=True)
@require_http_methods(["GET", "POST"])
def contact(request: HttpRequest, client_number: str) -> HttpResponse:
    """Second step, "Coordonnées": contact points and the mandatory answers (R22)."""
    _advisor_profile(request)
    client = selectors.get_client_for_user(request.user, client_number)
    questions = consent_questions(client, _contacts_typed(request, client))
    if request.method == "POST" and request.headers.get("HX-Request") == "true":
        # htmx: a contact point was typed or erased; show the questions it calls for. When
        # the page already shows them, nothing is swapped: an answer being clicked stays.
        if all(request.POST.get(f"shown_{q.channel}") == q.mode for q in questions):
            return HttpResponse(status=204)
        # The answers already chosen stay chosen (a click on "Oui" also ends the typing).
        chosen = {
            name: request.POST[name]
            for q in questions
            for name in (q.field_name,)
            if q.asked and request.POST.get(name)
        }
        blank = AnswersForm(questions=questions, allow_unanswered=False, initial=chosen)
        return render(
            request,
            "clients/opening/_questions.html",
            {"answers": blank, "questions": questions, "client": client, "b2b_notice": B2B_NOTICE},
        )
    contact_form = OpeningContactForm(
        request.POST if request.method == "POST" else None,
        initial={"email": client.email, "mobile": client.mobile},
    )
    answers = AnswersForm(
        request.POST if request.method == "POST" else None,
        questions=questions,
        allow_unanswered=False,
    )
    if request.method == "POST" and contact_form.is_valid() and answers.is_valid():
        outcome = _record_contact_and_answers(request, client, contact_form, answers)
        if outcome is not None:
            return outcome
    status = 200 if request.method == "GET" else 400
    return render(
        request,
        "clients/opening/contact.html",
        {
            "client": client,
            "contact_form": contact_form,
            "answers": answers,
            "questions": questions,
            "b2b_notice": B2B_NOTICE,
        },
        status=status,
    )


def _record_contact_and_answers(
    request: HttpRequest, client: Client, contact_form: OpeningContactForm, answers: AnswersForm
) -> HttpResponse | None:
    """Record the contact points, then the answers; a refusal shows on the page. What was
    recorded before a refusal stays recorded (and the page shows the current state)."""
    user = staff(request)
    actor = actor_for(user)
    branch_answers = answers.branch_answers()
    collected = None
    try:
        # One transaction: an answer refused (a wording withdrawn meanwhile, say) leaves the
        # contact points as they were too (R71).
        with transaction.atomic():
            services.change_contact_details(
                actor=actor,
                client_number=client.client_number,
                email=contact_form.cleaned_data["email"],
                mobile=contact_form.cleaned_data["mobile"],
                journey=OPENING,
            )
            if answers.objection_notice_shown and not client.objection_notice_shown:
                # R8: the professional was told how the address serves and how to object.
                services.update_client_identity(
                    actor=actor, client_number=client.client_number, objection_notice_shown=True
                )
            if branch_answers:
                collected = form_services.collect_branch_answers(
                    client=Client.objects.get(pk=client.pk),
                    answers=branch_answers,
                    advisor=user,
                    journey=OPENING,
                )
    except ValidationError as exc:
        add_service_error(contact_form, exc)
        return None
    except DomainError as exc:
        add_service_error(answers, exc)
        return None
    if collected is not None and collected.form is not None:
        journey.start(request, collected.form)
        messages.success(
            request,
            _("Formulaire %(ref)s généré : le « Oui » ne compte qu'une fois signé.")
            % {"ref": collected.form.reference},
        )
        return redirect("signatures:detail", client.client_number, collected.form.reference)
    messages.success(request, _("Entrée en relation terminée : réponses enregistrées."))
    return redirect("clients:record", client.client_number)


@require_http_methods(["GET", "POST"])
def leave(request: HttpRequest) -> HttpResponse:
    """R27: the warning shown each time a link leaves account opening with the form unsigned."""
    form = journey.pending_form(request)
    logout = bool(request.GET.get("logout") or request.POST.get("logout"))
    target = str(request.POST.get("next") or request.GET.get("next") or "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("clients:search")
    if form is None:
        return redirect(target)
    if request.method == "POST":
        journey.leave(request)
        messages.warning(
            request,
            _(
                "Le formulaire %(ref)s reste à faire signer : il figure dans vos formulaires en "
                "attente."
            )
            % {"ref": form.reference},
        )
        return redirect(target)
    return render(
        request,
        "clients/opening/leave.html",
        {"form": form, "next": target, "logout": logout},
    )
