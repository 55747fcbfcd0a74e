"""The dashboard's SVG charts (optin.compliance.charts): well-formed XML, accessible (an image
named by its title and described), every text escaped, colours readable on white (WCAG 1.4.11:
3:1 for graphics), no inline style (the Content-Security-Policy), values where they belong."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from django.utils.safestring import SafeString

from optin.compliance import charts
from optin.compliance.charts import Series

SVG = "{http://www.w3.org/2000/svg}"
NASTY = "<script>alert(\"x\")</script> & 'quotes' ]]> <!--"


def parse(svg: str) -> ET.Element:
    assert isinstance(svg, SafeString)
    return ET.fromstring(svg)  # noqa: S314 (the module's own output)


def count(value: float) -> str:
    return str(round(value))


def percent(value: float) -> str:
    return f"{value:.1f} %"


def line(**overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "chart_id": "c1",
        "title": "Taux",
        "description": "Deux lignes",
        "categories": ["jan.\n2027", "fév.", "mars"],
        "series": [Series("E-mail", [10.0, 20.0, 30.0]), Series("SMS", [5.0, None, 15.0])],
        "value_format": percent,
        "min_top": 10,
        "max_top": 100,
    }
    return charts.line_chart(**{**arguments, **overrides})


def bars(**overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "chart_id": "c2",
        "title": "Décisions",
        "description": "Barres",
        "categories": ["espace client", "agence"],
        "series": [Series("Accords", [3, 1]), Series("Refus", [0, 2]), Series("Retraits", [1, 0])],
        "value_format": count,
    }
    return charts.bar_chart(**{**arguments, **overrides})


ALL = [
    ("line", lambda **kw: line(**kw)),
    ("grouped", lambda **kw: bars(**kw)),
    ("stacked", lambda **kw: bars(stacked=True, **kw)),
    ("columns", lambda **kw: bars(stacked=True, horizontal=False, **kw)),
    ("grouped columns", lambda **kw: bars(horizontal=False, **kw)),
]


@pytest.mark.parametrize(("kind", "draw"), ALL)
def test_a_chart_is_an_accessible_image(kind: str, draw: Any) -> None:
    svg = parse(draw(chart_id="the-chart", title="Un titre", description="Une description"))

    assert svg.tag == f"{SVG}svg"
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "the-chart-title the-chart-desc"
    children = list(svg)
    assert children[0].tag == f"{SVG}title" and children[0].get("id") == "the-chart-title"
    assert children[0].text == "Un titre"
    assert children[1].tag == f"{SVG}desc" and children[1].get("id") == "the-chart-desc"
    assert children[1].text == "Une description"
    assert svg.get("viewBox", "").startswith("0 0 ")


@pytest.mark.parametrize(("kind", "draw"), ALL)
def test_every_text_is_escaped(kind: str, draw: Any) -> None:
    markup = draw(
        title=NASTY,
        description=NASTY,
        categories=[NASTY, "b", "c"][: 3 if kind == "line" else 2],
        series=[
            Series(NASTY, [1.0, 2.0, 3.0][: 3 if kind == "line" else 2]),
            Series("b", [2.0, 1.0, 0.0][: 3 if kind == "line" else 2]),
        ],
    )

    assert "<script" not in markup
    assert "<!--" not in markup
    svg = parse(markup)
    texts = ["".join(node.itertext()) for node in svg.iter()]
    assert NASTY in texts  # the title, the description, the legend: intact once parsed
    assert not any(node.tag.endswith("script") for node in svg.iter())


@pytest.mark.parametrize(("kind", "draw"), ALL)
def test_no_inline_style(kind: str, draw: Any) -> None:
    markup = draw()
    assert "style" not in markup


def test_the_palette_is_readable_on_white() -> None:
    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    def contrast(a: str, b: str) -> float:
        high, low = sorted((luminance(a), luminance(b)), reverse=True)
        return (high + 0.05) / (low + 0.05)

    for colour in (*charts.PALETTE, charts.AXIS):
        assert contrast(colour, charts.BACKGROUND) >= 3, colour
    assert contrast(charts.TEXT, charts.BACKGROUND) >= 7  # text: AAA
    assert len(set(charts.PALETTE)) == len(charts.PALETTE)


def test_a_line_chart_draws_each_value_with_its_tooltip() -> None:
    svg = parse(line())

    tips = sorted(
        "".join(node.itertext())
        for node in svg.iter()
        if node.tag in (f"{SVG}circle", f"{SVG}rect", f"{SVG}polygon") and len(node)
    )
    assert tips == [
        "E-mail — fév. : 20.0 %",
        "E-mail — jan. 2027 : 10.0 %",
        "E-mail — mars : 30.0 %",
        "SMS — jan. 2027 : 5.0 %",
        "SMS — mars : 15.0 %",
    ]
    # A missing value breaks the line: the SMS path restarts (two "M").
    paths = [p.get("d", "") for p in svg.iter(f"{SVG}path") if p.get("fill") == "none"]
    sms = next(p for p in paths if p.count("M") == 2)
    assert "L" not in sms
    # Lines differ by more than colour: dashes and markers.
    dashed = [p.get("stroke-dasharray") for p in svg.iter(f"{SVG}path") if p.get("stroke-width")]
    assert None in dashed and "7 4" in dashed


def test_a_line_chart_axis_stops_at_its_maximum() -> None:
    svg = parse(line(series=[Series("E-mail", [95.0, 99.0, 100.0])]))
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert "100.0 %" in labels
    assert "120.0 %" not in labels
    low = parse(line(series=[Series("E-mail", [1.0, 2.0, 3.0])]))
    assert "10.0 %" in [t.text for t in low.iter(f"{SVG}text")]  # min_top


def test_category_labels_on_two_lines_and_thinned_to_fit() -> None:
    months = [f"month{i}\n2027" if i in (0, 12) else f"month{i}" for i in range(24)]
    svg = parse(line(categories=months, series=[Series("E-mail", [float(i) for i in range(24)])]))
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    shown = [t for t in texts if t and t.startswith("month")]
    assert shown[-1] == "month23"  # the latest is always named
    assert 2 <= len(shown) < 24
    assert texts.count("2027") == 2  # carried to the next month named when skipped


def test_stacked_bars_pile_up_and_show_their_total() -> None:
    svg = parse(bars(stacked=True))
    rects = [r for r in svg.iter(f"{SVG}rect") if len(r)]
    tips = ["".join(r.itertext()) for r in rects]
    assert tips == [
        "espace client — Accords : 3",
        "espace client — Retraits : 1",
        "agence — Accords : 1",
        "agence — Refus : 2",
    ]
    first, second = rects[0], rects[1]
    # The second segment starts where the first ends, on the same row.
    assert float(second.get("x", 0)) == pytest.approx(
        float(first.get("x", 0)) + float(first.get("width", 0)), abs=0.2
    )
    assert first.get("y") == second.get("y")
    totals = [t.text for t in svg.iter(f"{SVG}text") if t.get("font-weight")]
    assert totals == ["4", "3"]


def test_grouped_bars_stand_side_by_side_with_their_values() -> None:
    svg = parse(bars())
    rects = [r for r in svg.iter(f"{SVG}rect") if len(r)]
    assert len(rects) == 4  # zero values draw no bar
    ys = [r.get("y") for r in rects]
    assert len(set(ys)) == 4
    assert {r.get("x") for r in rects} == {rects[0].get("x")}  # all from the axis


def test_long_category_names_are_shortened_with_the_full_name_as_tooltip() -> None:
    long = "agence : une très longue dénomination qui ne tient pas dans la marge " * 2
    svg = parse(bars(categories=[long, "agence"]))
    label = next(t for t in svg.iter(f"{SVG}text") if "".join(t.itertext()).startswith(long))
    title = label.find(f"{SVG}title")
    assert title is not None and title.text == long
    assert label.text is None or label.text == ""  # the title comes first, then the text
    shown = "".join(label.itertext())[len(long) :]
    assert shown.endswith("…") and len(shown) < len(long)


def test_an_empty_chart_still_draws_its_axes() -> None:
    svg = parse(bars(categories=[], series=[Series("Accords", [])]))
    assert [t.text for t in svg.iter(f"{SVG}text")][-2:] == ["0", "1"]
    svg = parse(line(series=[Series("E-mail", [None, None, None])]))
    assert not [c for c in svg.iter(f"{SVG}circle") if len(c)]


@pytest.mark.parametrize(
    ("top", "integer", "ticks"),
    [
        (0, False, [0, 1]),
        (1, True, [0, 1]),
        (3, True, [0, 1, 2, 3]),
        (7, True, [0, 2, 4, 6, 8]),
        (42.0, False, [0, 10, 20, 30, 40, 50]),
        (12.5, False, [0, 2.5, 5, 7.5, 10, 12.5]),
        (1234, True, [0, 500, 1000, 1500]),
        (0.3, False, [0, 0.1, 0.2, 0.3]),
    ],
)
def test_nice_ticks(top: float, integer: bool, ticks: list[float]) -> None:
    assert charts.nice_ticks(top, integer=integer) == ticks


def test_ids_are_the_callers_and_unique_per_chart() -> None:
    markup = line(chart_id="chart-rates") + bars(chart_id="chart-decisions")
    ids = re.findall(r'\sid="([^"]+)"', markup)
    assert len(ids) == len(set(ids)) == 6
