"""R27: every back-office page shows the advisor's unsigned forms."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cache

from django.contrib.auth.models import User
from django.http import HttpRequest

from clients import twofactor
from signatures import selectors
from signatures.models import ConsentForm


def pending_forms(request: HttpRequest) -> dict[str, Callable[[], object]]:
    """The banner's forms, read only if the page shows the banner (one query)."""

    @cache
    def forms() -> list[tuple[ConsentForm, dt.timedelta]]:
        user = getattr(request, "user", None)
        if not isinstance(user, User) or not twofactor.is_verified(user):
            return []
        profile = getattr(user, "staff_profile", None)
        if profile is None or profile.role != "advisor":
            return []
        return selectors.pending_forms(advisor=user, visible_to=user)

    return {"pending_banner": forms}
