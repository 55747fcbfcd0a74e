"""Consent forms in the admin: read only, for everyone (forms change only through services)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from optin.admin import ReadOnlyAdmin
from signatures.models import ConsentForm, FormChannel


class FormChannelInline(admin.TabularInline):  # type: ignore[type-arg]
    model = FormChannel
    fields = ("channel", "wording", "prior_status")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(ConsentForm)
class ConsentFormAdmin(ReadOnlyAdmin):
    list_display = ("reference", "client", "status", "journey", "created_at", "method", "page")
    list_filter = ("status", "method", "journey", "branch")
    search_fields = ("reference", "client__client_number")
    date_hierarchy = "created_at"
    inlines = [FormChannelInline]
    exclude = ("content", "evidence")
    list_select_related = ("client",)

    @admin.display(description="page")
    def page(self, form: ConsentForm) -> SafeString:
        url = reverse("signatures:detail", args=[form.client.client_number, form.reference])
        return format_html('<a href="{}">ouvrir</a>', url)
