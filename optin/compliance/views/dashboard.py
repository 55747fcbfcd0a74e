"""The compliance officers' opt-in dashboard (R11, R14, R27, R38, R55): read only, for the
compliance role. Thin: parse the period and branch, read the figures
(`optin.compliance.dashboard`), draw them (`optin.compliance.dashboard_charts`), render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from optin.compliance import dashboard as reads
from optin.compliance.dashboard_charts import draw
from optin.compliance.forms import DashboardFilterForm
from optin.models import Channel


@login_required
@permission_required("optin.review_audit", raise_exception=True)
@require_safe
def dashboard(request: HttpRequest) -> HttpResponse:
    branches = reads.branches()
    form = DashboardFilterForm(request.GET or None, branches=branches)
    if form.is_bound:
        form.is_valid()  # a bad value falls back to its default; the form shows the error
    data = reads.dashboard(months=form.period(), branch=form.branch(), all_branches=branches)
    return render(
        request,
        "compliance/dashboard.html",
        {
            "form": form,
            "data": data,
            "channels": [capfirst(label) for label in Channel.labels],
            "short_channels": {Channel.EMAIL: _("E-mail"), Channel.SMS_PUSH: _("SMS, push")},
            "age_buckets": [capfirst(label) for label in reads.AgeBucket.labels],
            "paths": [capfirst(label) for label in reads.WithdrawalPath.labels],
            "charts": draw(data),
        },
    )
