"""WSGI entry point (gunicorn optin.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "optin.settings")

application = get_wsgi_application()
