"""Staff login: password, then the second factor; enrolment of the authenticator at the first
login with backup codes; logout; the account page (language, new backup codes)."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from clients import services, throttle, twofactor
from clients.forms import EnrolmentTokenForm, LanguageForm, LoginForm, TokenForm
from clients.middleware import second_factor_exempt
from clients.models import Language
from clients.views import journey

SHOW_CODES_KEY = "optin.backup_codes"


def _next_url(request: HttpRequest) -> str:
    """Where to go after login: the page asked for, if it is ours; else the search."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _with_next(name: str, request: HttpRequest) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse(name) + "?" + urlencode({"next": _next_url(request)}))


def _address(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


def _user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


def _logged_in(request: HttpRequest, user: User, device: Any) -> None:
    """Both factors passed: a new session key, the device remembered, and the language chosen
    on the login pages (the latest explicit choice) kept on the profile."""
    request.session.cycle_key()
    otp_login(request, device)
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    if chosen in Language.values:
        services.set_staff_language(user=user, language=chosen)


def _second_step(request: HttpRequest) -> HttpResponseRedirect:
    user = _user(request)
    if twofactor.is_enrolled(user):
        return _with_next("clients:second_factor", request)
    return _with_next("clients:enrol", request)


@second_factor_exempt
@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    """First step: the password. Failures are counted; too many block logins for a while."""
    if request.user.is_authenticated:
        if twofactor.is_verified(request.user):
            return redirect(_next_url(request))
        return _second_step(request)
    form = LoginForm(request, data=request.POST if request.method == "POST" else None)
    status = 200
    blocked = ""
    if request.method == "POST":
        username = str(request.POST.get("username", ""))[:150]
        if throttle.login_blocked(username, _address(request)):
            # The password is not even checked: guessing goes no faster.
            form = LoginForm(request, initial={"username": username})
            minutes = math.ceil(settings.OPTIN_LOGIN_LOCKOUT_SECONDS / 60)
            blocked = ngettext(
                "Trop de tentatives de connexion : réessayez dans %(minutes)d minute ou "
                "demandez à un administrateur.",
                "Trop de tentatives de connexion : réessayez dans %(minutes)d minutes ou "
                "demandez à un administrateur.",
                minutes,
            ) % {"minutes": minutes}
            status = 429
        elif form.is_valid():
            throttle.clear_login_failures(username, _address(request))
            auth.login(request, form.get_user())
            return _second_step(request)
        else:
            throttle.record_login_failure(username, _address(request))
            status = 401
    return render(
        request,
        "clients/auth/login.html",
        {"form": form, "next": _next_url(request), "blocked": blocked},
        status=status,
    )


@second_factor_exempt
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def second_factor(request: HttpRequest) -> HttpResponse:
    """Second step: a code of the authenticator app, or a backup code."""
    if not request.user.is_authenticated:
        return redirect("clients:login")
    user = _user(request)
    if twofactor.is_verified(user):
        return redirect(_next_url(request))
    if not twofactor.is_enrolled(user):
        return _with_next("clients:enrol", request)
    form = TokenForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        result = twofactor.verify_second_factor(user=user, token=form.cleaned_data["token"])
        if result.device is not None:
            _logged_in(request, user, result.device)
            return redirect(_next_url(request))
        if result.locked_until is not None:
            seconds = max(1, math.ceil((result.locked_until - timezone.now()).total_seconds()))
            form.add_error(
                "token",
                ngettext(
                    "Trop de codes erronés : attendez %(seconds)d seconde avant de réessayer.",
                    "Trop de codes erronés : attendez %(seconds)d secondes avant de réessayer.",
                    seconds,
                )
                % {"seconds": seconds},
            )
            status = 429
        else:
            form.add_error("token", _("Code incorrect."))
            status = 401
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "clients/auth/second_factor.html",
        {"form": form, "next": _next_url(request)},
        status=status,
    )


@second_factor_exempt
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    """First login: scan the QR code with an authenticator app, type the code it shows."""
    if not request.user.is_authenticated:
        return redirect("clients:login")
    user = _user(request)
    if twofactor.is_enrolled(user):
        return _with_next("clients:second_factor", request)
    device = twofactor.pending_enrolment(user)
    form = EnrolmentTokenForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        codes = twofactor.confirm_enrolment(
            user=user, device=device, token=form.cleaned_data["token"]
        )
        if codes is not None:
            _logged_in(request, user, device)
            request.session[SHOW_CODES_KEY] = codes
            return _with_next("clients:backup_codes", request)
        form.add_error("token", _("Code incorrect : vérifiez l'heure du téléphone et réessayez."))
        status = 400
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "clients/auth/enrol.html",
        {
            "form": form,
            "next": _next_url(request),
            "qr_svg": twofactor.enrolment_qr_svg(device),
            "secret": twofactor.secret_for_manual_entry(device),
        },
        status=status,
    )


@never_cache
def backup_codes(request: HttpRequest) -> HttpResponse:
    """The new backup codes, shown once."""
    codes = request.session.pop(SHOW_CODES_KEY, None)
    if not codes:
        return redirect(_next_url(request))
    return render(
        request, "clients/auth/backup_codes.html", {"codes": codes, "next": _next_url(request)}
    )


@require_POST
def renew_backup_codes(request: HttpRequest) -> HttpResponse:
    request.session[SHOW_CODES_KEY] = twofactor.new_backup_codes(user=_user(request))
    return redirect(reverse("clients:backup_codes") + "?next=" + reverse("clients:account"))


@second_factor_exempt
@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    """Log out; leaving an account opening whose form is unsigned is warned first (R27)."""
    if (
        request.user.is_authenticated
        and not request.POST.get("leave_confirmed")
        and journey.pending_form(request) is not None
    ):
        return redirect(reverse("clients:leave_opening") + "?logout=1")
    auth.logout(request)
    messages.info(request, _("Vous êtes déconnecté."))
    return redirect("clients:login")


@never_cache
def account(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    return render(
        request,
        "clients/auth/account.html",
        {"remaining_codes": twofactor.remaining_backup_codes(user)},
    )


@second_factor_exempt
@require_POST
def language(request: HttpRequest) -> HttpResponse:
    """Switch the pages' language: kept on the staff profile, or in a cookie before login."""
    form = LanguageForm(request.POST)
    if not form.is_valid():
        return redirect(_next_url(request))
    chosen = form.cleaned_data["language"]
    response = redirect(_next_url(request))
    if request.user.is_authenticated and twofactor.is_verified(request.user):
        services.set_staff_language(user=_user(request), language=chosen)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        chosen,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
    )
    return response
