from django.apps import AppConfig


class SignaturesConfig(AppConfig):
    name = "signatures"
    verbose_name = "Formulaires signés"

    def ready(self) -> None:
        from optin.signals import consent_step_applied
        from signatures.services import end_forms_on_step

        # R12: a channel leaving pending_signature by another path cancels its form.
        consent_step_applied.connect(end_forms_on_step, dispatch_uid="signatures.end_forms")
