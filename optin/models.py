"""The consent domain: wordings, current states, the append-only log (DESIGN.md §3-4)."""

from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    """R1: exactly two channels."""

    EMAIL = "email", _("e-mail")
    SMS_PUSH = "sms_push", _("SMS et notifications mobiles")


class ConsentStatus(models.TextChoices):
    """R11."""

    NONE = "none", _("sans réponse")
    PENDING_SIGNATURE = "pending_signature", _("en attente de signature")
    PENDING_CONFIRMATION = "pending_confirmation", _("en attente de confirmation")
    GRANTED = "granted", _("accord")
    REFUSED = "refused", _("refus")
    WITHDRAWN = "withdrawn", _("retrait")


class Journey(models.TextChoices):
    """Where a decision was taken (R22-R41, R64)."""

    BRANCH_ACCOUNT_OPENING = "branch_account_opening", _("agence : entrée en relation")
    BRANCH_CONTACT_UPDATE = "branch_contact_update", _("agence : connaissance client")
    BRANCH_REQUEST = "branch_request", _("agence : demande du client")
    DIGITAL_SELF_SERVICE = "digital_self_service", _("espace client")
    DIGITAL_CONTACT_UPDATE = "digital_contact_update", _("mise à jour des coordonnées en ligne")
    DIGITAL_ACCOUNT_OPENING = "digital_account_opening", _("ouverture de compte en ligne")
    UNSUBSCRIBE_LINK = "unsubscribe_link", _("lien de désabonnement")
    SMS_STOP = "sms_stop", _("STOP SMS")
    DOUBLE_OPTIN_CONFIRMATION = "double_optin_confirmation", _("confirmation par e-mail")
    SYSTEM_EXPIRY = "system_expiry", _("expiration automatique")
    SYSTEM_CAPACITY = "system_capacity", _("changement de capacité")
    ERASURE_REQUEST = "erasure_request", _("demande d'effacement")


class RequestMeans(models.TextChoices):
    """R31: how the customer asked the branch for a withdrawal."""

    IN_PERSON = "in_person", _("en agence, en personne")
    PHONE = "phone", _("par téléphone")
    LETTER = "letter", _("par courrier")
    EMAIL = "email", _("par e-mail")


BRANCH_JOURNEYS = frozenset(
    {Journey.BRANCH_ACCOUNT_OPENING, Journey.BRANCH_CONTACT_UPDATE, Journey.BRANCH_REQUEST}
)
DIGITAL_JOURNEYS = frozenset(
    {
        Journey.DIGITAL_SELF_SERVICE,
        Journey.DIGITAL_CONTACT_UPDATE,
        Journey.DIGITAL_ACCOUNT_OPENING,
    }
)


