"""The demo region's incident assistance: a 24/7 rota, a year of alerts and cases (the seeds: 53
reports in a year in one region), one case being handled at the demo establishment, and the
ORSAN cyber catalogue with a past activation.

History is written directly (dated in the past, as it happened), not through the services that
stamp « now » and page people. Idempotent: the history is written once per region; the rota is
extended on each run so that someone is always on call for the next four weeks.
"""

from __future__ import annotations

import datetime
import hashlib
import random
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from rempart.core.roles import OrgKind
from rempart.organisations.demo import DEMO_DOMAIN
from rempart.organisations.models import Membership, Organisation, Region, User

from .models import (
    AccessLevel,
    AffectedAsset,
    AidRequest,
    AidStatus,
    Alert,
    AlertSource,
    AlertStatus,
    AssetKind,
    AssetState,
    Case,
    CaseAccess,
    CaseEvent,
    CaseOutcome,
    CaseState,
    CaseTask,
    CertSanteDeclaration,
    CrisisActivation,
    DeclarationStatus,
    EscalationPolicy,
    EventKind,
    Impact,
    IncidentType,
    Indicator,
    IndicatorKind,
    OnCallShift,
    Page,
    PageChannel,
    PageStatus,
    PagingStatus,
    PooledResource,
    ResourceKind,
    Severity,
    TaskKind,
    TaskStatus,
    Tlp,
)

SEED = 53  # the seeds' yearly count of reports in one region
HISTORY_SIZE = 53
# How the year's reports split by kind (phishing first: 94 % of incidents start with it).
KIND_COUNTS = {
    IncidentType.PHISHING: 19,
    IncidentType.ACCOUNT_COMPROMISE: 10,
    IncidentType.SUPPLIER_OUTAGE: 8,
    IncidentType.DATA_LEAK: 6,
    IncidentType.RANSOMWARE: 4,
    IncidentType.OTHER: 6,
}
SUMMARIES = {
    IncidentType.PHISHING: "Courriel piégé reçu par plusieurs agents, un clic sur le lien.",
    IncidentType.ACCOUNT_COMPROMISE: "Connexions inhabituelles sur un compte de messagerie.",
    IncidentType.SUPPLIER_OUTAGE: "Indisponibilité du logiciel de laboratoire hébergé.",
    IncidentType.DATA_LEAK: "Fichier de patients envoyé à un mauvais destinataire externe.",
    IncidentType.RANSOMWARE: "Fichiers chiffrés et note de rançon sur un serveur de fichiers.",
    IncidentType.OTHER: "Comportement anormal d'un poste du bloc opératoire.",
}
DEMO_CASE_TITLE = "Compte VPN d'un prestataire utilisé depuis l'étranger"


def _person(local: str) -> User | None:
    return User.objects.filter(email__iexact=f"{local}@{DEMO_DOMAIN}").first()


def _home_of(user: User | None) -> Organisation | None:
    if user is None:
        return None
    membership = Membership.objects.active().filter(user=user).select_related("organisation")
    return membership.first().organisation if membership.exists() else None


