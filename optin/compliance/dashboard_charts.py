"""The dashboard's charts: its figures (`optin.compliance.dashboard`) drawn as SVG with
`optin.compliance.charts`, each with a title and a description saying what it shows."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import formats
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from optin.compliance import charts
from optin.compliance import dashboard as reads
from optin.models import Channel

# Colours with a meaning on this page (charts.PALETTE): a grant green, a refusal orange, a
# withdrawal purple; pending forms from blue (fresh) to red (about to expire).
BLUE, ORANGE, GREEN, PURPLE, GREY, RED = charts.PALETTE
DECISION_COLOURS = (GREEN, ORANGE, PURPLE)
AGE_COLOURS = (BLUE, GREEN, ORANGE, RED)


def percent(value: float) -> str:
    return _("%(value)s %%") % {"value": formats.number_format(value, 1)}


def count(value: float) -> str:
    return str(formats.number_format(round(value), 0, force_grouping=True))


def month_labels(months: Sequence[reads.Month]) -> list[str]:
    """An axis's labels: the month, and under it the year at the first month and each
    January."""
    return [
        formats.date_format(m.start.date(), "N")
        + (f"\n{m.start.year}" if i == 0 or m.start.month == 1 else "")
        for i, m in enumerate(months)
    ]


def draw(data: reads.Dashboard) -> dict[str, SafeString]:
    charts_by_name = {
        "rates": rates_chart(data),
        "withdrawals": withdrawals_chart(data),
    }
    if data.decisions:
        charts_by_name["decisions"] = decisions_chart(data)
    if data.pending_by_branch:
        charts_by_name["pending"] = pending_chart(data)
    return charts_by_name


def _scope(data: reads.Dashboard) -> str:
    return str(data.branch) if data.branch else _("toutes les agences")


def rates_chart(data: reads.Dashboard) -> SafeString:
    labels = month_labels(data.months)
    series = [
        charts.Series(
            str(capfirst(label)),
            [point.channels[i].percent for point in data.rates.points],
            colour=(BLUE, ORANGE)[i],
        )
        for i, label in enumerate(Channel.labels)
    ]
    first, last = data.rates.points[0], data.rates.points[-1]
    summary = " ".join(
        _("%(channel)s : %(first)s en %(from)s, %(last)s en %(to)s.")
        % {
            "channel": one.label,
            "first": _rate_text(first.channels[i]),
            "from": first.month.label,
            "last": _rate_text(last.channels[i]),
            "to": last.month.label,
        }
        for i, one in enumerate(series)
    )
    return charts.line_chart(
        chart_id="chart-rates",
        title=_("Taux d'accord par canal, %(scope)s") % {"scope": _scope(data)},
        description=f"{summary} {_('Les chiffres exacts suivent dans un tableau.')}",
        categories=labels,
        series=series,
        value_format=percent,
        min_top=10,
        max_top=100,
    )


def _rate_text(rate: reads.ChannelRate) -> str:
    return percent(rate.percent) if rate.percent is not None else _("sans client")


def decisions_chart(data: reads.Dashboard) -> SafeString:
    names = (_("Accords"), _("Refus"), _("Retraits"))
    series = [
        charts.Series(names[0], [d.grants for d in data.decisions], DECISION_COLOURS[0]),
        charts.Series(names[1], [d.refusals for d in data.decisions], DECISION_COLOURS[1]),
        charts.Series(names[2], [d.withdrawals for d in data.decisions], DECISION_COLOURS[2]),
    ]
    totals = [sum(int(v or 0) for v in one.values) for one in series]
    return charts.bar_chart(
        chart_id="chart-decisions",
        title=_("Décisions par parcours depuis %(since)s, %(scope)s")
        % {"since": data.months[0].label, "scope": _scope(data)},
        description=_(
            "Barres groupées par parcours : %(grants)s accords, %(refusals)s refus et "
            "%(withdrawals)s retraits en tout. Les chiffres exacts suivent dans un tableau."
        )
        % dict(zip(("grants", "refusals", "withdrawals"), map(count, totals), strict=True)),
        categories=[str(capfirst(d.label)) for d in data.decisions],
        series=series,
        value_format=count,
    )


def pending_chart(data: reads.Dashboard) -> SafeString:
    labels = [str(capfirst(label)) for label in reads.AgeBucket.labels]
    series = [
        charts.Series(label, [row.buckets[i] for row in data.pending_by_branch], AGE_COLOURS[i])
        for i, label in enumerate(labels)
    ]
    return charts.bar_chart(
        chart_id="chart-pending",
        title=_("Formulaires à signer par agence et par ancienneté"),
        description=_(
            "Barres empilées par agence, de la plus récente à la plus ancienne tranche "
            "d'ancienneté : %(n)s formulaires en attente en tout. Les chiffres exacts suivent "
            "dans un tableau."
        )
        % {"n": count(data.pending.count)},
        categories=[row.label for row in data.pending_by_branch],
        series=series,
        value_format=count,
        stacked=True,
    )


def withdrawals_chart(data: reads.Dashboard) -> SafeString:
    labels = [str(capfirst(label)) for label in reads.WithdrawalPath.labels]
    series = [
        charts.Series(label, [month.counts[i] for month in data.withdrawals])
        for i, label in enumerate(labels)
    ]
    return charts.bar_chart(
        chart_id="chart-withdrawals",
        title=_("Retraits par chemin et par mois, %(scope)s") % {"scope": _scope(data)},
        description=_(
            "Colonnes empilées par mois, une couleur par chemin : %(n)s retraits sur la "
            "période. Les chiffres exacts suivent dans un tableau."
        )
        % {"n": count(sum(month.total for month in data.withdrawals))},
        categories=month_labels(data.months),
        series=series,
        value_format=count,
        stacked=True,
        horizontal=False,
    )
