"""Customers, branches and staff (DESIGN.md §3)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clients.validators import client_number_validator
from optin import policy

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

PARIS = ZoneInfo("Europe/Paris")
# The field holding each channel's contact point (R1: e-mail; SMS and push: the mobile).
CONTACT_FIELDS = {"email": "email", "sms_push": "mobile"}


def search_key(text: str) -> str:
    """How names are searched: lower case, without accents or punctuation, single spaces.

    "Hélène d'Arc-Dupont" and "helene d arc dupont" give the same key.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^\w]+", " ", bare).split())


def today_in_paris() -> dt.date:
    """R5: age is computed on the current calendar date in Europe/Paris."""
    return timezone.now().astimezone(PARIS).date()


def adulthood_date(birth_date: dt.date) -> dt.date:
    """The day a person becomes an adult (R5); born on 29 February: 1 March in common years."""
    year = birth_date.year + policy.ADULT_AGE
    try:
        return birth_date.replace(year=year)
    except ValueError:  # 29 February in a common year: the later, safer date
        return dt.date(year, 3, 1)


class Branch(models.Model):
    code = models.CharField(_("code"), max_length=16, unique=True)
    name = models.CharField(_("nom"), max_length=120)

    class Meta:
        verbose_name = _("agence")
        verbose_name_plural = _("agences")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Role(models.TextChoices):
    ADVISOR = "advisor", _("conseiller")
    COMPLIANCE = "compliance", _("conformité")
    ADMINISTRATOR = "administrator", _("administrateur")


class Language(models.TextChoices):
    """The languages of the pages (settings.LANGUAGES), each named in itself."""

    FRENCH = "fr", "Français"
    ENGLISH = "en", "English"


class StaffProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile"
    )
    role = models.CharField(_("rôle"), max_length=16, choices=Role.choices)
    branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="staff"
    )
    # The language of the back-office pages for this person (French first).
    language = models.CharField(
        _("langue"), max_length=8, choices=Language.choices, default=Language.FRENCH
    )

    class Meta:
        verbose_name = _("profil collaborateur")
        verbose_name_plural = _("profils collaborateurs")
        constraints = [
            models.CheckConstraint(
                condition=~Q(role="advisor") | Q(branch__isnull=False),
                name="staffprofile_advisor_has_branch",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()})"


class ClientKind(models.TextChoices):
    INDIVIDUAL = "individual", _("particulier")
    PROFESSIONAL = "professional", _("professionnel")


class Civility(models.TextChoices):
    NONE = "", _("—")
    MR = "M", _("M.")
    MRS = "MME", _("Mme")


class LegalCapacity(models.TextChoices):
    FULL = "full", _("majeur capable")
    PROTECTED = "protected", _("majeur protégé")


class ProtectionMeasure(models.TextChoices):
    """R6 / D3: the measures recorded. MAJ and MASP are not capacity measures (CC 495-3)."""

    NONE = "", _("—")
    TUTELLE = "tutelle", _("tutelle")
    CURATELLE = "curatelle", _("curatelle (dont renforcée)")
    SAUVEGARDE = "sauvegarde_de_justice", _("sauvegarde de justice")
    HABILITATION = "habilitation_familiale", _("habilitation familiale")
    MANDAT = "mandat_de_protection_future", _("mandat de protection future (en vigueur)")


class ClientStatus(models.TextChoices):
    PROSPECT = "prospect", _("prospect")
    CUSTOMER = "customer", _("client")
    FORMER_CUSTOMER = "former_customer", _("ancien client")


