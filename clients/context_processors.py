"""What every page's top bar needs."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import translation

from clients.models import Language


def language_switch(request: HttpRequest) -> dict[str, object]:
    """The language the switch offers: the other one."""
    target = Language.ENGLISH if translation.get_language() == "fr" else Language.FRENCH
    return {"other_language": {"code": target.value, "label": target.label}}
