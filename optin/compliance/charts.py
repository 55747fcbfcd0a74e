"""Charts drawn on the server as SVG: a line chart and bar charts (grouped or stacked,
horizontal or vertical), with no script and no library.

Accessible by construction: the <svg> is an image (`role="img"`) named by its <title> and
described by its <desc>; every series has a legend entry; axis labels are text, sized to be
read at the width of a page; colours keep at least 3:1 contrast with the white background
(WCAG 1.4.11) and lines also differ by their marker and dash, so colour is never the only
cue; each mark carries its exact value as a <title> (a tooltip). The page follows each chart
with its data as a table.

The site's Content-Security-Policy forbids inline `style`: colours, fonts and strokes are SVG
presentation attributes. Every text and attribute value is escaped as it is written (`_el`),
so labels coming from the data (branch or staff names) cannot inject markup. Labels are given
by the caller, already in the page's language; numbers are formatted by the caller's
`value_format`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.utils.html import conditional_escape, escape, format_html_join
from django.utils.safestring import SafeString, mark_safe

# Categorical colours, all with at least 3:1 contrast on white (tests/compliance/test_charts.py
# checks it), told apart by most colour-blind readers (Okabe-Ito hues, darkened).
PALETTE = ("#0072b2", "#b35000", "#007a5a", "#6a3d9a", "#5f6b7a", "#b3261e")
TEXT = "#1f2d3d"
AXIS = "#57606a"
GRID = "#d0d7de"
BACKGROUND = "#ffffff"
FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"
FONT_SIZE = 13
SMALL = 11
DASHES = ("", "7 4", "2 3", "10 3 2 3")
MARKERS = ("circle", "square", "triangle", "diamond")

Formatter = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    """One named series of values, one per category (None: no value)."""

    label: str
    values: Sequence[float | None]
    colour: str = ""  # default: the palette, by the series' position


# --- markup ------------------------------------------------------------------------------------


def _n(value: float) -> str:
    """A coordinate: one decimal at most."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _el(tag: str, attrs: Mapping[str, object] | None = None, *children: str) -> SafeString:
    """One element. Attribute values and plain-text children are escaped here; children that
    are already markup (SafeString, from `_el`) are kept. Tag and attribute names are
    constants of this module."""
    attr_text = "".join(
        f' {name}="{escape(value)}"' for name, value in (attrs or {}).items() if value is not None
    )
    content = "".join(conditional_escape(child) for child in children)
    # Safe: the names are constants and every value and text child was escaped just above.
    return mark_safe(f"<{tag}{attr_text}>{content}</{tag}>")  # noqa: S308


def _text(
    x: float,
    y: float,
    text: str,
    *,
    anchor: str = "start",
    size: int = FONT_SIZE,
    fill: str = TEXT,
    weight: str | None = None,
    tooltip: str | None = None,
) -> SafeString:
    children = [_el("title", {}, tooltip)] if tooltip else []
    return _el(
        "text",
        {
            "x": _n(x),
            "y": _n(y),
            "text-anchor": anchor,
            "font-size": size,
            "fill": fill,
            "font-weight": weight,
        },
        *children,
        text,
    )


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """An estimate of a label's width (the server has no font metrics): generous, so that
    labels never overlap."""
    return len(text) * size * 0.58


def _join(parts: Iterable[str]) -> SafeString:
    """Elements side by side (plain text among them would be escaped)."""
    return format_html_join("", "{}", ((part,) for part in parts))


def _axis_label(x: float, y: float, label: str) -> SafeString:
    """A category's name under the axis, a text per line of the label ("janv." over
    "2027")."""
    lines = label.split("\n")
    return _join(_text(x, y + 16 * i, line, anchor="middle") for i, line in enumerate(lines))


def _flat(label: str) -> str:
    return " ".join(label.split("\n"))


def _truncate(text: str, width: float, size: float = FONT_SIZE) -> str:
    if text_width(text, size) <= width:
        return text
    keep = max(1, int(width / (size * 0.58)) - 1)
    return text[:keep].rstrip() + "…"


def _colour(series: Series, index: int) -> str:
    return series.colour or PALETTE[index % len(PALETTE)]


def _svg(
    chart_id: str, title: str, description: str, width: float, height: float, *body: str
) -> SafeString:
    return _el(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "viewBox": f"0 0 {_n(width)} {_n(height)}",
            "width": _n(width),
            "height": _n(height),
            "role": "img",
            "aria-labelledby": f"{chart_id}-title {chart_id}-desc",
            "font-family": FONT,
            "font-size": FONT_SIZE,
            "class": "chart-svg",
            "id": chart_id,
        },
        _el("title", {"id": f"{chart_id}-title"}, title),
        _el("desc", {"id": f"{chart_id}-desc"}, description),
        _el("rect", {"width": _n(width), "height": _n(height), "fill": BACKGROUND}),
        *body,
    )


