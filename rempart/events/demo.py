"""The demo region's trainings: past sessions of the CRRC (Active Directory, ransomware
detection and reaction, a regional webinar) with their registrations, attendance and
satisfaction answers; upcoming sessions open to registration, one of them full with a waiting
list; a draft. Built through the services (no e-mail is sent for this history).

Idempotent: the sessions are written once per region.
"""

from __future__ import annotations

import datetime
import unicodedata

from django.db import transaction
from django.utils import timezone

from rempart.core.roles import OrgKind
from rempart.organisations.demo import DEMO_DOMAIN
from rempart.organisations.models import Membership, Organisation, Region, User

from . import services
from .models import SessionKind, TrainingSession

PEOPLE = [
    ("Hugo", "Bernard", "Administrateur systèmes"),
    ("Inès", "Lefèvre", "Technicienne réseau"),
    ("Julien", "Roux", "Ingénieur SI"),
    ("Karima", "Benali", "Responsable infrastructure"),
    ("Louis", "Perrin", "Technicien support"),
    ("Manon", "Fabre", "Cadre de santé"),
    ("Nicolas", "Garcia", "Responsable sécurité"),
    ("Océane", "Blanc", "Ingénieure biomédicale"),
]
COMMENTS = [
    "Très concret, les cas pratiques aident beaucoup.",
    "La fiche de qualification et d'alerte va nous servir dès demain.",
    "",
    "Un peu dense pour une demi-journée, mais très utile.",
    "",
]


def _person(local: str) -> User | None:
    return User.objects.filter(email=f"{local}@{DEMO_DOMAIN}").first()


def _home(user: User) -> Organisation | None:
    membership = (
        Membership.objects.active().filter(user=user).select_related("organisation").first()
    )
    return membership.organisation if membership else None


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


def _session(trainer, crrc, *, publish=True, **data) -> TrainingSession:
    session = services.session_create(actor=trainer, organiser=crrc, data=data)
    return services.session_publish(actor=trainer, session=session) if publish else session


def _register(session, registrars, count: int, offset: int = 0) -> list:
    rows = []
    for n in range(count):
        first, last, function = PEOPLE[(n + offset) % len(PEOPLE)]
        actor, organisation = registrars[n % len(registrars)]
        rows.append(
            services.registration_create(
                actor=actor,
                session=session,
                organisation=organisation,
                first_name=first,
                last_name=last,
                email=_ascii(f"{first}.{last}.{organisation.pk}@{DEMO_DOMAIN}"),
                function=function,
                notify=False,
            ).registration
        )
    return rows


def _hold(session, trainer, registrations, scores: list[int], *, days_ago: int) -> None:
    """Move a session into the past, take attendance, record the answers given."""
    length = session.ends_at - session.starts_at
    starts = session.starts_at - datetime.timedelta(days=days_ago + 60)
    TrainingSession.objects.filter(pk=session.pk).update(starts_at=starts, ends_at=starts + length)
    session.refresh_from_db()
    present = registrations[: len(scores)]
    services.attendance_record(
        actor=trainer, session=session, present_ids={r.pk for r in present}, send_survey=False
    )
    for index, (registration, score) in enumerate(zip(present, scores, strict=True)):
        registration.refresh_from_db()
        services.survey_answer_record(
            registration=registration, score=score, comment=COMMENTS[index % len(COMMENTS)]
        )


