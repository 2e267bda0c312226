"""Demo data of self-assessment (`make demo`, after `seed_exercises_demo`): the shipped
questionnaires, a regional campaign on the DNS/2025/12 priority actions, about two thirds of the
region's establishments with completed assessments (DNS and maturity diagnostic), the demo RSSI's
establishment with a maturity diagnostic six months old, a DNS assessment in progress and an
action plan. Answers are drawn with a fixed seed (the same demo everywhere) and scored by the
scoring service, as if typed in the pages."""

from __future__ import annotations

import datetime
import random

from django.db import transaction
from django.utils import timezone

from rempart.organisations.demo import DEMO_DOMAIN
from rempart.organisations.models import Membership, Organisation, Region, User

from . import questionnaires, services
from .models import (
    Action,
    ActionPriority,
    Answer,
    Assessment,
    AssessmentCampaign,
    AssessmentStatus,
    CampaignStatus,
    Question,
    QuestionKind,
    Questionnaire,
)

SEED = 20261206
COMPLETED_SHARE = 0.65
DNS_URN = "urn:rempart:framework:dns-2025-12"
MATURITY_URN = "urn:rempart:framework:diagnostic-maturite"


def _user(local: str) -> User | None:
    return User.objects.filter(email=f"{local}@{DEMO_DOMAIN}").first()


def _home(user: User | None) -> Organisation | None:
    if user is None:
        return None
    membership = (
        Membership.objects.active().filter(user=user).select_related("organisation").first()
    )
    return membership.organisation if membership else None


class _Answerer:
    """Answers a questionnaire as an establishment of a given level (0–1) would: better
    choices more often for a higher level; conditional questions only when shown."""

    def __init__(self, questionnaire: Questionnaire, rng: random.Random):
        self.rng = rng
        self.questions = list(
            Question.objects.filter(questionnaire=questionnaire)
            .select_related("depends_on")
            .prefetch_related("choices")
            .order_by("order")
        )

    def _pick(self, choices, level: float):
        scored = [c for c in choices if c.score is not None]
        if not scored or self.rng.random() < 0.04:  # now and then « je ne sais pas »
            return (
                choices[-1]
                if not scored
                else next((c for c in choices if c.score is None), scored[0])
            )
        scored.sort(key=lambda c: c.score)
        position = min(
            len(scored) - 1, int(self.rng.betavariate(1 + 4 * level, 5 - 4 * level) * len(scored))
        )
        return scored[position]

    def answer(self, assessment: Assessment, level: float, *, share: float = 1.0) -> None:
        """Answer about `share` of the questions (all of them for a completed assessment)."""
        chosen: dict[int, set[str]] = {}
        now = timezone.now()
        multiple = []
        for question in self.questions:
            if question.depends_on_id:
                parent = chosen.get(question.depends_on_id, set())
                wanted = set(question.depends_on_choices)
                shown = (
                    wanted <= parent if question.depends_on_condition == "all" else parent & wanted
                )
                if not shown:
                    continue
            if self.rng.random() > share:
                continue
            choices = list(question.choices.all())
            answer = Answer(assessment=assessment, question=question, answered_at=now)
            if question.kind == QuestionKind.MULTIPLE_CHOICE:
                picked = [c for c in choices if self.rng.random() < 0.3 + 0.6 * level] or choices[
                    :1
                ]
                multiple.append((answer, picked))
                chosen[question.pk] = {c.urn for c in picked}
            elif choices:
                choice = self._pick(choices, level)
                answer.choice = choice
                chosen[question.pk] = {choice.urn}
            elif question.kind == QuestionKind.NUMBER:
                answer.number_value = round(2 + 8 * level, 1)
            elif question.kind == QuestionKind.DATE:
                answer.date_value = timezone.localdate() - datetime.timedelta(
                    days=self.rng.randint(30, 400)
                )
            else:
                answer.text_value = "Voir le dossier de la DSI."
            answer.save()
        for answer, picked in multiple:
            answer.choices.set(picked)
        services.refresh_scores(assessment)


