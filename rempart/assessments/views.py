"""Pages of the people who assess: « Mes autoévaluations », answering by theme (HTMX, with a plain
POST fallback), evidence, completion, results (radar, priority measures, progress, history),
the action plan and the exports.

Thin: reads through `selectors` (403 with the reason, 404 outside one's scope), writes through
`services` (DomainError → the French message, what was typed kept)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rempart.core import webflow
from rempart.core.charts import BLUE, GREY, hbar_chart, radar_chart
from rempart.core.errors import DomainError
from rempart.programme import uploads

from . import perms, questionnaires, report, scoring, services, xlsx
from . import selectors as sel
from .forms import ActionForm, EvidenceForm, QuestionnaireImportForm
from .models import ActionStatus, AssessmentStatus


def _require_assessor(user) -> None:
    if not perms.can_assess(user):
        raise PermissionDenied(perms.NOT_ASSESSOR)


def _org_query(organisation) -> str:
    return f"?organisation={organisation.pk}"


# --- Mes autoévaluations ----------------------------------------------------------------------


@require_GET
def home(request):
    organisation = sel.pick_organisation(request.user, request.GET.get("organisation"))
    questionnaires = list(sel.available_questionnaires(request.user, organisation))
    assessments = list(sel.organisation_assessments(organisation))
    drafts = {a.questionnaire_id: a for a in assessments if a.status == AssessmentStatus.DRAFT}
    sources = sel.carry_over_sources(organisation, questionnaires)
    for questionnaire in questionnaires:
        questionnaire.draft = drafts.get(questionnaire.pk)
        questionnaire.carry_from = sources.get(questionnaire.pk)
    return render(
        request,
        "assessments/assessment_home.html",
        {
            "title": "Mes autoévaluations",
            "organisation": organisation,
            "organisations": sel.assess_organisations(request.user),
            "questionnaires": questionnaires,
            "assessments": assessments,
            "requests": sel.campaign_requests(organisation),
            "today": timezone.localdate(),
        },
    )


@require_http_methods(["GET", "POST"])
def questionnaire_import(request):
    """An RSSI imports a referential they already use (CISO Assistant's library format): it
    becomes a questionnaire of their organisation alone. Every problem of the file is listed
    with its line and field, and nothing is loaded."""
    organisation = sel.pick_organisation(
        request.user, request.POST.get("organisation") or request.GET.get("organisation")
    )
    problems, status = [], 200
    form = QuestionnaireImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                result = questionnaires.import_questionnaire(
                    actor=request.user,
                    organisation=organisation,
                    text=form.cleaned_data["file"],
                    source=request.FILES["file"].name,
                )
            except questionnaires.QuestionnaireDataError as exc:
                problems = exc.problems
            except DomainError as exc:
                webflow.refuse_forbidden(exc)
                webflow.form_error(form, exc)
            else:
                messages.success(request, f"Référentiel importé ({result}).")
                return redirect(f"{reverse('assessments:home')}?organisation={organisation.pk}")
    return render(
        request,
        "assessments/assessment_import.html",
        {
            "title": "Importer un référentiel",
            "organisation": organisation,
            "form": form,
            "problems": problems,
        },
        status=status,
    )


@require_POST
def start(request):
    organisation = sel.pick_organisation(request.user, request.POST.get("organisation"))
    questionnaire = sel.get_questionnaire(
        request.user, organisation, request.POST.get("questionnaire", "")
    )
    try:
        started = services.start_assessment(
            actor=request.user,
            organisation=organisation,
            questionnaire=questionnaire,
            carry_over=request.POST.get("carry_over") == "1",
        )
    except DomainError as exc:
        webflow.refuse_forbidden(exc)
        messages.error(request, exc.message)
        return redirect(reverse("assessments:home") + _org_query(organisation))
    if started.created:
        text = "L'autoévaluation est commencée : vos réponses sont enregistrées au fil de l'eau."
        if started.carried:
            text += f" {started.carried} réponse(s) de l'autoévaluation précédente sont reprises."
        messages.success(request, text)
    return redirect("assessments:answer", pk=started.assessment.pk)


# --- Answering --------------------------------------------------------------------------------


def _theme_of(blocks, raw):
    if raw and str(raw).isdigit():
        for block in blocks:
            if block.theme.pk == int(raw):
                return block
    return blocks[0] if blocks else None


def _answer_context(request, assessment, *, theme=None, errors=None):
    blocks = sel.answering_blocks(assessment)
    current = _theme_of(blocks, theme if theme is not None else request.GET.get("theme"))
    if errors and current is not None:
        for _node, rows in current.requirements:
            for row in rows:
                if row.question.pk in errors:
                    row.error = errors[row.question.pk]
    evidence = sel.evidence_of(assessment)
    can_write = perms.can_assess_for(request.user, assessment.organisation)
    nodes = sel.requirement_nodes(assessment)
    return {
        "title": assessment.questionnaire.name,
        "assessment": assessment,
        "blocks": blocks,
        "current": current,
        "evidence": evidence,
        "evidence_by_node": _group_evidence(evidence),
        "editable": can_write and assessment.status == AssessmentStatus.DRAFT,
        "can_write": can_write,
        "remaining": services.remaining_to_answer(assessment),
        "evidence_form": EvidenceForm(nodes=nodes) if can_write else None,
        "max_size": uploads.human_size(uploads.max_bytes()),
    }


def _group_evidence(evidence):
    grouped: dict = {}
    for item in evidence:
        grouped.setdefault(item.node_id, []).append(item)
    return grouped


@require_GET
def answer(request, pk: int):
    assessment = sel.get_assessment(request.user, pk)
    return render(
        request, "assessments/assessment_answer.html", _answer_context(request, assessment)
    )


@require_POST
def answer_save(request, pk: int, question_pk: int):
    """One question's answer (and comment). HTMX gets the theme's questions back (conditional
    questions appear or disappear); a plain POST goes back to the theme."""
    assessment = sel.get_assessment(request.user, pk, write=True)
    question = sel.question_of(assessment, question_pk) if question_pk else None
    theme = request.POST.get("theme", "")
    error = ""
    status = 200
    try:
        if question is None:
            raise DomainError("Cette question n'existe pas.", field="value")
        comment = request.POST.get("comment") if "comment" in request.POST else None
        saved = services.save_answer(
            actor=request.user,
            assessment=assessment,
            question=question,
            values=request.POST.getlist("value"),
            comment=comment,
        )
    except DomainError as exc:
        webflow.refuse_forbidden(exc)
        error, status = exc.message, 400
        saved = None
    if question is not None and question.questionnaire_id == assessment.questionnaire_id:
        theme = theme or str(question.node.theme_id or question.node_id)
    if request.htmx:
        assessment.refresh_from_db()
        context = _answer_context(
            request,
            assessment,
            theme=theme,
            errors={question.pk: error} if error and question is not None else None,
        )
        context["error"] = error
        context["ignored"] = bool(saved and saved.ignored)
        return render(request, "assessments/_answer_theme.html", context, status=status)
    if error:
        messages.error(request, error)
        assessment.refresh_from_db()
        context = _answer_context(
            request,
            assessment,
            theme=theme,
            errors={question.pk: error} if question is not None else None,
        )
        return render(request, "assessments/assessment_answer.html", context, status=status)
    if saved and saved.ignored:
        messages.warning(
            request,
            "Cette question n'est pas posée avec vos réponses actuelles : la réponse n'est pas "
            "enregistrée.",
        )
    else:
        messages.success(request, "Réponse enregistrée.")
    return redirect(
        reverse("assessments:answer", args=[assessment.pk])
        + (f"?theme={theme}" if theme.isdigit() else "")
        + (f"#q{question.pk}" if question else "")
    )


@require_POST
def share(request, pk: int):
    assessment = sel.get_assessment(request.user, pk, write=True)
    shared = request.POST.get("shared") == "1"
    services.set_sharing(actor=request.user, assessment=assessment, shared=shared)
    messages.success(
        request,
        "Vos réponses sont partagées avec l'ARS et le CRRC de votre région."
        if shared
        else "Vos réponses ne sont plus partagées : l'ARS et le CRRC voient seulement "
        "l'avancement et les scores.",
    )
    target = (
        "assessments:results"
        if request.POST.get("next_page") == "results"
        else ("assessments:answer")
    )
    return redirect(target, pk=assessment.pk)


@require_POST
def complete(request, pk: int):
    assessment = sel.get_assessment(request.user, pk, write=True)
    try:
        services.complete_assessment(actor=request.user, assessment=assessment)
    except DomainError as exc:
        webflow.refuse_forbidden(exc)
        messages.error(request, exc.message)
        return redirect("assessments:answer", pk=assessment.pk)
    messages.success(request, "L'autoévaluation est terminée : voici vos résultats.")
    return redirect("assessments:results", pk=assessment.pk)


# --- Evidence ---------------------------------------------------------------------------------


@require_POST
def evidence_add(request, pk: int):
    assessment = sel.get_assessment(request.user, pk, write=True)
    nodes = sel.requirement_nodes(assessment)
    form = EvidenceForm(request.POST, request.FILES, nodes=nodes)
    by_pk = {n.pk: n for n in nodes}

    def write():
        return services.add_evidence(
            actor=request.user,
            assessment=assessment,
            upload=form.cleaned_data["file"],
            title=form.cleaned_data["title"],
            effective_on=form.cleaned_data["effective_on"],
            expires_on=form.cleaned_data.get("expires_on"),
            node=by_pk.get(form.cleaned_data.get("node")),
        )

    done, status = webflow.submit(
        request,
        form,
        write,
        then=lambda e: (
            reverse("assessments:answer", args=[assessment.pk])
            + (f"?theme={e.node.theme_id or e.node_id}" if e.node_id else "")
            + "#preuves",
        ),
        success="La preuve est jointe.",
    )
    if done:
        return done
    context = _answer_context(request, assessment)
    context["evidence_form"] = form
    return render(request, "assessments/assessment_answer.html", context, status=status)


def _get_evidence(assessment, evidence_pk):
    evidence = assessment.evidence.select_related("node").filter(pk=evidence_pk).first()
    if evidence is None:
        raise Http404("Preuve introuvable.")
    return evidence


@require_GET
def evidence_download(request, pk: int, evidence_pk: int):
    """Only through this view (never a public URL): the assessment's readers, as an attachment."""
    assessment = sel.get_assessment(request.user, pk)
    evidence = _get_evidence(assessment, evidence_pk)
    return uploads.serve(evidence.file, evidence.original_name, evidence.content_type)


@require_POST
def evidence_delete(request, pk: int, evidence_pk: int):
    assessment = sel.get_assessment(request.user, pk, write=True)
    evidence = _get_evidence(assessment, evidence_pk)
    try:
        services.delete_evidence(actor=request.user, evidence=evidence)
    except DomainError as exc:
        webflow.refuse_forbidden(exc)
        messages.error(request, exc.message)
    else:
        messages.success(request, f"La preuve « {evidence.title} » est retirée.")
    return redirect(reverse("assessments:answer", args=[assessment.pk]) + "#preuves")


# --- Results ----------------------------------------------------------------------------------


def _results_data(assessment):
    previous = sel.previous_completed_before(assessment)
    themes = sel.theme_results(assessment, previous)
    return previous, themes


def _charts(assessment, themes, previous):
    labels = [row.theme.ref_id or row.theme.name[:28] for row in themes]
    if len(themes) >= 3:
        series = [("Cette autoévaluation", BLUE, [row.score for row in themes])]
        if previous is not None:
            series.append(("Autoévaluation précédente", GREY, [row.previous for row in themes]))
        return radar_chart("radar-themes", "Score par thème (sur 100)", labels, series)
    return hbar_chart(
        "bars-themes",
        "Score par thème (sur 100)",
        [
            (
                row.theme.name[:28],
                row.score or 0,
                "—" if row.score is None else f"{row.score:.1f}".replace(".", ","),
                BLUE,
            )
            for row in themes
        ],
        maximum=100,
    )


@require_GET
def results(request, pk: int):
    assessment = sel.get_assessment(request.user, pk)
    previous, themes = _results_data(assessment)
    shown = assessment.score is not None
    can_write = perms.can_assess_for(request.user, assessment.organisation)
    gap_items = services.gap_choices(assessment) if (shown and can_write) else []
    measures = scoring.priority_measures(assessment) if shown else []
    evidence = sel.evidence_of(assessment)
    for row in themes:
        row.delta_sign = "" if row.delta is None else ("+" if row.delta > 0 else "")
    return render(
        request,
        "assessments/assessment_results.html",
        {
            "title": f"Résultats — {assessment.questionnaire.name}",
            "assessment": assessment,
            "shown": shown,
            "remaining": services.remaining_to_answer(assessment),
            "themes": themes,
            "chart": _charts(assessment, themes, previous) if shown else None,
            "measures": measures,
            "previous": previous,
            "history": sel.history(assessment),
            "gap_items": gap_items,
            "can_write": can_write,
            "evidence": evidence,
            "expired": [e for e in evidence if e.expired],
        },
    )


@require_POST
def actions_from_gaps(request, pk: int):
    assessment = sel.get_assessment(request.user, pk, write=True)
    try:
        created = services.actions_from_gaps(
            actor=request.user, assessment=assessment, keys=request.POST.getlist("gaps")
        )
    except DomainError as exc:
        webflow.refuse_forbidden(exc)
        messages.error(request, exc.message)
        return redirect(reverse("assessments:results", args=[assessment.pk]) + "#ecarts")
    if created:
        messages.success(
            request,
            f"{len(created)} action(s) ajoutée(s) au plan d'action : complétez le responsable, "
            "l'échéance et le coût estimé.",
        )
    else:
        messages.info(request, "Ces écarts sont déjà dans le plan d'action.")
    return redirect(reverse("assessments:plan") + _org_query(assessment.organisation))


def _export_parts(assessment):
    _previous, themes = _results_data(assessment)
    blocks = sel.answering_blocks(assessment)
    measures = scoring.priority_measures(assessment) if assessment.score is not None else []
    return {
        "themes": themes,
        "blocks": blocks,
        "measures": measures,
        "evidence": sel.evidence_of(assessment),
    }


@require_GET
def assessment_pdf(request, pk: int):
    assessment = sel.get_assessment(request.user, pk)
    content = report.assessment_pdf(assessment, **_export_parts(assessment))
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="{report.assessment_filename(assessment)}"'
    )
    return response