# --- scales ------------------------------------------------------------------------------------


def nice_ticks(top: float, *, count: int = 5, integer: bool = False) -> list[float]:
    """Ticks from 0 to a round value at or above `top`: steps of 1, 2, 2.5 or 5 times a power
    of ten (whole steps only when `integer`)."""
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    multiples = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * magnitude for m in multiples if m * magnitude >= raw)
    if integer:
        step = max(1.0, float(math.ceil(step)))
    steps = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(steps + 1)]


def _shown_labels(categories: Sequence[str], room: float) -> list[tuple[int, str]]:
    """The categories named along an axis of `room` units: every how many that fits, always
    the latest. A label's second line (the year under a month) left out with a skipped one
    goes under the next one named."""
    widest = max((text_width(part) for c in categories for part in c.split("\n")), default=0)
    step = 1 if len(categories) <= 1 else max(1, math.ceil(len(categories) * (widest + 10) / room))
    shown, carried = [], ""
    for i, label in enumerate(categories):
        first, _newline, rest = label.partition("\n")
        carried = rest or carried
        if (len(categories) - 1 - i) % step == 0:
            shown.append((i, f"{first}\n{carried}" if carried else first))
            carried = ""
    return shown


# --- legend ------------------------------------------------------------------------------------


def _legend(
    series: Sequence[Series], x0: float, y0: float, width: float, *, lines: bool
) -> tuple[list[SafeString], float]:
    """The legend from (x0, y0), wrapping at `width`; returns its marks and its height."""
    marks: list[SafeString] = []
    x, y, row = x0, y0, 20
    for i, one in enumerate(series):
        colour = _colour(one, i)
        item = 28 + text_width(one.label) + 20
        if x > x0 and x + item > x0 + width:
            x, y = x0, y + row
        if lines:
            marks.append(_line_sample(x, y + 8, colour, i))
        else:
            marks.append(
                _el(
                    "rect",
                    {"x": _n(x + 4), "y": _n(y + 2), "width": 14, "height": 12, "fill": colour},
                )
            )
        marks.append(_text(x + 28, y + 13, one.label))
        x += item
    return marks, y - y0 + row


def _line_sample(x: float, y: float, colour: str, index: int) -> SafeString:
    line = _el(
        "line",
        {
            "x1": _n(x),
            "y1": _n(y),
            "x2": _n(x + 22),
            "y2": _n(y),
            "stroke": colour,
            "stroke-width": 2.5,
            "stroke-dasharray": DASHES[index % len(DASHES)] or None,
        },
    )
    return _join([line, _marker(x + 11, y, colour, index, None)])


def _marker(x: float, y: float, colour: str, index: int, tooltip: str | None) -> SafeString:
    shape = MARKERS[index % len(MARKERS)]
    common = {"fill": colour, "stroke": BACKGROUND, "stroke-width": 1.5}
    children = [_el("title", {}, tooltip)] if tooltip else []
    if shape == "circle":
        return _el("circle", {"cx": _n(x), "cy": _n(y), "r": 4.5, **common}, *children)
    if shape == "square":
        box = {"x": _n(x - 4), "y": _n(y - 4), "width": 8, "height": 8}
        return _el("rect", {**box, **common}, *children)
    if shape == "triangle":
        corners = [(x, y - 5.5), (x + 5, y + 4), (x - 5, y + 4)]
    else:
        corners = [(x, y - 5.5), (x + 5.5, y), (x, y + 5.5), (x - 5.5, y)]
    points = " ".join(f"{_n(px)},{_n(py)}" for px, py in corners)
    return _el("polygon", {"points": points, **common}, *children)


# --- line chart --------------------------------------------------------------------------------


