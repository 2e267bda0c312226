"""The mandatory CERT Santé declaration of a case (Code de la santé publique L.1111-8-2).

The platform prepares the declaration in the four blocks of the official form, people complete
it, download it (PDF, JSON) and file it themselves on the national portal; the platform then
records when and under which reference it was filed. The legal duty is the establishment's:
the people who manage the case (the structure's incident managers, the CRRC, the case's lead)
prepare, edit and record the filing; anyone who may read the case may read the declaration.

Rules, stated once:

* **Preparing** fills the blocks from the case: block 1 from the structure and the declarant,
  block 2 from the first alert (date observed, description), the affected assets and the state
  of handling, block 3 from the impacts answered in the alerts and the case's outcome; block 4
  (causes) stays empty, only people know it. The declarant is the person preparing when they
  belong to the structure; when the CRRC or an outside lead prepares, it is the person who
  filed the first alert (its callback details), to be checked by the structure.
* **Preparing again** a draft refreshes only the fields that are still empty: what people
  typed is never overwritten. A filed declaration is never prepared again.
* **Completeness**: what the portal requires — the structure (name, FINESS), the declarant's
  name, e-mail and telephone, the date observed, the four description fields, at least one
  impact answer. A draft may be incomplete; recording the filing of an incomplete one is
  refused with the list of what is missing (the portal would not have accepted it either).
* **Filing**: date and time not in the future, not before the case was reported; the
  portal's reference is required (trimmed, 100 characters at most). The declaration is then
  frozen: its content can no longer be edited here (a correction of content is made on the
  portal); only the filing record itself (date, reference) may be corrected, and the
  correction is written in the timeline. `filed_at` is the end of the « time to declare ».
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.roles import ROLES, Role
from rempart.organisations import perms as org_perms
from rempart.organisations.finess import finess_error

from . import perms, timeline
from .models import (
    AffectedAsset,
    Alert,
    Case,
    CaseOutcome,
    CaseState,
    CaseTask,
    CertSanteDeclaration,
    DeclarationStatus,
    EventKind,
    Impact,
    TaskStatus,
)

PARIS = ZoneInfo("Europe/Paris")

PORTAL_NAME = "portail de signalement des événements sanitaires indésirables"
PORTAL_URL = "https://signalement.social-sante.gouv.fr"
TEXT_MAX_LENGTH = 10_000
REFERENCE_MAX_LENGTH = 100
# A clock a little ahead on the user's device must not make « now » look like the future.
CLOCK_TOLERANCE = datetime.timedelta(minutes=5)

BLOCKS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "Identification de la structure et du déclarant",
        [
            "structure_name",
            "structure_finess",
            "structure_address",
            "declarant_name",
            "declarant_function",
            "declarant_phone",
            "declarant_email",
        ],
    ),
    (
        2,
        "Description de l'incident",
        ["observed_at", "scope", "systems_concerned", "data_concerned", "handling_state"],
    ),
    (
        3,
        "Impacts sur les données, les personnes, les systèmes et le fonctionnement de la structure",
        [
            "impact_care",
            "impact_data",
            "impact_people",
            "impact_systems",
            "impact_organisation",
            "may_affect_others",
        ],
    ),
    (4, "Causes (si connues)", ["causes"]),
]
EDITABLE_FIELDS = [name for _n, _t, names in BLOCKS for name in names]
CHOICE_FIELDS = {"impact_care", "may_affect_others"}
DATETIME_FIELDS = {"observed_at"}
IMPACT_TEXT_FIELDS = ["impact_data", "impact_people", "impact_systems", "impact_organisation"]

STATE_SENTENCES = {
    CaseState.NEW: "Incident signalé, en attente de qualification par le CRRC.",
    CaseState.QUALIFIED: "Incident qualifié par le CRRC ; les mesures de confinement se préparent.",
    CaseState.CONTAINMENT: "Confinement en cours : les systèmes touchés sont isolés.",
    CaseState.ERADICATION: "Éradication en cours : la menace est supprimée des systèmes.",
    CaseState.RECOVERY: "Remédiation en cours : les systèmes sont remis en service.",
    CaseState.POST_INCIDENT: "Incident résolu ; le retour d'expérience est en cours.",
    CaseState.CLOSED: "Incident clos.",
}
OUTCOME_SENTENCES = {
    CaseOutcome.FALSE_POSITIVE: "Qualification : faux positif, aucun incident de sécurité avéré.",
    CaseOutcome.TRUE_POSITIVE_NO_IMPACT: "Qualification : incident avéré, sans impact sur le "
    "fonctionnement de la structure.",
    CaseOutcome.TRUE_POSITIVE_IMPACT: "Qualification : incident avéré, avec impact sur le "
    "fonctionnement de la structure.",
}


class DeclarationInvalid(DomainError):
    """Several fields refused at once: `errors` maps each field to its French message."""

    def __init__(self, errors: dict[str, str]):
        first_field, first_message = next(iter(errors.items()))
        super().__init__(first_message, code="invalid", field=first_field)
        self.errors = errors


# --- Reading ------------------------------------------------------------------------------------


def declaration_of(case: Case) -> CertSanteDeclaration | None:
    return CertSanteDeclaration.objects.filter(case=case).select_related("filed_by").first()


def field_label(name: str) -> str:
    label = str(CertSanteDeclaration._meta.get_field(name).verbose_name)
    return label[:1].upper() + label[1:]


def format_datetime_fr(value: datetime.datetime | None) -> str:
    """« 12/03/2026 à 14 h 05 » in Paris time."""
    if value is None:
        return ""
    local = timezone.localtime(value, PARIS)
    return f"{local:%d/%m/%Y} à {local.hour} h {local.minute:02d}"


def display_value(declaration: CertSanteDeclaration, name: str) -> str:
    """The value of a field as a person reads it (choices by label, dates in French)."""
    value = getattr(declaration, name)
    if name in DATETIME_FIELDS:
        return format_datetime_fr(value)
    if name in CHOICE_FIELDS:
        return str(Impact(value).label) if value else ""
    return value or ""


@dataclass
class BlockView:
    number: int
    title: str
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (name, label, value)


def blocks(declaration: CertSanteDeclaration) -> list[BlockView]:
    return [
        BlockView(
            number,
            title,
            [(name, field_label(name), display_value(declaration, name)) for name in names],
        )
        for number, title, names in BLOCKS
    ]


def missing_fields(declaration: CertSanteDeclaration) -> list[str]:
    """What the portal will require and the declaration lacks, in French, in form order."""
    missing = []
    required = [
        "structure_name",
        "structure_finess",
        "declarant_name",
        "declarant_email",
        "declarant_phone",
        "observed_at",
        "scope",
        "systems_concerned",
        "data_concerned",
        "handling_state",
    ]
    for name in required:
        value = getattr(declaration, name)
        if value is None or (isinstance(value, str) and not value.strip()):
            missing.append(field_label(name))
    has_impact = bool(declaration.impact_care) or any(
        getattr(declaration, name).strip() for name in IMPACT_TEXT_FIELDS
    )
    if not has_impact:
        missing.append("Au moins une réponse sur les impacts (bloc 3)")
    return missing


def is_filed(declaration: CertSanteDeclaration | None) -> bool:
    return declaration is not None and declaration.status == DeclarationStatus.FILED


# --- Preparing from the case ----------------------------------------------------------------------


def _require_manage(actor, case: Case, what: str) -> None:
    if not perms.can_manage_case(actor, case):
        raise DomainError(
            f"Seul le pilotage du dossier (structure touchée, CRRC, pilote) peut {what}.",
            code="forbidden",
        )


def _frozen_error(declaration: CertSanteDeclaration) -> DomainError:
    return DomainError(
        f"La déclaration a été déposée sur le portail le {format_datetime_fr(declaration.filed_at)}"
        f" (référence {declaration.filed_reference}) : elle est figée. Une correction du contenu "
        "se fait sur le portail de signalement ; ici, seules la date et la référence du dépôt "
        "peuvent être corrigées.",
        code="declaration_filed",
    )


def _declarant_membership(actor, case: Case):
    """The actor's membership in the victim structure (or its legal entity), if any."""
    organisation = case.organisation
    for membership in org_perms.active_memberships(actor):
        if membership.organisation_id in (organisation.pk, organisation.legal_entity_id):
            return membership
    return None


