"""Trainings test helpers: two regions with the people of every side, and sessions built
through the services (so that tests exercise the same rules as the pages)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils import timezone

from rempart.core.roles import OrgKind, Role
from rempart.events import services
from rempart.events.models import SessionKind, TrainingSession
from rempart.organisations.models import Organisation, User
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member


@dataclass
class World:
    region: object
    crrc: Organisation
    ars: Organisation
    establishment: Organisation
    sibling: Organisation
    liberal: Organisation
    other_establishment: Organisation  # another region
    other_crrc: Organisation
    trainer: User
    crrc_operator: User
    ars_manager: User
    director: User
    rssi: User
    staff: User  # a lesser colleague of the director: no registering
    sibling_director: User
    liberal_staff: User
    outsider_director: User
    outsider_trainer: User


def events_world() -> World:
    region, other = RegionFactory(), RegionFactory()
    crrc = OrganisationFactory(kind=OrgKind.CRRC, region=region, name="CRRC Rivebelle")
    ars = OrganisationFactory(kind=OrgKind.ARS, region=region, name="ARS Rivebelle")
    establishment = OrganisationFactory(region=region, name="CH Rivebelle")
    sibling = OrganisationFactory(region=region, name="EHPAD Les Tilleuls")
    liberal = OrganisationFactory(kind=OrgKind.LIBERAL, region=region, name="Cabinet infirmier")
    other_establishment = OrganisationFactory(region=other, name="CH Ailleurs")
    other_crrc = OrganisationFactory(kind=OrgKind.CRRC, region=other, name="CRRC Ailleurs")
    return World(
        region=region,
        crrc=crrc,
        ars=ars,
        establishment=establishment,
        sibling=sibling,
        liberal=liberal,
        other_establishment=other_establishment,
        other_crrc=other_crrc,
        trainer=member(Role.TRAINER, crrc, first_name="Fanny", last_name="Morel"),
        crrc_operator=member(Role.CRRC_OPERATOR, crrc),
        ars_manager=member(Role.ARS_MANAGER, ars),
        director=member(Role.DIRECTOR, establishment, first_name="Denis", last_name="Directeur"),
        rssi=member(Role.RSSI, establishment),
        staff=member(Role.STAFF, establishment),
        sibling_director=member(Role.DIRECTOR, sibling),
        liberal_staff=member(
            Role.STAFF,
            liberal,
            first_name="Lina",
            last_name="Libérale",
            email="lina.liberale@exemple.fr",
        ),
        outsider_director=member(Role.DIRECTOR, other_establishment),
        outsider_trainer=member(Role.TRAINER, other_crrc),
    )


def run_on_commit_now(monkeypatch) -> None:
    """Run the `on_commit` callbacks (e-mails) at once: a test's transaction never commits."""

    def now(func, using=None, robust=False):
        func()

    monkeypatch.setattr("django.db.transaction.on_commit", now)


def session_data(**overrides) -> dict:
    starts = timezone.now().replace(microsecond=0) + datetime.timedelta(days=10)
    data = {
        "kind": SessionKind.TRAINING,
        "programme": "Détection et réaction face à un rançongiciel",
        "title": "Rançongiciel : détecter et réagir",
        "description": "Demi-journée ; fiche de qualification et d'alerte.",
        "audience": ["it_teams"],
        "prerequisites": "Connaître son système d'information.",
        "starts_at": starts,
        "ends_at": starts + datetime.timedelta(hours=3),
        "location": "GCS, 10 rue de la Santé, Lyon",
        "online_url": "",
        "capacity": 2,
    }
    data.update(overrides)
    return data


def published_session(world: World, *, organiser=None, actor=None, **overrides) -> TrainingSession:
    organiser = organiser or world.crrc
    actor = actor or world.trainer
    session = services.session_create(
        actor=actor, organiser=organiser, data=session_data(**overrides)
    )
    return services.session_publish(actor=actor, session=session)


def register(world: World, session, n: int, *, actor=None, organisation=None):
    return services.registration_create(
        actor=actor or world.director,
        session=session,
        organisation=organisation or world.establishment,
        first_name=f"Prénom{n}",
        last_name=f"Nom{n}",
        email=f"personne{n}@ch-rivebelle.fr",
        function="Technicien SI",
    )


def start(session: TrainingSession, *, hours_ago: int = 1) -> TrainingSession:
    """Move a session into the past (as if it had started), bypassing the services."""
    starts = timezone.now() - datetime.timedelta(hours=hours_ago)
    TrainingSession.objects.filter(pk=session.pk).update(
        starts_at=starts, ends_at=starts + datetime.timedelta(hours=3)
    )
    session.refresh_from_db()
    return session
