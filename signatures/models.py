"""Consent forms that a customer signs in branch (R24-R30, R52).

A form is the bank's proof of a branch "yes": it states, per channel, the exact wording text
and the answer; the customer signs it on a tablet or on paper; the signed PDF is sealed by the
bank. Files are stored by their SHA-256 through the default storage and never overwritten.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from optin.models import Channel, ConsentStatus, Journey

# Crockford's base32 without the letters that read like digits (I, L, O, U).
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_reference() -> str:
    """The reference printed on the form and read back from a scan (R26): OPT-XXXX-XXXX."""
    chars = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"OPT-{chars[:4]}-{chars[4:]}"


def normalize_reference(text: str) -> str:
    """A reference as read on a scan, in its printed form: case, spaces and dashes do not
    matter, and the letters O, I and L (never used) read as the digits they look like."""
    chars = "".join(c for c in text.upper() if c.isalnum())
    chars = chars.removeprefix("OPT").translate(str.maketrans("OIL", "011"))
    return f"OPT-{chars[:4]}-{chars[4:]}" if len(chars) == 8 else text.strip().upper()


class FormStatus(models.TextChoices):
    PENDING = "pending", _("à signer")
    SIGNED = "signed", _("signé")
    CANCELLED = "cancelled", _("annulé")
    SUPERSEDED = "superseded", _("remplacé")
    EXPIRED = "expired", _("expiré")


class SigningMethod(models.TextChoices):
    TABLET = "tablet", _("tablette")
    PAPER = "paper", _("papier")


class IdentityDocument(models.TextChoices):
    """R25: the identity document the advisor checked before the signature."""

    ID_CARD = "id_card", _("carte nationale d'identité")
    PASSPORT = "passport", _("passeport")
    RESIDENCE_PERMIT = "residence_permit", _("titre de séjour")
    DRIVING_LICENCE = "driving_licence", _("permis de conduire")


FORM_JOURNEYS = (Journey.BRANCH_ACCOUNT_OPENING, Journey.BRANCH_CONTACT_UPDATE)


class ConsentFormQuerySet(models.QuerySet["ConsentForm"]):
    def pending(self) -> ConsentFormQuerySet:
        return self.filter(status=FormStatus.PENDING)

    def covering(self, *channels: str) -> ConsentFormQuerySet:
        """The forms that cover any of these channels (one row per form for one channel)."""
        return self.filter(channels__channel__in=channels)


class ConsentForm(models.Model):
    """One form covering the channels answered "Oui" together (R24)."""

    uuid = models.UUIDField(_("identifiant"), default=uuid.uuid4, unique=True, editable=False)
    reference = models.CharField(_("référence"), max_length=16, unique=True, default=new_reference)
    client = models.ForeignKey(
        "clients.Client", on_delete=models.PROTECT, related_name="consent_forms"
    )
    journey = models.CharField(
        _("parcours"),
        max_length=32,
        choices=[(j.value, j.label) for j in FORM_JOURNEYS],
    )
    advisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consent_forms"
    )
    branch = models.ForeignKey(
        "clients.Branch", on_delete=models.PROTECT, related_name="consent_forms"
    )
    template_version = models.CharField(_("modèle"), max_length=32)
    created_at = models.DateTimeField(_("généré le"), default=timezone.now)
    status = models.CharField(
        _("statut"), max_length=16, choices=FormStatus.choices, default=FormStatus.PENDING
    )
    # What the form states (identity, contact points, wording texts), as rendered (R59).
    content = models.JSONField(_("contenu"))
    # The generated PDF, as printed or shown on the tablet.
    pdf = models.CharField(_("PDF généré"), max_length=200)
    pdf_sha256 = models.CharField(_("SHA-256 du PDF généré"), max_length=64)

    # Once signed (R25, R52).
    method = models.CharField(_("mode"), max_length=8, choices=SigningMethod.choices, blank=True)
    signed_at = models.DateTimeField(_("signé le"), null=True, blank=True)
    identity_document = models.CharField(
        _("pièce d'identité vérifiée"), max_length=24, choices=IdentityDocument.choices, blank=True
    )
    signature_image = models.CharField(_("image de la signature"), max_length=200, blank=True)
    signature_points = models.CharField(_("tracé de la signature"), max_length=200, blank=True)
    scan = models.CharField(_("scan du formulaire signé"), max_length=200, blank=True)
    scan_sha256 = models.CharField(_("SHA-256 du scan"), max_length=64, blank=True)
    signed_pdf = models.CharField(_("PDF signé et scellé"), max_length=200, blank=True)
    signed_pdf_sha256 = models.CharField(_("SHA-256 du PDF scellé"), max_length=64, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("conseiller présent"),
    )
    # What evidence.json holds (ip, user agent, canvas, attestation...), also in the PDF.
    evidence = models.JSONField(_("preuves"), default=dict, blank=True)
    signed_seq = models.BigIntegerField(_("entrée du journal"), null=True, blank=True)

    # Once ended otherwise (R13, R28, R29).
    ended_at = models.DateTimeField(_("clos le"), null=True, blank=True)
    end_reason = models.CharField(_("motif"), max_length=255, blank=True)
    superseded_by = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="supersedes"
    )
    # R63, R64: the files were deleted (retention or erasure); their SHA-256 stay above and in
    # the log.
    files_deleted_at = models.DateTimeField(_("fichiers supprimés le"), null=True, blank=True)

    objects = ConsentFormQuerySet.as_manager()

    class Meta:
        verbose_name = _("formulaire de consentement")
        verbose_name_plural = _("formulaires de consentement")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="consentform_status_idx"),
            models.Index(fields=["client", "status"], name="consentform_client_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="signed")
                | (Q(signed_at__isnull=False) & ~Q(method="") & ~Q(signed_pdf_sha256="")),
                name="consentform_signed_complete",
            ),
        ]
        permissions = [
            ("sign_consentform", "Can have a consent form signed or cancel it"),
            ("download_consentform", "Can download consent forms"),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_pending(self) -> bool:
        return self.status == FormStatus.PENDING


class FormChannel(models.Model):
    """A channel answered "Oui" on a form, with its wording and prior state (R13, R24)."""

    form = models.ForeignKey(ConsentForm, on_delete=models.PROTECT, related_name="channels")
    channel = models.CharField(_("canal"), max_length=16, choices=Channel.choices)
    wording = models.ForeignKey("optin.Wording", on_delete=models.PROTECT, related_name="+")
    # R13: the state before the pending episode began (inherited from a superseded form).
    prior_status = models.CharField(
        _("état antérieur"), max_length=24, choices=ConsentStatus.choices
    )

    class Meta:
        verbose_name = _("canal du formulaire")
        verbose_name_plural = _("canaux du formulaire")
        ordering = ["channel"]
        constraints = [
            models.UniqueConstraint(fields=["form", "channel"], name="formchannel_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.form.reference} {self.channel}"