def _address(organisation) -> str:
    town = " ".join(part for part in (organisation.postal_code, organisation.commune) if part)
    return ", ".join(part for part in (organisation.address, town) if part)[:500]


def _combined_impact(answers: list[str]) -> str:
    """Over several alerts: yes if any said yes, else unknown if any did not know, else no."""
    for wanted in (Impact.YES, Impact.UNKNOWN, Impact.NO):
        if wanted in answers:
            return wanted
    return ""


def _assets_text(assets: list[AffectedAsset]) -> str:
    lines = []
    for asset in assets:
        details = [asset.get_kind_display(), f"état : {asset.get_state_display().lower()}"]
        if asset.critical_for_care:
            details.append("critique pour les soins")
        lines.append(f"- {asset.name} ({', '.join(str(d) for d in details)})")
    return "\n".join(lines)


def _tasks_sentence(statuses: list[str]) -> str:
    done = sum(1 for s in statuses if s == TaskStatus.DONE)
    open_ = sum(1 for s in statuses if s in (TaskStatus.TODO, TaskStatus.IN_PROGRESS))
    if not done and not open_:
        return "Aucune tâche enregistrée dans le dossier."
    done_text = f"{done} tâche réalisée" if done < 2 else f"{done} tâches réalisées"
    open_text = f"{open_} en cours ou à faire" if open_ else "aucune tâche restant à faire"
    return f"{done_text}, {open_text}."


