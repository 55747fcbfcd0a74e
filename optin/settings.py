"""Settings of optin, read from the environment (see README.md, "Configuration")."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from optin.env import env_bool, env_int, env_list, env_path, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_path("OPTIN_VAR_DIR", BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_secret("SECRET_KEY") or ""
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY (or SECRET_KEY_FILE), or DEBUG=true locally."
        )
    SECRET_KEY = "insecure-local-development-key-never-used-in-production"  # noqa: S105
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])

INSTALLED_APPS = [
    "optin.apps.OptinAdminConfig",  # the admin behind the second factor
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "clients",
    "optin",
    "signatures",
    "privacy",
]

MIDDLEWARE = [
    # First: every later reader of REMOTE_ADDR gets the client's address.
    "optin.middleware.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "optin.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # No page but the login steps and the public ones without a verified second factor.
    "clients.middleware.SecondFactorRequiredMiddleware",
    "clients.middleware.StaffLanguageMiddleware",
    # R27: leaving account opening with an unsigned form goes through a warning page.
    "clients.middleware.OpeningJourneyGuardMiddleware",
    # R55: the openings of customers' records, for compliance.
    "optin.compliance.middleware.RecordAccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "optin.urls"
WSGI_APPLICATION = "optin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "optin.context_processors.vendor",
                "signatures.context_processors.pending_forms",
                "clients.context_processors.language_switch",
            ],
        },
    },
]


# Database: PostgreSQL in production (DATABASE_URL); an embedded SQLite file by default.
def _sqlite_default() -> dict[str, object]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "optin.sqlite3",
        "OPTIONS": {
            # Two requests writing at once must wait for each other, not fail: writers take
            # the lock when their transaction begins (IMMEDIATE) and wait up to 20 s for it;
            # WAL lets readers go on while one writer commits.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
        },
    }


_database_url = env_str("DATABASE_URL", "")
if _database_url:
    try:
        _default_db: dict[str, object] = dict(
            dj_database_url.parse(_database_url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
    if _default_db["ENGINE"] not in (
        "django.db.backends.postgresql",
        "django.db.backends.sqlite3",
    ):
        raise ImproperlyConfigured("DATABASE_URL must name a PostgreSQL or SQLite database.")
    if _default_db["ENGINE"] == "django.db.backends.sqlite3":
        _default_db["OPTIONS"] = _sqlite_default()["OPTIONS"]
else:
    _default_db = _sqlite_default()
DATABASES = {"default": _default_db}
# DESIGN.md §7: the heavy reads of marketing (eligibility batches, the opt-in list) go to a
# read replica when one is named. R42 wants a withdrawal visible to them as soon as it commits:
# the replica must apply commits synchronously (synchronous_commit = remote_apply).
_replica_url = env_str("DATABASE_REPLICA_URL", "")
if _replica_url:
    try:
        DATABASES["replica"] = dict(
            dj_database_url.parse(_replica_url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_REPLICA_URL is not a database URL: {exc}") from None
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français"), ("en", "English")]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Forms and other files go through the default storage (local files under var/media, or an
# object store with write-once locking in production: DESIGN.md §7).
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024  # a 10 MB scan and its form fields
FILE_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024
LOGIN_URL = "clients:login"
LOGIN_REDIRECT_URL = "clients:search"

# Counters that must be shared by every application server (failed logins): Redis when
# CACHE_URL names one, this process's memory otherwise (one server only).
_cache_url = env_str("CACHE_URL", "")
if _cache_url and not _cache_url.startswith(("redis://", "rediss://")):
    raise ImproperlyConfigured("CACHE_URL must be a redis:// URL.")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
        if _cache_url
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Two factors for every staff account (django-otp): the name shown in authenticator apps,
# and failed logins: after OPTIN_LOGIN_MAX_FAILURES failures for one account (or ten times
# that from one address) within OPTIN_LOGIN_LOCKOUT_SECONDS, logins are refused until the
# period ends. Wrong codes slow down exponentially (django-otp's throttling, 1 s, 2 s, 4 s…).
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "optin")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin lists devices, never their secrets
OPTIN_LOGIN_MAX_FAILURES = env_int("OPTIN_LOGIN_MAX_FAILURES", 5, minimum=1)
OPTIN_LOGIN_LOCKOUT_SECONDS = env_int("OPTIN_LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
OPTIN_BACKUP_CODES = 10

# HTTPS only in production: every HTTP request redirected, HSTS for a year on this host and
# its subdomains, cookies sent over HTTPS only. Behind a load balancer that terminates TLS,
# OPTIN_TLS_PROXY=true trusts its X-Forwarded-Proto header (it must set it on every request
# and strip the client's own: nothing else may reach the application servers).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Joining the browsers' preload list binds the bank's whole domain: its decision, not ours.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if env_bool("OPTIN_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The bank's load balancers and proxies (addresses or networks, comma-separated): behind
# them the client's address is read from X-Forwarded-For (optin.middleware).
OPTIN_TRUSTED_PROXIES = env_list("OPTIN_TRUSTED_PROXIES", [])
for _proxy in OPTIN_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"OPTIN_TRUSTED_PROXIES: {_exc}") from None
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
# A staff login lasts a working day; the browser forgets it when closed.
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 9 * 3600, minimum=60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # WeasyPrint reports each rendering step and fontTools each subset at INFO.
    "loggers": {name: {"level": "WARNING"} for name in ("weasyprint", "fontTools", "pyhanko")},
}

# The REST API (optin/api): JSON only, its own tokens, one error shape (DESIGN.md §5).
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "optin.api.schema.ApiAutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["optin.api.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["optin.api.permissions.HasScope"],
    "DEFAULT_PARSER_CLASSES": ["optin.api.parsers.JsonParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "optin.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "optin.api.throttling.ApiClientRateThrottle",
        "optin.api.throttling.AddressRateThrottle",
    ],
    "UNAUTHENTICATED_USER": None,
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": False,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "optin API",
    "DESCRIPTION": (
        "Consents to marketing by e-mail and SMS/push: clients, decisions, eligibility, the "
        "opt-in list, SMS STOP and the audit log. Every request carries "
        "`Authorization: Token <token>`; each operation names the scope it requires. Every 4xx "
        'answer is `{"error": {"code", "message", "fields"}}`. See docs/API.md.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "optin.models.Channel",
        "ConsentStatusEnum": "optin.models.ConsentStatus",
        "ClientStatusEnum": "clients.models.ClientStatus",
    },
}

# --- optin ---------------------------------------------------------------------------------

# The bank's name, printed in place of "[Banque]" in the initial wordings.
OPTIN_BANK_NAME = env_str("OPTIN_BANK_NAME", "Banque Exemple")

# Master key (32 bytes, base64) wrapping each client's key for the log's personal data (R64).
# Given as OPTIN_AUDIT_MASTER_KEY or OPTIN_AUDIT_MASTER_KEY_FILE; locally `make run` writes one
# to var/keys/ (read only when neither variable is set).
OPTIN_AUDIT_MASTER_KEY = env_secret("OPTIN_AUDIT_MASTER_KEY")
# Former master keys (base64, comma-separated), still unwrapping the client keys they wrapped
# until `manage.py rotate_master_key` has re-wrapped them all under the current one.
# Given as OPTIN_AUDIT_MASTER_KEY_FALLBACKS or its _FILE, like the current key.
OPTIN_AUDIT_MASTER_KEY_FALLBACKS = [
    key.strip()
    for key in (env_secret("OPTIN_AUDIT_MASTER_KEY_FALLBACKS") or "").split(",")
    if key.strip()
]
OPTIN_LOCAL_MASTER_KEY_FILE = VAR_DIR / "keys" / "audit-master.key"
# Ed25519 private key (PEM) signing checkpoints of the chain head, and where they are exported.
OPTIN_CHECKPOINT_KEY_FILE = env_path(
    "OPTIN_CHECKPOINT_KEY_PATH", VAR_DIR / "keys" / "checkpoint-ed25519.pem"
)
# Where verification finds the public key; by default derived from the signing key.
OPTIN_CHECKPOINT_PUBLIC_KEY_FILE = env_str("OPTIN_CHECKPOINT_PUBLIC_KEY_PATH", "") or None
OPTIN_CHECKPOINT_DIR = env_path("OPTIN_CHECKPOINT_DIR", VAR_DIR / "checkpoints")
# Secret of the keyed hash of the suppression list (R62); falls back to SECRET_KEY locally.
OPTIN_SUPPRESSION_KEY = env_secret("OPTIN_SUPPRESSION_KEY") or SECRET_KEY
# R62: how long an objection's entry stays on the suppression list (at least 3 years).
OPTIN_SUPPRESSION_YEARS = env_int("OPTIN_SUPPRESSION_YEARS", 3, minimum=3)

# R21: clock-skew tolerance for occurred_at, and how old a digital act may be when recorded.
OPTIN_CLOCK_SKEW_SECONDS = env_int("OPTIN_CLOCK_SKEW_SECONDS", 120, minimum=0)
OPTIN_DIGITAL_MAX_AGE_HOURS = env_int("OPTIN_DIGITAL_MAX_AGE_HOURS", 24, minimum=1)
# R28 and R36.
OPTIN_SIGNATURE_DELAY_DAYS = env_int("OPTIN_SIGNATURE_DELAY_DAYS", 30, minimum=1)
OPTIN_EMAIL_DOUBLE_OPTIN = env_bool("OPTIN_EMAIL_DOUBLE_OPTIN", False)  # Decision D8
OPTIN_CONFIRMATION_DELAY_DAYS = env_int("OPTIN_CONFIRMATION_DELAY_DAYS", 7, minimum=1)
# Decisions D1-D9 of RULES.md §14 that can be switched are read in optin/policy.py.
OPTIN_PROOF_RETENTION_YEARS = env_int("OPTIN_PROOF_RETENTION_YEARS", 5, minimum=1)  # D9

# --- consent forms (signatures/) ---
# The bank's seal: a PKCS#12 file holding the key and certificate that seal every signed form
# (PAdES). `make run` writes a self-signed development one to var/keys/ when none is set.
OPTIN_SEAL_PKCS12 = env_path("OPTIN_SEAL_PKCS12_PATH", VAR_DIR / "keys" / "seal-development.p12")
OPTIN_SEAL_PASSPHRASE = env_secret("OPTIN_SEAL_PASSPHRASE") or ""
# Certificates (PEM files, comma-separated) trusted when verifying a seal, besides the current
# seal's own: the previous seal certificates after a rotation, or the issuing CA.
OPTIN_SEAL_TRUSTED_CERTS = env_list("OPTIN_SEAL_TRUSTED_CERTS", [])
# The branch address line printed under the bank's name on forms.
OPTIN_BANK_ADDRESS = env_str("OPTIN_BANK_ADDRESS", "")
# R25: what a scan (PDF, PNG, JPEG) and a drawn signature may weigh.
OPTIN_SCAN_MAX_BYTES = env_int("OPTIN_SCAN_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
OPTIN_SIGNATURE_MAX_BYTES = env_int("OPTIN_SIGNATURE_MAX_BYTES", 200 * 1024, minimum=1024)
OPTIN_SIGNATURE_POINTS_MAX_BYTES = env_int(
    "OPTIN_SIGNATURE_POINTS_MAX_BYTES", 512 * 1024, minimum=1024
)

# --- public links and the API (R36, R39-R41) ---
# Key of the unsubscribe and confirmation links (SECRET_KEY when unset). Unsubscribe links
# never expire: after changing it, list the former keys in OPTIN_LINK_KEY_FALLBACKS.
OPTIN_LINK_KEY = env_secret("OPTIN_LINK_KEY") or ""
OPTIN_LINK_KEY_FALLBACKS = env_list("OPTIN_LINK_KEY_FALLBACKS", [])
# The public address of this service, as seen from customers' mailboxes: the base of the
# unsubscribe URLs of the opt-in list and of the confirmation links (`check --deploy` warns
# while it is left at its local default).
OPTIN_PUBLIC_URL = env_str("OPTIN_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# R39: what each SMS must carry (the opt-in list gives it with every SMS row).
OPTIN_SMS_STOP_INSTRUCTION = env_str("OPTIN_SMS_STOP_INSTRUCTION", "STOP SMS : répondez STOP")
# Requests per minute from one address on the public pages (unsubscribe, confirmation).
OPTIN_PUBLIC_RATE_PER_MINUTE = env_int("OPTIN_PUBLIC_RATE_PER_MINUTE", 30, minimum=1)
# Requests per minute to the API (optin/api/throttling.py), past which it answers 429: per API
# client, above the 300 decisions a second one client must be able to send (PERFORMANCE.md);
# per address for requests without a valid token (the schema, the docs, 401s).
OPTIN_API_RATE_PER_MINUTE = env_int("OPTIN_API_RATE_PER_MINUTE", 20_000, minimum=1)
OPTIN_API_ADDRESS_RATE_PER_MINUTE = env_int("OPTIN_API_ADDRESS_RATE_PER_MINUTE", 60, minimum=1)
# The largest JSON body the API reads (an eligibility batch of 10,000 numbers is ~400 KB).
OPTIN_API_MAX_BODY_BYTES = env_int("OPTIN_API_MAX_BODY_BYTES", 2 * 1024 * 1024, minimum=1024)
# The most entries the integrity page verifies in one request (about 50,000 a second): a
# larger log is verified in full by `manage.py verify_audit` (cron), whose runs the page
# shows; the page still verifies any range of it.
OPTIN_VERIFY_PAGE_MAX_ENTRIES = env_int("OPTIN_VERIFY_PAGE_MAX_ENTRIES", 500_000, minimum=1)
# R36: the confirmation message's sender; Django's e-mail backend sends it (the console in
# development, SMTP through EMAIL_HOST and friends in production).
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "ne-pas-repondre@banque.example")
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
