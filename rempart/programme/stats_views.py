"""Programme statistics pages: the region overview, one call's figures (with CSV and XLSX
exports) and the CaRE timeline of an organisation.

Thin: the figures come from `stats`, the rights from selectors and perms. A call's figures are
for region-wide and national roles (`perms.sees_all_applicants`): establishment, legal entity
and GHT people get a 404, they never see other establishments' amounts. Charts are SVG drawn on
the server (no script, no inline style: the strict CSP applies), each followed by its data
table.
"""

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from rempart.core.charts import BLUE, BLUE_LIGHT, GREEN, GREY, ORANGE, RED, hbar_chart, vbar_chart
from rempart.organisations import selectors as org_selectors

from . import perms, selectors, stats, stats_export, windows

STATUS_COLOURS = {
    "brouillon": GREY,
    "deposee": BLUE_LIGHT,
    "en_instruction": BLUE_LIGHT,
    "complement_demande": ORANGE,
    "acceptee": GREEN,
    "rejetee": RED,
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
