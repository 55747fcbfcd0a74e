"""The access log: who opened which customer's pages, when (R55)."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from optin.compliance import selectors
from optin.compliance.forms import AccessFilterForm


@require_GET
@permission_required("optin.view_recordaccess", raise_exception=True)
def access_log(request: HttpRequest) -> HttpResponse:
    form = AccessFilterForm(request.GET)
    page = None
    if form.is_valid():
        page = selectors.access_page(
            form.filters(), before=form.cleaned_data["before"], after=form.cleaned_data["after"]
        )
    context = {
        "form": form,
        "page": page,
        "rows": selectors.access_rows(page) if page else [],
    }
    return render(request, "compliance/access.html", context, status=200 if page else 400)