def line_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    value_format: Formatter,
    min_top: float = 1.0,
    max_top: float | None = None,
    width: float = 900,
    height: float = 320,
) -> SafeString:
    """One line per series over the categories (months), y from 0. A missing value breaks its
    line. `min_top`/`max_top` bound the top of the axis (a rate never shows above 100 %)."""
    values = [v for one in series for v in one.values if v is not None]
    top = max([min_top, *values])
    ticks = nice_ticks(top)
    if max_top is not None and ticks[-1] > max_top >= top:
        ticks = [t for t in ticks if t < max_top] + [max_top]
    legend, legend_height = _legend(series, 8, 6, width - 16, lines=True)
    tick_labels = [value_format(t) for t in ticks]
    left = 12 + max(text_width(label) for label in tick_labels)
    right = width - 24
    top_y = 6 + legend_height + 14
    bottom_y = height - 44
    plot_w, plot_h = right - left, bottom_y - top_y

    def x_of(i: int) -> float:
        if len(categories) <= 1:
            return left + plot_w / 2
        return left + 10 + i * (plot_w - 20) / (len(categories) - 1)

    def y_of(value: float) -> float:
        return bottom_y - value / ticks[-1] * plot_h

    body: list[str] = [*legend, *_y_grid(ticks, tick_labels, left, right, y_of)]
    for i, label in _shown_labels(categories, plot_w):
        body.append(_axis_label(x_of(i), bottom_y + 20, label))
    body.extend(_tick(x_of(i), bottom_y) for i in range(len(categories)))
    body.append(_axes(left, right, top_y, bottom_y))
    for index, one in enumerate(series):
        colour = _colour(one, index)
        path, pen_down = [], False
        for i, value in enumerate(one.values):
            if value is None:
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{_n(x_of(i))} {_n(y_of(value))}")
            pen_down = True
        if path:
            body.append(
                _el(
                    "path",
                    {
                        "d": " ".join(path),
                        "fill": "none",
                        "stroke": colour,
                        "stroke-width": 2.5,
                        "stroke-linejoin": "round",
                        "stroke-dasharray": DASHES[index % len(DASHES)] or None,
                    },
                )
            )
        for i, value in enumerate(one.values):
            if value is not None and i < len(categories):
                tip = f"{one.label} — {_flat(categories[i])} : {value_format(value)}"
                body.append(_marker(x_of(i), y_of(value), colour, index, tip))
    return _svg(chart_id, title, description, width, height, *body)


def _y_grid(
    ticks: Sequence[float],
    labels: Sequence[str],
    left: float,
    right: float,
    y_of: Callable[[float], float],
) -> list[SafeString]:
    marks = []
    for tick, label in zip(ticks, labels, strict=True):
        y = y_of(tick)
        if tick:
            marks.append(_grid_line(left, y, right, y))
        marks.append(_text(left - 8, y + 4, label, anchor="end"))
    return marks


def _x_grid(
    ticks: Sequence[float],
    labels: Sequence[str],
    top: float,
    bottom: float,
    x_of: Callable[[float], float],
) -> list[SafeString]:
    marks = []
    for tick, label in zip(ticks, labels, strict=True):
        x = x_of(tick)
        if tick:
            marks.append(_grid_line(x, top, x, bottom))
        marks.append(_text(x, bottom + 18, label, anchor="middle"))
    return marks


def _grid_line(x1: float, y1: float, x2: float, y2: float) -> SafeString:
    coords = {"x1": _n(x1), "y1": _n(y1), "x2": _n(x2), "y2": _n(y2)}
    return _el("line", {**coords, "stroke": GRID, "stroke-width": 1})


def _tick(x: float, y: float) -> SafeString:
    return _el("line", {"x1": _n(x), "y1": _n(y), "x2": _n(x), "y2": _n(y + 5), "stroke": AXIS})


def _axes(left: float, right: float, top: float, bottom: float) -> SafeString:
    return _el(
        "path",
        {
            "d": f"M{_n(left)} {_n(top)} V{_n(bottom)} H{_n(right)}",
            "fill": "none",
            "stroke": AXIS,
            "stroke-width": 1.5,
        },
    )


# --- bar charts --------------------------------------------------------------------------------


def bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    value_format: Formatter,
    stacked: bool = False,
    horizontal: bool = True,
    width: float = 900,
    height: float = 320,
) -> SafeString:
    """Bars per category, one per series side by side (grouped) or piled up (stacked).

    Horizontal bars suit long category names (journeys, branches): the chart's height follows
    the number of categories and `height` is ignored. Vertical bars suit time (months).
    Stacked bars are labelled with their total; grouped ones with their value.
    """
    values = [[v or 0.0 for v in one.values] for one in series]
    totals = [sum(column) for column in zip(*values, strict=True)] if values else []
    top = max(totals if stacked else [v for row in values for v in row], default=0.0)
    ticks = nice_ticks(max(top, 1.0), integer=True)
    legend, legend_height = _legend(series, 8, 6, width - 16, lines=False)
    geometry = _Bars(
        categories=categories,
        series=series,
        values=values,
        totals=totals,
        ticks=ticks,
        value_format=value_format,
        stacked=stacked,
        width=width,
        top=6 + legend_height + 12,
    )
    if horizontal:
        body, chart_height = geometry.horizontal()
    else:
        body, chart_height = geometry.vertical(height)
    return _svg(chart_id, title, description, width, chart_height, *legend, *body)