def _handling_state(case: Case, statuses: list[str], actions_taken: str, now) -> str:
    parts = [
        f"Dossier {case.reference}, état « {case.get_state_display()} » au "
        f"{format_datetime_fr(now)}. {STATE_SENTENCES[CaseState(case.state)]}",
        _tasks_sentence(statuses),
    ]
    outcome = OUTCOME_SENTENCES.get(CaseOutcome(case.outcome))
    if outcome:
        parts.append(outcome)
    if actions_taken:
        parts.append(f"Mesures prises dès l'alerte : {actions_taken}")
    return "\n".join(parts)


def _impact_sentence(answer: str, yes: str, unknown: str, no: str) -> str:
    return {Impact.YES: yes, Impact.UNKNOWN: unknown, Impact.NO: no}.get(answer, "")


def proposed_values(*, actor, case: Case) -> dict[str, Any]:
    """Every field as the case and its alerts describe it now (empty string: not known)."""
    now = timezone.now()
    organisation = case.organisation
    alerts = list(
        Alert.objects.filter(case=case, is_test=False)
        .select_related("reporter")
        .order_by("received_at", "pk")
    )
    first = alerts[0] if alerts else None
    assets = list(AffectedAsset.objects.filter(case=case).order_by("name", "pk"))
    statuses = list(CaseTask.objects.filter(case=case).values_list("status", flat=True))

    membership = _declarant_membership(actor, case)
    if membership is not None:
        declarant = {
            "declarant_name": actor.get_full_name() or actor.email,
            "declarant_function": actor.job_title or str(ROLES[Role(membership.role)].label),
            "declarant_phone": actor.phone,
            "declarant_email": actor.email,
        }
    elif first is not None:
        reporter = first.reporter
        declarant = {
            "declarant_name": first.reporter_name or (reporter.get_full_name() if reporter else ""),
            "declarant_function": first.reporter_function,
            "declarant_phone": first.callback_phone or (reporter.phone if reporter else ""),
            "declarant_email": first.callback_email or (reporter.email if reporter else ""),
        }
    else:
        declarant = {}

    care = _combined_impact([a.affects_care for a in alerts])
    data = _combined_impact([a.affects_health_data for a in alerts])
    systems = _combined_impact([a.affects_systems for a in alerts])
    scope_parts = []
    if first is not None:
        if first.observed_at is None and first.observed_at_text:
            scope_parts.append(f"Constaté depuis : {first.observed_at_text}")
        if first.description:
            scope_parts.append(first.description)
    if not scope_parts and case.summary:
        scope_parts.append(case.summary)
    critical = [a for a in assets if a.critical_for_care]
    systems_text = _assets_text(assets)
    if systems == Impact.YES and not assets:
        systems_text = "Système d'information touché (signalé à l'alerte), à préciser."

    outcome = CaseOutcome(case.outcome)
    organisation_text = {
        CaseOutcome.TRUE_POSITIVE_IMPACT: "Incident avéré avec impact sur le fonctionnement "
        "de la structure.",
        CaseOutcome.TRUE_POSITIVE_NO_IMPACT: "Incident avéré sans impact sur le "
        "fonctionnement de la structure.",
        CaseOutcome.FALSE_POSITIVE: "Aucun impact : l'alerte s'est révélée être un faux positif.",
    }.get(outcome, "")
    if care == Impact.YES:
        organisation_text = " ".join(
            part
            for part in (organisation_text, "La prise en charge des patients est perturbée.")
            if part
        )

    values: dict[str, Any] = {
        "structure_name": organisation.name[:255],
        "structure_finess": organisation.finess or "",
        "structure_address": _address(organisation),
        **declarant,
        "observed_at": first.observed_at if first is not None else None,
        "scope": "\n".join(scope_parts),
        "systems_concerned": systems_text,
        "data_concerned": _impact_sentence(
            data,
            "Données de santé à caractère personnel (atteinte signalée à l'alerte).",
            "Données de santé : atteinte possible, en cours d'analyse.",
            "Pas de données de santé concernées selon l'alerte.",
        ),
        "handling_state": _handling_state(
            case, statuses, first.actions_taken if first else "", now
        ),
        "impact_care": care,
        "impact_data": _impact_sentence(
            data,
            "Atteinte à la confidentialité, à l'intégrité ou à la disponibilité de données de "
            "santé signalée.",
            "Atteinte aux données de santé non déterminée à ce stade.",
            "Aucune atteinte aux données de santé constatée.",
        ),
        "impact_people": _impact_sentence(
            care,
            "Sécurité des soins affectée : prise en charge des patients perturbée.",
            "Impact sur la prise en charge des patients non déterminé à ce stade.",
            "Pas d'impact sur la prise en charge des patients.",
        ),
        "impact_systems": _impact_sentence(
            systems,
            "Systèmes d'information touchés"
            + (
                f", dont {len(critical)} critique{'s' if len(critical) > 1 else ''} pour les soins."
                if critical
                else "."
            ),
            "Atteinte aux systèmes d'information en cours d'analyse.",
            "Pas d'atteinte aux systèmes d'information constatée.",
        ),
        "impact_organisation": organisation_text,
        "may_affect_others": "",
        "causes": "",
    }
    # Lengths of the model's short fields (a long organisation name, a verbose alert).
    for name in ("declarant_name", "declarant_function"):
        values[name] = (values.get(name) or "")[:200]
    values["declarant_phone"] = (values.get("declarant_phone") or "")[:30]
    email = (values.get("declarant_email") or "")[:254]
    values["declarant_email"] = email if _email_error(email) is None else ""
    return values


