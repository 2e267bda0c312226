"""Editing a prerequisite or a target of a CaRE domain."""

from django import forms
from django.utils.translation import gettext_lazy as _

from rempart.core.errors import DomainError

from .models import Attainment, Measurement, Requirement
from .reference_data import clean_proofs


class RequirementForm(forms.Form):
    label = forms.CharField(label=_("Libellé"), max_length=500, widget=forms.Textarea)
    domain_target = forms.CharField(
        label=_("Objectif du domaine"), required=False, widget=forms.Textarea
    )
    proofs = forms.CharField(
        label=_("Preuves à fournir"),
        required=False,
        widget=forms.Textarea,
        help_text=_("Une preuve par ligne."),
    )
    attainment = forms.ChoiceField(label=_("Mode de preuve"), choices=Attainment.choices)
    measurement = forms.ChoiceField(
        label=_("Mesure utilisée"),
        required=False,
        choices=[("", _("— Aucune —")), *Measurement.choices],
        help_text=_(
            "Obligatoire quand le mode de preuve est « Mesure de la plateforme », vide sinon."
        ),
    )
    confirmed = forms.BooleanField(
        label=_("Confirmé par un texte public"),
        required=False,
        help_text=_(
            "Décochez tant que l'élément est attendu mais pas confirmé : il porte alors le badge « à confirmer »."
        ),
    )

    @classmethod
    def for_requirement(cls, requirement: Requirement, data=None) -> "RequirementForm":
        return cls(
            data,
            initial={
                "label": requirement.label,
                "domain_target": requirement.domain_target,
                "proofs": "\n".join(requirement.proofs),
                "attainment": requirement.attainment,
                "measurement": requirement.measurement,
                "confirmed": requirement.confirmed,
            },
        )

    def clean_label(self) -> str:
        label = self.cleaned_data["label"].strip()
        if not label:
            raise forms.ValidationError(_("Indiquez le libellé du prérequis ou de la cible."))
        return label

    def clean_proofs(self) -> list[str]:
        try:
            return clean_proofs(self.cleaned_data["proofs"])
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc

    def clean(self):
        cleaned = super().clean()
        attainment, measurement = cleaned.get("attainment"), cleaned.get("measurement")
        if attainment == Attainment.MEASUREMENT and not measurement:
            self.add_error(
                "measurement",
                _(
                    "Choisissez la mesure de la plateforme qui prouve l'atteinte : elle est obligatoire pour ce mode de preuve."
                ),
            )
        elif attainment and attainment != Attainment.MEASUREMENT and measurement:
            self.add_error(
                "measurement",
                _(
                    "Une mesure ne s'indique que pour le mode « Mesure de la plateforme » : choisissez « Aucune » ou changez de mode de preuve."
                ),
            )
        return cleaned

    def changes_for(self, requirement: Requirement) -> dict:
        """Only the fields whose value differs from the requirement's."""
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if getattr(requirement, name) != value
        }
