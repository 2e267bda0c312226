"""The funding call form: every field of a call, and its ceiling schedule as structured fields
(basis, method, brackets as lines « limite haute;montant », rate, floor, cap), never raw JSON."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from rempart.organisations.models import Sector

from .ceilings import BASES, CENT, METHODS, parse_decimal, validate_schedule
from .models import ApplicantRule
from .windows import DATE_FIELDS, check_order

OPEN_BOUND_WORDS = {"", "au-delà", "au-dela", "audela", "*", "-", "∞", "aucune", "illimité"}


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class AmountField(forms.CharField):
    """Euros, written the French way or not (« 8 100 000 », « 15 000,50 », « 15000.50 »)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 30)
        super().__init__(*args, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, Decimal):
            return f"{value:.2f}"
        return value

    def clean(self, value):
        text = super().clean(value)
        if text in (None, ""):
            return None
        amount = parse_decimal(text)
        if amount is None:
            raise forms.ValidationError(
                _(
                    "« %(value)s » n'est pas un montant : écrivez par exemple 8 100 000 ou 15 000,50."
                ),
                params={"value": text},
            )
        if amount < 0:
            raise forms.ValidationError(_("Le montant doit être positif."))
        if amount != amount.quantize(CENT):
            raise forms.ValidationError(
                _("Arrondissez le montant au centime (deux décimales au plus).")
            )
        return amount.quantize(CENT)


def _plain(value: Decimal) -> str:
    """A number as typed back into the form: « 5000000 », « 15000.50 »."""
    value = Decimal(value)
    return str(value.quantize(Decimal(1))) if value == value.to_integral_value() else str(value)


def brackets_to_text(brackets) -> str:
    lines = []
    for bracket in brackets or ():
        up_to = bracket.get("up_to")
        bound = "au-delà" if up_to is None else _plain(parse_decimal(up_to) or Decimal(0))
        lines.append(f"{bound};{bracket.get('amount', '')}")
    return "\n".join(lines)


def schedule_initial(schedule: dict) -> dict:
    """The form fields of a stored schedule."""
    schedule = schedule or {}
    return {
        "basis": schedule.get("basis", "operating_budget_eur"),
        "method": schedule.get("method", "brackets"),
        "brackets": brackets_to_text(schedule.get("brackets")),
        "rate": schedule.get("rate") or "",
        "floor": schedule.get("floor") or "",
        "cap": schedule.get("cap") or "",
    }


def _schedule_error_field(message: str) -> str | None:
    if message.startswith(("Tranche", "Indiquez au moins une tranche", "Les tranches")):
        return "brackets"
    if message.startswith(("Le taux", "Indiquez le taux")):
        return "rate"
    if message.startswith("Le plancher"):
        return "floor"
    if message.startswith("Le plafond"):
        return "cap"
    return None


