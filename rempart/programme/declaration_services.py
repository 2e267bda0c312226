"""Target attainment: once a file is accepted, its people declare each target of the call's
domain reached, with proofs; the region's ARS validates or refuses each declaration.

* Declarations are accepted any day up to the call's declaration deadline (inclusive, Paris
  time), only for an accepted file, only for the targets of the call's domain, and only with
  at least one proof: a checked file, an http(s) link, or a platform measurement of the
  applicant or of an establishment the file covers, of the kind the target requires. A target
  proven by a measurement (attainment « mesure ») needs such a measurement; files and links
  may complete it.
* A cited measurement is copied into the proof when it is given (`measurement_snapshot`):
  later corrections of the measurement row never change a proof.
* A declaration refused by the ARS may be declared again, with new proofs, until the
  deadline; a validated one is final.

Every write is one transaction, checked first (DomainError with a French message and the
field at fault), audited by the models' registration and recorded in the file's history
(which e-mails the other side once committed).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.organisations.models import User

from . import perms, windows
from .models import (
    Application,
    ApplicationStatus,
    Attainment,
    Call,
    DeclarationProof,
    DeclarationStatus,
    EventKind,
    Measurement,
    PlatformMeasurement,
    ProofKind,
    Requirement,
    RequirementKind,
    TargetDeclaration,
)
from .notify import record
from .uploads import CheckedFile, check_upload

STATEMENT_MAX_LENGTH = 5000
COMMENT_MAX_LENGTH = 5000
LABEL_MAX_LENGTH = 255
URL_MAX_LENGTH = 1000
NOT_DECLARED = "non_declaree"
STATUS_LABELS = {
    NOT_DECLARED: "Non déclarée",
    DeclarationStatus.DECLARED: "Déclarée, à vérifier par l'ARS",
    DeclarationStatus.VALIDATED: "Validée par l'ARS",
    DeclarationStatus.REFUSED: "Non validée par l'ARS",
}
STATUS_BADGES = {
    NOT_DECLARED: "",
    DeclarationStatus.DECLARED: "fr-badge--info",
    DeclarationStatus.VALIDATED: "fr-badge--success",
    DeclarationStatus.REFUSED: "fr-badge--error",
}
_url_validator = URLValidator(schemes=["http", "https"])


@dataclass(frozen=True)
class LinkProof:
    url: str
    label: str = ""


# --- Calendar -------------------------------------------------------------------------------------


def declarations_open(call: Call, today=None) -> bool:
    return (today or windows.paris_today()) <= call.declaration_deadline


def declaration_closed_message(call: Call, today=None) -> str:
    """« Les déclarations … sont closes depuis le 30 juin 2026 au soir. » and what comes next."""
    today = today or windows.paris_today()
    message = (
        "La déclaration d'atteinte des cibles de cet appel est close depuis le "
        f"{windows.format_date_fr(call.declaration_deadline)} au soir."
    )
    payment = windows.span(call, windows.Window.PAYMENT)
    if today < payment.opens_on:
        message += (
            " Prochaine étape : l'ARS vérifie les cibles déclarées, puis le guichet de paiement "
            f"ouvre du {payment.opens_label} au {payment.closes_label} pour les dossiers dont "
            "toutes les cibles sont validées."
        )
    elif today <= payment.closes_on:
        message += (
            f" Prochaine étape : le guichet de paiement, ouvert jusqu'au {payment.closes_label}, "
            "pour les dossiers dont toutes les cibles sont validées par l'ARS."
        )
    else:
        message += (
            f" Le guichet de paiement est lui aussi clos depuis le {payment.closes_label} : "
            "il reste le bilan financier."
        )
    return message


# --- Reads ----------------------------------------------------------------------------------------


def target_requirements(call: Call) -> QuerySet[Requirement]:
    return Requirement.objects.filter(
        domain_id=call.domain_id, kind=RequirementKind.TARGET
    ).order_by("position", "identifier")


def proof_organisation_ids(application: Application) -> list[int]:
    """Organisations whose measurements may prove a target: the applicant and the
    establishments the file covers."""
    covered = application.covered_establishments.values_list("pk", flat=True)
    return [application.applicant_id, *covered]


def measurement_options(application: Application) -> dict[str, list[PlatformMeasurement]]:
    """Measurements that may be cited by the file, by kind (newest first). One query."""
    options: dict[str, list[PlatformMeasurement]] = {}
    rows = (
        PlatformMeasurement.objects.filter(organisation_id__in=proof_organisation_ids(application))
        .select_related("organisation")
        .order_by("kind", "-measured_on", "-pk")
    )
    for measurement in rows:
        options.setdefault(measurement.kind, []).append(measurement)
    return options


@dataclass
class TargetRow:
    requirement: Requirement
    declaration: TargetDeclaration | None
    status: str
    proofs: list[DeclarationProof] = field(default_factory=list)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def badge(self) -> str:
        return STATUS_BADGES[self.status]

    @property
    def can_be_declared(self) -> bool:
        return self.status in (NOT_DECLARED, DeclarationStatus.REFUSED)

    @property
    def awaits_review(self) -> bool:
        return self.status == DeclarationStatus.DECLARED


def target_rows(application: Application) -> list[TargetRow]:
    """Every target of the call's domain with the file's declaration (or none) and its proofs,
    in a fixed number of queries."""
    declarations = {
        declaration.requirement_id: declaration
        for declaration in application.declarations.select_related(
            "declared_by", "reviewed_by"
        ).prefetch_related(
            Prefetch(
                "proofs",
                queryset=DeclarationProof.objects.select_related("added_by").order_by(
                    "added_at", "pk"
                ),
            )
        )
    }
    rows = []
    for requirement in target_requirements(application.call):
        declaration = declarations.get(requirement.pk)
        if declaration is None:
            rows.append(TargetRow(requirement, None, NOT_DECLARED))
        else:
            proofs = list(declaration.proofs.all())
            for proof in proofs:
                # Proofs given before the current declaration belong to a refused one.
                proof.earlier = proof.added_at < declaration.declared_at
                proof.snapshot_measured_on = _snapshot_date(proof.measurement_snapshot)
            rows.append(TargetRow(requirement, declaration, declaration.status, proofs))
    return rows


def _snapshot_date(snapshot: dict) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(snapshot.get("measured_on", ""))
    except (TypeError, ValueError, AttributeError):
        return None


def validated_count(rows: Sequence[TargetRow]) -> int:
    return sum(1 for row in rows if row.status == DeclarationStatus.VALIDATED)


def targets_not_validated(application: Application) -> list[TargetRow]:
    return [row for row in target_rows(application) if row.status != DeclarationStatus.VALIDATED]


def get_declaration(application: Application, pk) -> TargetDeclaration:
    try:
        return application.declarations.select_related("requirement").get(pk=pk)
    except (TargetDeclaration.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Déclaration introuvable.") from exc


def get_proof(application: Application, pk) -> DeclarationProof:
    """A proof of the file (already checked visible), or 404."""
    try:
        return DeclarationProof.objects.select_related("declaration").get(
            pk=pk, declaration__application_id=application.pk
        )
    except (DeclarationProof.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Preuve introuvable.") from exc


# --- Proofs ---------------------------------------------------------------------------------------


def freeze_measurement(measurement: PlatformMeasurement) -> dict:
    """The measurement as it is now, kept in the proof whatever happens to the row later."""
    return {
        "measurement_id": measurement.pk,
        "kind": measurement.kind,
        "kind_label": str(Measurement(measurement.kind).label),
        "level": measurement.level,
        "result": measurement.result,
        "measured_on": measurement.measured_on.isoformat(),
        "source": measurement.source,
        "details": measurement.details,
        "organisation_id": measurement.organisation_id,
        "organisation_name": measurement.organisation.name,
        "recorded_at": measurement.recorded_at.isoformat(),
        "report_name": measurement.report_name,
    }


def _check_link(link: LinkProof | str) -> LinkProof:
    if isinstance(link, str):
        link = LinkProof(link)
    url = (link.url or "").strip()
    label = (link.label or "").strip()
    if len(url) > URL_MAX_LENGTH:
        raise DomainError(
            f"Le lien ne doit pas dépasser {URL_MAX_LENGTH} caractères.",
            code="invalid",
            field="link",
        )
    try:
        _url_validator(url)
    except ValidationError as exc:
        raise DomainError(
            f"« {url[:200]} » n'est pas un lien valide : indiquez une adresse complète commençant "
            "par https:// (ou http://).",
            code="invalid_link",
            field="link",
        ) from exc
    if len(label) > LABEL_MAX_LENGTH:
        raise DomainError(
            f"Le libellé du lien ne doit pas dépasser {LABEL_MAX_LENGTH} caractères.",
            code="invalid",
            field="link_label",
        )
    return LinkProof(url, label)


def _check_measurements(
    application: Application, requirement: Requirement, measurement_ids: Iterable
) -> list[PlatformMeasurement]:
    ids = []
    for raw in measurement_ids:
        try:
            ids.append(int(raw))
        except (TypeError, ValueError) as exc:
            raise DomainError(
                "Choisissez une mesure de la liste.", code="invalid", field="measurements"
            ) from exc
    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    if requirement.attainment != Attainment.MEASUREMENT or not requirement.measurement:
        raise DomainError(
            f"La cible {requirement.identifier} ne s'atteste pas par une mesure de la "
            "plateforme : joignez un fichier ou un lien.",
            code="invalid_measurement",
            field="measurements",
        )
    found = {
        m.pk: m
        for m in PlatformMeasurement.objects.select_related("organisation").filter(
            pk__in=ids, organisation_id__in=proof_organisation_ids(application)
        )
    }
    expected = Measurement(requirement.measurement).label
    chosen = []
    for pk in ids:
        measurement = found.get(pk)
        if measurement is None:
            raise DomainError(
                "Cette mesure ne concerne ni le candidat ni un établissement couvert par le "
                "dossier : elle ne peut pas servir de preuve.",
                code="foreign_measurement",
                field="measurements",
            )
        if measurement.kind != requirement.measurement:
            raise DomainError(
                f"La mesure choisie (« {measurement.get_kind_display()} ») n'est pas celle "
                f"qu'exige la cible {requirement.identifier} (« {expected} »).",
                code="wrong_measurement",
                field="measurements",
            )
        chosen.append(measurement)
    return chosen


# --- Declaring ------------------------------------------------------------------------------------


def _target_of(application: Application, requirement_id) -> Requirement:
    try:
        return target_requirements(application.call).get(pk=requirement_id)
    except (Requirement.DoesNotExist, ValueError, TypeError) as exc:
        raise DomainError(
            "Cette cible ne fait pas partie du domaine de l'appel.", code="invalid_target"
        ) from exc


def _require_accepted(application: Application) -> None:
    if application.status != ApplicationStatus.ACCEPTED:
        raise DomainError(
            f"Ce dossier est « {application.get_status_display().lower()} » : les cibles se "
            "déclarent une fois le dossier accepté par l'ARS.",
            code="not_accepted",
        )


def target_declare(
    *,
    actor: User,
    application: Application,
    requirement_id,
    statement: str = "",
    files: Sequence = (),
    links: Sequence[LinkProof | str] = (),
    measurement_ids: Iterable = (),
) -> TargetDeclaration:
    """Declare one target reached, with at least one proof (a target refused by the ARS is
    declared again this way, with new proofs)."""
    if not perms.can_edit_application(actor, application):
        raise DomainError("Vous ne pouvez pas déclarer les cibles de ce dossier.", code="forbidden")
    _require_accepted(application)
    call = application.call
    if not declarations_open(call):
        raise DomainError(declaration_closed_message(call), code="window_closed")
    requirement = _target_of(application, requirement_id)
    statement = (statement or "").strip()
    if len(statement) > STATEMENT_MAX_LENGTH:
        raise DomainError(
            f"La déclaration ne doit pas dépasser {STATEMENT_MAX_LENGTH} caractères.",
            code="invalid",
            field="statement",
        )
    checked_files: list[CheckedFile] = [check_upload(upload) for upload in files if upload]
    checked_links = [_check_link(link) for link in links if link]
    measurements = _check_measurements(application, requirement, measurement_ids)
    if not (checked_files or checked_links or measurements):
        raise DomainError(
            "Une déclaration sans preuve n'est pas recevable : joignez un fichier, un lien ou "
            "une mesure de la plateforme.",
            code="proof_required",
            field="file",
        )
    if requirement.attainment == Attainment.MEASUREMENT and not measurements:
        raise DomainError(
            f"La cible {requirement.identifier} s'atteste par une mesure de la plateforme "
            f"(« {Measurement(requirement.measurement).label} ») : choisissez-en une, les "
            "fichiers et liens la complètent.",
            code="measurement_required",
            field="measurements",
        )
    stored: list[tuple] = []
    try:
        with transaction.atomic():
            locked = Application.objects.select_for_update().get(pk=application.pk)
            _require_accepted(locked)
            now = timezone.now()
            declaration = (
                TargetDeclaration.objects.select_for_update()
                .filter(application=locked, requirement=requirement)
                .first()
            )
            if declaration is None:
                declaration = TargetDeclaration.objects.create(
                    application=locked,
                    requirement=requirement,
                    statement=statement,
                    declared_by=actor,
                    declared_at=now,
                )
                again = False
            elif declaration.status == DeclarationStatus.REFUSED:
                declaration.status = DeclarationStatus.DECLARED
                declaration.statement = statement
                declaration.declared_by = actor
                declaration.declared_at = now
                declaration.reviewed_by = None
                declaration.reviewed_at = None
                declaration.review_comment = ""
                declaration.save()
                again = True
            elif declaration.status == DeclarationStatus.VALIDATED:
                raise DomainError(
                    f"La cible {requirement.identifier} est validée par l'ARS : sa déclaration "
                    "est définitive.",
                    code="already_validated",
                )
            else:
                raise DomainError(
                    f"La cible {requirement.identifier} est déjà déclarée et attend la "
                    "vérification de l'ARS.",
                    code="already_declared",
                )
            proofs = []
            for checked in checked_files:
                proof = DeclarationProof(
                    declaration=declaration,
                    kind=ProofKind.FILE,
                    label=checked.original_name,
                    original_name=checked.original_name,
                    content_type=checked.content_type,
                    size=checked.size,
                    sha256=checked.sha256,
                    added_by=actor,
                )
                proof.file.save(checked.original_name, checked.upload, save=False)
                stored.append((proof.file.storage, proof.file.name))
                proof.save()
                proofs.append(proof)
            for link in checked_links:
                proofs.append(
                    DeclarationProof.objects.create(
                        declaration=declaration,
                        kind=ProofKind.LINK,
                        label=link.label,
                        url=link.url,
                        added_by=actor,
                    )
                )
            for measurement in measurements:
                proofs.append(
                    DeclarationProof.objects.create(
                        declaration=declaration,
                        kind=ProofKind.MEASUREMENT,
                        label=f"{measurement.get_kind_display()} — {measurement.organisation.name}",
                        measurement=measurement,
                        measurement_snapshot=freeze_measurement(measurement),
                        added_by=actor,
                    )
                )
            verb = "déclarée à nouveau" if again else "déclarée atteinte"
            record(
                locked,
                EventKind.TARGET_DECLARED,
                actor,
                f"Cible {requirement.identifier} {verb} ({_count_proofs(len(proofs))}) : "
                f"{requirement.label}",
            )
    except IntegrityError as exc:
        _delete_stored(stored)
        raise DomainError(
            f"La cible {requirement.identifier} vient d'être déclarée : rechargez la page.",
            code="stale",
        ) from exc
    except BaseException:
        _delete_stored(stored)
        raise
    return declaration


def _count_proofs(count: int) -> str:
    return "1 preuve" if count == 1 else f"{count} preuves"


def _delete_stored(stored: list[tuple]) -> None:
    for storage, name in stored:
        storage.delete(name)


# --- Review by the ARS ----------------------------------------------------------------------------


def _review(
    actor: User, declaration: TargetDeclaration, status: str, comment: str
) -> TargetDeclaration:
    application = declaration.application
    if not perms.can_decide_application(actor, application):
        raise DomainError(
            "Seule l'ARS de la région vérifie les cibles déclarées.", code="forbidden"
        )
    comment = (comment or "").strip()
    if status == DeclarationStatus.REFUSED and not comment:
        raise DomainError(
            "Indiquez pourquoi la cible n'est pas validée : le candidat le lira pour déclarer à "
            "nouveau.",
            code="reason_required",
            field="comment",
        )
    if len(comment) > COMMENT_MAX_LENGTH:
        raise DomainError(
            f"L'avis ne doit pas dépasser {COMMENT_MAX_LENGTH} caractères.",
            code="invalid",
            field="comment",
        )
    with transaction.atomic():
        locked = (
            TargetDeclaration.objects.select_for_update()
            .select_related("requirement")
            .get(pk=declaration.pk)
        )
        identifier = locked.requirement.identifier
        if locked.status != DeclarationStatus.DECLARED:
            raise DomainError(
                f"La cible {identifier} est « {locked.get_status_display().lower()} » : "
                "elle n'attend pas de vérification.",
                code="invalid_state",
            )
        locked.status = status
        locked.reviewed_by = actor
        locked.reviewed_at = timezone.now()
        locked.review_comment = comment
        locked.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_comment"])
        if status == DeclarationStatus.VALIDATED:
            kind, text = EventKind.TARGET_VALIDATED, f"Cible {identifier} validée."
        else:
            kind, text = EventKind.TARGET_REFUSED, f"Cible {identifier} non validée."
        record(application, kind, actor, f"{text} {comment}".strip())
    return locked


def target_validate(
    *, actor: User, declaration: TargetDeclaration, comment: str = ""
) -> TargetDeclaration:
    return _review(actor, declaration, DeclarationStatus.VALIDATED, comment)


def target_refuse(
    *, actor: User, declaration: TargetDeclaration, comment: str
) -> TargetDeclaration:
    return _review(actor, declaration, DeclarationStatus.REFUSED, comment)
