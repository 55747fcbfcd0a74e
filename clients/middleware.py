"""Who may reach which page, in which language, and the account-opening warning (R27)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils import translation
from django.utils.deprecation import MiddlewareMixin  # Django's base for process_view hooks

from clients import twofactor
from clients.views import journey

ViewFunc = Callable[..., HttpResponse]
# Paths served without a staff login: the API (its own tokens) and the public unsubscribe and
# confirmation pages. Everything else asks for the password and the second factor.
PUBLIC_PREFIXES = ("/api/", "/u/", "/confirmer/")


def second_factor_exempt(view: ViewFunc) -> ViewFunc:
    """Mark a view as reachable before the second factor (the login steps themselves)."""
    view.second_factor_exempt = True  # type: ignore[attr-defined]
    return view


def _next(request: HttpRequest) -> str:
    return urlencode({"next": request.get_full_path()})


class SecondFactorRequiredMiddleware(MiddlewareMixin):
    """No page but the login steps and the public ones without a verified second factor."""

    def process_view(
        self, request: HttpRequest, view: ViewFunc, args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if getattr(view, "second_factor_exempt", False) or request.path.startswith(PUBLIC_PREFIXES):
            return None
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), resolve_url(settings.LOGIN_URL))
        if not twofactor.is_verified(user):
            location = resolve_url("clients:second_factor") + "?" + _next(request)
            return HttpResponse(status=302, headers={"Location": location})
        return None


class StaffLanguageMiddleware:
    """French first: the language a staff member chose in their account, or, before login,
    the one chosen on the login page (a cookie); never guessed from the browser."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = settings.LANGUAGE_CODE
        # Until the second factor, the choice made on the login pages (the cookie) holds.
        verified = twofactor.is_verified(request.user)
        profile = getattr(request.user, "staff_profile", None) if verified else None
        chosen = (
            profile.language
            if profile is not None
            else request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        )
        if chosen in dict(settings.LANGUAGES):
            language = chosen
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        return response


class OpeningJourneyGuardMiddleware(MiddlewareMixin):
    """R27: while the account opening's form is unsigned, a link that leaves the journey goes
    through a warning page first, every time the advisor leaves it (clients.views.journey)."""

    def process_view(
        self, request: HttpRequest, view: ViewFunc, args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if not request.user.is_authenticated or not hasattr(request, "session"):
            return None
        match = request.resolver_match
        if match is None:
            return None
        if (
            request.method == "GET"
            and not request.headers.get("HX-Request")
            and journey.leaves_journey(request, match.view_name, kwargs)
        ):
            location = resolve_url("clients:leave_opening") + "?" + _next(request)
            return HttpResponse(status=302, headers={"Location": location})
        # Another pending account-opening form of one's own: entering its journey.
        journey.note_journey_page(request, match.view_name, kwargs)
        # On the journey's own pages, the browser warns when the tab is closed.
        request.opening_journey = journey.in_journey(  # type: ignore[attr-defined]
            request, match.view_name, kwargs
        )
        return None
