"""The learner's pages: the catalogue, a module (sections, video, short scenes), its quiz, the
result of an attempt with the explanations, my attempts, the certificate PDF, and the public
verification page of a certificate.

Thin: reads through `learning_selectors` (403 with the reason, 404 if missing), the quiz
through `learning_services.attempt_submit`; refused answers re-render the quiz (400) with a
French message per question and every ticked answer kept.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from rempart.core.errors import DomainError

from . import learning_certificate, perms
from . import learning_selectors as sel
from . import learning_services as services

ANSWER_PREFIX = "q-"


@require_GET
def module_list(request):
    modules = list(sel.catalogue(request.user))
    return render(
        request,
        "awareness/module_list.html",
        {
            "title": "Modules de sensibilisation",
            "modules": modules,
            "passed_count": sum(1 for m in modules if m.my_passed),
        },
    )


@require_GET
def module_detail(request, code: str):
    module = sel.get_module(request.user, code)
    return render(
        request,
        "awareness/module_detail.html",
        {
            "title": module.title,
            "module": module,
            "attempts": sel.my_attempts(request.user, module)[:5],
        },
    )


def _posted_answers(request) -> dict[str, list[str]]:
    return {
        key.removeprefix(ANSWER_PREFIX): request.POST.getlist(key)
        for key in request.POST
        if key.startswith(ANSWER_PREFIX)
    }


def _quiz_context(request, module, *, selected=None, errors=None, organisation_id=None) -> dict:
    selected = selected or {}
    errors = errors or {}
    questions = [
        {
            **question,
            "field": f"{ANSWER_PREFIX}{question['code']}",
            "number": index,
            "selected": selected.get(question["code"], []),
            "error": errors.get(question["code"], ""),
        }
        for index, question in enumerate(module.questions, start=1)
    ]
    return {
        "title": f"Quiz — {module.title}",
        "module": module,
        "questions": questions,
        "general_error": errors.get(services.ANSWERS_KEY, ""),
        "error_count": len(errors),
        "organisations": perms.learner_organisations(request.user),
        "organisation_id": organisation_id,
    }


@require_http_methods(["GET", "POST"])
def module_quiz(request, code: str):
    module = sel.get_module(request.user, code)
    if request.method == "GET":
        return render(request, "awareness/module_quiz.html", _quiz_context(request, module))
    answers = _posted_answers(request)
    organisations = perms.learner_organisations(request.user)
    organisation = None
    raw_org = request.POST.get("organisation", "")
    if raw_org:
        organisation = next((o for o in organisations if str(o.pk) == raw_org), None)
    errors: dict[str, str] = {}
    if raw_org and organisation is None:
        errors[services.ANSWERS_KEY] = (
            "Choisissez l'une de vos organisations dans la liste « Au titre de »."
        )
    else:
        try:
            attempt = services.attempt_submit(
                actor=request.user, module=module, answers=answers, organisation=organisation
            )
        except services.QuizAnswerError as exc:
            errors = exc.errors
        except DomainError as exc:
            errors = {services.ANSWERS_KEY: exc.message}
        else:
            return redirect("awareness:attempt_detail", pk=attempt.pk)
    context = _quiz_context(
        request,
        module,
        selected=answers,
        errors=errors,
        organisation_id=organisation.pk if organisation else None,
    )
    return render(request, "awareness/module_quiz.html", context, status=400)


@require_GET
def attempt_list(request):
    if not perms.can_learn(request.user):
        raise PermissionDenied(perms.NO_MEMBERSHIP)
    return render(
        request,
        "awareness/attempt_list.html",
        {"title": "Mes résultats", "attempts": sel.my_attempts(request.user)},
    )


@require_GET
def attempt_detail(request, pk: int):
    attempt = sel.get_my_attempt(request.user, pk)
    certificate = getattr(attempt, "certificate", None) if attempt.passed else None
    return render(
        request,
        "awareness/attempt_detail.html",
        {
            "title": f"Résultat — {attempt.module_title}",
            "attempt": attempt,
            "certificate": certificate,
            "module_available": attempt.module.is_active,
            "content_changed": attempt.module.version != attempt.module_version,
        },
    )


def _verify_url(request, certificate) -> str:
    return request.build_absolute_uri(
        reverse("awareness:certificate_verify", args=[certificate.code])
    )


@require_GET
def certificate_pdf(request, pk: int):
    certificate = sel.get_certificate_for_download(request.user, pk)
    pdf = learning_certificate.render_pdf(certificate, _verify_url(request, certificate))
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="{learning_certificate.filename(certificate)}"'
    )
    response["Cache-Control"] = "private, no-store"
    return response


@login_not_required
@require_GET
def certificate_verify(request, code: str):
    """Public: the code is the secret (128 random bits). Shows initials, module, date, validity."""
    certificate = sel.verify_certificate(code)
    if certificate is None:
        raise Http404("Aucune attestation ne porte ce code.")
    response = render(
        request,
        "awareness/certificate_verify.html",
        {"title": "Vérification d'une attestation", "certificate": certificate},
    )
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"
    return response
