"""The admin site: reached only with a verified second factor, through the staff login."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _

from clients import twofactor


class StaffAdminSite(admin.AdminSite):
    site_header = "optin"
    site_title = "optin"
    index_title = _("Administration des consentements")

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and twofactor.is_verified(request.user)

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """One login for the whole back-office: the admin's own form knows no second factor."""
        next_url = request.GET.get("next", "")
        response = redirect("clients:login")
        if next_url:
            response["Location"] += "?" + request.GET.urlencode()
        return response
