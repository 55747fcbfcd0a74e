"""Forms of the compliance pages: the filters of the audit trail and of the access log, the
range of a verification. Bad input is a form error shown on the page, never a 500."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as gettext_now
from django.utils.translation import gettext_lazy as _

from clients.models import Branch
from optin import selectors as consent_selectors
from optin.compliance import dashboard as reads
from optin.compliance import selectors
from optin.integrity import head_seq
from optin.models import Channel, Journey

MAX_KEY = 2**63 - 1  # a BIGINT: a larger cursor is refused before it reaches the database


DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class _Keyset(forms.Form):
    """The page: entries older than `before`, or newer than `after` (keyset pagination)."""

    before = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_KEY, widget=forms.HiddenInput
    )
    after = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_KEY, widget=forms.HiddenInput
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("before") is not None and data.get("after") is not None:
            raise ValidationError(_("Une page à la fois : avant ou après, pas les deux."))
        return data

    def _check_dates(self, data: dict[str, Any]) -> None:
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", _("La fin de la période précède son début."))


class TrailFilterForm(_Keyset):
    client = forms.CharField(label=_("Numéro client"), required=False, max_length=32)
    actor = forms.CharField(
        label=_("Conseiller ou acteur"),
        required=False,
        max_length=128,
        help_text=_("Identifiant de connexion, ou l'acteur tel que journalisé (api:…)."),
    )
    branch = forms.ModelChoiceField(
        label=_("Agence"),
        queryset=Branch.objects.order_by("code"),
        to_field_name="code",
        required=False,
        empty_label=_("Toutes"),
    )
    action = forms.ChoiceField(label=_("Action"), required=False)
    channel = forms.ChoiceField(
        label=_("Canal"), required=False, choices=[("", _("Tous")), *Channel.choices]
    )
    journey = forms.ChoiceField(
        label=_("Parcours"), required=False, choices=[("", _("Tous")), *Journey.choices]
    )
    since = forms.DateField(label=_("Enregistré du"), required=False, widget=DATE)
    until = forms.DateField(label=_("au"), required=False, widget=DATE)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        action = cast(forms.ChoiceField, self.fields["action"])
        action.choices = [
            ("", _("Toutes")),
            *sorted(
                (
                    (key, f"{label} ({key})")
                    for key, label in consent_selectors.ACTION_LABELS.items()
                ),
                key=lambda choice: choice[0],
            ),
        ]

    def clean_actor(self) -> str:
        text: str = self.cleaned_data["actor"]
        actor_id = selectors.actor_filter_value(text)
        if actor_id is None:
            raise ValidationError(_("Aucun membre du personnel n'a cet identifiant."))
        return actor_id

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self._check_dates(data)
        return data

    def filters(self) -> selectors.TrailFilters:
        data = self.cleaned_data
        branch = data.get("branch")
        return selectors.TrailFilters(
            client_number=data.get("client", "").strip(),
            actor_id=data.get("actor", ""),
            branch=branch.code if branch else "",
            action=data.get("action", ""),
            channel=data.get("channel", ""),
            journey=data.get("journey", ""),
            since=data.get("since"),
            until=data.get("until"),
        )


class AccessFilterForm(_Keyset):
    client = forms.CharField(label=_("Numéro client"), required=False, max_length=32)
    staff = forms.CharField(label=_("Membre du personnel"), required=False, max_length=150)
    since = forms.DateField(label=_("Du"), required=False, widget=DATE)
    until = forms.DateField(label=_("au"), required=False, widget=DATE)

    def clean_staff(self) -> int | None:
        text = self.cleaned_data["staff"].strip()
        if not text:
            return None
        found = selectors.staff_matching(text)
        if not found:
            raise ValidationError(_("Aucun membre du personnel n'a cet identifiant."))
        return found[0]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self._check_dates(data)
        return data

    def filters(self) -> selectors.AccessFilters:
        data = self.cleaned_data
        return selectors.AccessFilters(
            client_number=data.get("client", "").strip(),
            staff_id=data.get("staff"),
            since=data.get("since"),
            until=data.get("until"),
        )


class VerificationForm(forms.Form):
    """The whole log, or a range of it (from one entry to another)."""

    scope = forms.ChoiceField(
        label=_("Vérifier"),
        choices=[("full", _("le journal entier")), ("range", _("un intervalle d'entrées"))],
        widget=forms.RadioSelect,
        initial="full",
    )
    first = forms.IntegerField(label=_("de l'entrée n°"), required=False, min_value=1)
    last = forms.IntegerField(label=_("à l'entrée n°"), required=False, min_value=1)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("scope") != "range":
            data["first"], data["last"] = 1, None
            return data
        head = head_seq()
        first, last = data.get("first") or 1, data.get("last") or head
        if first > head:
            self.add_error("first", _("Le journal s'arrête à l'entrée n° %(n)d.") % {"n": head})
        elif last > head:
            self.add_error("last", _("Le journal s'arrête à l'entrée n° %(n)d.") % {"n": head})
        elif last < first:
            self.add_error("last", _("La fin de l'intervalle précède son début."))
        data["first"], data["last"] = first, last
        return data


class DashboardFilterForm(forms.Form):
    """The period (months) and an optional branch, by its code."""

    mois = forms.TypedChoiceField(label=_("Période"), coerce=int, required=False)
    agence = forms.ChoiceField(label=_("Agence"), required=False)

    def __init__(self, *args: Any, branches: Sequence[Branch], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.branches = {branch.code: branch for branch in branches}
        cast(forms.ChoiceField, self.fields["mois"]).choices = [
            (n, gettext_now("%(n)d derniers mois") % {"n": n}) for n in reads.PERIODS
        ]
        self.fields["mois"].initial = reads.DEFAULT_PERIOD
        cast(forms.ChoiceField, self.fields["agence"]).choices = [
            ("", gettext_now("Toutes les agences")),
            *((branch.code, str(branch)) for branch in branches),
        ]

    def period(self) -> int:
        value = self.cleaned_data.get("mois") if self.is_bound else None
        return int(value) if value else reads.DEFAULT_PERIOD

    def branch(self) -> Branch | None:
        code = self.cleaned_data.get("agence") if self.is_bound else None
        return self.branches.get(code) if code else None


class ErasureForm(forms.Form):
    """R64: the second confirmation of an erasure. The officer types the client number again
    and ticks the box: an erasure cannot be undone, so a click alone never starts one."""

    error_messages = {
        "number_mismatch": _("Ce n'est pas le numéro de ce client : rien n'a été effacé."),
    }

    client_number = forms.CharField(
        label=_("Numéro du client, saisi à nouveau"),
        max_length=32,
        help_text=_("Recopiez le numéro affiché en haut de la page."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    confirmed = forms.BooleanField(
        label=_(
            "Je confirme l'effacement des données personnelles de ce client. "
            "Je sais qu'il est irréversible."
        ),
        error_messages={"required": _("Cochez la case pour confirmer l'effacement.")},
    )

    def __init__(self, *args: Any, expected: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expected = expected

    def clean_client_number(self) -> str:
        number: str = self.cleaned_data["client_number"]
        if number != self.expected:
            raise ValidationError(self.error_messages["number_mismatch"], code="number_mismatch")
        return number
