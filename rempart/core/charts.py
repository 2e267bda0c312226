"""Bar charts drawn on the server: only their geometry is computed here, the component
`components/chart.html` draws it as SVG (no script, no inline style: the strict CSP applies),
and each page shows the same figures in a table after it.

Coordinates are computed in Decimal and rounded to a tenth, so a chart is the same on every
machine (tests compare them)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

# DSFR palette (illustrative colours of the design system).
BLUE = "#000091"
BLUE_LIGHT = "#6a6af4"
GREEN = "#18753c"
RED = "#c9191e"
GREY = "#929292"
ORANGE = "#b34000"
YELLOW = "#c8aa39"

TENTH = Decimal("0.1")
NBSP = "\u00a0"


def _coord(value) -> str:
    """An SVG coordinate with one decimal."""
    return str(Decimal(value).quantize(TENTH, rounding=ROUND_HALF_UP))


def nice_max(value) -> Decimal:
    """The smallest 1, 2 or 5 × 10^k at or above `value` (1 for an empty chart)."""
    value = Decimal(value)
    if value <= 0:
        return Decimal(1)
    power = Decimal(1)
    while power * 10 <= value:
        power *= 10
    while power > value:
        power /= 10
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def french_number(value: Decimal) -> str:
    """« 1 500 », « 2,5 »: a tick label (no-break space between thousands)."""
    value = Decimal(value)
    value = value.to_integral_value() if value == value.to_integral_value() else value.normalize()
    decimals = max(0, -value.as_tuple().exponent)
    return f"{value:,.{decimals}f}".replace(",", NBSP).replace(".", ",")


def hbar_chart(
    chart_id: str,
    title: str,
    rows: list[tuple[str, Decimal | int, str, str]],
    *,
    maximum: Decimal | int | None = None,
    label_width: int = 190,
) -> dict:
    """Horizontal bars for categories: rows of (label, value, value shown, colour)."""
    width, value_width, row_height, bar_height = 640, 110, 30, 18
    plot = width - label_width - value_width
    top = max([Decimal(v) for _l, v, _s, _c in rows] + [Decimal(0)])
    scale_max = Decimal(maximum) if maximum else (top if top > 0 else Decimal(1))
    bars, texts = [], []
    for index, (label, value, shown, colour) in enumerate(rows):
        y = 8 + index * row_height
        length = plot * Decimal(value) / scale_max if scale_max else Decimal(0)
        bars.append(
            {
                "x": str(label_width),
                "y": _coord(y),
                "width": _coord(max(length, Decimal(0))),
                "height": str(bar_height),
                "fill": colour,
                "title": f"{label} : {shown}",
            }
        )
        texts.append(
            {"x": str(label_width - 8), "y": _coord(y + 13), "anchor": "end", "text": label}
        )
        texts.append(
            {
                "x": _coord(label_width + length + 6),
                "y": _coord(y + 13),
                "anchor": "start",
                "text": shown,
            }
        )
    height = 16 + len(rows) * row_height
    return {
        "id": chart_id,
        "title": title,
        "width": width,
        "height": height,
        "bars": bars,
        "texts": texts,
        "lines": [
            {"x1": str(label_width), "y1": "4", "x2": str(label_width), "y2": str(height - 4)}
        ],
        "legend": [],
    }


def vbar_chart(
    chart_id: str,
    title: str,
    categories: list[str],
    series: list[tuple[str, str, list[int]]],
    *,
    titles: list[str] | None = None,
    tick_label: Callable[[Decimal], str] = french_number,
) -> dict:
    """Vertical (stacked) bars, e.g. by month: series of (name, colour, one value per
    category). `titles` name the categories in the tooltips when the axis labels are short."""
    width, height, left, right, top, bottom = 640, 240, 44, 8, 16, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    titles = titles or categories
    totals = [sum(values[i] for _n, _c, values in series) for i in range(len(categories))]
    scale_max = nice_max(max(totals, default=0))
    count = max(len(categories), 1)
    slot = Decimal(plot_w) / count
    bar_w = slot * Decimal("0.7")
    every = max(1, -(-len(categories) // 12))  # at most twelve labels
    bars, texts, lines = [], [], []
    for tick in range(5):
        value = scale_max * tick / 4
        y = top + plot_h - plot_h * Decimal(tick) / 4
        lines.append({"x1": str(left), "y1": _coord(y), "x2": str(width - right), "y2": _coord(y)})
        texts.append(
            {"x": str(left - 6), "y": _coord(y + 4), "anchor": "end", "text": tick_label(value)}
        )
    for index, label in enumerate(categories):
        x = left + slot * index + (slot - bar_w) / 2
        base = Decimal(top + plot_h)
        for name, colour, values in series:
            value = values[index]
            if not value:
                continue
            h = plot_h * Decimal(value) / scale_max
            base -= h
            bars.append(
                {
                    "x": _coord(x),
                    "y": _coord(base),
                    "width": _coord(bar_w),
                    "height": _coord(h),
                    "fill": colour,
                    "title": f"{titles[index]} — {name} : {value}",
                }
            )
        if index % every == 0:
            texts.append(
                {
                    "x": _coord(x + bar_w / 2),
                    "y": str(height - bottom + 16),
                    "anchor": "middle",
                    "text": label,
                }
            )
        if totals[index] and len(categories) <= 24:
            texts.append(
                {
                    "x": _coord(x + bar_w / 2),
                    "y": _coord(base - 4),
                    "anchor": "middle",
                    "text": str(totals[index]),
                }
            )
    return {
        "id": chart_id,
        "title": title,
        "width": width,
        "height": height,
        "bars": bars,
        "texts": texts,
        "lines": lines,
        "legend": [{"name": name, "colour": colour} for name, colour, _v in series]
        if len(series) > 1
        else [],
    }


def radar_chart(
    chart_id: str,
    title: str,
    axes: list[str],
    series: list[tuple[str, str, list[Decimal | float | None]]],
    *,
    maximum: Decimal | int = 100,
    size: int = 640,
) -> dict:
    """A radar (spider) chart, e.g. scores by theme from 0 to `maximum`: one axis per label,
    clockwise from the top, rings at a quarter of the scale, and one polygon per series of
    (name, colour, one value per axis; None drawn at the centre). Three axes at least make a
    shape; with fewer, pages show bars instead."""
    import math

    count = len(axes)
    width, height = size, size * 3 // 4
    cx, cy = Decimal(width) / 2, Decimal(height) / 2
    radius = Decimal(height) / 2 - 44
    scale = Decimal(maximum) or Decimal(1)

    def point(index: int, fraction: Decimal) -> tuple[Decimal, Decimal]:
        angle = -math.pi / 2 + 2 * math.pi * index / max(count, 1)
        return (
            cx + radius * fraction * Decimal(str(round(math.cos(angle), 6))),
            cy + radius * fraction * Decimal(str(round(math.sin(angle), 6))),
        )

    def points(fractions: list[Decimal]) -> str:
        return " ".join(
            f"{_coord(x)},{_coord(y)}" for x, y in (point(i, f) for i, f in enumerate(fractions))
        )

    polygons, lines, texts, dots = [], [], [], []
    for ring in (1, 2, 3, 4):
        fraction = Decimal(ring) / 4
        polygons.append(
            {
                "points": points([fraction] * count),
                "fill": "none",
                "fill_opacity": "0",
                "stroke": GREY,
                "stroke_width": "1",
                "title": "",
            }
        )
        x, y = point(0, fraction)
        texts.append(
            {
                "x": _coord(x + 4),
                "y": _coord(y + 12),
                "anchor": "start",
                "text": french_number(scale * fraction),
            }
        )
    for index, label in enumerate(axes):
        x, y = point(index, Decimal(1))
        lines.append({"x1": _coord(cx), "y1": _coord(cy), "x2": _coord(x), "y2": _coord(y)})
        lx, ly = point(index, Decimal("1.1"))
        anchor = "middle" if abs(lx - cx) < 8 else ("start" if lx > cx else "end")
        texts.append({"x": _coord(lx), "y": _coord(ly + 4), "anchor": anchor, "text": label})
    for name, colour, values in series:
        fractions = [
            min(max(Decimal(str(v)) / scale, Decimal(0)), Decimal(1))
            if v is not None
            else Decimal(0)
            for v in values
        ]
        polygons.append(
            {
                "points": points(fractions),
                "fill": colour,
                "fill_opacity": "0.2",
                "stroke": colour,
                "stroke_width": "2",
                "title": name,
            }
        )
        for index, fraction in enumerate(fractions):
            x, y = point(index, fraction)
            shown = (
                "—"
                if values[index] is None
                else french_number(
                    Decimal(str(values[index])).quantize(TENTH, rounding=ROUND_HALF_UP)
                )
            )
            dots.append(
                {
                    "cx": _coord(x),
                    "cy": _coord(y),
                    "fill": colour,
                    "title": f"{name} — {axes[index]} : {shown}",
                }
            )
    return {
        "id": chart_id,
        "title": title,
        "width": width,
        "height": height,
        "bars": [],
        "texts": texts,
        "lines": lines,
        "polygons": polygons,
        "dots": dots,
        "legend": [{"name": name, "colour": colour} for name, colour, _v in series]
        if len(series) > 1
        else [],
    }
