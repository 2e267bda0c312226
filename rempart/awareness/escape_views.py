"""Escape-game pages: the list with filters, totals and CSV export, one session, and the form
that records or edits a session with its participants per organisation.

Thin: reads through `escape_selectors` (403 with the reason, 404 if missing), writes through
`escape_services` (DomainError → the French message on the form, with what was typed)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from rempart.core.csv_export import csv_response
from rempart.core.errors import DomainError

from . import escape_selectors as sel
from . import escape_services as services
from . import perms
from .escape_forms import ParticipationFormSet, SessionFilterForm, SessionForm

PAGE_SIZE = 25
CSV_HEADER = [
    "Date",
    "Scénario",
    "Structure d'accueil",
    "Lieu",
    "Animateur",
    "Équipes",
    "Évadés",
    "Temps de sortie (min)",
    "Satisfaction (/10)",
    "Organisation participante",
    "FINESS",
    "Participants",
]


def _filtered(request):
    form = SessionFilterForm(
        request.GET or None, organisations=sel.filter_organisations(request.user)
    )
    year = organisation = None
    if form.is_bound and form.is_valid():
        year = form.cleaned_data["annee"]
        organisation = form.cleaned_data["organisation"]
    return form, sel.sessions(request.user, year=year, organisation=organisation)


@require_GET
def session_list(request):
    form, qs = _filtered(request)
    page = Paginator(sel.with_visible_participations(request.user, qs), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "awareness/escape_list.html",
        {
            "title": "Escape games de sensibilisation",
            "form": form,
            "page": page,
            "querystring": query.urlencode(),
            "totals": sel.totals(request.user, qs),
            "can_manage": perms.can_manage_escape_games(request.user),
        },
    )


@require_GET
def session_export(request):
    _form, qs = _filtered(request)
    return csv_response("escape-games.csv", CSV_HEADER, sel.export_rows(request.user, qs))


@require_GET
def session_detail(request, pk: int):
    session = sel.get_session(request.user, pk)
    return render(
        request,
        "awareness/escape_detail.html",
        {"title": f"{session.scenario} — {session.held_on:%d/%m/%Y}", "session": session},
    )


def _rows(formset) -> list[services.ParticipationInput]:
    return [
        services.ParticipationInput(
            organisation=f.cleaned_data["organisation"],
            count=f.cleaned_data["count"],
            names=(f.cleaned_data.get("names") or "").strip(),
        )
        for f in formset.forms
        if f.cleaned_data.get("organisation")
    ]


def _form_page(request, form, formset, session=None, status=200):
    return render(
        request,
        "awareness/escape_form.html",
        {
            "title": "Modifier la session" if session else "Enregistrer une session d'escape game",
            "form": form,
            "formset": formset,
            "session": session,
        },
        status=status,
    )


def _save(request, session=None):
    hosts = sel.host_choices(request.user)
    form = SessionForm(request.POST, hosts=hosts)
    formset = ParticipationFormSet(
        request.POST, prefix="part", form_kwargs={"organisations": hosts}
    )
    if form.is_valid() and formset.is_valid():
        try:
            if session is None:
                session = services.session_create(
                    actor=request.user,
                    host=form.cleaned_data["host"],
                    data=form.service_data(),
                    participations=_rows(formset),
                )
            else:
                session = services.session_update(
                    actor=request.user,
                    session=session,
                    host=form.cleaned_data["host"],
                    data=form.service_data(),
                    participations=_rows(formset),
                )
        except DomainError as exc:
            field = exc.field if exc.field in form.fields else None
            form.add_error(field, exc.message)
            return _form_page(
                request, form, formset, session, 403 if exc.code == "forbidden" else 400
            )
        messages.success(request, "La session est enregistrée.")
        return redirect("awareness:escape_detail", pk=session.pk)
    return _form_page(request, form, formset, session, 400)


@require_http_methods(["GET", "POST"])
def session_create(request):
    if not perms.can_manage_escape_games(request.user):
        raise PermissionDenied(perms.NOT_MANAGER)
    if request.method == "POST":
        return _save(request)
    hosts = sel.host_choices(request.user)
    user = request.user
    form = SessionForm(
        hosts=hosts, initial={"facilitator_name": user.get_full_name() or user.email}
    )
    formset = ParticipationFormSet(prefix="part", form_kwargs={"organisations": hosts})
    return _form_page(request, form, formset)


@require_http_methods(["GET", "POST"])
def session_edit(request, pk: int):
    session = sel.get_session_for_edit(request.user, pk)
    if request.method == "POST":
        return _save(request, session)
    hosts = sel.host_choices(request.user)
    initial = {
        "held_on": session.held_on,
        "host": session.host,
        "site": session.site,
        "facilitator_name": session.facilitator_name,
        "scenario": session.scenario,
        "duration_minutes": session.duration_minutes,
        "team_count": session.team_count,
        "escaped": {True: "oui", False: "non"}.get(session.escaped, ""),
        "escape_minutes": session.escape_minutes,
        "satisfaction": session.satisfaction,
        "debrief": session.debrief,
    }
    rows = [
        {"organisation": p.organisation, "count": p.count, "names": p.names}
        for p in session.visible
    ]
    form = SessionForm(hosts=hosts, initial=initial)
    formset = ParticipationFormSet(
        prefix="part", initial=rows, form_kwargs={"organisations": hosts}
    )
    return _form_page(request, form, formset, session)