def _is_empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def declaration_prepare(*, actor, case: Case) -> CertSanteDeclaration:
    """Create the declaration from the case, or refresh the empty fields of the draft."""
    _require_manage(actor, case, "préparer la déclaration CERT Santé")
    values = proposed_values(actor=actor, case=case)
    now = timezone.now()
    try:
        with transaction.atomic():
            Case.objects.select_for_update().filter(pk=case.pk).first()
            declaration = CertSanteDeclaration.objects.select_for_update().filter(case=case).first()
            if declaration is None:
                declaration = CertSanteDeclaration(
                    case=case, prepared_by=actor, prepared_at=now, **values
                )
                declaration.save()
                timeline.add_event(
                    case,
                    EventKind.DECLARATION,
                    actor,
                    "Déclaration CERT Santé préparée à partir du dossier "
                    f"({len(missing_fields(declaration))} élément(s) à compléter).",
                )
                return declaration
            if is_filed(declaration):
                raise _frozen_error(declaration)
            filled = [
                name
                for name in EDITABLE_FIELDS
                if _is_empty(getattr(declaration, name)) and not _is_empty(values.get(name))
            ]
            for name in filled:
                setattr(declaration, name, values[name])
            if filled:
                declaration.save()
                timeline.add_event(
                    case,
                    EventKind.DECLARATION,
                    actor,
                    "Déclaration CERT Santé complétée à partir du dossier : "
                    + ", ".join(field_label(name).lower() for name in filled)
                    + ".",
                )
            return declaration
    except IntegrityError:  # two people preparing at the same instant: the other one won
        declaration = declaration_of(case)
        if declaration is None:  # pragma: no cover - the unique row must exist then
            raise
        return declaration


