"""Form of the end-to-end chain test: which CRRC's on-call to test (the rules are in `paging`)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class ChainTestForm(forms.Form):
    crrc = forms.ModelChoiceField(
        label=_("CRRC dont l'astreinte est testée"),
        queryset=None,
        empty_label=None,
        error_messages={
            "required": _("Choisissez le CRRC dont vous voulez tester l'astreinte."),
            "invalid_choice": _("Choisissez l'un de vos CRRC dans la liste."),
        },
    )

    def __init__(self, *args, crrcs, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["crrc"].queryset = crrcs
