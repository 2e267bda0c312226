"""Programme statistics pages: the region overview, one call's figures (with CSV and XLSX
exports) and the CaRE timeline of an organisation.

Thin: the figures come from `stats`, the rights from selectors and perms. A call's figures are
for region-wide and national roles (`perms.sees_all_applicants`): establishment, legal entity
and GHT people get a 404, they never see other establishments' amounts. Charts are SVG drawn on
the server (no script, no inline style: the strict CSP applies), each followed by its data
table.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from rempart.organisations import selectors as org_selectors

from . import perms, selectors, stats, stats_export, windows

# DSFR palette (illustrative colours of the design system).
BLUE = "#000091"
BLUE_LIGHT = "#6a6af4"
GREEN = "#18753c"
RED = "#c9191e"
GREY = "#929292"
ORANGE = "#b34000"
STATUS_COLOURS = {
    "brouillon": GREY,
    "deposee": BLUE_LIGHT,
    "en_instruction": BLUE_LIGHT,
    "complement_demande": ORANGE,
    "acceptee": GREEN,
    "rejetee": RED,
}
TENTH = Decimal("0.1")


# --- Charts (geometry only; the template draws them) ----------------------------------------------


def _coord(value) -> str:
    """An SVG coordinate with one decimal, computed in Decimal."""
    return str(Decimal(value).quantize(TENTH, rounding=ROUND_HALF_UP))


def _nice_max(value) -> Decimal:
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


def _tick_label(value: Decimal, money: bool) -> str:
    if money:
        return stats.format_short_eur(value)
    return stats.format_number(value.normalize() if value == value.to_integral() else value)


def hbar_chart(
    chart_id: str,
    title: str,
    rows: list[tuple[str, Decimal | int, str, str]],
    *,
    maximum: Decimal | int | None = None,
) -> dict:
    """Horizontal bars for categories: rows of (label, value, value shown, colour)."""
    width, label_width, value_width, row_height, bar_height = 640, 190, 110, 30, 18
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
) -> dict:
    """Vertical (stacked) bars by month: series of (name, colour, one value per category)."""
    width, height, left, right, top, bottom = 640, 240, 44, 8, 16, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values[i] for _n, _c, values in series) for i in range(len(categories))]
    scale_max = _nice_max(max(totals, default=0))
    count = max(len(categories), 1)
    slot = Decimal(plot_w) / count
    bar_w = slot * Decimal("0.7")
    every = max(1, -(-len(categories) // 12))  # at most twelve month labels
    bars, texts, lines = [], [], []
    for tick in range(5):
        value = scale_max * tick / 4
        y = top + plot_h - plot_h * Decimal(tick) / 4
        lines.append({"x1": str(left), "y1": _coord(y), "x2": str(width - right), "y2": _coord(y)})
        texts.append(
            {
                "x": str(left - 6),
                "y": _coord(y + 4),
                "anchor": "end",
                "text": _tick_label(value, False),
            }
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
                    "title": f"{label} — {name} : {value}",
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


def _charts(figures: stats.CallStatistics) -> dict:
    months = figures.months
    envelope = figures.envelope
    return {
        "statuses": hbar_chart(
            "chart-statuses",
            "Dossiers par statut",
            [
                (s.label, s.count, str(s.count), STATUS_COLOURS.get(s.status, BLUE))
                for s in figures.statuses
            ],
        ),
        "envelope": hbar_chart(
            "chart-envelope",
            "Enveloppe, potentiel et engagements",
            [
                (
                    "Enveloppe régionale",
                    envelope.envelope,
                    stats.format_short_eur(envelope.envelope),
                    BLUE,
                ),
                (
                    "Potentiel (plafonds)",
                    envelope.potential,
                    stats.format_short_eur(envelope.potential),
                    BLUE_LIGHT,
                ),
                ("Engagé", envelope.engaged, stats.format_short_eur(envelope.engaged), GREEN),
            ],
        ),
        "targets": hbar_chart(
            "chart-targets",
            "Taux d'atteinte par cible (cibles validées / dossiers acceptés)",
            [
                (t.identifier, t.rate or 0, stats.format_percent(t.rate), GREEN)
                for t in figures.targets
            ],
            maximum=100,
        )
        if figures.targets
        else None,
        "submitted": vbar_chart(
            "chart-submitted",
            "Dossiers déposés par mois",
            [m.short_label for m in months.submitted],
            [("Dossiers déposés", BLUE, [m.count for m in months.submitted])],
        )
        if months.submitted
        else None,
        "decisions": vbar_chart(
            "chart-decisions",
            "Décisions par mois",
            [m.short_label for m in months.decisions],
            [
                ("Acceptés", GREEN, [m.accepted for m in months.decisions]),
                ("Rejetés", RED, [m.rejected for m in months.decisions]),
            ],
        )
        if months.decisions
        else None,
        "declarations": vbar_chart(
            "chart-declarations",
            "Déclarations d'atteinte de cibles par mois",
            [m.short_label for m in months.declarations],
            [("Déclarations", BLUE_LIGHT, [m.count for m in months.declarations])],
        )
        if months.declarations
        else None,
    }


# --- Pages ----------------------------------------------------------------------------------------


def _call_for_statistics(user, pk):
    """A call whose figures the user may see, or 404 (also for establishment people)."""
    call = selectors.get_visible_call(user, pk)
    if not perms.sees_all_applicants(user, call):
        raise Http404("Statistiques indisponibles pour votre rôle.")
    return call


@require_GET
def statistics(request):
    regions = stats.calls_overview(request.user)
    if regions is None:
        raise Http404("Statistiques indisponibles pour votre rôle.")
    return render(
        request,
        "programme/stats_overview.html",
        {
            "regions": regions,
            "several_regions": len(regions) > 1 or stats.statistics_regions(request.user) is None,
            "today_label": windows.format_date_fr(windows.paris_today()),
            "title": "Statistiques du programme CaRE",
        },
    )


@require_GET
def call_statistics(request, pk: int):
    call = _call_for_statistics(request.user, pk)
    figures = stats.call_statistics(call)
    return render(
        request,
        "programme/stats_call.html",
        {
            "call": call,
            "figures": figures,
            "charts": _charts(figures),
            "today_label": windows.format_date_fr(windows.paris_today()),
            "title": f"Statistiques — {call.title}",
        },
    )


@require_GET
def call_statistics_csv(request, pk: int):
    call = _call_for_statistics(request.user, pk)
    return stats_export.statistics_csv(stats.call_statistics(call))


@require_GET
def call_statistics_xlsx(request, pk: int):
    call = _call_for_statistics(request.user, pk)
    return stats_export.statistics_xlsx(stats.call_statistics(call), stats.call_files(call))


@require_GET
def organisation_timeline(request, org_pk: int):
    if not perms.can_view_programme(request.user):
        raise Http404("Programme indisponible pour votre rôle.")
    organisation = org_selectors.get_visible_organisation(request.user, org_pk)
    if organisation.kind not in stats.TIMELINE_KINDS:
        raise Http404(
            "Parcours CaRE disponible pour un établissement, une entité juridique ou un GHT."
        )
    calls = stats.organisation_timeline(request.user, organisation)
    return render(
        request,
        "programme/timeline.html",
        {
            "organisation": organisation,
            "calls": calls,
            "title": f"Parcours CaRE — {organisation.name}",
        },
    )