# --- Editing --------------------------------------------------------------------------------------

_PHONE_RE = re.compile(r"^\+?[0-9 .()\-]{6,30}$")


def _email_error(value: str) -> str | None:
    if not value:
        return None
    try:
        validate_email(value)
    except ValidationError:
        return f"L'adresse « {value} » n'est pas une adresse e-mail valide (exemple : nom@structure.fr)."
    return None


def _clean_values(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Check every field as the portal would: lengths, choices, formats, dates."""
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in EDITABLE_FIELDS:
        if name not in values:
            continue
        value = values[name]
        label = field_label(name)
        if name in DATETIME_FIELDS:
            if value in (None, ""):
                clean[name] = None
                continue
            if not isinstance(value, datetime.datetime):
                errors[name] = f"{label} : indiquez une date et une heure (jj/mm/aaaa hh:mm)."
                continue
            if timezone.is_naive(value):
                value = timezone.make_aware(value, PARIS)
            if value > timezone.now() + CLOCK_TOLERANCE:
                errors[name] = f"{label} : la date ne peut pas être dans le futur."
                continue
            clean[name] = value
            continue
        text = str(value or "").strip()
        if name in CHOICE_FIELDS:
            if text and text not in Impact.values:
                errors[name] = f"{label} : choisissez Oui, Non ou Ne sait pas."
                continue
            clean[name] = text
            continue
        max_length = CertSanteDeclaration._meta.get_field(name).max_length or TEXT_MAX_LENGTH
        if len(text) > max_length:
            errors[name] = (
                f"{label} : {max_length} caractères au plus (le texte en compte {len(text)})."
            )
            continue
        if name == "structure_finess" and text:
            reason = finess_error(text.upper())
            if reason:
                errors[name] = reason
                continue
            text = text.upper()
        if name == "declarant_email":
            reason = _email_error(text)
            if reason:
                errors[name] = reason
                continue
        if name == "declarant_phone" and text and not _PHONE_RE.match(text):
            errors[name] = (
                "Le téléphone du déclarant ne contient que des chiffres, des espaces et "
                "éventuellement « + » (exemple : 04 72 00 00 00 ou +33 4 72 00 00 00)."
            )
            continue
        clean[name] = text
    return clean, errors


def declaration_update(*, actor, case: Case, values: dict[str, Any]) -> CertSanteDeclaration:
    """Save what people typed in the four blocks (a draft may stay incomplete)."""
    _require_manage(actor, case, "modifier la déclaration CERT Santé")
    clean, errors = _clean_values(values)
    if errors:
        raise DeclarationInvalid(errors)
    with transaction.atomic():
        declaration = CertSanteDeclaration.objects.select_for_update().filter(case=case).first()
        if declaration is None:
            raise DomainError(
                "La déclaration n'est pas encore préparée : préparez-la d'abord à partir du "
                "dossier.",
                code="no_declaration",
            )
        if is_filed(declaration):
            raise _frozen_error(declaration)
        changed = [name for name, value in clean.items() if getattr(declaration, name) != value]
        for name in changed:
            setattr(declaration, name, clean[name])
        if changed:
            declaration.save()
    return declaration


# --- Filing on the national portal ---------------------------------------------------------------


def _filing_values(case: Case, filed_at, reference) -> tuple[datetime.datetime, str]:
    errors: dict[str, str] = {}
    if not isinstance(filed_at, datetime.datetime):
        errors["filed_at"] = (
            "Indiquez la date et l'heure du dépôt sur le portail (jj/mm/aaaa hh:mm)."
        )
    else:
        if timezone.is_naive(filed_at):
            filed_at = timezone.make_aware(filed_at, PARIS)
        reported_minute = case.reported_at.replace(second=0, microsecond=0)
        if filed_at > timezone.now() + CLOCK_TOLERANCE:
            errors["filed_at"] = "La date du dépôt ne peut pas être dans le futur."
        elif filed_at < reported_minute:
            errors["filed_at"] = (
                "La date du dépôt ne peut pas précéder le signalement de l'incident "
                f"({format_datetime_fr(case.reported_at)})."
            )
    text = str(reference or "").strip()
    if not text:
        errors["reference"] = (
            "Indiquez la référence donnée par le portail de signalement (elle figure dans "
            "l'accusé de réception)."
        )
    elif len(text) > REFERENCE_MAX_LENGTH:
        errors["reference"] = (
            f"La référence du portail compte {REFERENCE_MAX_LENGTH} caractères au plus "
            f"(celle-ci en compte {len(text)})."
        )
    if errors:
        raise DeclarationInvalid(errors)
    return filed_at, text


def declaration_record_filing(
    *, actor, case: Case, filed_at: datetime.datetime, reference: str
) -> CertSanteDeclaration:
    """The structure filed the declaration on the national portal: keep when and under which
    reference; the declaration is frozen from then on."""
    _require_manage(actor, case, "enregistrer le dépôt de la déclaration")
    filed_at, reference = _filing_values(case, filed_at, reference)
    with transaction.atomic():
        declaration = CertSanteDeclaration.objects.select_for_update().filter(case=case).first()
        if declaration is None:
            raise DomainError(
                "La déclaration n'est pas encore préparée : préparez-la et complétez-la avant "
                "d'enregistrer son dépôt.",
                code="no_declaration",
            )
        if is_filed(declaration):
            raise DomainError(
                f"Le dépôt est déjà enregistré (le {format_datetime_fr(declaration.filed_at)}, "
                f"référence {declaration.filed_reference}). Pour une erreur de saisie, "
                "utilisez « Corriger le dépôt ».",
                code="declaration_filed",
            )
        missing = missing_fields(declaration)
        if missing:
            raise DomainError(
                "La déclaration est incomplète : le portail exige ces éléments, complétez-les "
                "avant d'enregistrer le dépôt : " + " ; ".join(missing) + ".",
                code="declaration_incomplete",
            )
        declaration.status = DeclarationStatus.FILED
        declaration.filed_at = filed_at
        declaration.filed_reference = reference
        declaration.filed_by = actor
        declaration.save()
        timeline.add_event(
            case,
            EventKind.DECLARATION,
            actor,
            f"Déclaration déposée sur le portail de signalement (référence {reference}).",
            occurred_at=filed_at,
        )
    return declaration


def declaration_correct_filing(
    *, actor, case: Case, filed_at: datetime.datetime, reference: str
) -> CertSanteDeclaration:
    """Fix a typing error in the filing record (date or reference); the content stays frozen,
    the timeline keeps both values."""
    _require_manage(actor, case, "corriger le dépôt de la déclaration")
    filed_at, reference = _filing_values(case, filed_at, reference)
    with transaction.atomic():
        declaration = CertSanteDeclaration.objects.select_for_update().filter(case=case).first()
        if not is_filed(declaration):
            raise DomainError(
                "Aucun dépôt n'est enregistré pour cette déclaration : il n'y a rien à corriger.",
                code="not_filed",
            )
        if declaration.filed_at == filed_at and declaration.filed_reference == reference:
            raise DomainError(
                "La date et la référence indiquées sont celles déjà enregistrées : rien n'a "
                "changé.",
                code="unchanged",
            )
        before = (
            f"{format_datetime_fr(declaration.filed_at)}, référence {declaration.filed_reference}"
        )
        declaration.filed_at = filed_at
        declaration.filed_reference = reference
        declaration.save()
        timeline.add_event(
            case,
            EventKind.DECLARATION,
            actor,
            f"Dépôt de la déclaration corrigé : {format_datetime_fr(filed_at)}, référence "
            f"{reference} (au lieu de : {before}).",
        )
    return declaration