def seed_events_demo(region: Region) -> list[str]:
    trainer, director, other_rssi = _person("formateur"), _person("directeur"), _person("rssi2")
    if trainer is None or director is None:
        return ["Formations : comptes de démonstration absents, rien n'a été créé."]
    crrc = _home(trainer)
    if crrc is None or crrc.kind != OrgKind.CRRC:
        return ["Formations : le CRRC de démonstration est absent, rien n'a été créé."]
    if TrainingSession.objects.filter(region=region).exists():
        return ["Formations : sessions déjà présentes, inchangées."]
    registrars = [(director, _home(director))]
    if other_rssi is not None and _home(other_rssi) is not None:
        registrars.append((other_rssi, _home(other_rssi)))
    day = timezone.localdate() + datetime.timedelta(days=60)
    site = "GCS Sara, 2 rue du Lac, 69003 Lyon — salle Rhône"
    with transaction.atomic():
        ad = _session(
            trainer,
            crrc,
            kind=SessionKind.TRAINING,
            programme="Sécurisation de l'Active Directory",
            title="Sécuriser son Active Directory (CaRE domaine 1)",
            description="Audit ORADAD, niveaux ANSSI 1 à 5, plan de remédiation, convergence "
            "de l'AD au sein du GHT.",
            audience=["it_teams"],
            prerequisites="Administrer un domaine Active Directory.",
            starts_at=_at(day, 9),
            ends_at=_at(day, 17),
            location=site,
            capacity=12,
        )
        _hold(ad, trainer, _register(ad, registrars, 6), [9, 10, 8, 9, 9], days_ago=45)
        ransomware = _session(
            trainer,
            crrc,
            kind=SessionKind.TRAINING,
            programme="Détection et réaction face à un rançongiciel",
            title="Détecter et réagir face à une attaque par rançongiciel",
            description="Panorama de la menace, phases d'une attaque, signaux faibles ; "
            "alerter et protéger avec la fiche de qualification et d'alerte. Une demi-journée.",
            audience=["it_teams", "medico_social"],
            starts_at=_at(day, 14),
            ends_at=_at(day, 17),
            location=site,
            capacity=15,
        )
        people = _register(ransomware, registrars, 5, offset=3)
        _hold(ransomware, trainer, people, [9, 9, 10, 8, 9], days_ago=20)
        webinar = _session(
            trainer,
            crrc,
            kind=SessionKind.WEBINAR,
            programme="Webinaires régionaux",
            title="Webinaire : sauvegardes et domaine 2 de CaRE",
            audience=["it_teams", "directors", "medico_social"],
            starts_at=_at(day, 11),
            ends_at=_at(day, 12),
            online_url="https://visio.demo.rempart.fr/webinaire-sauvegardes",
            capacity=300,
        )
        _hold(
            webinar,
            trainer,
            _register(webinar, registrars, 4, offset=5),
            [10, 9, 10, 9],
            days_ago=10,
        )
        soon = timezone.localdate() + datetime.timedelta(days=21)
        backups = _session(
            trainer,
            crrc,
            kind=SessionKind.TRAINING,
            programme="Sécurisation des sauvegardes",
            title="Sécuriser ses sauvegardes (3-2-1-1-0)",
            description="Copies hors ligne ou immuables, MFA, segmentation, tests de restauration.",
            audience=["it_teams"],
            starts_at=_at(soon, 9),
            ends_at=_at(soon, 12, 30),
            location="Hôpital de démonstration, amphithéâtre",
            capacity=3,
        )
        _register(backups, registrars, 4, offset=1)  # the fourth goes to the waiting list
        later = timezone.localdate() + datetime.timedelta(days=40)
        _session(
            trainer,
            crrc,
            kind=SessionKind.WORKSHOP,
            programme="Ateliers de sensibilisation",
            title="Atelier : les bons réflexes face à l'hameçonnage",
            audience=["care_staff", "liberal", "medico_social"],
            starts_at=_at(later, 13, 30),
            ends_at=_at(later, 15),
            location="Maison de santé de démonstration",
            online_url="https://visio.demo.rempart.fr/atelier-reflexes",
            capacity=20,
        )
        _session(
            trainer,
            crrc,
            publish=False,
            kind=SessionKind.TRAINING,
            programme="Sécurisation de l'Active Directory",
            title="Sécuriser son Active Directory — session de rattrapage",
            audience=["it_teams"],
            starts_at=_at(later, 9),
            ends_at=_at(later, 17),
            location=site,
            capacity=12,
        )
    return [
        "Formations : 3 sessions passées (Active Directory, rançongiciel, webinaire) avec "
        "présences et questionnaires, 2 sessions à venir (sauvegardes complète avec liste "
        "d'attente, atelier) et 1 brouillon."
    ]