def seed_incidents_demo(region: Region) -> list[str]:
    crrc = Organisation.objects.filter(region=region, kind=OrgKind.CRRC).order_by("pk").first()
    oncall, provider_expert, operator = (
        _person("astreinte"),
        _person("prestataire"),
        _person("crrc"),
    )
    rssi = _person("rssi")
    if crrc is None or oncall is None or rssi is None:
        return ["Incidents : comptes de démonstration absents, rien créé."]
    lines = []
    with transaction.atomic():
        EscalationPolicy.objects.get_or_create(
            crrc=crrc, defaults={"ack_timeout_minutes": 5, "rounds": 3, "dedup_window_minutes": 60}
        )
        created = _extend_rota(crrc, [p for p in (oncall, provider_expert, operator) if p])
        lines.append(f"Astreinte : {created} tours ajoutés (24 h/24 pour les quatre semaines).")
        if Alert.objects.filter(region=region, is_test=False).exists():
            lines.append("Incidents : historique déjà présent, inchangé.")
            return lines
        rng = random.Random(SEED)  # noqa: S311 - reproducible demo data, not secrets
        establishments = list(
            Organisation.objects.filter(region=region, kind=OrgKind.ESTABLISHMENT).order_by("pk")
        )
        cases = _history(region, crrc, establishments, oncall, rng)
        lines.append(
            f"Incidents : {HISTORY_SIZE} alertes sur douze mois, {cases} dossiers, dont les "
            "déclarations CERT Santé déposées."
        )
        _current_case(region, crrc, rssi, oncall, provider_expert)
        lines.append(f"Incidents : dossier en cours à {_home_of(rssi)} (« {DEMO_CASE_TITLE} »).")
        offered = _orsan(region, establishments, rng, _person("ars"))
        lines.append(f"ORSAN cyber : {offered} ressources mutualisées, une activation levée.")
    return lines


def _extend_rota(crrc: Organisation, people: list[User]) -> int:
    """Weekly shifts from last Monday 08:00 (Paris) for five weeks: level 1 the on-call expert,
    level 2 the provider's expert, level 3 the CRRC operator."""
    paris = ZoneInfo("Europe/Paris")
    today = timezone.localdate()
    monday = today - datetime.timedelta(days=today.weekday())
    start = datetime.datetime.combine(monday, datetime.time(8), tzinfo=paris)
    created = 0
    for week in range(5):
        begins = start + datetime.timedelta(weeks=week)
        ends = begins + datetime.timedelta(weeks=1)
        for level, person in enumerate(people, start=1):
            if OnCallShift.objects.filter(
                crrc=crrc, person=person, starts_at__lt=ends, ends_at__gt=begins
            ).exists():
                continue
            OnCallShift.objects.create(
                crrc=crrc,
                person=person,
                level=level,
                starts_at=begins,
                ends_at=ends,
                phone=f"+33 4 72 00 00 0{level}",
            )
            created += 1
    return created


