from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ClientsConfig(AppConfig):
    name = "clients"
    verbose_name = "Clients et agences"

    def ready(self) -> None:
        from clients.roles import ensure_roles

        post_migrate.connect(ensure_roles, dispatch_uid="clients.ensure_roles")