class ClientQuerySet(models.QuerySet["Client"]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> ClientQuerySet:
        """R55: advisors see their branch's clients; compliance and administrators see all."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if getattr(user, "is_superuser", False):
            return self
        profile = getattr(user, "staff_profile", None)
        if profile is None:
            return self.none()
        if profile.role == Role.ADVISOR:
            return self.filter(branch_id=profile.branch_id)
        return self


class Client(models.Model):
    client_number = models.CharField(
        _("numéro client"), max_length=32, unique=True, validators=[client_number_validator]
    )
    kind = models.CharField(_("type"), max_length=16, choices=ClientKind.choices)
    # R9: a legal entity (company, association) has no consent to give.
    is_legal_entity = models.BooleanField(_("personne morale"), default=False)
    civility = models.CharField(
        _("civilité"), max_length=3, choices=Civility.choices, blank=True, default=""
    )
    first_name = models.CharField(_("prénom"), max_length=150, blank=True)
    last_name = models.CharField(_("nom"), max_length=150)
    # "last first" as search_key() writes it, kept by save(): what the name search reads.
    search_name = models.CharField(max_length=301, editable=False, default="")
    birth_date = models.DateField(_("date de naissance"), null=True, blank=True)
    legal_capacity = models.CharField(
        _("capacité juridique"),
        max_length=16,
        choices=LegalCapacity.choices,
        default=LegalCapacity.FULL,
    )
    protection_measure = models.CharField(
        _("mesure de protection"),
        max_length=32,
        choices=ProtectionMeasure.choices,
        blank=True,
        default="",
    )
    email = models.CharField(_("e-mail"), max_length=254, blank=True)
    mobile = models.CharField(_("mobile (E.164)"), max_length=16, blank=True)
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="clients")
    status = models.CharField(
        _("statut"), max_length=16, choices=ClientStatus.choices, default=ClientStatus.PROSPECT
    )
    relationship_ended_on = models.DateField(_("fin de relation"), null=True, blank=True)
    # R8: a professional was told at collection that the address serves prospecting.
    objection_notice_shown = models.BooleanField(_("mention d'opposition affichée"), default=False)
    last_contact_at = models.DateTimeField(_("dernier contact"), null=True, blank=True)
    erased_at = models.DateTimeField(_("effacé le"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("créé le"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("modifié le"), default=timezone.now, editable=False)
    # R45: optimistic concurrency of contact changes.
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)

    objects = ClientQuerySet.as_manager()

    class Meta:
        verbose_name = _("client")
        verbose_name_plural = _("clients")
        ordering = ["client_number"]
        indexes = [
            models.Index(fields=["branch", "last_name"], name="client_branch_name_idx"),
            models.Index(fields=["mobile"], name="client_mobile_idx"),
            models.Index(fields=["email"], name="client_email_idx"),
            # Search (clients.selectors): e-mail whatever its case; names by prefix (on
            # PostgreSQL, indexes in the "C" collation serve it: migration 0002).
            models.Index(Lower("email"), name="client_email_lower_idx"),
            models.Index(fields=["search_name"], name="client_search_name_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(legal_capacity="full") & Q(protection_measure=""))
                | (Q(legal_capacity="protected") & ~Q(protection_measure="")),
                name="client_measure_matches_capacity",
            ),
            models.CheckConstraint(
                condition=Q(kind="professional") | Q(is_legal_entity=False),
                name="client_legal_entity_is_professional",
            ),
        ]
        permissions = [
            ("record_consent", "Can record a consent decision for a client"),
            ("change_contact", "Can change a client's contact details"),
            ("change_capacity", "Can record a change of legal capacity"),
            ("erase_client", "Can erase a customer's personal data (R64)"),
        ]

    def __str__(self) -> str:
        return f"{self.client_number} {self.display_name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.search_name = search_key(f"{self.last_name} {self.first_name}")
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"first_name", "last_name"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, "search_name"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """Invariants of one customer record (R6, R9, R68)."""
        errors: dict[str, ValidationError] = {}
        if self.kind == ClientKind.INDIVIDUAL and self.birth_date is None:
            errors["birth_date"] = ValidationError(
                _("La date de naissance est obligatoire pour un particulier."), code="required"
            )
        elif self.birth_date is not None and self.birth_date > today_in_paris():
            errors["birth_date"] = ValidationError(
                _("La date de naissance ne peut pas être dans le futur."), code="future"
            )
        if self.is_protected and self.protection_measure not in policy.PROTECTIVE_MEASURES:
            errors["protection_measure"] = ValidationError(
                _("Indiquez la mesure de protection."), code="required"
            )
        if not self.is_protected and self.protection_measure:
            errors["protection_measure"] = ValidationError(
                _("Une mesure suppose un majeur protégé."), code="invalid"
            )
        if self.kind == ClientKind.INDIVIDUAL and self.is_legal_entity:
            errors["is_legal_entity"] = ValidationError(
                _("Un particulier n'est pas une personne morale."), code="invalid"
            )
        if errors:
            raise ValidationError(errors)

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def is_protected(self) -> bool:
        return self.legal_capacity == LegalCapacity.PROTECTED

    def is_minor(self, on: dt.date | None = None) -> bool:
        """R5: under 18 on that day (Europe/Paris); without a birth date, never an adult."""
        if self.birth_date is None:
            return True
        return (on or today_in_paris()) < adulthood_date(self.birth_date)

    def contact_point(self, channel: str) -> str:
        return str(getattr(self, CONTACT_FIELDS[channel]))

    def as_identity(self) -> dict[str, Any]:
        """The personal fields a log entry keeps (encrypted) about this client."""
        return {
            "civility": self.civility,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "birth_date": self.birth_date.isoformat() if self.birth_date else None,
            "email": self.email,
            "mobile": self.mobile,
        }


def consent_ineligibility(client: Client, on: dt.date | None = None) -> str | None:
    """Why this person may not give a consent (R4-R6, R9), or None when they may.

    Individuals must be adults of full capacity with a known birth date; a professional must be
    a natural person (a legal entity has no consent to give) and, being a person, neither
    protected nor known to be a minor.
    """
    if client.erased_at is not None:
        return "erased"
    if client.is_legal_entity:
        return "not_natural_person"
    if client.kind == ClientKind.INDIVIDUAL and client.is_minor(on):
        return "minor"
    if client.kind == ClientKind.PROFESSIONAL and client.birth_date and client.is_minor(on):
        return "minor"
    if client.is_protected:
        return "protected_adult"
    return None
