"""The awareness figures page (learning results and escape-game participation) and its CSV
export, for the managers of the organisations within scope."""

from __future__ import annotations

from django import forms
from django.shortcuts import render
from django.views.decorators.http import require_GET

from rempart.core.csv_export import csv_response

from . import figures
from .escape_forms import OrganisationChoiceField


class FiguresFilterForm(forms.Form):
    organisation = OrganisationChoiceField(
        label="Organisation",
        queryset=None,
        required=False,
        empty_label="Tout mon périmètre",
        error_messages={"invalid_choice": "Choisissez une organisation de votre périmètre."},
    )

    def __init__(self, *args, organisations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = organisations


def _figures(request):
    form = FiguresFilterForm(
        request.GET or None, organisations=figures.organisations_in_scope(request.user)
    )
    organisation = None
    if form.is_bound and form.is_valid():
        organisation = form.cleaned_data["organisation"]
    return form, figures.awareness_figures(request.user, organisation=organisation)


@require_GET
def figures_page(request):
    form, data = _figures(request)
    return render(
        request,
        "awareness/figures.html",
        {
            "title": "Résultats de sensibilisation",
            "form": form,
            "figures": data,
            "min_group": figures.MIN_GROUP,
            "querystring": request.GET.urlencode(),
        },
    )


@require_GET
def figures_export(request):
    _form, data = _figures(request)
    return csv_response("resultats-sensibilisation.csv", figures.CSV_HEADER, figures.csv_rows(data))
