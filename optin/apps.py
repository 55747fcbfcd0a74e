from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class OptinConfig(AppConfig):
    default = True
    name = "optin"
    verbose_name = "Consentements"

    def ready(self) -> None:
        from optin import checks  # noqa: F401 - registers the deployment checks
        from optin.mail import send_confirmation_on_new_link
        from optin.signals import consent_step_applied

        consent_step_applied.connect(
            send_confirmation_on_new_link, dispatch_uid="optin.confirmation_mail"
        )


class OptinAdminConfig(admin_apps.AdminConfig):
    """The Django admin, on a site that demands the second factor (optin.admin_site)."""

    default = False  # listed by its full path in INSTALLED_APPS, in place of the admin's
    default_site = "optin.admin_site.StaffAdminSite"
