"""The audit trail: every log entry, filtered, in keyset pages; one entry in full; the CSV
export of a filtered view, streamed and itself logged (R51, R53, R55)."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from clients.roles import actor_for
from optin import audit
from optin.audit import Actor
from optin.compliance import selectors, services
from optin.compliance.forms import TrailFilterForm
from optin.integrity import head_seq
from optin.models import AuditEntry


@require_GET
@permission_required("optin.review_audit", raise_exception=True)
def trail(request: HttpRequest) -> HttpResponse:
    form = TrailFilterForm(request.GET)
    page = None
    if form.is_valid():
        filters = form.filters()
        page = selectors.trail_page(
            filters, before=form.cleaned_data["before"], after=form.cleaned_data["after"]
        )
        if filters.client_number and page.entries:
            services.record_access(
                user=request.user,
                client_number=filters.client_number,
                page="compliance:trail",
                method="GET",
            )
    context = {
        "form": form,
        "page": page,
        "rows": selectors.trail_rows(page.entries) if page else [],
        "can_export": request.user.has_perm("optin.export_audit"),
    }
    return render(request, "compliance/trail.html", context, status=200 if page else 400)


@require_GET
@permission_required("optin.review_audit", raise_exception=True)
def entry(request: HttpRequest, seq: int) -> HttpResponse:
    found = AuditEntry.objects.filter(seq=seq).first()
    if found is None:
        raise Http404
    if found.client_number:
        services.record_access(
            user=request.user,
            client_number=found.client_number,
            page="compliance:entry",
            method="GET",
        )
    row = selectors.trail_rows([found])[0]
    context = {
        "row": row,
        "entry": found,
        "data": selectors.entry_data(found),
        "personal": audit.personal_data(found),
        "sealed": '"personal"' in found.payload,
        "hash_holds": selectors.hash_holds(found),
        "previous_seq": found.seq - 1 if found.seq > 1 else None,
        "next_seq": selectors.next_seq(found.seq),
    }
    return render(request, "compliance/entry.html", context)


class _Echo:
    """csv.writer writes into it; each row comes back as text to stream."""

    def write(self, value: str) -> str:
        return value


@require_GET
@permission_required("optin.export_audit", raise_exception=True)
def export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    form = TrailFilterForm(request.GET)
    if not form.is_valid():
        context: dict[str, object] = {"form": form, "page": None, "rows": [], "can_export": True}
        return render(request, "compliance/trail.html", context, status=400)
    filters = form.filters()
    actor = actor_for(request.user)
    # The export covers the log as it stands now, not the entries logging the export itself.
    up_to = head_seq()
    services.log_trail_export(
        actor=actor, filters=filters.as_dict(), up_to=up_to, rows=None, complete=False
    )
    response = StreamingHttpResponse(
        _export_lines(actor, filters, up_to), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="journal-audit.csv"'
    response["Cache-Control"] = "no-store"
    return response


EXPORT_BATCH = 1_000  # rows per chunk sent


def _export_lines(actor: Actor, filters: selectors.TrailFilters, up_to: int) -> Iterator[str]:
    """The CSV in chunks of rows; the export is logged with its row count when it ends
    (complete or not: a closed connection ends it too)."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    count, complete = 0, False
    try:
        lines = [writer.writerow(selectors.EXPORT_COLUMNS)]
        for row in selectors.trail_export_rows(filters, up_to):
            lines.append(writer.writerow(row))
            count += 1
            if len(lines) >= EXPORT_BATCH:
                yield "".join(lines)
                lines = []
        yield "".join(lines)
        complete = True
    finally:
        services.log_trail_export(
            actor=actor, filters=filters.as_dict(), up_to=up_to, rows=count, complete=complete
        )
