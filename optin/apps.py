from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class OptinConfig(AppConfig):
    default = True
    name = "optin"
    verbose_name = "Consentements"


class OptinAdminConfig(admin_apps.AdminConfig):
    """The Django admin, on a site that demands the second factor (optin.admin_site)."""

    default = False  # listed by its full path in INSTALLED_APPS, in place of the admin's
    default_site = "optin.admin_site.StaffAdminSite"
