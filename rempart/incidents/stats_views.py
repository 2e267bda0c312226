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

from rempart.core.charts import BLUE, BLUE_LIGHT, GREY, ORANGE, RED, hbar_chart, vbar_chart
from rempart.core.csv_export import csv_response
from rempart.organisations.models import Sector

from . import perms, stats
from .models import IncidentType

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


def _charts(figures: stats.IncidentFigures) -> dict:
    months = figures.months
    return {
        "months": vbar_chart(
            "chart-months",
            "Alertes reçues par mois",
            [m.short_label for m in months],
            [
                ("Alertes complètes", BLUE, [m.complete for m in months]),
                ("Alertes incomplètes", ORANGE, [m.incomplete for m in months]),
            ],
            titles=[m.label for m in months],
        ),
        "types": hbar_chart(
            "chart-types",
            "Alertes reçues par type d'incident",
            [(row.label, row.count, str(row.count), BLUE) for row in figures.alert_types],
            label_width=230,
        ),
        "outcomes": hbar_chart(
            "chart-outcomes",
            "Dossiers par qualification finale",
            [
                (row.label, row.count, str(row.count), OUTCOME_COLOURS.get(row.key, BLUE))
                for row in figures.case_outcomes
            ],
            label_width=230,
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
