"""Scenario library pages: the scenarios one may read (national, the region's CRRC library,
one's establishment's own), a scenario with its timeline and versions, the CRRC's upload and
retire, and an establishment's own scenarios (create, edit, add injects, duplicate to adapt).

Thin: reads and writes go through `library` (404 outside one's scope, 403 with the reason for
a lacking right); a refused write shows its French message on the form, what was typed kept."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rempart.core.errors import DomainError

from . import library, perms
from .library_forms import DuplicateForm, InjectForm, LibraryFilterForm, OwnScenarioForm, UploadForm
from .models import FUNCTION_LABELS, ScenarioStatus

PAGE_SIZE = 25


def _status(exc: DomainError) -> int:
    return 403 if exc.code == "forbidden" else 400


def _form_error(form, exc: DomainError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _labels(functions) -> list[str]:
    return [str(FUNCTION_LABELS[f]) for f in functions or [] if f in FUNCTION_LABELS]


def _require_reader(user) -> None:
    if not library.can_read_library(user):
        raise PermissionDenied(library.NOT_READER)


# --- List and detail --------------------------------------------------------------------------


@require_GET
def library_list(request):
    user = request.user
    _require_reader(user)
    form = LibraryFilterForm(request.GET or None)
    filters = {}
    if form.is_bound and form.is_valid():
        filters = {key: value for key, value in form.cleaned_data.items() if value}
    page = Paginator(library.catalogue(user, **filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    for scenario in page:
        scenario.library_label = library.library_label(scenario)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "title": "Bibliothèque de scénarios",
        "form": form,
        "page": page,
        "querystring": query.urlencode(),
        "can_upload": bool(perms.library_manage_regions(user)),
        "can_author": library.author_organisations(user).exists(),
    }
    if request.htmx and request.htmx.target == "library-results":
        return render(request, "exercises/library_results.html", context)
    return render(request, "exercises/library_list.html", context)


def _detail_page(request, scenario, *, inject_form=None, duplicate_form=None, status=200):
    user = request.user
    can_edit = library.can_edit_own(user, scenario)
    authors = library.author_organisations(user)
    injects = list(scenario.injects.all())
    for inject in injects:
        inject.function_labels = _labels(inject.functions)
    if can_edit and inject_form is None:
        last = injects[-1].offset_minutes if injects else 0
        inject_form = InjectForm(scenario=scenario, initial={"offset_minutes": last})
    if duplicate_form is None and scenario.status == ScenarioStatus.CURRENT:
        duplicate_form = DuplicateForm(organisations=authors) if authors.exists() else None
    context = {
        "title": scenario.title,
        "scenario": scenario,
        "library_label": library.library_label(scenario),
        "function_labels": _labels(scenario.functions),
        "injects": injects,
        "versions": library.versions(scenario),
        "can_edit": can_edit,
        "can_retire": library.can_retire(user, scenario)
        and (scenario.region_id is not None or scenario.organisation_id is not None),
        "inject_form": inject_form if can_edit else None,
        "duplicate_form": duplicate_form,
    }
    return render(request, "exercises/library_detail.html", context, status=status)


@require_GET
def library_detail(request, pk: int):
    _require_reader(request.user)
    return _detail_page(request, library.get_scenario(request.user, pk))


@require_GET
def library_export(request, pk: int):
    """The version's YAML, to adapt and upload as the next version or into another library."""
    _require_reader(request.user)
    scenario = library.get_scenario(request.user, pk)
    response = HttpResponse(library.to_yaml(scenario), content_type="application/yaml")
    response["Content-Disposition"] = (
        f'attachment; filename="{scenario.slug}-v{scenario.version}.yaml"'
    )
    return response


# --- CRRC: upload and retire ------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def library_upload(request):
    regions = library.manage_regions(request.user)
    if not regions.exists():
        raise PermissionDenied(perms.NOT_LIBRARIAN)
    problems, status = [], 200
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES, regions=regions)
        status = 400
        if form.is_valid():
            try:
                report = library.library_upload(
                    actor=request.user,
                    region=form.cleaned_data["region"],
                    text=form.cleaned_data["file"],
                    source=request.FILES["file"].name,
                )
            except library.ScenarioDataError as exc:
                problems = exc.problems
            except DomainError as exc:
                _form_error(form, exc)
                status = _status(exc)
            else:
                text = f"Publication terminée : {report.summary()}"
                if report.lines():
                    text += " (" + " ; ".join(report.lines()) + ")"
                messages.success(request, text)
                return redirect(reverse("exercises:library_list") + "?library=region")
    else:
        form = UploadForm(regions=regions)
    return render(
        request,
        "exercises/library_upload.html",
        {"title": "Publier des scénarios", "form": form, "problems": problems},
        status=status,
    )


@require_POST
def library_retire(request, pk: int):
    _require_reader(request.user)
    scenario = library.get_scenario(request.user, pk)
    try:
        count = library.scenario_retire(actor=request.user, scenario=scenario)
    except DomainError as exc:
        if exc.code == "forbidden":
            raise PermissionDenied(exc.message) from exc
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Le scénario est retiré de la bibliothèque ({count} version(s)). Les exercices "
            "qui l'ont utilisé le gardent.",
        )
    return redirect("exercises:library_detail", pk=scenario.pk)