@transaction.atomic
def seed_assessments_demo(region: Region) -> list[str]:
    results = questionnaires.load_files()
    lines = [f"Questionnaires : {', '.join(str(r) for r in results)}."]
    if Assessment.objects.filter(organisation__region=region).exists():
        return [*lines, "Autoévaluations : déjà présentes, inchangées."]
    dns = Questionnaire.objects.get(urn=DNS_URN, library_key="shared", status="current")
    maturity = Questionnaire.objects.get(urn=MATURITY_URN, library_key="shared", status="current")
    rng = random.Random(SEED)  # noqa: S311 - a reproducible demo, not a secret
    rssi, ars_user = _user("rssi"), _user("ars")
    home, ars = _home(rssi), _home(ars_user)
    today = timezone.localdate()
    campaign = None
    if ars is not None:
        campaign = AssessmentCampaign.objects.create(
            region=region,
            organiser=ars,
            questionnaire=dns,
            title="Actions prioritaires DNS/2025/12 — campagne régionale",
            message="Merci de répondre avant l'échéance : les résultats régionaux seront "
            "présentés au comité régional cyber.",
            opens_on=today - datetime.timedelta(days=20),
            deadline=today + datetime.timedelta(days=25),
            population=["establishment"],
            reminder_days=[14, 7, 1],
            status=CampaignStatus.OPEN,
            launched_at=timezone.now() - datetime.timedelta(days=20),
            created_by=ars_user,
        )
    answer_dns, answer_maturity = _Answerer(dns, rng), _Answerer(maturity, rng)
    population = list(
        Organisation.objects.filter(region=region, kind="establishment", is_active=True)
        .exclude(pk=getattr(home, "pk", None))
        .order_by("finess", "pk")
    )
    rng.shuffle(population)
    completed = population[: round(COMPLETED_SHARE * len(population))]
    in_progress = population[len(completed) : len(completed) + 15]
    for organisation in completed:
        level = rng.betavariate(2.5, 2)
        for questionnaire, answerer, with_campaign in (
            (dns, answer_dns, True),
            (maturity, answer_maturity, False),
        ):
            if questionnaire is maturity and rng.random() < 0.4:
                continue
            done = timezone.now() - datetime.timedelta(days=rng.randint(1, 200))
            assessment = Assessment.objects.create(
                organisation=organisation,
                questionnaire=questionnaire,
                campaign=campaign if with_campaign else None,
                shared_with_region=rng.random() < 0.3,
            )
            answerer.answer(assessment, level)
            Assessment.objects.filter(pk=assessment.pk).update(
                status=AssessmentStatus.COMPLETED, completed_at=done
            )
    for organisation in in_progress:
        assessment = Assessment.objects.create(
            organisation=organisation, questionnaire=dns, campaign=campaign
        )
        answer_dns.answer(assessment, rng.random(), share=0.4)
    if home is not None:
        diagnostic = Assessment.objects.create(organisation=home, questionnaire=maturity)
        answer_maturity.answer(diagnostic, 0.45)
        Assessment.objects.filter(pk=diagnostic.pk).update(
            status=AssessmentStatus.COMPLETED,
            completed_at=timezone.now() - datetime.timedelta(days=180),
            completed_by=rssi,
        )
        current = Assessment.objects.create(
            organisation=home, questionnaire=dns, campaign=campaign, started_by=rssi
        )
        answer_dns.answer(current, 0.55, share=0.5)
        for title, priority, days in (
            ("Mettre en place une sauvegarde hors ligne du DPI", ActionPriority.HIGH, 60),
            ("Auditer les accès à distance des prestataires", ActionPriority.HIGH, -10),
            ("Nommer un suppléant au référent SSI", ActionPriority.MEDIUM, 120),
        ):
            Action.objects.create(
                organisation=home,
                title=title,
                owner="RSSI",
                due_on=today + datetime.timedelta(days=days),
                priority=priority,
                source_assessment=diagnostic,
                created_by=rssi,
            )
    lines.append(
        f"Autoévaluations : {len(completed)} établissements sur {len(population) + 1} ont terminé "
        f"les actions prioritaires DNS/2025/12 (campagne régionale en cours, échéance dans 25 "
        f"jours), {len(in_progress)} sont en cours."
    )
    if home is not None:
        lines.append(
            f"  {home.name} : diagnostic de maturité terminé il y a 6 mois, autoévaluation DNS en "
            "cours, 3 actions au plan (dont une en retard)."
        )
    return lines
