"""API errors as structured JSON: {"error": {"code", "message", "details"?}}."""

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from .errors import DomainError


def _error(code: str, message: str, http_status: int, details=None) -> Response:
    body = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    return Response(body, status=http_status)


def structured_exception_handler(exc, context):
    """Every API error has the same shape: {"error": {"code", "message", "details"?}}."""
    if isinstance(exc, DomainError):
        details = {exc.field: [exc.message]} if exc.field else None
        http = status.HTTP_403_FORBIDDEN if exc.code == "forbidden" else status.HTTP_400_BAD_REQUEST
        return _error(exc.code, exc.message, http, details)
    if isinstance(exc, DjangoValidationError):
        return _error(
            "invalid",
            "Données invalides.",
            status.HTTP_400_BAD_REQUEST,
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages},
        )
    if isinstance(exc, Http404):
        return _error("not_found", "Objet introuvable.", status.HTTP_404_NOT_FOUND)
    if isinstance(exc, PermissionDenied):
        return _error("forbidden", "Accès refusé.", status.HTTP_403_FORBIDDEN)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        return _error("invalid", "Données invalides.", response.status_code, response.data)
    detail = getattr(exc, "detail", None)
    code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
    message = str(detail) if detail is not None else str(exc)
    response.data = {"error": {"code": str(code), "message": message}}
    return response


class ReasonedRefusal:
    """For API views that read through the pages' selectors: their 403 carries the page's French
    reason (« réservé à… »); keep it in the API's error body instead of a bare « Accès refusé »."""

    def handle_exception(self, exc):
        if isinstance(exc, PermissionDenied) and str(exc):
            exc = DomainError(str(exc), code="forbidden")
        return super().handle_exception(exc)
