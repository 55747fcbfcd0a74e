"""Forms of the back-office pages: one per action; the services do the rule checking."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from clients.models import (
    Civility,
    ClientKind,
    Language,
    LegalCapacity,
    ProtectionMeasure,
    today_in_paris,
)
from clients.validators import client_number_validator, normalize_email, normalize_mobile
from optin.models import RequestMeans


class LoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": _("Identifiant ou mot de passe incorrect."),
        "inactive": _("Ce compte est désactivé."),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = _("Identifiant")
        self.fields["password"].label = _("Mot de passe")

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not user.is_staff:
            raise ValidationError(self.error_messages["invalid_login"], code="invalid_login")


class TokenForm(forms.Form):
    token = forms.CharField(
        label=_("Code"),
        max_length=32,
        help_text=_("Les 6 chiffres de l'application d'authentification, ou un code de secours."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
    )


class EnrolmentTokenForm(TokenForm):
    """Enrolment: only the app's code (there are no backup codes yet)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["token"].help_text = _(
            "Les 6 chiffres affichés par l'application, pour ce compte."
        )
        self.fields["token"].widget.attrs["inputmode"] = "numeric"


class LanguageForm(forms.Form):
    language = forms.ChoiceField(choices=Language.choices)


class SearchForm(forms.Form):
    q = forms.CharField(
        label=_("Rechercher un client"),
        max_length=200,
        required=False,
        help_text=_("Numéro client, nom (« dupont jean »), e-mail ou mobile."),
        widget=forms.TextInput(attrs={"type": "search", "autofocus": True}),
    )
    page = forms.IntegerField(min_value=1, max_value=10_000, required=False)


class IdentityForm(forms.Form):
    """Account opening, first step: who the customer is (R4-R9, R68)."""

    client_number = forms.CharField(
        label=_("Numéro client"),
        max_length=32,
        validators=[client_number_validator],
        help_text=_("Le numéro attribué par le système central (lettres, chiffres, tirets)."),
    )
    kind = forms.ChoiceField(
        label=_("Type de client"), choices=ClientKind.choices, widget=forms.RadioSelect
    )
    is_legal_entity = forms.BooleanField(
        label=_("Personne morale (société, association) : pas de consentement à recueillir"),
        required=False,
    )
    civility = forms.ChoiceField(label=_("Civilité"), choices=Civility.choices, required=False)
    first_name = forms.CharField(label=_("Prénom"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Nom (ou raison sociale)"), max_length=150)
    birth_date = forms.DateField(
        label=_("Date de naissance"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    legal_capacity = forms.ChoiceField(
        label=_("Capacité juridique"),
        choices=LegalCapacity.choices,
        initial=LegalCapacity.FULL,
        widget=forms.RadioSelect,
    )
    protection_measure = forms.ChoiceField(
        label=_("Mesure de protection"), choices=ProtectionMeasure.choices, required=False
    )

    def clean_birth_date(self) -> dt.date | None:
        value: dt.date | None = self.cleaned_data.get("birth_date")
        if value is not None and value > today_in_paris():
            raise ValidationError(_("La date de naissance ne peut pas être dans le futur."))
        return value


class ContactFieldsMixin(forms.Form):
    """E-mail and mobile as typed; normalised as the services store them (R66, R67)."""

    email = forms.CharField(
        label=_("E-mail"),
        max_length=254,
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    mobile = forms.CharField(
        label=_("Mobile"),
        max_length=32,
        required=False,
        help_text=_("Par exemple 06 12 34 56 78 ou +44 7700 900123."),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )

    def clean_email(self) -> str:
        value = str(self.cleaned_data.get("email", "")).strip()
        return normalize_email(value) if value else ""

    def clean_mobile(self) -> str:
        value = str(self.cleaned_data.get("mobile", "")).strip()
        return normalize_mobile(value) if value else ""


class ContactForm(ContactFieldsMixin):
    """Knowledge record: add, change or confirm the contact points (R23, R43-R45)."""

    version = forms.IntegerField(widget=forms.HiddenInput)
    confirmed = forms.BooleanField(
        label=_("Le client confirme ces coordonnées"),
        required=False,
        help_text=_("Cochez-la quand le client relit et confirme ses coordonnées inchangées."),
    )


class WithdrawalForm(forms.Form):
    """R31: a withdrawal requested by the customer, with the means of the request."""

    means = forms.ChoiceField(
        label=_("Demande reçue"),
        choices=RequestMeans.choices,
        widget=forms.RadioSelect,
        initial=RequestMeans.IN_PERSON,
    )


class CapacityForm(forms.Form):
    """R6, R7: a protection measure (or its lifting) with the judgment's reference."""

    legal_capacity = forms.ChoiceField(
        label=_("Capacité juridique"), choices=LegalCapacity.choices, widget=forms.RadioSelect
    )
    protection_measure = forms.ChoiceField(
        label=_("Mesure de protection"), choices=ProtectionMeasure.choices, required=False
    )
    reference = forms.CharField(
        label=_("Référence du jugement ou de la notification"), max_length=120
    )
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        protected = data.get("legal_capacity") == LegalCapacity.PROTECTED
        if protected and not data.get("protection_measure"):
            self.add_error("protection_measure", _("Indiquez la mesure de protection."))
        if not protected and data.get("protection_measure"):
            self.add_error("protection_measure", _("Une mesure suppose un majeur protégé."))
        return data