@dataclass
class _Bars:
    categories: Sequence[str]
    series: Sequence[Series]
    values: list[list[float]]
    totals: list[float]
    ticks: list[float]
    value_format: Formatter
    stacked: bool
    width: float
    top: float

    def tooltip(self, category: int, index: int) -> str:
        value = self.values[index][category]
        label = self.series[index].label
        return f"{_flat(self.categories[category])} — {label} : {self.value_format(value)}"

    def segments(self, category: int) -> list[tuple[int, float, float]]:
        """(series index, start, end) in values, for the bars of one category."""
        out, start = [], 0.0
        for index, row in enumerate(self.values):
            value = row[category]
            if self.stacked:
                out.append((index, start, start + value))
                start += value
            else:
                out.append((index, 0.0, value))
        return out

    def horizontal(self) -> tuple[list[SafeString], float]:
        room = self.width * 0.38
        widest = max(map(text_width, self.categories), default=0)
        left = 16 + min(widest, room)
        # Room after the longest bar for its value.
        right = self.width - 24 - text_width(self.value_format(self.ticks[-1]), FONT_SIZE)
        bar = 20.0 if self.stacked else 14.0
        band = bar + 12 if self.stacked else bar * len(self.series) + 14
        plot_top = self.top + 4
        bottom = plot_top + band * len(self.categories)
        scale = (right - left) / self.ticks[-1]

        def x_of(value: float) -> float:
            return left + value * scale

        marks: list[SafeString] = []
        labels = [self.value_format(t) for t in self.ticks]
        marks += _x_grid(self.ticks, labels, plot_top, bottom, x_of)
        for c, category in enumerate(self.categories):
            y0 = plot_top + c * band + 7
            shown = _truncate(category, left - 16)
            tip = category if shown != category else None
            marks.append(
                _text(left - 8, y0 + (band - 14) / 2 + 4, shown, anchor="end", tooltip=tip)
            )
            for index, start, end in self.segments(c):
                y = y0 if self.stacked else y0 + index * bar
                if end > start:
                    marks.append(
                        self.rect(index, c, x_of(start), y, (end - start) * scale, bar - 1)
                    )
                if not self.stacked and end > 0:  # a zero has no bar and no label
                    value = self.values[index][c]
                    marks.append(
                        _text(x_of(end) + 4, y + bar - 4, self.value_format(value), size=SMALL)
                    )
            if self.stacked and self.totals[c]:
                total = self.value_format(self.totals[c])
                marks.append(_text(x_of(self.totals[c]) + 5, y0 + bar - 5, total, weight="600"))
        marks.append(_axes(left, right, plot_top, bottom))
        return marks, bottom + 30

    def vertical(self, height: float) -> tuple[list[SafeString], float]:
        labels = [self.value_format(t) for t in self.ticks]
        left = 12 + max(text_width(label) for label in labels)
        right = self.width - 16
        plot_top, bottom = self.top + 10, height - 44
        band = (right - left) / max(1, len(self.categories))
        scale = (bottom - plot_top) / self.ticks[-1]

        def y_of(value: float) -> float:
            return bottom - value * scale

        marks: list[SafeString] = [*_y_grid(self.ticks, labels, left, right, y_of)]
        for c, label in _shown_labels(self.categories, right - left):
            marks.append(_axis_label(left + (c + 0.5) * band, bottom + 20, label))
        inner = band * 0.7
        bar = inner if self.stacked else inner / max(1, len(self.series))
        for c in range(len(self.categories)):
            x0 = left + c * band + (band - inner) / 2
            for index, start, end in self.segments(c):
                x = x0 if self.stacked else x0 + index * bar
                if end > start:
                    marks.append(self.rect(index, c, x, y_of(end), bar - 1, (end - start) * scale))
            if self.stacked and self.totals[c] and band >= text_width("0000", SMALL):
                total = self.value_format(self.totals[c])
                marks.append(
                    _text(
                        x0 + inner / 2, y_of(self.totals[c]) - 5, total, anchor="middle", size=SMALL
                    )
                )
        marks.append(_axes(left, right, plot_top, bottom))
        return marks, height

    def rect(self, index: int, category: int, x: float, y: float, w: float, h: float) -> SafeString:
        return _el(
            "rect",
            {
                "x": _n(x),
                "y": _n(y),
                "width": _n(max(w, 0.5)),
                "height": _n(max(h, 0.5)),
                "fill": _colour(self.series[index], index),
                "stroke": BACKGROUND,
                "stroke-width": 1,
            },
            _el("title", {}, self.tooltip(category, index)),
        )
