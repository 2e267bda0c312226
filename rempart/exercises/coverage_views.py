"""Coverage pages for the ARS, the CRRC, GHT coordinators and national observers: the share of
organisations with a valid crisis exercise against the target, by region, département, category
and GHT; the organisations list (who is covered until when, who is not and why); the regional
exercises; a CSV export. Computed from the records (coverage.py), never declared.

Only verdicts are shown here, never the content of an establishment's exercises."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from rempart.core.csv_export import csv_response
from rempart.core.xlsx_export import xlsx_response
from rempart.organisations import perms as org_perms

from . import coverage as cov
from . import perms

PAGE_SIZE = 50
EXPORT_HEADER = [
    "FINESS",
    "Établissement",
    "Département",
    "Catégorie",
    "GHT",
    "Couvert",
    "Dernier exercice valide",
    "Valable jusqu'au",
    "Exercice en attente",
    "Motifs (ne compte pas encore)",
]


def _scope(request):
    scope = perms.coverage_q(request.user)
    if scope is None:
        raise PermissionDenied(perms.NO_COVERAGE)
    return scope


def _day(request) -> datetime.date:
    """The day the coverage is computed for (« au » parameter; today by default)."""
    raw = request.GET.get("au", "")
    try:
        day = datetime.date.fromisoformat(raw)
    except ValueError:
        return timezone.localdate()
    return day if datetime.date(2020, 1, 1) <= day <= timezone.localdate() else timezone.localdate()


def _int(request, name: str) -> int | None:
    raw = request.GET.get(name, "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


@dataclass(frozen=True)
class Row:
    """One line of a coverage table, formatted once here (a national page has hundreds)."""

    label: str
    total: int
    covered: int
    missing: int
    rate: str
    meets_target: bool
    url: str = ""
    missing_url: str = ""


def _rows(
    cells, target: float, *, list_url: str = "", param: str = "", extra: str = ""
) -> list[Row]:
    rows = []
    for cell in cells:
        link = f"{list_url}?{param}={cell.key}{extra}" if param and cell.key else ""
        rows.append(
            Row(
                label=cell.label,
                total=cell.total,
                covered=cell.covered,
                missing=cell.missing,
                rate=formats.number_format(cell.rate, 1) + "\u00a0%",
                meets_target=cell.rate >= target,
                url=link,
                missing_url=f"{link}&statut=missing" if link and cell.missing else "",
            )
        )
    return rows


@require_GET
def coverage(request):
    """The indicator. Seen nationally, it reads by region and category; a region (chosen, or
    the only one in the user's scope) reads by département, category and GHT."""
    scope = _scope(request)
    day = _day(request)
    regions = org_perms.capability_regions(request.user, perms.C.VIEW_EXERCISE_COVERAGE)
    region_id = _int(request, "region")
    if region_id is not None and regions is not None and region_id not in regions:
        region_id = None
    view = cov.coverage_view(scope, regions=regions, region_id=region_id, today=day)
    overview, national = view.overview, view.national
    target = overview.rule.target_percent
    extra = "" if day == timezone.localdate() else f"&au={day.isoformat()}"
    list_url = reverse("exercises:coverage_organisations")
    tables = []
    if national:
        tables.append(
            (
                "region",
                _("Par région"),
                _("Région"),
                _rows(
                    overview.by_region,
                    target,
                    list_url=reverse("exercises:coverage"),
                    param="region",
                    extra=extra,
                ),
            )
        )
    else:
        tables.append(
            (
                "departement",
                _("Par département"),
                _("Département"),
                _rows(
                    overview.by_departement,
                    target,
                    list_url=list_url,
                    param="departement",
                    extra=extra,
                ),
            )
        )
    tables.append(
        (
            "category",
            _("Par catégorie d'établissement"),
            _("Catégorie"),
            _rows(overview.by_category, target, list_url=list_url, param="categorie", extra=extra),
        )
    )
    if not national:
        tables.append(
            (
                "ght",
                _("Par GHT"),
                _("GHT"),
                _rows(overview.by_ght, target, list_url=list_url, param="ght", extra=extra),
            )
        )
    return render(
        request,
        "exercises/coverage.html",
        {
            "title": "Couverture des exercices de crise",
            "overview": overview,
            "total_rate": formats.number_format(overview.total.rate, 1) + "\u00a0%",
            "requirements": overview.rule.requirements(),
            "tables": tables,
            "regional_runs": view.regional_runs,
            "day": day,
            "is_today": day == timezone.localdate(),
            "region_id": region_id,
        },
    )


def _filters(request) -> dict:
    status = request.GET.get("statut", "")
    return {
        "status": status if status in {"covered", "missing"} else "",
        "departement_id": _int(request, "departement"),
        "category_id": _int(request, "categorie"),
        "ght_id": _int(request, "ght"),
        "search": request.GET.get("q", "").strip()[:100],
    }


def _querystring(request, filters: dict, day: datetime.date) -> str:
    from urllib.parse import urlencode

    pairs = {
        "statut": filters["status"],
        "departement": filters["departement_id"] or "",
        "categorie": filters["category_id"] or "",
        "ght": filters["ght_id"] or "",
        "q": filters["search"],
    }
    if day != timezone.localdate():
        pairs["au"] = day.isoformat()
    return urlencode({k: v for k, v in pairs.items() if v})


def _decorate(organisation, the_rule) -> None:
    organisation.valid_until = (
        the_rule.valid_until(organisation.last_valid_on) if organisation.last_valid_on else None
    )


@require_GET
def coverage_organisations(request):
    scope = _scope(request)
    day = _day(request)
    filters = _filters(request)
    the_rule = cov.rule()
    queryset = cov.organisations_page_queryset(scope, today=day, **filters)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    for organisation in page:
        _decorate(organisation, the_rule)
    return render(
        request,
        "exercises/coverage_organisations.html",
        {
            "title": "Établissements et exercices de crise",
            "page": page,
            "filters": filters,
            "querystring": _querystring(request, filters, day),
            "day": day,
            "is_today": day == timezone.localdate(),
            **cov.filter_choices(scope, the_rule),
        },
    )


@require_GET
def coverage_export(request):
    scope = _scope(request)
    day = _day(request)
    the_rule = cov.rule()
    queryset = cov.organisations_page_queryset(scope, today=day, **_filters(request))

    def rows():
        for organisation in queryset.iterator(chunk_size=1000):
            _decorate(organisation, the_rule)
            yield _export_row(organisation, _dmy)

    return csv_response(f"couverture-exercices-{day.isoformat()}.csv", EXPORT_HEADER, rows())


def _dmy(day: datetime.date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else ""


def _export_row(organisation, date_cell) -> list:
    """One organisation of the exports (CSV: dates as text; XLSX: as dates)."""
    return [
        organisation.finess or "",
        organisation.name,
        organisation.departement.code if organisation.departement else "",
        organisation.category.label if organisation.category else "",
        organisation.ght.name if organisation.ght else "",
        "oui" if organisation.is_covered else "non",
        date_cell(organisation.last_valid_on),
        date_cell(organisation.valid_until),
        organisation.pending_title or "",
        " ".join(organisation.pending_reasons or []),
    ]


# --- XLSX export (brief E) ----------------------------------------------------------------------

BREAKDOWN_HEADER = [
    "Répartition",
    "Libellé",
    "Établissements",
    "Couverts",
    "Sans exercice valide",
    "Taux (%)",
    "Cible atteinte",
]


def _breakdown_rows(overview) -> list[list]:
    target = overview.rule.target_percent
    lines = [("Total", [overview.total])]
    lines += [
        ("Département", overview.by_departement),
        ("Catégorie", overview.by_category),
        ("GHT", overview.by_ght),
    ]
    return [
        [
            dimension,
            cell.label,
            cell.total,
            cell.covered,
            cell.missing,
            cell.rate,
            "oui" if cell.total and cell.rate >= target else "non",
        ]
        for dimension, cells in lines
        for cell in cells
    ]


@require_GET
def coverage_xlsx(request):
    """The organisations list with the CSV's filters (first sheet), and the coverage of the
    same population by département, category and GHT (second sheet: the filters on those
    dimensions apply, not the status or the search, which would make the rates meaningless)."""
    scope = _scope(request)
    day = _day(request)
    filters = _filters(request)
    the_rule = cov.rule()
    queryset = cov.organisations_page_queryset(scope, today=day, **filters)

    def rows():
        for organisation in queryset.iterator(chunk_size=1000):
            _decorate(organisation, the_rule)
            yield _export_row(organisation, lambda d: d or "")

    population = scope
    for name, field in (
        ("departement_id", "departement_id"),
        ("category_id", "category_id"),
        ("ght_id", "ght_id"),
    ):
        if filters[name]:
            population &= Q(**{field: filters[name]})
    overview = cov.coverage_overview(
        population, today=day, dimensions=("departement", "category", "ght")
    )
    return xlsx_response(
        f"couverture-exercices-{day.isoformat()}.xlsx",
        [
            ("Établissements", EXPORT_HEADER, rows()),
            (
                f"Répartition au {day:%d-%m-%Y}",
                BREAKDOWN_HEADER,
                _breakdown_rows(overview),
            ),
        ],
    )
