"""Settings of the test suite: the project's settings with test keys and fast hashing."""

import base64
import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("DEBUG", "false")

from optin.settings import *  # noqa: F403

OPTIN_AUDIT_MASTER_KEY = base64.b64encode(b"k" * 32).decode("ascii")
OPTIN_SUPPRESSION_KEY = "test-suppression-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
# The test client and the live server speak plain HTTP (the production redirect is tested
# by tests/test_https_settings.py, which turns it back on).
SECURE_SSL_REDIRECT = False
# Static files are served by runserver/whitenoise from collected files; tests need neither.
MIDDLEWARE = [m for m in MIDDLEWARE if "whitenoise" not in m]  # noqa: F405
# Tests travel in time (expiry after 30 days, birthdays) with a staff member logged in: the
# login must outlive the journey.
SESSION_COOKIE_AGE = 10 * 365 * 24 * 3600
# The API's rate counters live in the cache, which no test clears: the suite as a whole must
# not reach them (tests/api/test_api_rate_limits.py lowers them).
OPTIN_API_RATE_PER_MINUTE = 1_000_000
OPTIN_API_ADDRESS_RATE_PER_MINUTE = 1_000_000