def text_sha256(text: str) -> str:
    """R57: SHA-256 of the text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Wording(models.Model):
    """An exact consent text, by immutable version (R57-R59).

    Once a decision or a form references a version, its text can never change nor the row be
    deleted: `optin.services` refuses, the admin shows it read only, and database triggers
    (migration 0002) refuse the UPDATE or DELETE.
    """

    channel = models.CharField(_("canal"), max_length=16, choices=Channel.choices)
    version = models.CharField(_("version"), max_length=32, unique=True)
    language = models.CharField(_("langue"), max_length=8, default="fr")
    text = models.TextField(_("texte"))
    sha256 = models.CharField(_("SHA-256"), max_length=64, editable=False)
    published_at = models.DateTimeField(_("publié le"), default=timezone.now)
    active = models.BooleanField(_("proposé à la collecte"), default=True)

    class Meta:
        verbose_name = _("formulation")
        verbose_name_plural = _("formulations")
        ordering = ["channel", "-published_at"]

    def __str__(self) -> str:
        return self.version

    def clean(self) -> None:
        if self.sha256 and self.sha256 != text_sha256(self.text):
            raise ValidationError({"text": _("Le texte ne correspond pas à son empreinte.")})


class ConsentState(models.Model):
    """The current state per client and channel (R11): a projection of the log.

    `verify_audit` checks that each row equals what the last log entry for its client and
    channel declares.
    """

    client = models.ForeignKey(
        "clients.Client", on_delete=models.PROTECT, related_name="consent_states"
    )
    channel = models.CharField(_("canal"), max_length=16, choices=Channel.choices)
    status = models.CharField(
        _("état"), max_length=24, choices=ConsentStatus.choices, default=ConsentStatus.NONE
    )
    # R13: the state before the current pending episode began (empty outside one).
    prior_status = models.CharField(
        _("état antérieur"), max_length=24, choices=ConsentStatus.choices, blank=True
    )
    since = models.DateTimeField(_("depuis"), null=True, blank=True)
    journey = models.CharField(_("parcours"), max_length=32, choices=Journey.choices, blank=True)
    wording_version = models.CharField(_("formulation"), max_length=32, blank=True)
    last_seq = models.BigIntegerField(_("dernière entrée du journal"), null=True, blank=True)

    class Meta:
        verbose_name = _("état de consentement")
        verbose_name_plural = _("états de consentement")
        constraints = [
            models.UniqueConstraint(fields=["client", "channel"], name="consentstate_unique"),
            models.CheckConstraint(
                condition=Q(channel__in=["email", "sms_push"]), name="consentstate_channel"
            ),
        ]
        indexes = [models.Index(fields=["channel", "status"], name="consentstate_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} : {self.get_status_display()}"


class ActorType(models.TextChoices):
    """R51."""

    ADVISOR = "advisor", _("conseiller")
    API_CLIENT = "api_client", _("client d'API")
    CUSTOMER = "customer", _("client")
    SYSTEM = "system", _("système")
    COMPLIANCE = "compliance", _("conformité")
    ADMINISTRATOR = "administrator", _("administrateur")


class AuditEntry(models.Model):
    """One entry of the append-only, hash-chained log (DESIGN.md §4, R51, R53).

    Written only by `optin.audit.append`. Clients are referred to by id and number, never by a
    foreign key: the log outlives every row it mentions. Personal data sit, encrypted with the
    client's key, under `payload["personal"]`; the hash covers the ciphertext.
    """

    seq = models.BigIntegerField(_("séquence"), unique=True)
    recorded_at = models.DateTimeField(_("enregistré le"))
    occurred_at = models.DateTimeField(_("survenu le"))
    actor_type = models.CharField(_("type d'acteur"), max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(_("acteur"), max_length=128)
    action = models.CharField(_("action"), max_length=48)
    client_id = models.BigIntegerField(_("id client"), null=True, blank=True)
    client_number = models.CharField(_("numéro client"), max_length=32, blank=True)
    channel = models.CharField(_("canal"), max_length=16, blank=True)
    wording_version = models.CharField(_("formulation"), max_length=32, blank=True)
    payload = models.TextField(_("contenu (JSON canonique)"))
    prev_hash = models.CharField(_("empreinte précédente"), max_length=64)
    hash = models.CharField(_("empreinte"), max_length=64, unique=True)

    class Meta:
        verbose_name = _("entrée du journal")
        verbose_name_plural = _("journal d'audit")
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["client_id", "seq"], name="auditentry_client_idx"),
            models.Index(fields=["action", "seq"], name="auditentry_action_idx"),
            models.Index(fields=["recorded_at"], name="auditentry_recorded_idx"),
            models.Index(fields=["wording_version"], name="auditentry_wording_idx"),
            # The audit trail's filters, each paged by seq (keyset): one index range per page.
            # Journey and actor branch are read from the payload by expression indexes
            # (migration 0005), so no column repeats what the hash covers.
            models.Index(fields=["client_number", "seq"], name="auditentry_number_idx"),
            models.Index(fields=["actor_id", "seq"], name="auditentry_actor_idx"),
            models.Index(fields=["channel", "seq"], name="auditentry_channel_idx"),
        ]
        constraints = [models.CheckConstraint(condition=Q(seq__gte=1), name="auditentry_seq_pos")]
        permissions = [
            ("verify_audit", "Can run the verification of the audit log"),
            ("review_audit", "Can review the audit trail pages and the opt-in dashboard"),
            ("export_audit", "Can export the audit trail as CSV"),
            ("produce_proof_bundle", "Can produce a customer's proof bundle"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"


class AuditCheckpoint(models.Model):
    """A signed statement of the chain head (seq, hash, time), also exported as a file."""

    seq = models.BigIntegerField(_("séquence"))
    entry_hash = models.CharField(_("empreinte"), max_length=64)
    signed_at = models.DateTimeField(_("signé le"))
    key_id = models.CharField(_("clé"), max_length=64)
    signature = models.CharField(_("signature"), max_length=128)

    class Meta:
        verbose_name = _("point de contrôle")
        verbose_name_plural = _("points de contrôle")
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq}"


class VerificationScope(models.TextChoices):
    FULL = "full", _("journal entier")
    RANGE = "range", _("intervalle")


class VerificationRun(models.Model):
    """One run of the log's verification (command, compliance page or API) and its result.

    Kept so that compliance sees when the chain was last verified and what was found; the
    run itself changes nothing in the log.
    """

    started_at = models.DateTimeField(_("commencée le"))
    finished_at = models.DateTimeField(_("terminée le"))
    scope = models.CharField(_("portée"), max_length=8, choices=VerificationScope.choices)
    first_seq = models.BigIntegerField(_("de l'entrée"), default=1)
    last_seq = models.BigIntegerField(_("à l'entrée"), default=0)
    ok = models.BooleanField(_("intègre"))
    entries = models.BigIntegerField(_("entrées vérifiées"), default=0)
    checkpoints = models.IntegerField(_("points de contrôle concordants"), default=0)
    states = models.BigIntegerField(_("états comparés"), default=0)
    head_hash = models.CharField(_("empreinte de la dernière entrée"), max_length=64, blank=True)
    first_bad_seq = models.BigIntegerField(_("première entrée en défaut"), null=True, blank=True)
    problem = models.TextField(_("anomalie"), blank=True)
    problems = models.IntegerField(_("anomalies"), default=0)
    run_by = models.CharField(_("lancée par"), max_length=128)

    class Meta:
        verbose_name = _("vérification du journal")
        verbose_name_plural = _("vérifications du journal")
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["scope", "-started_at"], name="verificationrun_scope_idx")]

    def __str__(self) -> str:
        return f"{self.scope} {self.first_seq}-{self.last_seq} {'ok' if self.ok else 'FAIL'}"


class RecordAccess(models.Model):
    """A staff member opened a page of a customer's data (R55): who, when, which customer.

    Append-only like the log (migration 0005's triggers), but outside the hash chain: page
    views are many, prove no consent, and must not queue behind the chain's lock.
    """

    accessed_at = models.DateTimeField(_("le"), default=timezone.now)
    staff_id = models.IntegerField(_("membre du personnel"))
    actor_type = models.CharField(_("rôle"), max_length=16, choices=ActorType.choices)
    branch = models.CharField(_("agence"), max_length=16, blank=True)
    client_id = models.BigIntegerField(_("id client"), null=True, blank=True)
    client_number = models.CharField(_("numéro client"), max_length=32)
    page = models.CharField(_("page"), max_length=64)
    method = models.CharField(_("méthode"), max_length=8)

    class Meta:
        verbose_name = _("consultation d'un dossier client")
        verbose_name_plural = _("consultations des dossiers clients")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["client_number", "id"], name="recordaccess_number_idx"),
            models.Index(fields=["staff_id", "id"], name="recordaccess_staff_idx"),
            models.Index(fields=["accessed_at"], name="recordaccess_time_idx"),
        ]

    def __str__(self) -> str:
        return f"staff:{self.staff_id} {self.client_number} {self.page}"


class KeyDestruction(models.TextChoices):
    """Why a client key was destroyed."""

    ERASURE = "erasure", _("effacement")  # R64 (and R60/R61 purges): the person is gone
    RETENTION = "retention", _("fin de conservation de la preuve")  # R63: proof expired


class ClientKey(models.Model):
    """A client's data key, wrapped by the master key (R64: destroying it erases the data).

    Referred to by client id, not a foreign key, like the log entries it protects. A client has
    at most one live key. An erasure destroys it for good: nothing personal is sealed for that
    client again. The end of a proof's retention (R63) destroys it too, and the client's next
    sealed value gets a new key.
    """

    client_id = models.BigIntegerField()
    # Named in every value it seals, so a value sealed under a destroyed key reads as erased.
    key_id = models.CharField(max_length=32, unique=True)
    wrapped_key = models.BinaryField()
    master_key_id = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)
    destroyed_at = models.DateTimeField(null=True, blank=True)
    destroyed_for = models.CharField(
        max_length=16, choices=KeyDestruction.choices, blank=True, default=""
    )

    class Meta:
        verbose_name = _("clé client")
        verbose_name_plural = _("clés clients")
        indexes = [models.Index(fields=["client_id"], name="clientkey_client_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["client_id"],
                condition=Q(destroyed_at__isnull=True),
                name="clientkey_one_live",
            )
        ]

    def __str__(self) -> str:
        return f"key of client {self.client_id}"


class IdempotencyRecord(models.Model):
    """R37: the first answer to a request carrying an Idempotency-Key, per caller."""

    caller = models.CharField(max_length=128)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["caller", "key"], name="idempotency_unique")]

    def __str__(self) -> str:
        return f"{self.caller}:{self.key}"


class SuppressionEntry(models.Model):
    """R62: a keyed hash of an objecting contact point; no other personal data."""

    channel = models.CharField(max_length=16, choices=Channel.choices)
    digest = models.CharField(max_length=64)
    # The latest objection: the entry is kept OPTIN_SUPPRESSION_YEARS after it (R62).
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "digest"], name="suppression_unique")
        ]
        indexes = [models.Index(fields=["created_at"], name="suppression_created_idx")]

    def __str__(self) -> str:
        return f"{self.channel}:{self.digest[:12]}"


class ApiScope(models.TextChoices):
    """What an API client may do (DESIGN.md §5); each endpoint requires one."""

    CONSENTS_READ = "consents:read", _("lire les clients, consentements et formulations")
    CONSENTS_WRITE = "consents:write", _("créer les clients, enregistrer les décisions, STOP")
    ELIGIBILITY_READ = "eligibility:read", _("interroger l'éligibilité")
    OPTIN_LIST_READ = "optin-list:read", _("exporter la liste des contacts éligibles")
    AUDIT_READ = "audit:read", _("lire l'historique et vérifier le journal")


class ApiClient(models.Model):
    """A system calling the REST API (a web journey, a marketing tool, the SMS gateway).

    Only a SHA-256 of its token is stored: the token is printed once by `create_api_client`.
    Its name is the actor recorded in the log for every write it makes (R51).
    """

    name = models.CharField(_("nom"), max_length=64, unique=True)
    scopes = models.JSONField(_("droits"), default=list)
    token_prefix = models.CharField(_("début du jeton"), max_length=12, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("créé le"), default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(_("révoqué le"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("client d'API")
        verbose_name_plural = _("clients d'API")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    # DRF reads these of `request.user`.
    is_authenticated = True
    is_active = True

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
