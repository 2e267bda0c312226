"""Regional pages of the self-assessments: campaigns (create, launch, close) and their
completion, the completion of a questionnaire across the scope, the anonymised distribution,
the organisations to support, a GHT's members side by side, CSV exports.

Thin: reads through `regional` (403 without the right, 404 outside one's scope), writes through
`campaigns` (DomainError → the French message on the form or the page). Scores are shown to
these roles; answers never, unless the organisation shared them (then a link to its page)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rempart.core import webflow
from rempart.core.csv_export import csv_response
from rempart.core.errors import DomainError

from . import campaigns, perms
from . import regional as sel
from .models import AssessmentStatus
from .regional_forms import CampaignForm

PAGE_SIZE = 50
STATUSES = (sel.NOT_STARTED, sel.IN_PROGRESS, sel.COMPLETED)
EXPORT_HEADER = [
    "FINESS",
    "Organisation",
    "Département",
    "Catégorie",
    "Statut",
    "Score (/100)",
    "Terminée le",
    "En retard",
    "Réponses partagées",
]


def _int(request, name: str) -> int | None:
    raw = request.GET.get(name, "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def _number(value) -> str:
    return "" if value is None else formats.number_format(value, 1)


# --- Home --------------------------------------------------------------------------------------


@require_GET
def home(request):
    """Campaigns of the visible regions, and the shared questionnaires with their figures."""
    scope = sel.figures_scope(request.user)
    campaign_list = list(
        sel.visible_campaigns(request.user).annotate(
            organisations=Count("assessments"),
            completed=Count(
                "assessments", filter=Q(assessments__status=AssessmentStatus.COMPLETED)
            ),
        )[:100]
    )
    questionnaires = list(
        sel.regional_questionnaires().annotate(
            completed=Count(
                "assessments",
                filter=Q(assessments__status=AssessmentStatus.COMPLETED)
                & sel.in_scope(scope, "assessments__organisation"),
            )
        )
    )
    return render(
        request,
        "assessments/regional_home.html",
        {
            "title": "Autoévaluations : résultats régionaux",
            "campaigns": campaign_list,
            "questionnaires": questionnaires,
            "can_run": perms.can_run_campaigns(request.user),
            "can_support": perms.campaign_regions(request.user) != set(),
            "today": timezone.localdate(),
        },
    )


# --- Campaigns ---------------------------------------------------------------------------------


def _organisers(request):
    organisers = campaigns.organiser_choices(request.user)
    if not organisers:
        raise PermissionDenied(perms.NOT_CAMPAIGNER)
    return sel.organiser_queryset(organisers)


@require_http_methods(["GET", "POST"])
def campaign_create(request):
    organisers = _organisers(request)
    today = timezone.localdate()
    form = CampaignForm(
        webflow.posted(request),
        organisers=organisers,
        initial={
            "organiser": organisers.first(),
            "opens_on": today,
            "population": ["establishment"],
        },
    )
    done, status = webflow.submit(
        request,
        form,
        lambda: campaigns.campaign_create(actor=request.user, data=form.campaign_data()),
        then=lambda campaign: ("assessments:campaign_detail", campaign.pk),
        success="La campagne est enregistrée : vérifiez la population puis lancez-la.",
    )
    return done or render(
        request,
        "assessments/campaign_form.html",
        {
            "title": "Nouvelle campagne d'autoévaluation",
            "form": form,
            "multi": [
                (form["categories"], form.category_options),
                (form["departements"], form.departement_options),
            ],
        },
        status=status,
    )


def _filters(request) -> dict:
    status = request.GET.get("statut", "")
    return {
        "status": status if status in STATUSES else "",
        "late": request.GET.get("retard") == "1",
        "departement": request.GET.get("departement", "")[:120],
    }


def _filtered(rows, filters):
    if filters["status"]:
        rows = [r for r in rows if r.status == filters["status"]]
    if filters["late"]:
        rows = [r for r in rows if r.late]
    if filters["departement"]:
        rows = [r for r in rows if r.departement == filters["departement"]]
    return rows


def _querystring(filters) -> str:
    pairs = {
        "statut": filters["status"],
        "retard": "1" if filters["late"] else "",
        "departement": filters["departement"],
    }
    return urlencode({k: v for k, v in pairs.items() if v})


def _answer_links(request, rows) -> None:
    """Answers are linked only when the organisation shared them with the region."""
    for row in rows:
        row.answers_url = (
            campaigns.assessment_url(row.assessment_id) if row.shared and row.assessment_id else ""
        )


def _completion_page(request, completion, context, template="assessments/regional_completion.html"):
    filters = _filters(request)
    page = Paginator(_filtered(completion.rows, filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    _answer_links(request, page)
    return render(
        request,
        template,
        {
            "completion": completion,
            "page": page,
            "filters": filters,
            "querystring": _querystring(filters),
            "status_choices": [(s, sel.STATUS_LABELS[s]) for s in STATUSES],
            "departements": [c.label for c in completion.by_departement],
            "breakdowns": [
                ("Par département", completion.by_departement),
                ("Par catégorie", completion.by_category),
            ],
            **context,
        },
    )


@require_GET
def campaign_detail(request, pk: int):
    campaign = sel.get_campaign(request.user, pk)
    scope = sel.figures_scope(request.user)
    completion = sel.campaign_completion(scope, campaign)
    runnable = campaigns.can_run(request.user, campaign)
    return _completion_page(
        request,
        completion,
        {
            "title": campaign.title,
            "campaign": campaign,
            "questionnaire": campaign.questionnaire,
            "can_run": runnable,
            "population_count": campaigns.population_count(campaign)
            if runnable and campaign.launched_at is None
            else None,
            "filter_labels": campaigns.filter_labels(campaign),
            "notices": campaigns.notice_counts(campaign) if campaign.launched_at else None,
            "after_deadline": timezone.localdate() > campaign.deadline,
            "export_url": "assessments:campaign_export",
            "export_pk": campaign.pk,
        },
        template="assessments/campaign_detail.html",
    )


def _campaign_to_run(request, pk: int):
    campaign = sel.get_campaign(request.user, pk)
    if not campaigns.can_run(request.user, campaign):
        raise PermissionDenied(perms.NOT_CAMPAIGNER)
    return campaign


@require_POST
def campaign_launch(request, pk: int):
    campaign = _campaign_to_run(request, pk)
    try:
        result = campaigns.campaign_launch(actor=request.user, campaign=campaign)
    except DomainError as exc:
        webflow.refuse_forbidden(exc)
        messages.error(request, exc.message)
    else:
        text = (
            f"La campagne est lancée : {result.total} autoévaluation(s) demandée(s) "
            f"({result.created} créée(s), {result.attached} brouillon(s) existant(s) rattaché(s))."
        )
        if result.skipped:
            text += f" {result.skipped} organisation(s) répondent déjà pour une autre campagne."
        if campaign.opens_on > timezone.localdate():
            text += f" Les invitations partiront le {campaign.opens_on:%d/%m/%Y}."
        messages.success(request, text)
    return redirect("assessments:campaign_detail", pk=campaign.pk)


@require_POST
def campaign_close(request, pk: int):
    campaign = _campaign_to_run(request, pk)
    try:
        campaigns.campaign_close(actor=request.user, campaign=campaign)
    except DomainError as exc:
        webflow.refuse_forbidden(exc)
        messages.error(request, exc.message)
    else:
        messages.success(request, "La campagne est close : plus aucune relance ne partira.")
    return redirect("assessments:campaign_detail", pk=campaign.pk)


def _export(filename: str, rows):
    def lines():
        for row in rows:
            yield [
                row.finess,
                row.name,
                row.departement,
                row.category,
                row.status_label,
                _number(row.score),
                timezone.localtime(row.completed_at).strftime("%d/%m/%Y")
                if row.completed_at and row.status == sel.COMPLETED
                else "",
                "oui" if row.late else "non",
                "oui" if row.shared else "non",
            ]

    return csv_response(filename, EXPORT_HEADER, lines())


@require_GET
def campaign_export(request, pk: int):
    campaign = sel.get_campaign(request.user, pk)
    completion = sel.campaign_completion(sel.figures_scope(request.user), campaign)
    rows = _filtered(completion.rows, _filters(request))
    return _export(f"campagne-{campaign.pk}-avancement.csv", rows)


# --- Per questionnaire ---------------------------------------------------------------------------


@require_GET
def completion(request, pk: int):
    scope = sel.figures_scope(request.user)
    questionnaire = sel.get_questionnaire(pk)
    data = sel.questionnaire_completion(scope, questionnaire)
    return _completion_page(
        request,
        data,
        {
            "title": f"Avancement — {questionnaire.name} (v{questionnaire.version})",
            "questionnaire": questionnaire,
            "export_url": "assessments:regional_completion_export",
            "export_pk": questionnaire.pk,
        },
    )


@require_GET
def completion_export(request, pk: int):
    scope = sel.figures_scope(request.user)
    questionnaire = sel.get_questionnaire(pk)
    data = sel.questionnaire_completion(scope, questionnaire)
    rows = _filtered(data.rows, _filters(request))
    return _export(f"autoevaluation-{questionnaire.pk}-avancement.csv", rows)


def _region_choice(request) -> tuple[int | None, list]:
    """A national observer may narrow the distribution to a region."""
    regions = sel.figures_regions(request.user)
    if regions is not None:
        return None, []
    choices = sel.region_choices()
    region_id = _int(request, "region")
    return (region_id if region_id in {pk for pk, _n in choices} else None), choices


@require_GET
def distribution(request, pk: int):
    region_id, region_choices = _region_choice(request)
    scope, own = sel.distribution_scope(request.user, region_id)
    questionnaire = sel.get_questionnaire(pk)
    data = sel.distribution(scope, questionnaire, own_organisations=own)
    return render(
        request,
        "assessments/regional_distribution.html",
        {
            "title": f"Répartition des scores — {questionnaire.name} (v{questionnaire.version})",
            "questionnaire": questionnaire,
            "data": data,
            "min_group": sel.MIN_GROUP,
            "region_id": region_id,
            "region_choices": region_choices,
            "is_figures": perms.can_view_figures(request.user),
        },
    )


@require_GET
def support(request, pk: int):
    scope = sel.support_scope(request.user)
    questionnaire = sel.get_questionnaire(pk)
    raw = request.GET.get("seuil", "")
    threshold = int(raw) if raw.isdigit() and 0 <= int(raw) <= 100 else sel.DEFAULT_THRESHOLD
    data = sel.to_support(scope, questionnaire, threshold=threshold)
    return render(
        request,
        "assessments/regional_support.html",
        {
            "title": f"Établissements à accompagner — {questionnaire.name}",
            "questionnaire": questionnaire,
            "data": data,
            "threshold_invalid": bool(raw) and not (raw.isdigit() and int(raw) <= 100),
        },
    )


@require_GET
def ght(request, pk: int):
    scope = sel.figures_scope(request.user)
    questionnaire = sel.get_questionnaire(pk)
    choices = sel.ght_choices(scope)
    if not choices:
        raise PermissionDenied("Aucun GHT dans votre périmètre : cette page compare ses membres.")
    wanted = _int(request, "ght")
    selected = next((g for g in choices if g.pk == wanted), None)
    if wanted is not None and selected is None:
        raise Http404("GHT introuvable.")
    selected = selected or choices[0]
    theme_nodes = sel.themes(questionnaire)
    members = sel.ght_comparison(scope, selected, questionnaire, theme_nodes)
    _answer_links(request, members)
    completed = sum(1 for m in members if m.status == sel.COMPLETED)
    return render(
        request,
        "assessments/regional_ght.html",
        {
            "title": f"{selected.name} — {questionnaire.name}",
            "questionnaire": questionnaire,
            "ght": selected,
            "ght_choices": choices,
            "members": members,
            "themes": [
                (node.name or node.ref_id, [m.theme_scores[i] for m in members])
                for i, node in enumerate(theme_nodes)
            ],
            "completed": completed,
        },
    )