def _history(region, crrc, establishments, oncall, rng: random.Random) -> int:
    now = timezone.now()
    kinds = [kind for kind, count in KIND_COUNTS.items() for _ in range(count)]
    rng.shuffle(kinds)
    number = 0
    for index, kind in enumerate(kinds):
        received = now - datetime.timedelta(
            days=360 * (HISTORY_SIZE - index) / HISTORY_SIZE + 2, minutes=rng.randint(0, 1200)
        )
        organisation = rng.choice(establishments)
        acknowledged = received + datetime.timedelta(minutes=rng.randint(2, 24))
        alert = Alert.objects.create(
            region=region,
            organisation=organisation,
            crrc=crrc,
            source=rng.choice([AlertSource.WEB, AlertSource.WEB, AlertSource.PHONE]),
            reporter_name=rng.choice(["Cadre de santé", "Technicien SI", "Secrétariat médical"]),
            callback_phone="04 72 00 00 00",
            incident_type=kind,
            description=SUMMARIES[kind],
            observed_at=received - datetime.timedelta(minutes=rng.randint(10, 300)),
            affects_care=rng.choice([Impact.NO, Impact.NO, Impact.YES, Impact.UNKNOWN]),
            affects_health_data=rng.choice([Impact.NO, Impact.UNKNOWN, Impact.YES]),
            affects_systems=Impact.YES,
            actions_taken="Poste isolé du réseau, mot de passe changé.",
            received_at=received,
            paging_status=PagingStatus.ACKNOWLEDGED,
            paging_step=1,
            acknowledged_at=acknowledged,
            acknowledged_by=oncall,
        )
        Page.objects.create(
            alert=alert,
            step=0,
            level=1,
            recipient=oncall,
            channel=PageChannel.EMAIL,
            status=PageStatus.SENT,
            created_at=received,
            sent_at=received + datetime.timedelta(seconds=rng.randint(1, 4)),
            attempts=1,
        )
        if kind in (IncidentType.PHISHING, IncidentType.OTHER) and rng.random() < 0.3:
            alert.status = AlertStatus.DISMISSED
            alert.qualification_note = "Signalement vérifié : aucun incident (courriel légitime)."
            alert.qualified_at = acknowledged + datetime.timedelta(minutes=15)
            alert.qualified_by = oncall
            alert.save()
            continue
        number += 1
        qualified = acknowledged + datetime.timedelta(minutes=rng.randint(10, 90))
        alert.status = AlertStatus.QUALIFIED
        alert.qualified_at, alert.qualified_by = qualified, oncall
        alert.qualification_note = "Incident confirmé après rappel de l'établissement."
        impact = kind in (IncidentType.RANSOMWARE, IncidentType.DATA_LEAK) or rng.random() < 0.25
        outcome = (
            CaseOutcome.TRUE_POSITIVE_IMPACT
            if impact
            else rng.choice([CaseOutcome.TRUE_POSITIVE_NO_IMPACT, CaseOutcome.FALSE_POSITIVE])
        )
        resolved = qualified + datetime.timedelta(hours=rng.randint(6, 24 * 12))
        open_now = resolved > now
        case = Case.objects.create(
            region=region,
            organisation=organisation,
            year=received.year,
            number=Case.objects.filter(region=region, year=received.year).count() + 1,
            title=f"{kind.label} — {organisation.name}"[:255],
            incident_type=kind,
            summary=SUMMARIES[kind],
            state=CaseState.RECOVERY if open_now else CaseState.CLOSED,
            outcome=CaseOutcome.UNDETERMINED if open_now else outcome,
            severity=Severity.HIGH if impact else Severity.MEDIUM,
            tlp=Tlp.AMBER,
            lead=oncall,
            opened_by=oncall,
            reported_at=received,
            opened_at=qualified,
            qualified_at=qualified,
            resolved_at=None if open_now else resolved,
            closed_at=None if open_now else resolved + datetime.timedelta(days=2),
        )
        alert.case = case
        alert.save()
        for occurred, event_kind, text in (
            (received, EventKind.ALERT, f"Alerte n° {alert.pk} reçue : {SUMMARIES[kind]}"),
            (acknowledged, EventKind.ACTION, "Astreinte : rappel de l'établissement."),
            (qualified, EventKind.STATE, "Incident qualifié."),
        ):
            CaseEvent.objects.create(
                case=case,
                kind=event_kind,
                occurred_at=occurred,
                recorded_at=occurred,
                author=oncall,
                text=text,
            )
        if impact and not open_now:
            filed = received + datetime.timedelta(hours=rng.randint(8, 70))
            CertSanteDeclaration.objects.create(
                case=case,
                structure_name=organisation.name,
                structure_finess=organisation.finess or "",
                declarant_name="Direction de l'établissement",
                observed_at=alert.observed_at,
                scope=SUMMARIES[kind],
                handling_state="Incident clos, services restaurés.",
                impact_care=alert.affects_care,
                status=DeclarationStatus.FILED,
                prepared_at=filed - datetime.timedelta(hours=2),
                filed_at=filed,
                filed_reference=f"SIG-{received:%Y}-{rng.randint(10000, 99999)}",
            )
    return number


