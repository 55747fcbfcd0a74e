"""Template filters of the back-office pages."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import phonenumbers
from django import template
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from clients.models import PARIS

register = template.Library()


@register.filter
def age(value: dt.timedelta | None) -> str:
    """How long something has waited: "3 jours", "5 h", "12 min" (R27)."""
    if value is None:
        return ""
    seconds = max(0, int(value.total_seconds()))
    if seconds >= 86400:
        days = seconds // 86400
        return ngettext("%(n)d jour", "%(n)d jours", days) % {"n": days}
    if seconds >= 3600:
        return _("%(n)d h") % {"n": seconds // 3600}
    if seconds < 60:
        return _("moins d'une minute")
    return _("%(n)d min") % {"n": seconds // 60}


def paris_time(value: dt.datetime | None, *, seconds: bool = False) -> str:
    """R56: a time in Europe/Paris with its offset, "23/11/2026 14:05 (UTC+01:00)", to the
    second if asked (the proof bundle); "" for none."""
    if value is None:
        return ""
    local = value.astimezone(PARIS)
    offset = local.strftime("%z")
    shown = f"{local:%d/%m/%Y %H:%M:%S}" if seconds else f"{local:%d/%m/%Y %H:%M}"
    return f"{shown} (UTC{offset[:3]}:{offset[3:]})"


@register.filter
def paris(value: dt.datetime | None) -> str:
    """R56: a time in Europe/Paris with its offset, "23/11/2026 14:05 (UTC+01:00)"."""
    return paris_time(value)


@register.filter
def get_item(mapping: dict[str, object], key: str) -> object:
    return mapping.get(key)


@register.filter
def field(form: Any, name: str) -> Any:
    """A form's bound field by a computed name (the question of a channel)."""
    return form[name]


@register.filter
def phone(value: str) -> str:
    """An E.164 number as people read it: "+33 6 12 34 56 78"."""
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


@register.filter
def pretty_json(value: object) -> str:
    """A payload as people read it: indented, accents kept (autoescaped by the template)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
