"""Trainings pages: the sessions list, one session (registering people, cancelling), the
trainer's pages (create, edit, publish, cancel, attendance sheet, satisfaction), what an
establishment's staff attended, the region's figures, and the public satisfaction survey.

Thin: reads through `selectors` (403 with the reason, 404 outside one's scope), writes through
`services` (DomainError → the French message on the form, with what was typed kept)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rempart.core import webflow
from rempart.core.csv_export import csv_response
from rempart.core.errors import DomainError
from rempart.core.xlsx_export import xlsx_response

from . import certificate, perms, services
from . import selectors as sel
from .forms import RegistrationForm, SessionForm, SurveyForm
from .models import RegistrationStatus

PAGE_SIZE = 25


def _year(request) -> int | None:
    raw = request.GET.get("annee", "")
    return int(raw) if raw.isdigit() and 2000 <= int(raw) <= 2100 else None


# --- Sessions ---------------------------------------------------------------------------------


@require_GET
def session_list(request):
    past = request.GET.get("passees") == "1"
    qs = sel.sessions(request.user, upcoming=not past)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    for session in page:
        session.seats_left = max(session.capacity - session.confirmed_count, 0)
    return render(
        request,
        "events/session_list.html",
        {
            "title": "Formations et webinaires",
            "page": page,
            "past": past,
            "querystring": "passees=1" if past else "",
            "can_manage": perms.can_manage_trainings(request.user),
            "can_register": perms.can_register(request.user),
            "can_view_figures": perms.can_view_figures(request.user),
        },
    )


def _detail_page(request, session, form=None, status=200):
    organisations = sel.register_organisations(request.user, session)
    if form is None and session.is_open and organisations.exists():
        user = request.user
        initial = {}
        if all(perms.registers_only_self(user, o) for o in organisations):
            initial = {
                "first_name": user.first_name,
                "last_name": user.last_name,
                "email": user.email,
            }
        form = RegistrationForm(organisations=organisations, initial=initial)
    registrations = sel.session_registrations(request.user, session)
    context = {
        "title": session.title,
        "session": session,
        "form": form,
        "registrations": registrations,
        "confirmed": [r for r in registrations if r.status == RegistrationStatus.CONFIRMED],
        "waiting": [r for r in registrations if r.status == RegistrationStatus.WAITING],
        "cancelled": [r for r in registrations if r.status == RegistrationStatus.CANCELLED],
    }
    for registration in registrations:
        registration.can_cancel = (
            registration.status != RegistrationStatus.CANCELLED
            and not session.has_started
            and services.can_cancel(request.user, registration)
        )
    return render(request, "events/session_detail.html", context, status=status)


@require_GET
def session_detail(request, pk: int):
    return _detail_page(request, sel.get_session(request.user, pk))


@require_POST
def registration_create(request, pk: int):
    session = sel.get_session(request.user, pk)
    organisations = sel.register_organisations(request.user, session)
    if not organisations.exists():
        raise PermissionDenied(perms.NOT_REGISTRAR)
    form = RegistrationForm(request.POST, organisations=organisations)

    def registered(result):
        (messages.warning if result.waiting else messages.success)(request, result.message)
        return redirect("events:session_detail", pk=session.pk)

    done, status = webflow.submit(
        request,
        form,
        lambda: services.registration_create(
            actor=request.user, session=session, **form.cleaned_data
        ),
        respond=registered,
    )
    # Shown again with the seats as they are now (others may have just taken the last ones).
    return done or _detail_page(request, sel.get_session(request.user, pk), form, status)


@require_POST
def registration_cancel(request, pk: int):
    registration = sel.get_registration(request.user, pk)
    try:
        promoted = services.registration_cancel(actor=request.user, registration=registration)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        text = f"L'inscription de {registration.full_name} est annulée."
        if promoted is not None:
            text += (
                f" {promoted.full_name} quitte la liste d'attente : son inscription est "
                "confirmée et un courriel l'en informe."
            )
        messages.success(request, text)
    return redirect("events:session_detail", pk=registration.session_id)


# --- Trainer ----------------------------------------------------------------------------------


def _form_page(request, form, session=None, status=200):
    return render(
        request,
        "events/session_form.html",
        {
            "title": "Modifier la session" if session else "Nouvelle session",
            "form": form,
            "session": session,
        },
        status=status,
    )


def _to_detail(session) -> tuple:
    return ("events:session_detail", session.pk)


@require_http_methods(["GET", "POST"])
def session_create(request):
    form = SessionForm(
        webflow.posted(request),
        organisers=sel.organiser_choices(request.user),
        initial={"kind": "training", "capacity": 20},
    )
    done, status = webflow.submit(
        request,
        form,
        lambda: services.session_create(
            actor=request.user, organiser=form.cleaned_data["organiser"], data=form.service_data()
        ),
        then=_to_detail,
        success="La session est enregistrée en brouillon : publiez-la.",
    )
    return done or _form_page(request, form, status=status)


@require_http_methods(["GET", "POST"])
def session_edit(request, pk: int):
    session = sel.get_session_to_manage(request.user, pk)
    form = SessionForm(
        webflow.posted(request),
        organisers=sel.organiser_choices(request.user),
        initial=SessionForm.initial_from(session),
    )
    done, status = webflow.submit(
        request,
        form,
        lambda: services.session_update(
            actor=request.user, session=session, data=form.service_data()
        ),
        then=_to_detail,
        success="La session est modifiée.",
    )
    return done or _form_page(request, form, session, status)


@require_POST
def session_publish(request, pk: int):
    session = sel.get_session_to_manage(request.user, pk)
    try:
        services.session_publish(actor=request.user, session=session)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "La session est publiée : les structures peuvent s'inscrire.")
    return redirect("events:session_detail", pk=session.pk)


@require_POST
def session_cancel(request, pk: int):
    session = sel.get_session_to_manage(request.user, pk)
    try:
        services.session_cancel(actor=request.user, session=session)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, "La session est annulée ; les personnes inscrites sont prévenues."
        )
    return redirect("events:session_detail", pk=session.pk)


@require_http_methods(["GET", "POST"])
def attendance(request, pk: int):
    session = sel.get_session_to_manage(request.user, pk)
    rows = sel.attendance_rows(session)
    error, status = "", 200
    if request.method == "POST":
        raw = request.POST.getlist("present")
        ids = {int(value) for value in raw if value.isdigit()}
        if len(ids) != len(raw):
            error, status = "La liste des présences envoyée n'est pas valide : recommencez.", 400
        else:
            try:
                present = services.attendance_record(
                    actor=request.user, session=session, present_ids=ids
                )
            except DomainError as exc:
                error, status = exc.message, webflow.status_of(exc)
            else:
                messages.success(
                    request,
                    f"Présences enregistrées : {present} présent·e(s) sur {len(rows)}. Le "
                    "questionnaire de satisfaction est envoyé aux personnes présentes.",
                )
                return redirect("events:attendance", pk=session.pk)
        if status != 200:
            for row in rows:
                row.ticked = row.pk in ids
    else:
        for row in rows:
            row.ticked = row.attended is True
    return render(
        request,
        "events/attendance.html",
        {
            "title": f"Présences — {session.title}",
            "session": session,
            "rows": rows,
            "error": error,
        },
        status=status,
    )


ATTENDANCE_HEADER = [
    "Nom",
    "Prénom",
    "Courriel",
    "Fonction",
    "Structure",
    "FINESS",
    "Présent·e",
    "Signature",
]


@require_GET
def attendance_export(request, pk: int):
    session = sel.get_session_to_manage(request.user, pk)
    presence = {True: "oui", False: "non", None: ""}
    rows = (
        [
            r.last_name,
            r.first_name,
            r.email,
            r.function,
            r.organisation.name,
            r.organisation.finess or "",
            presence[r.attended],
            "",
        ]
        for r in sel.attendance_rows(session)
    )
    day = timezone.localtime(session.starts_at)
    return csv_response(f"emargement-{session.pk}-{day:%Y%m%d}.csv", ATTENDANCE_HEADER, rows)


@require_GET
def survey_results(request, pk: int):
    session = sel.get_session_to_manage(request.user, pk)
    answers = sel.session_answers(session)
    return render(
        request,
        "events/survey_results.html",
        {
            "title": f"Satisfaction — {session.title}",
            "session": session,
            "answers": list(answers),
            "satisfaction": sel.satisfaction(answers),
            "present": sel.present_count(session),
        },
    )


@require_GET
def certificate_pdf(request, pk: int):
    registration = sel.get_certificate_registration(request.user, pk)
    response = HttpResponse(certificate.render_pdf(registration), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{certificate.filename(registration)}"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- An establishment's staff ------------------------------------------------------------------

STAFF_HEADER = [
    "Date",
    "Type",
    "Session",
    "Programme",
    "Nom",
    "Prénom",
    "Courriel",
    "Fonction",
    "Structure",
    "Inscription",
    "Présent·e",
]


def _staff_rows(request):
    qs = sel.staff_registrations(request.user)
    year = _year(request)
    if year:
        qs = qs.filter(session__starts_at__year=year)
    return qs, year


@require_GET
def my_staff(request):
    qs, year = _staff_rows(request)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "events/my_staff.html",
        {
            "title": "Formations suivies par mes équipes",
            "page": page,
            "year": year,
            "querystring": f"annee={year}" if year else "",
            "attended_count": qs.filter(attended=True).count(),
        },
    )


@require_GET
def my_staff_export(request):
    qs, _year_value = _staff_rows(request)
    presence = {True: "oui", False: "non", None: ""}
    rows = (
        [
            timezone.localtime(r.session.starts_at).strftime("%d/%m/%Y"),
            r.session.get_kind_display(),
            r.session.title,
            r.session.programme,
            r.last_name,
            r.first_name,
            r.email,
            r.function,
            r.organisation.name,
            r.get_status_display(),
            presence[r.attended],
        ]
        for r in qs.iterator(chunk_size=500)
    )
    return csv_response("formations-mes-equipes.csv", STAFF_HEADER, rows)


# --- Figures ----------------------------------------------------------------------------------

FIGURES_HEADER = [
    "Date",
    "Type",
    "Programme",
    "Session",
    "Organisateur",
    "Places",
    "Inscrits",
    "Présents",
    "Réponses au questionnaire",
    "Satisfaction moyenne (/10)",
]


@require_GET
def figures(request):
    year = _year(request)
    rows = list(sel.figure_session_rows(request.user, year=year))
    for row in rows:
        row.satisfaction_label = sel.format_score(row.avg)
    return render(
        request,
        "events/figures.html",
        {
            "title": "Chiffres des formations et webinaires",
            "figures": sel.figures(request.user, year=year),
            "rows": rows,
            "year": year,
            "querystring": f"annee={year}" if year else "",
        },
    )


@require_GET
def figures_export(request):
    year = _year(request)
    rows = (
        [
            timezone.localtime(s.starts_at).strftime("%d/%m/%Y"),
            s.get_kind_display(),
            s.programme,
            s.title,
            s.organiser.name,
            s.capacity,
            s.registered,
            s.attendances,
            s.answers,
            str(sel.two_decimals(s.avg)).replace(".", ",") if s.avg is not None else "",
        ]
        for s in sel.figure_session_rows(request.user, year=year)
    )
    return csv_response("chiffres-formations.csv", FIGURES_HEADER, rows)


def _average(value) -> float | None:
    average = sel.two_decimals(value)
    return float(average) if average is not None else None


@require_GET
def figures_xlsx(request):
    """The figures page as a workbook: the totals, by type, by programme, and by session (the
    rows of the CSV, with a date range for the sessions over several days)."""
    year = _year(request)
    figures = sel.figures(request.user, year=year)
    totals = [
        ["Structures inscrites", figures.structures_enrolled],
        ["Personnes inscrites", figures.people_registered],
        ["Personnes formées (présentes)", figures.people_trained],
        ["Sessions (hors annulées)", figures.sessions_held],
        ["Réponses au questionnaire", figures.satisfaction.answers],
        ["Satisfaction moyenne (/10)", _average(figures.satisfaction.average)],
    ]
    by_kind = [
        [
            k.label,
            k.sessions,
            k.registrations,
            k.attendances,
            k.satisfaction.answers,
            _average(k.satisfaction.average),
        ]
        for k in figures.by_kind
    ]
    by_programme = [
        [
            p.programme,
            p.kind_label,
            p.sessions,
            p.attendances,
            p.satisfaction.answers,
            _average(p.satisfaction.average),
        ]
        for p in figures.by_programme
    ]
    sessions = (
        [
            timezone.localtime(s.starts_at).date(),
            timezone.localtime(s.ends_at).date(),
            s.get_kind_display(),
            s.programme,
            s.title,
            s.organiser.name,
            float(s.duration_hours),
            s.capacity,
            s.registered,
            s.attendances,
            s.answers,
            _average(s.avg),
        ]
        for s in sel.figure_session_rows(request.user, year=year)
    )
    scores = ["Réponses au questionnaire", "Satisfaction moyenne (/10)"]
    return xlsx_response(
        f"chiffres-formations{f'-{year}' if year else ''}.xlsx",
        [
            ("Synthèse", ["Indicateur", f"Valeur{f' ({year})' if year else ''}"], totals),
            ("Par type", ["Type", "Sessions", "Inscriptions", "Présents", *scores], by_kind),
            (
                "Par programme",
                ["Programme", "Type", "Sessions", "Présents", *scores],
                by_programme,
            ),
            (
                "Sessions",
                [
                    "Début",
                    "Fin",
                    "Type",
                    "Programme",
                    "Session",
                    "Organisateur",
                    "Durée (heures)",
                    "Places",
                    "Inscrits",
                    "Présents",
                    *scores,
                ],
                sessions,
            ),
        ],
    )


# --- Public survey ------------------------------------------------------------------------------


def _survey_page(request, context, status=200):
    response = render(
        request, "events/survey.html", {"title": "Votre avis", **context}, status=status
    )
    response["X-Robots-Tag"] = "noindex"
    # (The site-wide "same-origin" referrer policy keeps the link's token on this site;
    # "no-referrer" would make browsers send "Origin: null" and fail the form's CSRF check.)
    response["Cache-Control"] = "private, no-store"
    return response


@login_not_required
@require_http_methods(["GET", "POST"])
def survey(request, token: str):
    """Public: the signed link e-mailed to a participant marked present is the credential
    (192 random bits, only their hash stored). Shows the session's title and date only.
    GET never writes; a second answer is refused and the first kept."""
    try:
        registration = services.registration_for_survey(token)
    except services.SurveyLinkExpired as exc:
        return _survey_page(request, {"closed": exc.message}, 410)
    if registration is None:
        raise Http404("Ce lien de questionnaire n'est pas valide.")
    session = registration.session
    answered = hasattr(registration, "survey_answer")
    if request.method == "GET":
        form = None if answered else SurveyForm()
        return _survey_page(request, {"session": session, "form": form, "answered": answered})
    form = SurveyForm(request.POST)
    if not form.is_valid():
        return _survey_page(request, {"session": session, "form": form}, 400)
    try:
        services.survey_answer(
            token=token, score=form.cleaned_data["score"], comment=form.cleaned_data["comment"]
        )
    except DomainError as exc:
        if exc.code == "already_answered":
            return _survey_page(
                request, {"session": session, "answered": True, "refused": exc.message}, 409
            )
        webflow.form_error(form, exc)
        return _survey_page(request, {"session": session, "form": form}, 400)
    return _survey_page(request, {"session": session, "thanks": True})