# --- An establishment's own scenarios ---------------------------------------------------------


def _form_page(request, form, scenario=None, status=200):
    return render(
        request,
        "exercises/library_form.html",
        {
            "title": "Modifier le scénario" if scenario else "Créer mon propre scénario",
            "form": form,
            "scenario": scenario,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
def library_own_create(request):
    organisations = library.author_organisations(request.user)
    if not organisations.exists():
        raise PermissionDenied(library.NOT_AUTHOR)
    if request.method != "POST":
        form = OwnScenarioForm(
            organisations=organisations, initial={"is_cyber": True, "duration_minutes": 180}
        )
        return _form_page(request, form)
    form = OwnScenarioForm(request.POST, organisations=organisations)
    if not form.is_valid():
        return _form_page(request, form, status=400)
    try:
        scenario = library.own_scenario_create(
            actor=request.user,
            organisation=form.cleaned_data["organisation"],
            data=form.service_data(),
        )
    except DomainError as exc:
        _form_error(form, exc)
        return _form_page(request, form, status=_status(exc))
    messages.success(
        request, "Le scénario est créé. Ajoutez maintenant ses stimuli, un par un, ci-dessous."
    )
    return redirect("exercises:library_detail", pk=scenario.pk)


def _own_scenario(request, pk: int):
    _require_reader(request.user)
    scenario = library.get_scenario(request.user, pk)
    if not library.can_edit_own(request.user, scenario):
        if scenario.organisation_id and scenario.status != ScenarioStatus.CURRENT:
            raise PermissionDenied(
                "Cette version n'est plus en vigueur : modifiez la version en vigueur."
            )
        raise PermissionDenied(
            library.NOT_OWNER
            if scenario.organisation_id
            else "Les scénarios des bibliothèques nationale et régionales ne se modifient pas "
            "ici : dupliquez-le pour l'adapter à votre établissement."
        )
    return scenario


@require_http_methods(["GET", "POST"])
def library_own_edit(request, pk: int):
    scenario = _own_scenario(request, pk)
    organisations = library.author_organisations(request.user)
    if request.method != "POST":
        form = OwnScenarioForm(
            organisations=organisations,
            editing=True,
            initial=OwnScenarioForm.initial_from(scenario),
        )
        return _form_page(request, form, scenario)
    form = OwnScenarioForm(request.POST, organisations=organisations, editing=True)
    if not form.is_valid():
        return _form_page(request, form, scenario, status=400)
    try:
        saved = library.own_scenario_update(
            actor=request.user, scenario=scenario, data=form.service_data()
        )
    except DomainError as exc:
        _form_error(form, exc)
        return _form_page(request, form, scenario, status=_status(exc))
    messages.success(request, _saved_message(scenario, saved))
    return redirect("exercises:library_detail", pk=saved.pk)


def _saved_message(before, after) -> str:
    if after.pk != before.pk:
        return (
            f"Des exercices utilisent la version {before.version} : vos modifications forment "
            f"la version {after.version}, ils gardent la leur."
        )
    return "Le scénario est enregistré."


@require_POST
def library_inject_add(request, pk: int):
    scenario = _own_scenario(request, pk)
    form = InjectForm(request.POST, scenario=scenario)
    if not form.is_valid():
        return _detail_page(request, scenario, inject_form=form, status=400)
    try:
        saved = library.own_inject_add(
            actor=request.user, scenario=scenario, data=form.service_data()
        )
    except DomainError as exc:
        _form_error(form, exc)
        return _detail_page(request, scenario, inject_form=form, status=_status(exc))
    messages.success(request, _saved_message(scenario, saved))
    return redirect(f"{_detail_url(saved)}#injects")


def _detail_url(scenario) -> str:
    return reverse("exercises:library_detail", args=[scenario.pk])


@require_POST
def library_inject_remove(request, pk: int, inject_pk: int):
    scenario = _own_scenario(request, pk)
    try:
        saved = library.own_inject_remove(
            actor=request.user, scenario=scenario, inject_id=inject_pk
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("exercises:library_detail", pk=scenario.pk)
    messages.success(request, _saved_message(scenario, saved))
    return redirect(f"{_detail_url(saved)}#injects")


@require_POST
def library_duplicate(request, pk: int):
    _require_reader(request.user)
    scenario = library.get_scenario(request.user, pk)
    organisations = library.author_organisations(request.user)
    if not organisations.exists():
        raise PermissionDenied(library.NOT_AUTHOR)
    form = DuplicateForm(request.POST, organisations=organisations)
    if not form.is_valid():
        return _detail_page(request, scenario, duplicate_form=form, status=400)
    try:
        copy = library.scenario_duplicate(
            actor=request.user, scenario=scenario, organisation=form.cleaned_data["organisation"]
        )
    except DomainError as exc:
        _form_error(form, exc)
        return _detail_page(request, scenario, duplicate_form=form, status=_status(exc))
    messages.success(
        request,
        f"Le scénario est copié dans les scénarios de {copy.organisation.name} : adaptez-le "
        "librement, la version d'origine reste inchangée.",
    )
    return redirect("exercises:library_detail", pk=copy.pk)
