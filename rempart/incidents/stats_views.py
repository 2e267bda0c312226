"""The regional incident figures page and its CSV export.

Thin: the rights from `perms.can_view_stats` (403 with the reason for everybody else), the
regions from `stats.regions_in_scope`, the figures from `stats.incident_figures`. Charts are
SVG drawn on the server (no script, no inline style: the strict CSP applies), each followed by
a table holding the same data; the CSV export holds every figure of the page."""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from rempart.core.csv_export import csv_response
from rempart.organisations.models import Sector

from . import perms, stats
from .models import IncidentType

BLUE = "#000091"
BLUE_LIGHT = "#6a6af4"
GREEN = "#18753c"
RED = "#c9191e"
GREY = "#929292"
ORANGE = "#b34000"
OUTCOME_COLOURS = {
    "indetermine": GREY,
    "faux_positif": BLUE_LIGHT,
    "vrai_positif_sans_impact": ORANGE,
    "vrai_positif_avec_impact": RED,
}


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class StatsFilterForm(forms.Form):
    """What the figures cover. Every field is optional: an empty form is the current year,
    every region in the user's scope, every structure and incident type."""

    region = forms.TypedChoiceField(
        label=_("Région"),
        required=False,
        coerce=int,
        empty_value=None,
        error_messages={"invalid_choice": _("Choisissez une région de la liste.")},
    )
    year = forms.IntegerField(
        label=_("Année"),
        required=False,
        min_value=2000,
        error_messages={
            "invalid": _("Indiquez une année sur quatre chiffres, par exemple 2025."),
            "min_value": _("Indiquez une année à partir de 2000."),
            "max_value": _("Indiquez une année qui n'est pas dans le futur."),
        },
    )
    start = forms.DateField(
        label=_("Du"),
        required=False,
        widget=DateInput(),
        error_messages={"invalid": _("Indiquez une date (jj/mm/aaaa).")},
    )
    end = forms.DateField(
        label=_("Au (inclus)"),
        required=False,
        widget=DateInput(),
        error_messages={"invalid": _("Indiquez une date (jj/mm/aaaa).")},
    )
    organisation_type = forms.ChoiceField(
        label=_("Type de structure"),
        required=False,
        choices=[
            ("", _("Toutes les structures")),
            (Sector.HEALTH.value, _("Établissements de santé (ES)")),
            (Sector.MEDICO_SOCIAL.value, _("Établissements et services médico-sociaux (ESSMS)")),
        ],
        error_messages={"invalid_choice": _("Choisissez un type de structure de la liste.")},
    )
    incident_type = forms.ChoiceField(
        label=_("Type d'incident"),
        required=False,
        choices=[("", _("Tous les types")), *IncidentType.choices],
        error_messages={"invalid_choice": _("Choisissez un type d'incident de la liste.")},
    )

    def __init__(self, *args, regions, **kwargs):
        super().__init__(*args, **kwargs)
        self.regions = regions
        self.show_region = len(regions) > 1
        self.fields["region"].choices = [("", _("Toutes les régions"))] + [
            (region.pk, region.name) for region in regions
        ]
        self.fields["year"].widget.attrs.update({"min": 2000, "max": stats.current_year() + 1})

    def clean_year(self):
        year = self.cleaned_data.get("year")
        if year is not None and year > stats.current_year() + 1:
            raise forms.ValidationError(_("Indiquez une année qui n'est pas dans le futur."))
        return year

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if (start is None) != (end is None) and not self.errors:
            missing = "end" if end is None else "start"
            self.add_error(
                missing, _("Indiquez les deux dates de la période, ou seulement une année.")
            )
        elif start and end:
            if start > end:
                self.add_error("end", _("La date de fin précède la date de début."))
            elif (end - start).days > stats.MAX_PERIOD_DAYS:
                self.add_error("end", _("La période couvre cinq ans au plus."))
        return data

    def filters(self) -> stats.Filters:
        """The filters of a valid form (defaults for what was left empty)."""
        data = self.cleaned_data
        region_id = data.get("region")
        regions = [r for r in self.regions if r.pk == region_id] if region_id else self.regions
        if data.get("start") and data.get("end"):
            period = stats.Period.between(data["start"], data["end"])
        else:
            period = stats.Period.year(data.get("year") or stats.current_year())
        return stats.Filters(
            regions=regions,
            period=period,
            organisation_type=data.get("organisation_type") or "",
            incident_type=data.get("incident_type") or "",
        )


