from django import forms
from django.contrib.auth.password_validation import validate_password
from django.utils.translation import gettext_lazy as _

from rempart.core.roles import ORG_KIND_CHOICES, ORG_KIND_LABELS, ROLES, Role

from .models import LegalStatus, Organisation, Sector
from .services import ORGANISATION_EDITABLE_FIELDS


class DirectoryFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Rechercher"),
        required=False,
        max_length=100,
        help_text=_("Nom, numéro FINESS ou commune"),
    )
    kind = forms.ChoiceField(
        label=_("Type"), required=False, choices=[("", _("Tous")), *ORG_KIND_CHOICES]
    )
    sector = forms.ChoiceField(
        label=_("Secteur"), required=False, choices=[("", _("Tous")), *Sector.choices]
    )
    legal_status = forms.ChoiceField(
        label=_("Statut"), required=False, choices=[("", _("Tous")), *LegalStatus.choices]
    )
    ght = forms.TypedChoiceField(label=_("GHT"), required=False, coerce=int, empty_value=None)
    departement = forms.ChoiceField(label=_("Département"), required=False)
    category = forms.CharField(label=_("Code catégorie"), required=False, max_length=4)
    membres = forms.ChoiceField(
        label=_("Membres"),
        required=False,
        choices=[("", _("Tous")), ("aucun", _("Sans aucun membre"))],
    )

    def __init__(self, *args, ght_choices=(), departement_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ght"].choices = [("", _("Tous"))] + [(g.pk, g.name) for g in ght_choices]
        self.fields["departement"].choices = [("", _("Tous"))] + [
            (d.code, str(d)) for d in departement_choices
        ]


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("Adresse e-mail professionnelle"), max_length=254)
    role = forms.ChoiceField(label=_("Rôle"))

    def __init__(self, *args, roles: list[Role], **kwargs):
        super().__init__(*args, **kwargs)
        # No preselected role: granting one (director, RSSI…) must be a deliberate choice.
        self.fields["role"].choices = [("", _("— Choisissez un rôle —"))] + [
            (r.value, ROLES[r].label) for r in roles
        ]


class AcceptInvitationForm(forms.Form):
    first_name = forms.CharField(label=_("Prénom"), max_length=150)
    last_name = forms.CharField(label=_("Nom"), max_length=150)
    password1 = forms.CharField(
        label=_("Mot de passe"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_(
            "Au moins 12 caractères, pas uniquement des chiffres, pas un mot de passe courant."
        ),
    )
    password2 = forms.CharField(
        label=_("Confirmation du mot de passe"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self):
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", _("Les deux mots de passe ne sont pas identiques."))
        if p1:
            from .models import User

            probe = User(
                email=self.email,
                first_name=cleaned.get("first_name", ""),
                last_name=cleaned.get("last_name", ""),
            )
            try:
                validate_password(p1, user=probe)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class OrganisationForm(forms.ModelForm):
    class Meta:
        model = Organisation
        fields = list(ORGANISATION_EDITABLE_FIELDS)


class OrganisationCreateForm(forms.Form):
    kind = forms.ChoiceField(label=_("Type"))
    name = forms.CharField(label=_("Nom"), max_length=255)
    region = forms.ModelChoiceField(label=_("Région"), queryset=None, empty_label=None)
    departement = forms.ModelChoiceField(label=_("Département"), queryset=None, required=False)
    commune = forms.CharField(label=_("Commune"), max_length=100, required=False)
    email = forms.EmailField(label=_("E-mail de contact"), required=False)
    phone = forms.CharField(label=_("Téléphone"), max_length=30, required=False)
    siret = forms.RegexField(
        label=_("SIRET"),
        regex=r"^\d{14}$",
        required=False,
        error_messages={"invalid": _("Le SIRET comporte 14 chiffres.")},
    )

    def __init__(self, *args, kinds, regions, departements, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k.value, ORG_KIND_LABELS[k]) for k in kinds]
        self.fields["region"].queryset = regions
        self.fields["departement"].queryset = departements

    def clean(self):
        cleaned = super().clean()
        region, departement = cleaned.get("region"), cleaned.get("departement")
        if region and departement and departement.region_id != region.pk:
            self.add_error("departement", _("Ce département n'appartient pas à la région choisie."))
        return cleaned


class FinessLookupForm(forms.Form):
    finess = forms.CharField(
        label=_("Numéro FINESS de l'établissement"),
        max_length=9,
        min_length=9,
        error_messages={"min_length": _("Le numéro FINESS comporte 9 caractères.")},
    )

    def clean_finess(self):
        return self.cleaned_data["finess"].strip().upper()
