"""FINESS import pages: upload an extract, follow its run, read and download its report.

Thin views: who may import and which runs they see is decided in `importer` (404 otherwise).
"""

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from rempart.core.csv_export import csv_response
from rempart.core.errors import DomainError

from . import importer, perms
from .models import FinessImport

IMPORTS_PAGE_SIZE = 20
REJECTIONS_PAGE_SIZE = 50
ACTIVE_STATUSES = (FinessImport.Status.PENDING, FinessImport.Status.RUNNING)


class FinessUploadForm(forms.Form):
    fichier = forms.FileField(
        label=_("Fichier de l'extraction FINESS"),
        error_messages={
            "required": _("Choisissez le fichier CSV de l'extraction FINESS à importer."),
            "empty": _("Le fichier est vide : déposez l'extraction FINESS complète."),
            "invalid": _("Le fichier n'a pas pu être lu : déposez-le à nouveau."),
        },
    )


def _require_importer(request) -> None:
    if not perms.can_import_finess(request.user):
        raise Http404("Page introuvable.")


@require_http_methods(["GET", "POST"])
def import_list(request):
    _require_importer(request)
    form = (
        FinessUploadForm(request.POST, request.FILES)
        if request.method == "POST"
        else FinessUploadForm()
    )
    if request.method == "POST" and form.is_valid():
        try:
            finess_import = importer.create_import(
                actor=request.user, uploaded_file=form.cleaned_data["fichier"]
            )
        except DomainError as exc:
            form.add_error("fichier", exc.message)
        else:
            if finess_import.status == FinessImport.Status.DONE:
                messages.success(request, _("Import terminé : consultez le rapport ci-dessous."))
            elif finess_import.status == FinessImport.Status.FAILED:
                messages.error(
                    request, _("L'import a échoué : aucune modification n'a été enregistrée.")
                )
            else:
                messages.info(
                    request,
                    _("Fichier reçu : l'import est en cours, cette page se met à jour seule."),
                )
            return redirect("organisations:finess_import_detail", pk=finess_import.pk)
    page = Paginator(importer.visible_imports(request.user), IMPORTS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "form": form,
        "page": page,
        "scope_label": importer.import_scope_label(request.user),
        "max_mb": importer.MAX_UPLOAD_BYTES // (1024 * 1024),
        "title": _("Import FINESS"),
    }
    return render(
        request, "organisations/finess_import.html", context, status=400 if form.errors else 200
    )


@require_GET
def import_detail(request, pk: int):
    _require_importer(request)
    finess_import = importer.get_visible_import(request.user, pk)
    rejections = Paginator(finess_import.rejections or [], REJECTIONS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "import": finess_import,
        "is_active": finess_import.status in ACTIVE_STATUSES,
        "progress": importer.import_progress(finess_import),
        "rejections": rejections,
        "title": _("Rapport d'import FINESS"),
    }
    if request.htmx:
        return render(request, "organisations/includes/finess_import_report.html", context)
    return render(request, "organisations/finess_import_detail.html", context)


@require_GET
def rejections_csv(request, pk: int):
    _require_importer(request)
    finess_import = importer.get_visible_import(request.user, pk)
    rows = (
        [rejection.get("line"), rejection.get("finess"), rejection.get("reason")]
        for rejection in finess_import.rejections or []
    )
    return csv_response(
        f"rejets-import-finess-{finess_import.pk}.csv", ["ligne", "finess", "motif"], rows
    )
