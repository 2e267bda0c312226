"""Self-assessment test helpers: people of every side in two regions, and a small questionnaire
built directly with the models (two themes, a conditional question, « don't know », a multiple
choice, a measure). Tests of the loader use the YAML files instead."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rempart.assessments.models import (
    Choice,
    Measure,
    Question,
    QuestionKind,
    Questionnaire,
    QuestionnaireKind,
    RequirementNode,
)
from rempart.core.roles import OrgKind, Role
from rempart.organisations.models import Organisation, User
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member

URN = "urn:rempart:test:questionnaire"


def _choices(question: Question, pairs) -> list[Choice]:
    return [
        Choice.objects.create(
            question=question,
            urn=f"{question.urn}:choice:{index}",
            order=index,
            label=label,
            score=None if score is None else Decimal(score),
        )
        for index, (label, score) in enumerate(pairs, start=1)
    ]


def small_questionnaire(*, urn: str = URN, version: int = 1, organisation=None) -> Questionnaire:
    """Two themes. Governance: q1 yes/no/don't know; q2 shown only when q1 is « Oui ».
    Backups: q3 single choice (0, 50, 100); q4 multiple choice; q5 free text (not scored).
    A priority-1 measure is attached to « Non » of q1 and to the 0 of q3."""
    questionnaire = Questionnaire.objects.create(
        organisation=organisation,
        urn=urn,
        ref_id="TEST",
        name="Questionnaire de test",
        kind=QuestionnaireKind.MATURITY,
        version=version,
        min_answered_percent=50,
        source_sha256="0" * 64,
    )
    governance = RequirementNode.objects.create(
        questionnaire=questionnaire, urn=f"{urn}:gouv", order=1, depth=1, name="Gouvernance"
    )
    backups = RequirementNode.objects.create(
        questionnaire=questionnaire, urn=f"{urn}:sauv", order=2, depth=1, name="Sauvegardes"
    )
    for node in (governance, backups):
        node.theme = node
        node.save(update_fields=["theme"])
    referent = RequirementNode.objects.create(
        questionnaire=questionnaire,
        urn=f"{urn}:gouv:referent",
        parent=governance,
        theme=governance,
        order=3,
        depth=2,
        assessable=True,
        ref_id="G1",
        name="Référent SSI",
        typical_evidence="Lettre de nomination",
    )
    offline = RequirementNode.objects.create(
        questionnaire=questionnaire,
        urn=f"{urn}:sauv:horsligne",
        parent=backups,
        theme=backups,
        order=4,
        depth=2,
        assessable=True,
        ref_id="S1",
        name="Sauvegarde hors ligne",
        weight=2,
    )
    q1 = Question.objects.create(
        questionnaire=questionnaire,
        node=referent,
        urn=f"{urn}:q1",
        order=1,
        kind=QuestionKind.YES_NO,
        text="Un référent SSI est-il nommé ?",
    )
    yes, no, _dont_know = _choices(q1, [("Oui", 100), ("Non", 0), ("Je ne sais pas", None)])
    q2 = Question.objects.create(
        questionnaire=questionnaire,
        node=referent,
        urn=f"{urn}:q2",
        order=2,
        kind=QuestionKind.SINGLE_CHOICE,
        text="Le référent dispose-t-il de temps dédié ?",
        depends_on=q1,
        depends_on_choices=[yes.urn],
    )
    _choices(q2, [("Non", 0), ("Moins d'un jour par semaine", 50), ("Au moins un jour", 100)])
    q3 = Question.objects.create(
        questionnaire=questionnaire,
        node=offline,
        urn=f"{urn}:q3",
        order=3,
        kind=QuestionKind.SINGLE_CHOICE,
        text="Une copie des sauvegardes est-elle hors ligne ou immuable ?",
    )
    never, _partly, _always = _choices(q3, [("Non", 0), ("En partie", 50), ("Oui", 100)])
    q4 = Question.objects.create(
        questionnaire=questionnaire,
        node=offline,
        urn=f"{urn}:q4",
        order=4,
        kind=QuestionKind.MULTIPLE_CHOICE,
        text="Quelles sauvegardes sont testées ?",
    )
    _choices(q4, [("DPI", 50), ("Messagerie", 25), ("Annuaire", 25)])
    Question.objects.create(
        questionnaire=questionnaire,
        node=offline,
        urn=f"{urn}:q5",
        order=5,
        kind=QuestionKind.TEXT,
        text="Précisez l'outil de sauvegarde.",
    )
    measure = Measure.objects.create(
        questionnaire=questionnaire,
        urn=f"{urn}:m1",
        title="Nommer un référent SSI",
        priority=1,
    )
    measure.choices.add(no)
    offline_measure = Measure.objects.create(
        questionnaire=questionnaire,
        urn=f"{urn}:m2",
        title="Mettre en place une sauvegarde hors ligne",
        priority=1,
        care_domain_code="D2",
    )
    offline_measure.choices.add(never)
    return questionnaire


@dataclass
class World:
    region: object
    other_region: object
    crrc: Organisation
    ars: Organisation
    ght: Organisation
    establishment: Organisation  # member of the GHT
    sibling: Organisation  # another establishment of the region (not in the GHT)
    other_establishment: Organisation  # another region
    crrc_operator: User
    ars_manager: User
    ght_coordinator: User
    director: User
    rssi: User
    staff: User  # no assessment rights
    sibling_rssi: User
    outsider_rssi: User
    outsider_ars: User


def assessments_world() -> World:
    region, other = RegionFactory(), RegionFactory()
    crrc = OrganisationFactory(kind=OrgKind.CRRC, region=region, name="CRRC Rivebelle")
    ars = OrganisationFactory(kind=OrgKind.ARS, region=region, name="ARS Rivebelle")
    other_ars = OrganisationFactory(kind=OrgKind.ARS, region=other, name="ARS Ailleurs")
    ght = OrganisationFactory(kind=OrgKind.GHT, region=region, name="GHT Rivebelle")
    establishment = OrganisationFactory(region=region, name="CH Rivebelle", ght=ght)
    sibling = OrganisationFactory(region=region, name="EHPAD Les Tilleuls")
    other_establishment = OrganisationFactory(region=other, name="CH Ailleurs")
    return World(
        region=region,
        other_region=other,
        crrc=crrc,
        ars=ars,
        ght=ght,
        establishment=establishment,
        sibling=sibling,
        other_establishment=other_establishment,
        crrc_operator=member(Role.CRRC_OPERATOR, crrc),
        ars_manager=member(Role.ARS_MANAGER, ars),
        ght_coordinator=member(Role.GHT_COORDINATOR, ght),
        director=member(Role.DIRECTOR, establishment),
        rssi=member(Role.RSSI, establishment, first_name="Hélène", last_name="Garnier"),
        staff=member(Role.STAFF, establishment),
        sibling_rssi=member(Role.RSSI, sibling),
        outsider_rssi=member(Role.RSSI, other_establishment),
        outsider_ars=member(Role.ARS_MANAGER, other_ars),
    )
