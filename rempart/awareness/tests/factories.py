"""Awareness test helpers: the real content loaded, small modules, people of two regions."""

from __future__ import annotations

from dataclasses import dataclass

from rempart.awareness import learning_content
from rempart.awareness.learning_content import _hash
from rempart.awareness.models import Audience, Module
from rempart.core.roles import OrgKind, Role
from rempart.organisations.models import Organisation, User
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member

QUIZ_CODE = "quiz-cyber"
# The seed 004 quiz: B, B, D, C.
SEED_QUIZ_RIGHT = {
    "bon-mot-de-passe": ["b"],
    "hameconnage": ["b"],
    "mobilite": ["d"],
    "partage-donnees": ["c"],
}


def load_content() -> dict[str, Module]:
    learning_content.load()
    return {m.code: m for m in Module.objects.all()}


def make_module(code: str = "test-module", *, audience: str = Audience.EVERYONE, **extra) -> Module:
    """A two-question module (one single, one multiple choice)."""
    values = {
        "title": f"Module {code}",
        "summary": "Résumé",
        "theme": "general",
        "audience": audience,
        "duration_minutes": 5,
        "pass_mark": 80,
        "sections": [{"title": "Section", "paragraphs": ["Texte **important**."]}],
        "questions": [
            {
                "code": "q1",
                "text": "Question unique ?",
                "kind": "unique",
                "choices": [{"code": "a", "text": "Oui"}, {"code": "b", "text": "Non"}],
                "correct": ["a"],
                "explanation": "Parce que oui.",
            },
            {
                "code": "q2",
                "text": "Question multiple ?",
                "kind": "multiple",
                "choices": [
                    {"code": "a", "text": "Un"},
                    {"code": "b", "text": "Deux"},
                    {"code": "c", "text": "Trois"},
                ],
                "correct": ["a", "c"],
                "explanation": "Un et trois.",
            },
        ],
    }
    values.update(extra)
    return Module.objects.create(code=code, content_hash=_hash(values), **values)


@dataclass
class World:
    region: object
    establishment: Organisation
    sibling: Organisation
    liberal: Organisation
    crrc: Organisation
    ars: Organisation
    ght: Organisation
    other_establishment: Organisation  # another region
    other_crrc: Organisation
    staff: User
    colleague: User  # staff, same establishment
    director: User
    rssi: User
    liberal_staff: User
    sibling_director: User
    trainer: User
    crrc_operator: User
    ars_manager: User
    ght_coordinator: User
    outsider_staff: User
    outsider_trainer: User


def awareness_world() -> World:
    region, other = RegionFactory(), RegionFactory()
    ght = OrganisationFactory(kind=OrgKind.GHT, region=region, name="GHT Test")
    establishment = OrganisationFactory(region=region, name="CH Rivebelle", ght=ght)
    sibling = OrganisationFactory(region=region, name="CH Voisin", ght=ght)
    liberal = OrganisationFactory(kind=OrgKind.LIBERAL, region=region, name="Cabinet infirmier")
    crrc = OrganisationFactory(kind=OrgKind.CRRC, region=region, name="CRRC Test")
    ars = OrganisationFactory(kind=OrgKind.ARS, region=region, name="ARS Test")
    other_establishment = OrganisationFactory(region=other, name="CH Ailleurs")
    other_crrc = OrganisationFactory(kind=OrgKind.CRRC, region=other, name="CRRC Ailleurs")
    return World(
        region=region,
        establishment=establishment,
        sibling=sibling,
        liberal=liberal,
        crrc=crrc,
        ars=ars,
        ght=ght,
        other_establishment=other_establishment,
        other_crrc=other_crrc,
        staff=member(Role.STAFF, establishment, first_name="Alice", last_name="Garnier"),
        colleague=member(Role.STAFF, establishment, first_name="Bruno", last_name="Collègue"),
        director=member(Role.DIRECTOR, establishment),
        rssi=member(Role.RSSI, establishment),
        liberal_staff=member(Role.STAFF, liberal, first_name="Lina", last_name="Libérale"),
        sibling_director=member(Role.DIRECTOR, sibling),
        trainer=member(Role.TRAINER, crrc, first_name="Fanny", last_name="Morel"),
        crrc_operator=member(Role.CRRC_OPERATOR, crrc),
        ars_manager=member(Role.ARS_MANAGER, ars),
        ght_coordinator=member(Role.GHT_COORDINATOR, ght),
        outsider_staff=member(Role.STAFF, other_establishment),
        outsider_trainer=member(Role.TRAINER, other_crrc),
    )
