"""Admin of branches, staff and clients. Every change of a client goes through a service, so
it is validated and logged like any other path."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.utils.translation import gettext_lazy as _

from clients import services
from clients.models import Branch, Client, LegalCapacity, StaffProfile
from clients.roles import actor_for, set_role_group
from clients.validators import normalize_email, normalize_mobile
from optin.errors import DomainError
from optin.models import ConsentState


@admin.register(Branch)
class BranchAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("code", "name")
    search_fields = ("code", "name")


class StaffProfileInline(admin.StackedInline):  # type: ignore[type-arg]
    model = StaffProfile
    can_delete = False
    max_num = 1


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):  # type: ignore[type-arg]
    inlines = (StaffProfileInline,)
    list_display = ("username", "first_name", "last_name", "is_active", "role", "branch")
    list_select_related = ("staff_profile__branch",)

    @admin.display(description=_("rôle"))
    def role(self, obj: Any) -> str:
        profile = getattr(obj, "staff_profile", None)
        return profile.get_role_display() if profile else "—"

    @admin.display(description=_("agence"))
    def branch(self, obj: Any) -> str:
        profile = getattr(obj, "staff_profile", None)
        return str(profile.branch) if profile and profile.branch else "—"

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        profile = StaffProfile.objects.filter(user=form.instance).first()
        if profile is not None:
            set_role_group(form.instance, profile.role)


class ConsentStateInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ConsentState
    fields = ("channel", "status", "since", "journey", "wording_version", "last_seq")
    readonly_fields = fields
    can_delete = False
    extra = 0
    max_num = 0

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ClientAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    capacity_reference = forms.CharField(
        label=_("référence du jugement (changement de capacité)"), required=False
    )
    # R45: the version the page was based on travels with the form.
    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Client
        fields = (
            "client_number",
            "kind",
            "is_legal_entity",
            "civility",
            "first_name",
            "last_name",
            "birth_date",
            "legal_capacity",
            "protection_measure",
            "email",
            "mobile",
            "branch",
            "status",
            "relationship_ended_on",
            "objection_notice_shown",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["expected_version"].initial = self.instance.version

    def clean_email(self) -> str:
        value: str = self.cleaned_data.get("email", "")
        return normalize_email(value) if value.strip() else ""

    def clean_mobile(self) -> str:
        value: str = self.cleaned_data.get("mobile", "")
        return normalize_mobile(value) if value.strip() else ""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("legal_capacity") == LegalCapacity.FULL:
            data["protection_measure"] = ""
        if not self.instance.pk:
            return data
        stored = Client.objects.filter(pk=self.instance.pk).values_list("version", flat=True)
        if data.get("expected_version") != stored.first():
            raise ValidationError(
                _("La fiche a été modifiée entre-temps : rechargez-la avant de la changer."),
                code="conflict",
            )
        capacity_changed = {"legal_capacity", "protection_measure"} & set(self.changed_data)
        if capacity_changed and not data.get("capacity_reference", "").strip():
            self.add_error("capacity_reference", _("Obligatoire pour changer la capacité."))
        return data


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Saving calls the services in one transaction; a refusal (a concurrent change, say)
    undoes all of it and the page says so instead of reporting success."""

    form = ClientAdminForm
    list_display = ("client_number", "last_name", "first_name", "kind", "branch", "status")
    list_filter = ("kind", "status", "legal_capacity", "branch")
    search_fields = ("=client_number", "last_name", "email", "mobile")
    readonly_fields = ("version", "created_at", "updated_at", "erased_at", "last_contact_at")
    inlines = (ConsentStateInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Client]:
        return (
            super()
            .get_queryset(request)
            .filter(pk__in=Client.objects.visible_to(request.user).values("pk"))
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Client | None = None) -> Any:
        if obj is None:
            return self.readonly_fields
        # the number and kind identify the record
        return (*self.readonly_fields, "client_number", "kind", "is_legal_entity")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a client's log must stay; erasure is its own procedure (R64)

    def save_model(self, request: HttpRequest, obj: Client, form: Any, change: bool) -> None:
        actor = actor_for(request.user)
        data = form.cleaned_data
        try:
            with transaction.atomic():
                if change:
                    self._save_changes(actor, obj, form, data)
                else:
                    created = services.create_client(
                        actor=actor, **{name: data[name] for name in CREATE_FIELDS}
                    )
                    obj.pk = created.pk
        except (DomainError, ValidationError) as exc:
            request._optin_refused = True  # type: ignore[attr-defined]
            self.message_user(request, "; ".join(_messages(exc)), messages.ERROR)

    def _save_changes(self, actor: Any, obj: Client, form: Any, data: dict[str, Any]) -> None:
        changed = set(form.changed_data)
        number = obj.client_number
        # R45, under the row lock: the page was based on the current version of the record.
        services.lock_client(number, expected_version=data.get("expected_version"))
        if {"email", "mobile"} & changed:
            services.change_contact_details(
                actor=actor,
                client_number=number,
                email=data["email"] if "email" in changed else None,
                mobile=data["mobile"] if "mobile" in changed else None,
                journey="back_office",
            )
        identity = {k: data[k] for k in services.IDENTITY_FIELDS if k in changed}
        if identity:
            services.update_client_identity(actor=actor, client_number=number, **identity)
        if "birth_date" in changed and data.get("birth_date"):
            services.correct_birth_date(
                actor=actor,
                client_number=number,
                birth_date=data["birth_date"],
                reference=data.get("capacity_reference", ""),
            )
        if {"legal_capacity", "protection_measure"} & changed:
            services.change_legal_capacity(
                actor=actor,
                client_number=number,
                legal_capacity=data["legal_capacity"],
                protection_measure=data["protection_measure"],
                reference=data["capacity_reference"],
            )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # States are read only: nothing related is saved from here.
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if getattr(request, "_optin_refused", False):
            return None
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if getattr(request, "_optin_refused", False):
            return None
        return super().log_change(request, obj, message)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        if getattr(request, "_optin_refused", False):
            return HttpResponseRedirect(request.path)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Any) -> Any:
        if getattr(request, "_optin_refused", False):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)


CREATE_FIELDS = (
    "client_number",
    "kind",
    "last_name",
    "branch",
    "first_name",
    "civility",
    "birth_date",
    "legal_capacity",
    "protection_measure",
    "is_legal_entity",
    "email",
    "mobile",
    "status",
    "objection_notice_shown",
    "relationship_ended_on",
)


def _messages(exc: DomainError | ValidationError) -> list[str]:
    if isinstance(exc, DomainError):
        return [exc.message]
    return [str(m) for m in exc.messages]
