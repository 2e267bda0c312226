"""The demo's crisis exercises: the national scenario library, and for the demo region a
realistic year of exercises from which the coverage indicator is computed:

* the RSSI account's establishment: an exercise played 5 months ago, evaluated and debriefed
  (it counts), and the next one planned in a month;
* the second RSSI's establishment: an exercise played by the IT team alone (it does not count,
  and the coverage page says why);
* a regional exercise held by the CRRC with three establishments;
* enough valid exercises among the region's establishments for a coverage of about 65 %
  (under the 80 % target), plus a few that do not count yet (RETEX missing, planned, or
  played more than a year ago).

Runs, participants, evaluations and debriefs are written directly with the models (this is a
history, no e-mail is sent), then `coverage.refresh_coverage(run)` computes each verdict.
Idempotent: the library load is; the exercises are written once per region.
"""

from __future__ import annotations

import datetime
import random

from django.db import transaction
from django.utils import timezone

from rempart.core.roles import OrgKind
from rempart.organisations.demo import DEMO_DOMAIN
from rempart.organisations.models import Membership, Organisation, Region, User

from . import library
from .coverage import refresh_coverage
from .models import (
    ActionPriority,
    ActionStatus,
    Debrief,
    DebriefAction,
    EntryKind,
    Evaluation,
    ExerciseParticipant,
    ExerciseRun,
    Function,
    JournalEntry,
    ParticipantRole,
    RunInject,
    RunKind,
    RunStatus,
    Scenario,
    ScenarioStatus,
)
from .validity import rule

SEED = 20250707
COVERAGE_SHARE = 0.65  # a realistic share, under the 80 % target

FIRST_NAMES = [
    "Anne", "Bruno", "Camille", "David", "Émilie", "François", "Gaëlle", "Hervé", "Isabelle",
    "Jérôme", "Karine", "Laurent", "Mathilde", "Nathalie", "Olivier", "Patricia", "Quentin",
    "Sophie", "Thierry", "Valérie",
]  # fmt: skip
LAST_NAMES = [
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau",
    "Laurent", "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David", "Bertrand", "Morel",
    "Fournier", "Girard",
]  # fmt: skip
JOB_TITLES = {
    Function.GENERAL_MANAGEMENT: "Directeur général",
    Function.MEDICAL: "Président de CME",
    Function.CARE: "Directrice des soins",
    Function.ADMINISTRATION: "Directeur des affaires financières",
    Function.IT: "DSI",
    Function.COMMUNICATION: "Chargée de communication",
    Function.QUALITY: "Responsable qualité et gestion des risques",
    Function.LOGISTICS: "Ingénieur des services techniques",
}
STRENGTHS = [
    "Cellule de crise réunie en moins de 30 minutes ; main courante tenue dès le début.",
    "Bonne connaissance des procédures dégradées par les équipes soignantes.",
    "Déclaration au CERT Santé faite rapidement ; ARS informée avec un point de situation clair.",
]
IMPROVEMENTS = [
    "Annuaire de crise incomplet (astreintes des prestataires absentes).",
    "Rôle de chacun en cellule de crise à clarifier (fiches réflexes).",
    "Message aux équipes diffusé tardivement ; pas de modèle de communiqué prêt.",
]
ACTIONS = [
    ("Mettre à jour l'annuaire de crise (astreintes, prestataires, CRRC)", ActionPriority.HIGH),
    ("Rédiger les fiches réflexes de la cellule de crise", ActionPriority.MEDIUM),
    ("Préparer des modèles de messages (personnel, patients, presse)", ActionPriority.MEDIUM),
    ("Imprimer chaque jour le plan de soins des unités", ActionPriority.HIGH),
    ("Tester la restauration des sauvegardes hors ligne", ActionPriority.LOW),
]


def _person(local: str) -> User | None:
    return User.objects.filter(email=f"{local}@{DEMO_DOMAIN}").first()


def _home(user: User | None) -> Organisation | None:
    if user is None:
        return None
    membership = (
        Membership.objects.active().filter(user=user).select_related("organisation").first()
    )
    return membership.organisation if membership else None


