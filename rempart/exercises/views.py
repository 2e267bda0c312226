"""Exercise run pages: « Mes exercices », planning, the run page (plan, participants, timeline,
verdict), the facilitator's live console, evaluation, debrief (RETEX) with its actions, the PDF
report and the journal export; and the participant's public page reached by a signed link.

Thin: reads through `selectors` (403 with the reason for a person who runs no exercise, 404 for
a run outside their scope), writes through `services` (DomainError → the French message on the
form, what was typed kept; "forbidden" → 403)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rempart.core.csv_export import csv_response
from rempart.core.errors import DomainError
from rempart.core.webflow import form_error, status_of

from . import report, services
from . import selectors as sel
from .forms import (
    ActionForm,
    DebriefForm,
    EvaluationForm,
    InjectForm,
    MessageForm,
    NoteForm,
    ParticipantForm,
    PlanFields,
    RunForm,
)
from .models import RunKind, RunStatus


def _done(request, run, text: str, anchor: str = ""):
    messages.success(request, text)
    return redirect(f"{run_url(run)}{anchor}")


def run_url(run) -> str:
    return reverse("exercises:run_detail", args=[run.pk])


# --- « Mes exercices » ------------------------------------------------------------------------


@require_GET
def run_list(request):
    runs = list(sel.my_runs(request.user))
    return render(
        request,
        "exercises/run_list.html",
        {
            "title": "Mes exercices de crise",
            "runs": runs,
            "regional": sel.regional_lines(request.user),
        },
    )


# --- Planning ---------------------------------------------------------------------------------


def _plan_page(request, form, run=None, status=200):
    return render(
        request,
        "exercises/run_form.html",
        {
            "title": "Modifier le plan de l'exercice" if run else "Planifier un exercice",
            "form": form,
            "run": run,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
def run_create(request):
    organisations = sel.organisation_choices(request.user)
    scenarios = sel.scenario_choices(request.user)
    kwargs = {"organisations": organisations, "scenarios": scenarios}
    if request.method == "GET":
        initial = {}
        if request.GET.get("scenario", "").isdigit():
            initial["scenario"] = int(request.GET["scenario"])
        return _plan_page(request, RunForm(initial=initial, **kwargs))
    form = RunForm(request.POST, **kwargs)
    if not form.is_valid():
        return _plan_page(request, form, status=400)
    try:
        run = services.run_create(
            actor=request.user,
            organisation=form.cleaned_data["organisation"],
            scenario=form.cleaned_data["scenario"],
            planned_start=form.planned_start(),
            location=form.cleaned_data["location"],
            objectives=form.cleaned_data["objectives"],
        )
    except DomainError as exc:
        form_error(form, exc)
        return _plan_page(request, form, status=status_of(exc))
    return _done(request, run, "L'exercice est planifié : nommez les participants par fonction.")


@require_http_methods(["GET", "POST"])
def run_edit(request, pk: int):
    run = sel.get_run(request.user, pk)
    if request.method == "GET":
        return _plan_page(request, PlanFields(initial=PlanFields.initial_from(run)), run)
    form = PlanFields(request.POST)
    if not form.is_valid():
        return _plan_page(request, form, run, 400)
    try:
        services.run_update(
            actor=request.user,
            run=run,
            planned_start=form.planned_start(),
            location=form.cleaned_data["location"],
            objectives=form.cleaned_data["objectives"],
        )
    except DomainError as exc:
        form_error(form, exc)
        return _plan_page(request, form, run, status_of(exc))
    return _done(request, run, "Le plan de l'exercice est modifié.")


@require_POST
def run_cancel(request, pk: int):
    run = sel.get_run(request.user, pk)
    try:
        services.run_cancel(actor=request.user, run=run)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(run_url(run))
    return _done(request, run, "L'exercice est annulé ; il reste dans l'historique.")


# --- The run page -----------------------------------------------------------------------------


def _detail_page(request, run, *, participant_form=None, status=200, attendance_error=""):
    rows = sel.participants(run)
    if participant_form is None:
        participant_form = _participant_form(run)
    return render(
        request,
        "exercises/run_detail.html",
        {
            "title": run.title,
            "run": run,
            "groups": sel.by_function(rows),
            "participants": rows,
            "participant_form": participant_form,
            "injects": sel.timeline(run),
            "verdict": sel.verdict(run),
            "editable": run.status in (RunStatus.PLANNED, RunStatus.RUNNING, RunStatus.PAUSED),
            "started": run.status in services.STARTED,
            "attendance_error": attendance_error,
            "evaluation": sel.evaluation_of(run),
            "debrief": sel.debrief_of(run),
        },
        status=status,
    )


def _participant_form(run, data=None):
    organisations = (
        services.participant_organisations(run) if run.kind == RunKind.REGIONAL else None
    )
    return ParticipantForm(data, organisations=organisations)


@require_GET
def run_detail(request, pk: int):
    return _detail_page(request, sel.get_run(request.user, pk))


@require_POST
def participant_add(request, pk: int):
    run = sel.get_run(request.user, pk)
    form = _participant_form(run, request.POST)
    if not form.is_valid():
        return _detail_page(request, run, participant_form=form, status=400)
    try:
        participant = services.participant_add(
            actor=request.user,
            run=run,
            organisation=form.cleaned_data.get("organisation"),
            function=form.cleaned_data["function"],
            role=form.cleaned_data["role"],
            full_name=form.cleaned_data["full_name"],
            job_title=form.cleaned_data["job_title"],
            email=form.cleaned_data["email"],
        )
    except DomainError as exc:
        form_error(form, exc)
        return _detail_page(request, run, participant_form=form, status=status_of(exc))
    return _done(request, run, f"{participant.full_name} participe à l'exercice.", "#participants")


@require_POST
def participant_remove(request, pk: int, participant_pk: int):
    run = sel.get_run(request.user, pk)
    participant = sel.get_participant(run, participant_pk)
    try:
        services.participant_remove(actor=request.user, participant=participant)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(f"{run_url(run)}#participants")
    return _done(request, run, f"{participant.full_name} est retiré·e.", "#participants")


@require_POST
def participant_send_link(request, pk: int, participant_pk: int):
    run = sel.get_run(request.user, pk)
    participant = sel.get_participant(run, participant_pk)
    try:
        services.participant_send_link(actor=request.user, participant=participant)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(f"{run_url(run)}#participants")
    return _done(
        request,
        run,
        f"Le lien personnel de {participant.full_name} part par courriel ; un lien envoyé "
        "auparavant ne fonctionne plus.",
        "#participants",
    )


@require_POST
def attendance(request, pk: int):
    run = sel.get_run(request.user, pk)
    raw = request.POST.getlist("present")
    ids = {int(value) for value in raw if value.isdigit() and len(value) < 12}
    if len(ids) != len(set(raw)):
        return _detail_page(
            request,
            run,
            status=400,
            attendance_error="La liste des présences envoyée n'est pas valide : recommencez.",
        )
    try:
        present = services.attendance_record(actor=request.user, run=run, present_ids=ids)
    except DomainError as exc:
        return _detail_page(request, run, status=status_of(exc), attendance_error=exc.message)
    return _done(request, run, f"Présences enregistrées : {present} présent·e(s).", "#participants")


# --- Timeline ---------------------------------------------------------------------------------


def _inject_page(request, run, form, inject=None, status=200):
    return render(
        request,
        "exercises/run_inject_form.html",
        {
            "title": "Modifier le stimulus" if inject else "Ajouter un stimulus",
            "run": run,
            "form": form,
            "inject": inject,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
def inject_create(request, pk: int):
    run = sel.get_run(request.user, pk)
    if request.method == "GET":
        form = InjectForm(initial={"order": services.next_inject_order(run), "offset_minutes": 0})
        return _inject_page(request, run, form)
    form = InjectForm(request.POST)
    if not form.is_valid():
        return _inject_page(request, run, form, status=400)
    try:
        services.inject_create(actor=request.user, run=run, data=form.data_object())
    except DomainError as exc:
        form_error(form, exc)
        return _inject_page(request, run, form, status=status_of(exc))
    return _done(request, run, "Le stimulus est ajouté au déroulé.", "#timeline")


@require_http_methods(["GET", "POST"])
def inject_edit(request, pk: int, inject_pk: int):
    run = sel.get_run(request.user, pk)
    inject = sel.get_inject(run, inject_pk)
    if request.method == "GET":
        return _inject_page(
            request, run, InjectForm(initial=InjectForm.initial_from(inject)), inject
        )
    form = InjectForm(request.POST)
    if not form.is_valid():
        return _inject_page(request, run, form, inject, 400)
    try:
        services.inject_update(actor=request.user, inject=inject, data=form.data_object())
    except DomainError as exc:
        form_error(form, exc)
        return _inject_page(request, run, form, inject, status_of(exc))
    return _done(request, run, "Le stimulus est modifié.", "#timeline")


@require_POST
def inject_delete(request, pk: int, inject_pk: int):
    run = sel.get_run(request.user, pk)
    inject = sel.get_inject(run, inject_pk)
    try:
        services.inject_delete(actor=request.user, inject=inject)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(f"{run_url(run)}#timeline")
    return _done(request, run, "Le stimulus est retiré du déroulé.", "#timeline")


# --- Live console -----------------------------------------------------------------------------


def _console_context(run, now=None) -> dict:
    now = now or timezone.now()
    entries = list(sel.journal(run))
    return {
        "run": run,
        "injects": sel.timeline(run, now),
        "clock": report.clock(services.exercise_seconds(run, now), with_seconds=True),
        "entries": entries[::-1],
        "live": run.status in services.LIVE,
        "now": now,
    }


@require_http_methods(["GET", "POST"])
def console(request, pk: int):
    """The facilitator's console. GET releases what fell due, then shows the timeline (the
    HTMX poll gets the partial alone); POST notes a reaction, decision or observation."""
    run = sel.get_run(request.user, pk)
    services.release_due_injects(run)
    run = sel.get_run(request.user, pk)
    injects_qs = run.injects.order_by("order")
    form, status = NoteForm(injects=injects_qs), 200
    if request.method == "POST":
        form = NoteForm(request.POST, injects=injects_qs)
        if form.is_valid():
            try:
                services.journal_note(
                    actor=request.user,
                    run=run,
                    kind=form.cleaned_data["kind"],
                    text=form.cleaned_data["text"],
                    inject=form.cleaned_data["inject"],
                )
            except DomainError as exc:
                form_error(form, exc)
                status = status_of(exc)
            else:
                messages.success(request, "La note est ajoutée au journal.")
                return redirect("exercises:run_console", pk=run.pk)
        else:
            status = 400
    context = _console_context(run)
    if request.htmx and request.method == "GET":
        return render(request, "exercises/_run_console.html", context)
    return render(
        request,
        "exercises/run_console.html",
        {"title": f"Console — {run.title}", "form": form, **context},
        status=status,
    )


TRANSITIONS = {
    "start": (services.run_start, "L'exercice a commencé : les stimuli partent à leur heure."),
    "pause": (services.run_pause, "L'exercice est en pause : le chronomètre est arrêté."),
    "resume": (services.run_resume, "L'exercice reprend."),
    "end": (services.run_end, "L'exercice est terminé : renseignez l'évaluation et le RETEX."),
}


@require_POST
def run_transition(request, pk: int, action: str):
    run = sel.get_run(request.user, pk)
    service, text = TRANSITIONS[action]
    try:
        service(actor=request.user, run=run)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, text)
    return redirect("exercises:run_console", pk=run.pk)


@require_POST
def inject_release(request, pk: int, inject_pk: int):
    run = sel.get_run(request.user, pk)
    inject = sel.get_inject(run, inject_pk)
    try:
        services.inject_release_now(actor=request.user, inject=inject)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Le stimulus « {inject.title} » est diffusé.")
    return redirect("exercises:run_console", pk=run.pk)


JOURNAL_HEADER = ["Heure", "Temps d'exercice", "Type", "Stimulus", "Auteur", "Texte"]


@require_GET
def journal_export(request, pk: int):
    run = sel.get_run(request.user, pk)
    rows = (
        [
            timezone.localtime(e.at).strftime("%d/%m/%Y %H:%M:%S"),
            report.clock(e.exercise_seconds, with_seconds=True),
            e.get_kind_display(),
            f"n° {e.inject.order} — {e.inject.title}" if e.inject_id else "",
            report.author(e),
            e.text,
        ]
        for e in sel.journal(run)
    )
    return csv_response(f"journal-exercice-{run.pk}.csv", JOURNAL_HEADER, rows)


# --- Evaluation and debrief -------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def evaluation(request, pk: int):
    run = sel.get_run(request.user, pk)
    existing = sel.evaluation_of(run)
    status = 200
    if request.method == "GET":
        initial = EvaluationForm.initial_from(existing) if existing else {}
        form = EvaluationForm(initial=initial, criteria=run.criteria)
    else:
        form = EvaluationForm(request.POST, criteria=run.criteria)
        if form.is_valid():
            try:
                services.evaluation_save(
                    actor=request.user,
                    run=run,
                    scores=form.scores(),
                    objectives_met=form.cleaned_data["objectives_met"],
                    summary=form.cleaned_data["summary"],
                )
            except DomainError as exc:
                form_error(form, exc)
                status = status_of(exc)
            else:
                return _done(request, run, "L'évaluation est enregistrée.", "#verdict")
        else:
            status = 400
    return render(
        request,
        "exercises/run_evaluation.html",
        {
            "title": f"Évaluation — {run.title}",
            "run": run,
            "form": form,
            "evaluation": existing,
            "finished": run.status == RunStatus.FINISHED,
        },
        status=status,
    )


def _debrief_page(request, run, form, action_form=None, status=200):
    return render(
        request,
        "exercises/run_debrief.html",
        {
            "title": f"RETEX — {run.title}",
            "run": run,
            "form": form,
            "debrief": sel.debrief_of(run),
            "actions": sel.actions(run),
            "action_form": action_form or ActionForm(),
            "finished": run.status == RunStatus.FINISHED,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
def debrief(request, pk: int):
    run = sel.get_run(request.user, pk)
    if request.method == "GET":
        existing = sel.debrief_of(run)
        initial = DebriefForm.initial_from(existing) if existing else {}
        return _debrief_page(request, run, DebriefForm(initial=initial))
    form = DebriefForm(request.POST)
    if not form.is_valid():
        return _debrief_page(request, run, form, status=400)
    try:
        services.debrief_save(actor=request.user, run=run, **form.cleaned_data)
    except DomainError as exc:
        form_error(form, exc)
        return _debrief_page(request, run, form, status=status_of(exc))
    messages.success(request, "Le RETEX est enregistré : ajoutez les actions décidées.")
    return redirect("exercises:run_debrief", pk=run.pk)


def _debrief_form(run):
    existing = sel.debrief_of(run)
    return DebriefForm(initial=DebriefForm.initial_from(existing) if existing else {})


@require_POST
def action_create(request, pk: int):
    run = sel.get_run(request.user, pk)
    form = ActionForm(request.POST)
    if not form.is_valid():
        return _debrief_page(request, run, _debrief_form(run), form, 400)
    try:
        services.action_create(actor=request.user, run=run, data=form.data_object())
    except DomainError as exc:
        form_error(form, exc)
        return _debrief_page(request, run, _debrief_form(run), form, status_of(exc))
    messages.success(request, "L'action est ajoutée.")
    return redirect("exercises:run_debrief", pk=run.pk)


@require_http_methods(["GET", "POST"])
def action_edit(request, pk: int, action_pk: int):
    run = sel.get_run(request.user, pk)
    action = sel.get_action(run, action_pk)
    status = 200
    if request.method == "GET":
        form = ActionForm(initial=ActionForm.initial_from(action))
    else:
        form = ActionForm(request.POST)
        if form.is_valid():
            try:
                services.action_update(actor=request.user, action=action, data=form.data_object())
            except DomainError as exc:
                form_error(form, exc)
                status = status_of(exc)
            else:
                messages.success(request, "L'action est modifiée.")
                return redirect("exercises:run_debrief", pk=run.pk)
        else:
            status = 400
    return render(
        request,
        "exercises/run_action_form.html",
        {"title": "Modifier l'action", "run": run, "action": action, "form": form},
        status=status,
    )


@require_POST
def action_delete(request, pk: int, action_pk: int):
    run = sel.get_run(request.user, pk)
    action = sel.get_action(run, action_pk)
    try:
        services.action_delete(actor=request.user, action=action)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "L'action est supprimée.")
    return redirect("exercises:run_debrief", pk=run.pk)


# --- Report -----------------------------------------------------------------------------------


@require_GET
def run_report(request, pk: int):
    run = sel.get_run(request.user, pk)
    response = HttpResponse(report.render_pdf(run), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{report.filename(run)}"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- Participant page (public, signed link) ---------------------------------------------------


def _participant_response(request, template, context, status=200):
    response = render(request, template, context, status=status)
    response["X-Robots-Tag"] = "noindex"
    response["Cache-Control"] = "private, no-store"
    return response


@login_not_required
@require_http_methods(["GET", "POST"])
def participant_page(request, token: str):
    """Public: the signed link e-mailed to a participant is the credential (192 random bits,
    only their hash stored; no id in the URL). A forged, unknown, replaced or expired link
    gets the same neutral page (404). Shows the run's title, the person's function, the
    injects released to that function (HTMX polling) and a form to write to the facilitator."""
    participant = services.participant_for_link(token)
    if participant is None:
        return _participant_response(
            request, "exercises/participant_unknown.html", {"title": "Lien non valide"}, 404
        )
    run = participant.run
    services.release_due_injects(run)
    participant = services.participant_for_link(token)
    if participant is None:  # cancelled meanwhile
        return _participant_response(
            request, "exercises/participant_unknown.html", {"title": "Lien non valide"}, 404
        )
    run = participant.run
    form, status, sent = MessageForm(), 200, False
    if request.method == "POST":
        form = MessageForm(request.POST)
        if form.is_valid():
            try:
                services.participant_message(
                    participant=participant, text=form.cleaned_data["text"]
                )
            except DomainError as exc:
                form_error(form, exc)
                status = 400
            else:
                form, sent = MessageForm(), True
        else:
            status = 400
    context = {
        "title": run.title,
        "run": run,
        "participant": participant,
        "token": token,
        "feed": sel.participant_feed(participant),
        "sent_messages": list(sel.participant_messages(participant)[:20]),
        "form": form,
        "sent": sent,
        "live": run.status in services.LIVE,
    }
    if request.htmx and request.method == "GET":
        return _participant_response(request, "exercises/participant_feed.html", context)
    return _participant_response(request, "exercises/participant_page.html", context, status)