def _require_stats(user) -> list:
    if not perms.can_view_stats(user):
        raise PermissionDenied(stats.NO_STATS_ACCESS)
    return stats.regions_in_scope(user)


# --- Charts (geometry only; the template draws them) ------------------------------------------


def _coord(value: float) -> str:
    return f"{value:.1f}"


def _nice_max(value: int) -> int:
    """The smallest 1, 2 or 5 × 10^k at or above `value` (1 for an empty chart)."""
    if value <= 0:
        return 1
    power = 1
    while power * 10 <= value:
        power *= 10
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def hbar_chart(chart_id: str, title: str, rows: list[tuple[str, int, str]]) -> dict:
    """Horizontal bars: rows of (label, value, colour)."""
    width, label_width, value_width, row_height, bar_height = 640, 230, 60, 28, 18
    plot = width - label_width - value_width
    top = max([value for _l, value, _c in rows] + [0]) or 1
    bars, texts = [], []
    for index, (label, value, colour) in enumerate(rows):
        y = 8 + index * row_height
        length = plot * value / top
        bars.append(
            {
                "x": str(label_width),
                "y": _coord(y),
                "width": _coord(length),
                "height": str(bar_height),
                "fill": colour,
                "title": f"{label} : {value}",
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
                "text": str(value),
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


def months_chart(chart_id: str, title: str, months: list[stats.Month]) -> dict:
    """Stacked vertical bars by month: complete and incomplete alerts."""
    width, height, left, right, top, bottom = 640, 240, 40, 8, 16, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    scale_max = _nice_max(max((m.count for m in months), default=0))
    slot = plot_w / max(len(months), 1)
    bar_w = slot * 0.7
    every = max(1, -(-len(months) // 12))  # at most twelve month labels
    series = [
        ("Alertes complètes", BLUE, "complete"),
        ("Alertes incomplètes", ORANGE, "incomplete"),
    ]
    bars, texts, lines = [], [], []
    for tick in range(5):
        y = top + plot_h - plot_h * tick / 4
        lines.append({"x1": str(left), "y1": _coord(y), "x2": str(width - right), "y2": _coord(y)})
        value = scale_max * tick / 4
        texts.append(
            {
                "x": str(left - 6),
                "y": _coord(y + 4),
                "anchor": "end",
                "text": f"{value:g}".replace(".", ","),
            }
        )
    for index, month in enumerate(months):
        x = left + slot * index + (slot - bar_w) / 2
        base = float(top + plot_h)
        for name, colour, attribute in series:
            value = getattr(month, attribute)
            if not value:
                continue
            h = plot_h * value / scale_max
            base -= h
            bars.append(
                {
                    "x": _coord(x),
                    "y": _coord(base),
                    "width": _coord(bar_w),
                    "height": _coord(h),
                    "fill": colour,
                    "title": f"{month.label} — {name.lower()} : {value}",
                }
            )
        if index % every == 0:
            texts.append(
                {
                    "x": _coord(x + bar_w / 2),
                    "y": str(height - bottom + 16),
                    "anchor": "middle",
                    "text": month.short_label,
                }
            )
        if month.count and len(months) <= 24:
            texts.append(
                {
                    "x": _coord(x + bar_w / 2),
                    "y": _coord(base - 4),
                    "anchor": "middle",
                    "text": str(month.count),
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
        "legend": [{"name": name, "colour": colour} for name, colour, _a in series],
    }


def _charts(figures: stats.IncidentFigures) -> dict:
    return {
        "months": months_chart("chart-months", "Alertes reçues par mois", figures.months),
        "types": hbar_chart(
            "chart-types",
            "Alertes reçues par type d'incident",
            [(row.label, row.count, BLUE) for row in figures.alert_types],
        ),
        "outcomes": hbar_chart(
            "chart-outcomes",
            "Dossiers par qualification finale",
            [
                (row.label, row.count, OUTCOME_COLOURS.get(row.key, BLUE))
                for row in figures.case_outcomes
            ],
        ),
    }


# --- Pages ----------------------------------------------------------------------------------------


@require_GET
def incident_stats(request):
    regions = _require_stats(request.user)
    form = StatsFilterForm(request.GET, regions=regions)
    context = {"form": form, "figures": None, "charts": None, "export_query": ""}
    status = 200
    if form.is_valid():
        figures = stats.incident_figures(form.filters())
        context.update(
            figures=figures,
            charts=_charts(figures),
            export_query=request.GET.urlencode(),
        )
    else:
        status = 400
    context["title"] = "Chiffres régionaux des incidents"
    return render(request, "incidents/stats_dashboard.html", context, status=status)


def _csv_number(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}".replace(".", ",")
    return str(value)


def csv_rows(figures: stats.IncidentFigures) -> list[list]:
    """Every figure of the page: section; indicator; value; unit."""
    f = figures.filters
    rows: list[list] = [
        ["Filtres", "Période", f.period.label, ""],
        ["Filtres", "Régions", f.region_label, ""],
        ["Filtres", "Type de structure", f.organisation_type_label, ""],
        ["Filtres", "Type d'incident", f.incident_type_label, ""],
        ["Alertes", "Alertes reçues (hors tests et doublons)", figures.alerts, "alertes"],
        ["Alertes", "Doublons rattachés", figures.duplicates, "alertes"],
        ["Alertes", "Alertes incomplètes", figures.incomplete, "alertes"],
        ["Alertes", "Part des alertes incomplètes", _csv_number(figures.incomplete_share), "%"],
    ]
    for month in figures.months:
        rows.append(["Alertes par mois", month.label, month.count, "alertes"])
    for row in figures.alert_types:
        rows.append(["Alertes par type", row.label, row.count, "alertes"])
    rows.append(["Dossiers", "Dossiers ouverts", figures.cases, "dossiers"])
    for row in figures.case_states:
        rows.append(["Dossiers par état", row.label, row.count, "dossiers"])
    for row in figures.case_outcomes:
        rows.append(["Dossiers par qualification", row.label, row.count, "dossiers"])
    rows += [
        ["Structures", "Structures concernées", figures.organisations, "structures"],
        [
            "Déclarations",
            "Déclarations déposées à CERT Santé",
            figures.declarations_filed,
            "déclarations",
        ],
    ]
    for timing in figures.timings:
        rows += [
            ["Délais", f"{timing.label} — médiane", _csv_number(timing.median_minutes), "minutes"],
            ["Délais", f"{timing.label} — 90e centile", _csv_number(timing.p90_minutes), "minutes"],
            ["Délais", f"{timing.label} — nombre mesuré", timing.count, ""],
            ["Délais", f"{timing.label} — pas encore atteint", timing.pending, ""],
        ]
    return rows


@require_GET
def incident_stats_csv(request):
    regions = _require_stats(request.user)
    form = StatsFilterForm(request.GET, regions=regions)
    if not form.is_valid():
        context = {"form": form, "figures": None, "charts": None, "export_query": ""}
        context["title"] = "Chiffres régionaux des incidents"
        return render(request, "incidents/stats_dashboard.html", context, status=400)
    figures = stats.incident_figures(form.filters())
    period = figures.filters.period
    name = f"incidents-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    return csv_response(name, ["Rubrique", "Indicateur", "Valeur", "Unité"], csv_rows(figures))