def _at(day: datetime.date, hour: int = 9) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, 0)))


class _Writer:
    """Writes the history of runs with a fixed random seed (same demo on every machine)."""

    def __init__(self, scenarios: dict[str, Scenario], author: User | None):
        self.rng = random.Random(SEED)  # noqa: S311 - a reproducible demo, not a secret
        self.scenarios = scenarios
        self.author = author
        self.today = timezone.localdate()

    def name(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def run(
        self,
        organisation: Organisation,
        slug: str,
        *,
        start: datetime.datetime,
        played: bool,
        kind: str = RunKind.ESTABLISHMENT,
        location: str = "Salle de crise",
    ) -> ExerciseRun:
        scenario = self.scenarios[slug]
        run = ExerciseRun.objects.create(
            organisation=organisation,
            region=organisation.region,
            kind=kind,
            scenario=scenario,
            title=scenario.title,
            level=scenario.level,
            theme=scenario.theme,
            is_cyber=scenario.is_cyber,
            objectives="\n".join(scenario.objectives),
            criteria=scenario.criteria,
            planned_start=start,
            location=location,
            status=RunStatus.FINISHED if played else RunStatus.PLANNED,
            started_at=start if played else None,
            ended_at=start + datetime.timedelta(minutes=scenario.duration_minutes)
            if played
            else None,
            created_by=self.author,
        )
        RunInject.objects.bulk_create(
            RunInject(
                run=run,
                order=inject.order,
                offset_minutes=inject.offset_minutes,
                title=inject.title,
                body=inject.body,
                channel=inject.channel,
                functions=inject.functions,
                expected_reactions=inject.expected_reactions,
                released_at=start + datetime.timedelta(minutes=inject.offset_minutes)
                if played
                else None,
            )
            for inject in scenario.injects.all()
        )
        return run

    def players(
        self,
        run: ExerciseRun,
        functions,
        organisation: Organisation | None = None,
        *,
        attended: bool | None = True,
    ) -> list[ExerciseParticipant]:
        organisation = organisation or run.organisation
        rows = []
        for function in functions:
            full_name = self.name()
            local = full_name.lower().replace(" ", ".")
            for accented, plain in (("é", "e"), ("è", "e"), ("ë", "e"), ("ç", "c")):
                local = local.replace(accented, plain)
            rows.append(
                ExerciseParticipant(
                    run=run,
                    organisation=organisation,
                    function=function,
                    role=ParticipantRole.PLAYER,
                    full_name=full_name,
                    job_title=JOB_TITLES.get(function, ""),
                    email=f"{local}.{organisation.pk}@{DEMO_DOMAIN}",
                    attended=attended,
                )
            )
        return ExerciseParticipant.objects.bulk_create(rows)

    def evaluate(self, run: ExerciseRun, *, low: int = 2, high: int = 4) -> None:
        scores = {
            criterion["code"]: {"score": self.rng.randint(low, high), "comment": ""}
            for criterion in run.criteria
        }
        Evaluation.objects.create(
            run=run,
            scores=scores,
            objectives_met="Objectifs atteints pour l'essentiel ; la communication reste à "
            "renforcer.",
            summary="Exercice réaliste, bonne implication de la direction et des métiers.",
            evaluated_by=self.author,
            evaluated_at=run.ended_at + datetime.timedelta(days=2),
        )

    def debrief(self, run: ExerciseRun, *, actions: int = 2) -> Debrief:
        debrief = Debrief.objects.create(
            run=run,
            held_on=timezone.localdate(run.ended_at) + datetime.timedelta(days=7),
            strengths="\n".join(self.rng.sample(STRENGTHS, 2)),
            improvements="\n".join(self.rng.sample(IMPROVEMENTS, 2)),
            notes="RETEX tenu avec les joueurs et les observateurs.",
            written_by=self.author,
        )
        held = debrief.held_on
        DebriefAction.objects.bulk_create(
            DebriefAction(
                debrief=debrief,
                title=title,
                owner=self.name(),
                due_on=held + datetime.timedelta(days=60 * (n + 1)),
                priority=priority,
                status=ActionStatus.DONE
                if held + datetime.timedelta(days=60 * (n + 1)) < self.today
                else ActionStatus.IN_PROGRESS,
            )
            for n, (title, priority) in enumerate(self.rng.sample(ACTIONS, actions))
        )
        return debrief

    @staticmethod
    def refresh(run: ExerciseRun) -> None:
        refresh_coverage(ExerciseRun.objects.get(pk=run.pk))


def _journal(run: ExerciseRun, author: User | None) -> None:
    """A few lines of the journal of the showcase exercise."""
    injects = {inject.order: inject for inject in run.injects.all()}
    lines = [
        (0, EntryKind.EVENT, None, "Début de l'exercice."),
        (16, EntryKind.REACTION, 1, "Postes des urgences débranchés du réseau, astreinte SI "
         "appelée."),
        (28, EntryKind.DECISION, 2, "Isolement d'Internet et des liaisons inter-sites décidé par "
         "l'administrateur de garde."),
        (41, EntryKind.DECISION, 3, "Cellule de crise activée en salle de crise ; main courante "
         "papier ouverte."),
        (95, EntryKind.OBSERVATION, 6, "Déclaration CERT Santé faite à T+95 ; point ARS envoyé."),
        (130, EntryKind.OBSERVATION, 7, "Premier message presse validé à T+130 : un peu tard."),
        (235, EntryKind.EVENT, None, "Fin de l'exercice."),
    ]  # fmt: skip
    JournalEntry.objects.bulk_create(
        JournalEntry(
            run=run,
            at=run.started_at + datetime.timedelta(minutes=minutes),
            exercise_seconds=minutes * 60,
            kind=kind,
            inject=injects.get(order) if order else None,
            author=author,
            text=text,
        )
        for minutes, kind, order, text in lines
    )


def seed_exercises_demo(region: Region) -> list[str]:
    report = library.load_national_library()
    lines = [f"Bibliothèque nationale : {report.summary()}"]
    rssi, other_rssi, crrc_operator = _person("rssi"), _person("rssi2"), _person("crrc")
    home, other, crrc = _home(rssi), _home(other_rssi), _home(crrc_operator)
    if home is None or other is None or crrc is None or crrc.kind != OrgKind.CRRC:
        return [*lines, "Exercices : comptes de démonstration absents, rien n'a été créé."]
    if ExerciseRun.objects.filter(region=region).exists():
        return [*lines, "Exercices : déjà présents, inchangés."]
    scenarios = {
        s.slug: s
        for s in Scenario.objects.filter(
            library_key="national", status=ScenarioStatus.CURRENT
        ).prefetch_related("injects")
    }
    writer = _Writer(scenarios, rssi)
    today = writer.today
    F = Function
    with transaction.atomic():
        # The RSSI's establishment: played 5 months ago (counts), the next one in a month.
        showcase = writer.run(
            home, "rancongiciel-nuit-centre-hospitalier", start=_at(today - _months(5), 8),
            played=True,
        )  # fmt: skip
        writer.players(showcase, [F.GENERAL_MANAGEMENT, F.MEDICAL, F.CARE, F.IT, F.COMMUNICATION,
                                  F.LOGISTICS])  # fmt: skip
        ExerciseParticipant.objects.create(
            run=showcase,
            organisation=crrc,
            function=F.IT,
            role=ParticipantRole.OBSERVER,
            full_name="Céline Rochas",
            job_title="Observatrice (CRRC)",
            attended=True,
        )
        _journal(showcase, rssi)
        writer.evaluate(showcase, low=2, high=4)
        writer.debrief(showcase, actions=4)
        writer.refresh(showcase)
        planned = writer.run(
            home, "fuite-donnees-messagerie-compromise", start=_at(today + _months(1), 9),
            played=False,
        )  # fmt: skip
        writer.players(planned, [F.GENERAL_MANAGEMENT, F.MEDICAL, F.ADMINISTRATION, F.IT,
                                 F.COMMUNICATION, F.QUALITY], attended=None)  # fmt: skip
        writer.refresh(planned)

        # The second RSSI's establishment: the IT team alone (does not count).
        it_only = writer.run(
            other, "panne-laboratoire-prestataire", start=_at(today - _months(3), 14),
            played=True, location="Bureau de la DSI",
        )  # fmt: skip
        writer.players(it_only, [F.IT, F.IT])
        writer.evaluate(it_only)
        writer.debrief(it_only, actions=1)
        writer.refresh(it_only)

        population = list(
            Organisation.objects.filter(
                region=region, kind__in=rule().population, is_active=True
            ).order_by("finess", "pk")
        )
        others = [o for o in population if o.pk not in (home.pk, other.pk)]
        writer.rng.shuffle(others)

        # A regional exercise of the CRRC with three establishments.
        regional_members, others = others[:3], others[3:]
        regional = writer.run(
            crrc, "deni-service-portail-rendez-vous", start=_at(today - _months(2), 9),
            played=True, kind=RunKind.REGIONAL, location="Visioconférence régionale du CRRC",
        )  # fmt: skip
        for member in regional_members:
            writer.players(regional, [F.GENERAL_MANAGEMENT, F.ADMINISTRATION, F.IT,
                                      F.COMMUNICATION], member)  # fmt: skip
        writer.evaluate(regional)
        writer.debrief(regional, actions=2)
        writer.refresh(regional)

        # Valid exercises up to about 65 % of the population.
        target = round(COVERAGE_SHARE * len(population)) - 1 - len(regional_members)
        covered, rest = others[:target], others[target:]
        slugs = sorted(scenarios)
        for organisation in covered:
            slug = writer.rng.choice(slugs)
            run = writer.run(
                organisation, slug, start=_at(today - datetime.timedelta(
                    days=writer.rng.randint(14, 340)), writer.rng.choice((9, 10, 14))),
                played=True,
            )  # fmt: skip
            business = writer.rng.sample([F.MEDICAL, F.CARE, F.ADMINISTRATION, F.COMMUNICATION], 2)
            writer.players(run, [F.GENERAL_MANAGEMENT, *business, F.IT])
            writer.evaluate(run)
            writer.debrief(run, actions=writer.rng.randint(1, 3))
            writer.refresh(run)

        # Some that do not count (yet): RETEX missing, planned, played over a year ago.
        pending = rest[:12]
        for index, organisation in enumerate(pending):
            slug = writer.rng.choice(slugs)
            if index % 3 == 0:
                run = writer.run(organisation, slug, start=_at(today - _months(1)), played=True)
                writer.players(run, [F.GENERAL_MANAGEMENT, F.CARE, F.IT])
                writer.evaluate(run)
            elif index % 3 == 1:
                start = _at(today + datetime.timedelta(days=writer.rng.randint(10, 120)))
                run = writer.run(organisation, slug, start=start, played=False)
                writer.players(run, [F.GENERAL_MANAGEMENT, F.MEDICAL, F.IT], attended=None)
            else:
                run = writer.run(organisation, slug, start=_at(today - _months(14)), played=True)
                writer.players(run, [F.GENERAL_MANAGEMENT, F.MEDICAL, F.IT])
                writer.evaluate(run)
                writer.debrief(run, actions=1)
            writer.refresh(run)

    counted = 1 + len(regional_members) + len(covered)
    share = round(100 * counted / len(population)) if population else 0
    lines += [
        f"Exercices : {ExerciseRun.objects.filter(region=region).count()} exercices enregistrés ; "
        f"{counted} établissements sur {len(population)} ont un exercice valide (≈ {share} %).",
        f"  {home.name} : exercice joué il y a 5 mois (valide), prochain exercice dans un mois.",
        f"  {other.name} : exercice joué par la seule équipe informatique (ne compte pas).",
        f"  {crrc.name} : exercice régional avec {len(regional_members)} établissements.",
    ]
    return lines


def _months(n: int) -> datetime.timedelta:
    """About n months (the demo needs no calendar precision)."""
    return datetime.timedelta(days=round(30.4 * n))
