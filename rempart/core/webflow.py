"""How a page handles a posted form: validate, call the service, show its refusal on the form
(400, or 403 when it refuses the person) or go on. One place for the pages of every app
(phishing, trainings…), so that they answer a bad input the same way."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from rempart.core.errors import DomainError


def status_of(exc: DomainError) -> int:
    return 403 if exc.code == "forbidden" else 400


def form_error(form, exc: DomainError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def posted(request):
    """The posted data (even empty: an empty POST is a bound form that shows its errors)."""
    return request.POST if request.method == "POST" else None


def refuse_forbidden(exc: DomainError) -> None:
    if exc.code == "forbidden":
        raise PermissionDenied(exc.message) from exc


def submit(request, form, write, *, then=None, respond=None, success: str = ""):
    """Run `write()` for a valid posted form. On success: the message, then the response of
    `respond(result)`, or the redirect to `then(result)` (a URL name and its arguments).
    Otherwise no response, and the status to show the form again with: 200 on GET, 400 when
    invalid, 403 when the service refuses the person (its reason shown on the form)."""
    if request.method != "POST":
        return None, 200
    if not form.is_valid():
        return None, 400
    try:
        result = write()
    except DomainError as exc:
        form_error(form, exc)
        return None, status_of(exc)
    if success:
        messages.success(request, success)
    if respond is not None:
        return respond(result), 200
    return redirect(*then(result)), 200
