"""Forms of the signing pages: one per action, the service does the checking."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from signatures.models import IdentityDocument
from signatures.services import PAPER_ATTESTATION

IDENTITY_CHOICES = [("", _("— choisir —")), *IdentityDocument.choices]


class TabletSignatureForm(forms.Form):
    identity_document = forms.ChoiceField(
        label=_("Pièce d'identité vérifiée par le conseiller"), choices=IDENTITY_CHOICES
    )
    # Filled by static/js/signature-capture.js; the service checks them (R25).
    signature = forms.CharField(widget=forms.HiddenInput, required=False)
    strokes = forms.CharField(widget=forms.HiddenInput, required=False)
    canvas_width = forms.CharField(widget=forms.HiddenInput, required=False)
    canvas_height = forms.CharField(widget=forms.HiddenInput, required=False)
    device_pixel_ratio = forms.CharField(widget=forms.HiddenInput, required=False)


class PaperSignatureForm(forms.Form):
    scan = forms.FileField(
        label=_("Scan du formulaire signé (PDF, PNG ou JPEG, 10 Mo au plus)"),
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,image/png,image/jpeg"}),
    )
    reference_read = forms.CharField(
        label=_("Référence lue sur le scan"),
        max_length=20,
        help_text=_("Recopiez la référence imprimée en haut à droite du formulaire scanné."),
    )
    signed_at = forms.DateTimeField(
        label=_("Date et heure de la signature"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    identity_document = forms.ChoiceField(
        label=_("Pièce d'identité vérifiée"), choices=IDENTITY_CHOICES
    )
    attested = forms.BooleanField(label=PAPER_ATTESTATION, required=True)


class CancelForm(forms.Form):
    note = forms.CharField(
        label=_("Motif"),
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 2}),
        initial=_("Le client ne souhaite pas signer."),
    )