def _current_case(region, crrc, rssi, oncall, provider_expert) -> None:
    home = _home_of(rssi)
    now = timezone.now()
    received = now - datetime.timedelta(hours=5)
    alert = Alert.objects.create(
        region=region,
        organisation=home,
        crrc=crrc,
        reporter=rssi,
        source=AlertSource.WEB,
        reporter_name=rssi.get_full_name(),
        reporter_function="RSSI",
        callback_phone="04 76 00 00 00",
        callback_email=rssi.email,
        incident_type=IncidentType.ACCOUNT_COMPROMISE,
        description=(
            "Le compte VPN du prestataire de maintenance de l'imagerie s'est connecté cette nuit "
            "depuis une adresse étrangère, hors de toute intervention prévue."
        ),
        observed_at=received - datetime.timedelta(minutes=40),
        affects_care=Impact.NO,
        affects_health_data=Impact.UNKNOWN,
        affects_systems=Impact.YES,
        actions_taken="Compte VPN désactivé, prestataire prévenu.",
        received_at=received,
        status=AlertStatus.QUALIFIED,
        paging_status=PagingStatus.ACKNOWLEDGED,
        paging_step=1,
        acknowledged_at=received + datetime.timedelta(minutes=6),
        acknowledged_by=oncall,
        qualified_at=received + datetime.timedelta(minutes=35),
        qualified_by=oncall,
        qualification_note="Connexion confirmée dans les journaux du concentrateur VPN.",
    )
    Page.objects.create(
        alert=alert,
        step=0,
        level=1,
        recipient=oncall,
        channel=PageChannel.EMAIL,
        status=PageStatus.SENT,
        created_at=received,
        sent_at=received + datetime.timedelta(seconds=2),
        attempts=1,
    )
    case = Case.objects.create(
        region=region,
        organisation=home,
        year=now.year,
        number=Case.objects.filter(region=region, year=now.year).count() + 1,
        title=DEMO_CASE_TITLE,
        incident_type=IncidentType.ACCOUNT_COMPROMISE,
        summary="Accès VPN d'un prestataire utilisé depuis une adresse inconnue ; périmètre en "
        "cours d'analyse (serveurs d'imagerie).",
        state=CaseState.CONTAINMENT,
        severity=Severity.HIGH,
        tlp=Tlp.AMBER,
        lead=oncall,
        opened_by=oncall,
        reported_at=received,
        opened_at=received + datetime.timedelta(minutes=35),
        qualified_at=received + datetime.timedelta(minutes=35),
    )
    alert.case = case
    alert.save(update_fields=["case"])
    if provider_expert:
        CaseAccess.objects.create(
            case=case,
            person=provider_expert,
            level=AccessLevel.CONTRIBUTE,
            granted_by=oncall,
            granted_at=now - datetime.timedelta(hours=3),
        )
    for minutes, kind, text in (
        (0, EventKind.ALERT, f"Alerte n° {alert.pk} reçue du RSSI."),
        (6, EventKind.ACTION, "Astreinte : appel du RSSI, compte VPN désactivé."),
        (35, EventKind.STATE, "Dossier ouvert, incident qualifié."),
        (90, EventKind.OBSERVATION, "Trois connexions RDP vers le serveur PACS depuis le VPN."),
        (150, EventKind.STATE, "Confinement : serveur PACS isolé, images servies en secours."),
    ):
        at = received + datetime.timedelta(minutes=minutes)
        CaseEvent.objects.create(
            case=case, kind=kind, occurred_at=at, recorded_at=at, author=oncall, text=text
        )
    for position, (kind, title, status) in enumerate(
        (
            (TaskKind.CHECK, "Désactiver le compte compromis", TaskStatus.DONE),
            (TaskKind.CHECK, "Conserver les journaux du VPN et de l'annuaire", TaskStatus.DONE),
            (TaskKind.TASK, "Analyser les connexions RDP vers le PACS", TaskStatus.IN_PROGRESS),
            (TaskKind.TASK, "Réinitialiser les comptes de service de l'imagerie", TaskStatus.TODO),
            (TaskKind.TASK, "Préparer la déclaration CERT Santé", TaskStatus.TODO),
        )
    ):
        CaseTask.objects.create(
            case=case,
            kind=kind,
            title=title,
            status=status,
            assignee=oncall if status != TaskStatus.TODO else rssi,
            done_at=now if status == TaskStatus.DONE else None,
            from_template=True,
            position=position,
            created_at=now - datetime.timedelta(hours=4),
        )
    for kind, value, tlp in (
        (IndicatorKind.IPV4, "203.0.113.45", Tlp.AMBER),  # documentation range (RFC 5737)
        (IndicatorKind.DOMAIN, "maj-imagerie-sante.example", Tlp.GREEN),
        (IndicatorKind.SHA256, hashlib.sha256(b"outil-rdp-demo").hexdigest(), Tlp.AMBER),
    ):
        Indicator.objects.create(
            case=case,
            kind=kind,
            value=value,
            tlp=tlp,
            description="Relevé dans les journaux du concentrateur VPN.",
            first_seen=received - datetime.timedelta(minutes=40),
            created_by=oncall,
            created_at=now - datetime.timedelta(hours=3),
        )
    AffectedAsset.objects.create(
        case=case,
        name="PACS-01 (serveur d'imagerie)",
        kind=AssetKind.SERVER,
        state=AssetState.ISOLATED,
        critical_for_care=True,
        notes="Isolé à 06 h 10 ; consultation des images en mode dégradé.",
        created_at=now - datetime.timedelta(hours=3),
    )
    AffectedAsset.objects.create(
        case=case,
        name="Compte VPN prest-imagerie",
        kind=AssetKind.ACCOUNT,
        state=AssetState.COMPROMISED,
        created_at=now - datetime.timedelta(hours=3),
    )


