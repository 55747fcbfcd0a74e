"""Admin of wordings (publish, deactivate) and read-only views of states and the log.

Nobody, superusers included, can add, change or delete log entries, checkpoints or states
here (R53, R55): those change only through the services.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from clients.models import PARIS
from clients.roles import actor_for
from optin import audit, services
from optin.errors import DomainError
from optin.models import (
    ApiClient,
    AuditCheckpoint,
    AuditEntry,
    ConsentState,
    Wording,
    text_sha256,
)

_PRE = '<pre style="white-space: pre-wrap; overflow-wrap: anywhere">{}</pre>'


def paris_time(moment: dt.datetime) -> str:
    """R56: stored in UTC, shown in Europe/Paris with the offset."""
    return moment.astimezone(PARIS).isoformat(sep=" ", timespec="seconds")


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "seq",
        "recorded_in_paris",
        "action",
        "actor_type",
        "actor_id",
        "client_number",
        "channel",
        "wording_version",
    )
    list_filter = ("action", "actor_type", "channel")
    search_fields = ("=client_number", "=seq")
    ordering = ("-seq",)
    show_full_result_count = False
    readonly_fields = (
        "seq",
        "recorded_in_paris",
        "occurred_in_paris",
        "actor_type",
        "actor_id",
        "action",
        "client_id",
        "client_number",
        "channel",
        "wording_version",
        "payload_pretty",
        "personal_data",
        "prev_hash",
        "hash",
    )
    fields = readonly_fields

    @admin.display(description=_("enregistré le"), ordering="seq")
    def recorded_in_paris(self, obj: AuditEntry) -> str:
        return paris_time(obj.recorded_at)

    @admin.display(description=_("survenu le (Europe/Paris)"))
    def occurred_in_paris(self, obj: AuditEntry) -> str:
        return paris_time(obj.occurred_at)

    @admin.display(description=_("contenu"))
    def payload_pretty(self, obj: AuditEntry) -> str:
        return format_html(
            "<pre>{}</pre>", json.dumps(json.loads(obj.payload), indent=2, ensure_ascii=False)
        )

    @admin.display(description=_("données personnelles (déchiffrées)"))
    def personal_data(self, obj: AuditEntry) -> str:
        sealed = json.loads(obj.payload).get("personal")
        if not sealed:
            return "—"
        data = audit.personal_data(obj)
        if data is None:
            return str(_("effacées (clé détruite)"))
        return format_html(_PRE, json.dumps(data, indent=2, ensure_ascii=False))


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("seq", "entry_hash", "signed_at", "key_id")
    ordering = ("-seq",)


@admin.register(ConsentState)
class ConsentStateAdmin(ReadOnlyAdmin):
    list_display = (
        "client",
        "channel",
        "status",
        "since",
        "journey",
        "wording_version",
        "last_seq",
    )
    list_filter = ("channel", "status", "journey")
    search_fields = ("=client__client_number", "client__last_name")
    list_select_related = ("client",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ConsentState]:
        from clients.models import Client

        visible = Client.objects.visible_to(request.user)
        return super().get_queryset(request).filter(client__in=visible)


class _WordingPublishMeta:
    model = Wording
    # No publication date: a version is published when the administrator publishes it, never
    # backdated (R21 compares decisions with it).
    fields = ("channel", "version", "language", "text")


class WordingChangeForm(forms.ModelForm):  # type: ignore[type-arg]
    """Corrects the text of a version nobody has answered yet (the service re-checks)."""

    class Meta:
        model = Wording
        fields = ("text", "active")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "text" in cleaned:  # the hash follows the text it is checked against
            self.instance.sha256 = text_sha256(cleaned["text"])
        return cleaned


# R18: publishing confirms that the text states each required point. The checklist fields are
# declared on the class (the admin only accepts declared extra fields).
WordingPublishForm = type(
    "WordingPublishForm",
    (forms.ModelForm,),
    {
        "Meta": _WordingPublishMeta,
        **{
            f"confirm_{key}": forms.BooleanField(
                label=_("Le texte mentionne %(point)s") % {"point": label}, required=True
            )
            for key, label in services.WORDING_CHECKLIST.items()
        },
    },
)


@admin.register(Wording)
class WordingAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("version", "channel", "language", "published_at", "active", "sha256")
    list_filter = ("channel", "active", "language")
    readonly_fields = ("sha256",)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        kwargs["form"] = WordingPublishForm if obj is None else WordingChangeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Wording | None = None) -> Any:
        if obj is None:  # publishing: the text and the R18 checklist
            return (
                "channel",
                "version",
                "language",
                "text",
                *(f"confirm_{key}" for key in services.WORDING_CHECKLIST),
            )
        return ("version", "channel", "language", "published_at", "text", "sha256", "active")

    def get_readonly_fields(self, request: HttpRequest, obj: Wording | None = None) -> Any:
        if obj is None:
            return ("sha256",)
        locked = ("version", "channel", "language", "published_at", "sha256")
        if services.wording_in_use(obj):
            return (*locked, "text")  # R57: a used version never changes
        return locked

    def has_delete_permission(self, request: HttpRequest, obj: Wording | None = None) -> bool:
        if obj is not None and services.wording_in_use(obj):
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request: HttpRequest, obj: Wording, form: Any, change: bool) -> None:
        actor = actor_for(request.user)
        try:
            if not change:
                data = form.cleaned_data
                published = services.publish_wording(
                    actor=actor,
                    channel=data["channel"],
                    version=data["version"],
                    language=data["language"],
                    text=data["text"],
                    checklist={
                        k: bool(data.get(f"confirm_{k}")) for k in services.WORDING_CHECKLIST
                    },
                )
                obj.pk = published.pk
                return
            stored = Wording.objects.get(pk=obj.pk)
            if "text" in form.changed_data:
                services.edit_unused_wording(actor=actor, wording=stored, text=obj.text)
            if "active" in form.changed_data:
                services.set_wording_active(actor=actor, wording=stored, active=obj.active)
        except (DomainError, ValidationError) as exc:
            self.message_user(request, str(getattr(exc, "message", exc)), messages.ERROR)

    def delete_model(self, request: HttpRequest, obj: Wording) -> None:
        if services.wording_in_use(obj):
            self.message_user(
                request, _("Une formulation utilisée ne se supprime pas."), messages.ERROR
            )
            return
        super().delete_model(request, obj)


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """API clients are created by `create_api_client` (the token is shown once, there);
    here they are listed and revoked."""

    list_display = ("name", "scopes", "token_prefix", "created_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name",)
    readonly_fields = ("name", "scopes", "token_prefix", "created_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the row stays: it is the actor of its log entries

    @admin.action(description=_("Révoquer les clients d'API choisis"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        actor = actor_for(request.user)
        for api_client in queryset:
            services.revoke_api_client(actor=actor, api_client=api_client)
        self.message_user(request, _("%(n)s client(s) d'API révoqué(s).") % {"n": queryset.count()})
