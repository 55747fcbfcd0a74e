"""R27: the account-opening journey kept in the advisor's session while its form is unsigned.

The journey's pages are the opening pages of its client and the pages of its form (to sign,
print or cancel it). Leaving them by a link of the back-office goes through a warning page
every time, until the form is signed, cancelled or expired; closing the tab is warned by the
browser (static/js/journey-guard.js).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest

from optin.models import Journey
from signatures.models import ConsentForm

SESSION_KEY = "optin.opening"
FORM_PAGES = frozenset(
    {"signatures:detail", "signatures:sign_tablet", "signatures:sign_paper", "signatures:cancel"}
)
OPENING_PAGES = frozenset({"clients:opening_contact"})
# Pages that neither belong to the journey nor leave it.
NEUTRAL_PAGES = frozenset({"clients:leave_opening", "clients:logout", "clients:language"})


def start(request: HttpRequest, form: ConsentForm) -> None:
    request.session[SESSION_KEY] = {
        "client": form.client.client_number,
        "form": form.reference,
    }


def leave(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)


def pending_form(request: HttpRequest) -> ConsentForm | None:
    """The journey's form while it is pending; forgets a journey whose form is not."""
    state = request.session.get(SESSION_KEY)
    if not state:
        return None
    form = (
        ConsentForm.objects.pending()
        .select_related("client")
        .filter(reference=state["form"], client__client_number=state["client"])
        .first()
    )
    if form is None:
        leave(request)
    return form


def note_journey_page(request: HttpRequest, view_name: str, kwargs: Mapping[str, Any]) -> None:
    """Opening a pending account-opening form of one's own (from the banner, the pending
    list) is coming back into its journey: leaving it warns again."""
    if view_name not in FORM_PAGES:
        return
    state = request.session.get(SESSION_KEY) or {}
    if state.get("form") == kwargs.get("reference"):
        return
    form = (
        ConsentForm.objects.pending()
        .select_related("client")
        .filter(
            reference=kwargs.get("reference"),
            client__client_number=kwargs.get("client_number"),
            journey=Journey.BRANCH_ACCOUNT_OPENING,
            advisor_id=request.user.pk,
        )
        .first()
    )
    if form is not None:
        start(request, form)


def in_journey(request: HttpRequest, view_name: str, kwargs: Mapping[str, Any]) -> bool:
    """Whether this page belongs to a journey whose form is unsigned."""
    state = request.session.get(SESSION_KEY)
    if not state:
        return False
    own_page = (view_name in FORM_PAGES and kwargs.get("reference") == state["form"]) or (
        view_name in OPENING_PAGES and kwargs.get("client_number") == state["client"]
    )
    return own_page and pending_form(request) is not None


def leaves_journey(request: HttpRequest, view_name: str, kwargs: Mapping[str, Any]) -> bool:
    state = request.session.get(SESSION_KEY)
    if not state or view_name in NEUTRAL_PAGES:
        return False
    if view_name in FORM_PAGES and kwargs.get("reference") == state["form"]:
        return False
    if view_name in OPENING_PAGES and kwargs.get("client_number") == state["client"]:
        return False
    return pending_form(request) is not None
