"""Exercises test helpers: a region with the people of every side, another region, scenarios
and runs. Runs are built directly here; tests of the rules go through the services."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import factory
from django.utils import timezone

from rempart.core.roles import OrgKind, Role
from rempart.exercises.coverage import refresh_coverage
from rempart.exercises.models import (
    Channel,
    ExerciseParticipant,
    ExerciseRun,
    Function,
    Level,
    RunInject,
    RunKind,
    RunStatus,
    Scenario,
    ScenarioInject,
    Theme,
)
from rempart.organisations.models import Organisation, User
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member


class ScenarioFactory(factory.django.DjangoModelFactory):
    """A national library scenario (no region, no organisation) with two injects."""

    class Meta:
        model = Scenario
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"scenario-{n}")
    title = factory.Sequence(lambda n: f"Rançongiciel au bloc opératoire {n}")
    level = Level.BEGINNER
    theme = Theme.RANSOMWARE
    summary = "Un rançongiciel chiffre les serveurs du dossier patient un lundi à 7 h."
    objectives = ["Activer la cellule de crise", "Basculer en mode dégradé"]
    duration_minutes = 180
    functions = [Function.GENERAL_MANAGEMENT, Function.MEDICAL, Function.IT]
    criteria = [
        {"code": "alerte", "label": "Alerte et remontée d'information"},
        {"code": "cellule", "label": "Activation de la cellule de crise"},
    ]

    @factory.post_generation
    def with_injects(self, create, extracted, **kwargs):
        if not create or extracted is False:
            return
        ScenarioInject.objects.create(
            scenario=self,
            order=1,
            offset_minutes=0,
            title="Écrans noirs aux urgences",
            body="Les postes des urgences affichent une demande de rançon.",
            channel=Channel.SCREEN,
            functions=[Function.IT, Function.MEDICAL],
            expected_reactions="Isoler le réseau, alerter la direction.",
        )
        ScenarioInject.objects.create(
            scenario=self,
            order=2,
            offset_minutes=30,
            title="Appel d'un journaliste",
            body="Un journaliste demande confirmation d'une cyberattaque.",
            channel=Channel.EMAIL,
            functions=[Function.COMMUNICATION, Function.GENERAL_MANAGEMENT],
            expected_reactions="Renvoyer vers la cellule de crise, préparer un communiqué.",
        )


def run_from(
    scenario: Scenario,
    organisation: Organisation,
    *,
    kind: str = RunKind.ESTABLISHMENT,
    planned_start: datetime.datetime | None = None,
    created_by: User | None = None,
) -> ExerciseRun:
    """A planned run of `scenario` held by `organisation`, with its copy of the injects."""
    run = ExerciseRun.objects.create(
        organisation=organisation,
        region=organisation.region,
        kind=kind,
        scenario=scenario,
        title=scenario.title,
        level=scenario.level,
        theme=scenario.theme,
        is_cyber=scenario.is_cyber,
        criteria=scenario.criteria,
        planned_start=planned_start or timezone.now() + datetime.timedelta(days=7),
        created_by=created_by,
    )
    for inject in scenario.injects.all():
        RunInject.objects.create(
            run=run,
            order=inject.order,
            offset_minutes=inject.offset_minutes,
            title=inject.title,
            body=inject.body,
            channel=inject.channel,
            functions=inject.functions,
            expected_reactions=inject.expected_reactions,
        )
    refresh_coverage(run)
    return run


def add_player(run: ExerciseRun, function: str, organisation: Organisation | None = None, **kw):
    participant = ExerciseParticipant.objects.create(
        run=run,
        organisation=organisation or run.organisation,
        function=function,
        full_name=kw.pop("full_name", f"Joueur {function}"),
        email=kw.pop("email", f"{function}@exemple.fr"),
        **kw,
    )
    refresh_coverage(run)
    return participant


def mark_played(run: ExerciseRun, *, started_at: datetime.datetime | None = None) -> ExerciseRun:
    started_at = started_at or timezone.now() - datetime.timedelta(hours=3)
    run.status = RunStatus.FINISHED
    run.started_at = started_at
    run.ended_at = started_at + datetime.timedelta(hours=3)
    run.save()
    refresh_coverage(run)
    return run


@dataclass
class World:
    region: object
    other_region: object
    crrc: Organisation
    ars: Organisation
    establishment: Organisation
    sibling: Organisation  # another establishment of the region
    other_establishment: Organisation  # another region
    trainer: User
    crrc_operator: User
    ars_manager: User
    director: User
    rssi: User
    staff: User  # no exercise rights
    sibling_director: User
    outsider_director: User
    outsider_ars: User


def exercises_world() -> World:
    region, other = RegionFactory(), RegionFactory()
    crrc = OrganisationFactory(kind=OrgKind.CRRC, region=region, name="CRRC Rivebelle")
    ars = OrganisationFactory(kind=OrgKind.ARS, region=region, name="ARS Rivebelle")
    other_ars = OrganisationFactory(kind=OrgKind.ARS, region=other, name="ARS Ailleurs")
    establishment = OrganisationFactory(region=region, name="CH Rivebelle")
    sibling = OrganisationFactory(region=region, name="EHPAD Les Tilleuls")
    other_establishment = OrganisationFactory(region=other, name="CH Ailleurs")
    return World(
        region=region,
        other_region=other,
        crrc=crrc,
        ars=ars,
        establishment=establishment,
        sibling=sibling,
        other_establishment=other_establishment,
        trainer=member(Role.TRAINER, crrc, first_name="Fanny", last_name="Morel"),
        crrc_operator=member(Role.CRRC_OPERATOR, crrc),
        ars_manager=member(Role.ARS_MANAGER, ars),
        director=member(Role.DIRECTOR, establishment, first_name="Claire", last_name="Dubois"),
        rssi=member(Role.RSSI, establishment),
        staff=member(Role.STAFF, establishment),
        sibling_director=member(Role.DIRECTOR, sibling),
        outsider_director=member(Role.DIRECTOR, other_establishment),
        outsider_ars=member(Role.ARS_MANAGER, other_ars),
    )