POOL = [
    (ResourceKind.LAPTOPS, "Ordinateurs portables masterisés", 20, "postes"),
    (ResourceKind.NETWORK, "Commutateurs et routeurs 4G de secours", 6, "kits"),
    (ResourceKind.RSSI_TIME, "Appui d'un RSSI expérimenté", 10, "jours"),
    (ResourceKind.TECHNICIAN_TIME, "Techniciens pour la remasterisation", 15, "jours"),
    (ResourceKind.EXPERTISE, "Reconstruction de l'annuaire Active Directory", 5, "jours"),
    (ResourceKind.LAPTOPS, "Tablettes pour les dossiers de soins papier", 12, "tablettes"),
]


def _orsan(region, establishments, rng: random.Random, ars_manager) -> int:
    now = timezone.now()
    lenders = rng.sample(establishments, len(POOL))
    resources = []
    for (kind, label, quantity, unit), lender in zip(POOL, lenders, strict=True):
        resources.append(
            PooledResource.objects.create(
                organisation=lender,
                region=region,
                kind=kind,
                label=label,
                quantity=quantity,
                unit=unit,
                description="Disponible sous 24 h, convention de prêt type ORSAN.",
                created_at=now - datetime.timedelta(days=200),
            )
        )
    victim = next(o for o in establishments if o not in lenders)
    activated = now - datetime.timedelta(days=120)
    activation = CrisisActivation.objects.create(
        region=region,
        title=f"Rançongiciel — {victim.name}",
        reason="Système d'information indisponible, activité réorganisée en mode dégradé.",
        activated_by=ars_manager,
        activated_at=activated,
        ended_at=activated + datetime.timedelta(days=12),
        ended_by=ars_manager,
        end_note="Reprise de l'activité ; matériel restitué.",
    )
    activation.affected.set([victim])
    for resource, quantity in ((resources[0], 15), (resources[2], 4)):
        AidRequest.objects.create(
            activation=activation,
            requester=victim,
            kind=resource.kind,
            need=f"{resource.label} pour reprendre l'activité.",
            quantity=quantity,
            resource=resource,
            status=AidStatus.RETURNED,
            requested_at=activated + datetime.timedelta(hours=3),
            mobilised_by=ars_manager,
            mobilised_at=activated + datetime.timedelta(hours=5),
            lent_at=activated + datetime.timedelta(hours=20),
            due_back_on=(activated + datetime.timedelta(days=14)).date(),
            returned_at=activated + datetime.timedelta(days=11),
            note="Restitué en bon état.",
        )
    return len(resources)