@require_GET
def assessment_xlsx(request, pk: int):
    assessment = sel.get_assessment(request.user, pk)
    return xlsx.assessment_xlsx(assessment, **_export_parts(assessment))


# --- Action plan ------------------------------------------------------------------------------


@require_GET
def plan(request):
    organisation = sel.pick_organisation(request.user, request.GET.get("organisation"))
    filters = sel.PlanFilters.from_query(request.GET)
    actions = sel.plan_actions(organisation, filters)
    return render(
        request,
        "assessments/plan_list.html",
        {
            "title": "Plan d'action",
            "organisation": organisation,
            "organisations": sel.assess_organisations(request.user),
            "actions": actions,
            "filters": filters,
            "summary": sel.plan_summary(sel.plan_actions(organisation))
            if filters.querystring()
            else sel.plan_summary(actions),
            "statuses": ActionStatus.choices,
            "retex": sel.retex_actions(organisation),
        },
    )


def _plan_redirect(organisation):
    return redirect(reverse("assessments:plan") + _org_query(organisation))


def _action_form_page(request, form, organisation, action=None, status=200):
    return render(
        request,
        "assessments/plan_form.html",
        {
            "title": "Modifier l'action" if action else "Nouvelle action",
            "form": form,
            "organisation": organisation,
            "action": action,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
def action_create(request):
    raw = request.POST.get("organisation") if request.method == "POST" else None
    organisation = sel.pick_organisation(request.user, raw or request.GET.get("organisation"))
    form = ActionForm(webflow.posted(request))
    done, status = webflow.submit(
        request,
        form,
        lambda: services.action_create(
            actor=request.user, organisation=organisation, data=form.service_data()
        ),
        then=lambda a: (reverse("assessments:plan") + _org_query(a.organisation),),
        success="L'action est ajoutée au plan.",
    )
    return done or _action_form_page(request, form, organisation, status=status)


@require_http_methods(["GET", "POST"])
def action_edit(request, pk: int):
    action = sel.get_action(request.user, pk)
    form = ActionForm(webflow.posted(request), initial=ActionForm.initial_from(action))
    done, status = webflow.submit(
        request,
        form,
        lambda: services.action_update(actor=request.user, action=action, data=form.service_data()),
        then=lambda a: (reverse("assessments:plan") + _org_query(a.organisation),),
        success="L'action est modifiée.",
    )
    return done or _action_form_page(request, form, action.organisation, action, status)


@require_POST
def action_status(request, pk: int):
    action = sel.get_action(request.user, pk)
    try:
        services.action_set_status(
            actor=request.user, action=action, status=request.POST.get("status", "")
        )
    except DomainError as exc:
        webflow.refuse_forbidden(exc)
        messages.error(request, exc.message)
        return _plan_redirect(action.organisation)
    messages.success(request, f"« {action.title} » : {action.get_status_display().lower()}.")
    return _plan_redirect(action.organisation)


@require_POST
def action_delete(request, pk: int):
    action = sel.get_action(request.user, pk)
    organisation = action.organisation
    services.action_delete(actor=request.user, action=action)
    messages.success(request, f"L'action « {action.title} » est supprimée.")
    return _plan_redirect(organisation)


@require_POST
def retex_import(request, pk: int):
    organisation = sel.pick_organisation(request.user, request.POST.get("organisation"))
    debrief_action = sel.get_retex_action(request.user, organisation, pk)
    try:
        services.import_debrief_action(
            actor=request.user, organisation=organisation, debrief_action=debrief_action
        )
    except DomainError as exc:
        webflow.refuse_forbidden(exc)
        messages.error(request, exc.message)
    else:
        messages.success(request, f"« {debrief_action.title} » est ajoutée au plan d'action.")
    return _plan_redirect(organisation)


@require_GET
def plan_pdf(request):
    organisation = sel.pick_organisation(request.user, request.GET.get("organisation"))
    content = report.plan_pdf(organisation, sel.plan_actions(organisation))
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{report.plan_filename(organisation)}"'
    return response


@require_GET
def plan_xlsx(request):
    organisation = sel.pick_organisation(request.user, request.GET.get("organisation"))
    return xlsx.plan_xlsx(organisation, sel.plan_actions(organisation))