class CallForm(forms.Form):
    region = forms.ModelChoiceField(label=_("Région"), queryset=None, empty_label=None)
    domain = forms.ModelChoiceField(
        label=_("Domaine"),
        queryset=None,
        empty_label=_("— Choisissez un domaine —"),
        error_messages={"required": _("Choisissez le domaine de l'appel.")},
    )
    title = forms.CharField(
        label=_("Intitulé"),
        max_length=255,
        help_text=_("Par exemple « CaRE — Domaine 2 : continuité et reprise d'activité »"),
    )
    legal_reference = forms.CharField(
        label=_("Arrêté de référence"),
        max_length=255,
        help_text=_("Par exemple « Arrêté du 3 juillet 2025 »"),
    )
    national_amount_eur = AmountField(label=_("Montant national (€)"))
    envelope_eur = AmountField(label=_("Enveloppe régionale (€)"))
    applicant_rule = forms.ChoiceField(label=_("Qui candidate"), choices=ApplicantRule.choices)
    application_opens_on = forms.DateField(
        label=_("Ouverture des candidatures"), widget=DateInput()
    )
    application_closes_on = forms.DateField(
        label=_("Clôture des candidatures"),
        widget=DateInput(),
        help_text=_("Dernier jour inclus (heure de Paris)."),
    )
    declaration_deadline = forms.DateField(
        label=_("Date limite de déclaration d'atteinte des cibles"),
        widget=DateInput(),
        help_text=_(
            "Les déclarations sont possibles du lendemain de la clôture à cette date incluse."
        ),
    )
    payment_opens_on = forms.DateField(
        label=_("Ouverture du guichet de paiement"), widget=DateInput()
    )
    payment_closes_on = forms.DateField(
        label=_("Fermeture du guichet de paiement"),
        widget=DateInput(),
        help_text=_("Dernier jour inclus."),
    )
    eligible_categories = forms.MultipleChoiceField(
        label=_("Catégories FINESS éligibles"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Aucune case cochée : toutes les catégories sont éligibles."),
    )
    basis = forms.ChoiceField(
        label=_("Base de calcul du plafond"),
        choices=[(key, label) for key, (label, _u, _r) in BASES.items()],
        help_text=_("Le chiffre d'activité de chaque établissement, lu dans l'annuaire."),
    )
    method = forms.ChoiceField(label=_("Méthode"), choices=list(METHODS.items()))
    brackets = forms.CharField(
        label=_("Tranches (méthode « barème par tranches »)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_(
            "Une tranche par ligne : « limite haute;montant en euros », par ordre croissant. "
            "La dernière ligne commence par « au-delà ». Exemple : 5000000;15000 puis "
            "20000000;25000 puis au-delà;60000."
        ),
    )
    rate = forms.CharField(
        label=_("Taux (méthode « taux »)"),
        required=False,
        max_length=30,
        help_text=_(
            "Pour le budget d'exploitation, une fraction : 0.0015 pour 0,15 %. "
            "Pour les lits, places ou ETP, un montant en euros par unité."
        ),
    )
    floor = AmountField(
        label=_("Plancher par établissement (€)"),
        required=False,
        help_text=_("Facultatif, par exemple 15 000."),
    )
    cap = AmountField(
        label=_("Plafond maximal par établissement (€)"),
        required=False,
        help_text=_("Facultatif, par exemple 623 026,24."),
    )
    reason = forms.CharField(
        label=_("Motif de la modification"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Obligatoire pour changer les règles d'un appel déjà ouvert (dates passées, barème, "
            "règle de candidature, catégories). Conservé dans le journal d'audit."
        ),
    )

    CALL_FIELDS = (
        "region",
        "domain",
        "title",
        "legal_reference",
        "national_amount_eur",
        "envelope_eur",
        "applicant_rule",
    )
    WINDOW_FIELDS = DATE_FIELDS
    SCHEDULE_FIELDS = ("basis", "method", "brackets", "rate", "floor", "cap")

    def __init__(self, *args, regions=None, domains, categories, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing
        if editing:
            del self.fields["region"]
        else:
            self.fields["region"].queryset = regions
            del self.fields["reason"]
        self.fields["domain"].queryset = domains
        for name, message in self.REQUIRED_MESSAGES.items():
            self.fields[name].error_messages["required"] = message
        self.categories = list(categories)
        self.fields["eligible_categories"].choices = [
            (str(c.pk), f"{c.code} – {c.label}") for c in self.categories
        ]

    def fields_of(self, names):
        return [self[name] for name in names if name in self.fields]

    @property
    def call_fields(self):
        return self.fields_of(self.CALL_FIELDS)

    @property
    def window_fields(self):
        return self.fields_of(self.WINDOW_FIELDS)

    @property
    def schedule_fields(self):
        return self.fields_of(self.SCHEDULE_FIELDS)

    @property
    def category_groups(self):
        """(sector label, [(value, label, checked)]) for the checkbox list."""
        if self.is_bound:
            selected = set(self.data.getlist("eligible_categories"))
        else:
            selected = {str(v) for v in self.initial.get("eligible_categories", ())}
        groups: dict[str, list] = {}
        labels = dict(Sector.choices)
        for category in self.categories:
            groups.setdefault(str(labels.get(category.sector, category.sector)), []).append(
                (
                    str(category.pk),
                    f"{category.code} – {category.label}",
                    str(category.pk) in selected,
                )
            )
        return list(groups.items())

    REQUIRED_MESSAGES = {
        "title": _("Indiquez l'intitulé de l'appel."),
        "legal_reference": _("Indiquez l'arrêté qui ouvre l'appel."),
        "national_amount_eur": _("Indiquez le montant national de l'appel, en euros."),
        "envelope_eur": _("Indiquez l'enveloppe régionale, en euros."),
        "application_opens_on": _("Indiquez la date d'ouverture des candidatures."),
        "application_closes_on": _("Indiquez la date de clôture des candidatures."),
        "declaration_deadline": _("Indiquez la date limite de déclaration d'atteinte des cibles."),
        "payment_opens_on": _("Indiquez la date d'ouverture du guichet de paiement."),
        "payment_closes_on": _("Indiquez la date de fermeture du guichet de paiement."),
    }

    def clean(self):
        cleaned = super().clean()
        national, envelope = cleaned.get("national_amount_eur"), cleaned.get("envelope_eur")
        if national is not None and envelope is not None and envelope > national:
            self.add_error(
                "envelope_eur",
                _("L'enveloppe régionale ne peut pas dépasser le montant national de l'appel."),
            )
        dates = {name: cleaned.get(name) for name in DATE_FIELDS}
        if all(dates.values()):
            for field_name, message in check_order(dates):
                self.add_error(field_name, message)
        schedule = self._schedule(cleaned)
        if schedule is not None:
            for message in validate_schedule(schedule):
                self.add_error(_schedule_error_field(message), message)
            cleaned["ceiling_schedule"] = schedule
        return cleaned

    def _schedule(self, cleaned) -> dict | None:
        """The schedule as stored (JSON), or None when a field already has an error."""
        method = cleaned.get("method")
        basis = cleaned.get("basis")
        if not method or not basis or any(self.has_error(f) for f in self.SCHEDULE_FIELDS):
            return None
        schedule: dict = {"basis": basis, "method": method}
        if method == "brackets":
            brackets = self._parse_brackets(cleaned.get("brackets") or "")
            if brackets is None:
                return None
            schedule["brackets"] = brackets
        else:
            rate_text = (cleaned.get("rate") or "").strip()
            rate = parse_decimal(rate_text)
            if rate_text and rate is None:
                self.add_error(
                    "rate", f"« {rate_text} » n'est pas un nombre : écrivez par exemple 0.0015."
                )
                return None
            schedule["rate"] = "" if rate is None else str(rate)
        for key in ("floor", "cap"):
            if cleaned.get(key) is not None:
                schedule[key] = f"{cleaned[key]:.2f}"
        return schedule

    def _parse_brackets(self, text: str) -> list | None:
        brackets = []
        errors = []
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        for number, line in enumerate(lines, start=1):
            parts = [p.strip() for p in line.replace("\t", ";").split(";")]
            if len(parts) != 2:
                errors.append(
                    f"Ligne {number} (« {line} ») : écrivez « limite haute;montant », "
                    "par exemple « 5000000;15000 »."
                )
                continue
            bound_text, amount_text = parts
            if bound_text.lower() in OPEN_BOUND_WORDS:
                up_to = None
            else:
                bound = parse_decimal(bound_text)
                if bound is None:
                    errors.append(
                        f"Ligne {number} : la limite haute « {bound_text} » n'est pas un nombre "
                        "(ou « au-delà » pour la dernière tranche)."
                    )
                    continue
                up_to = int(bound) if bound == bound.to_integral_value() else float(bound)
            amount = parse_decimal(amount_text)
            if amount is None:
                errors.append(f"Ligne {number} : le montant « {amount_text} » n'est pas un nombre.")
                continue
            if amount != amount.quantize(CENT):
                errors.append(f"Ligne {number} : arrondissez le montant au centime.")
                continue
            brackets.append({"up_to": up_to, "amount": f"{amount:.2f}"})
        for message in errors:
            self.add_error("brackets", message)
        return None if errors else brackets
