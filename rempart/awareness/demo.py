"""The demo region's awareness: the modules loaded, a history of quiz attempts for the demo
accounts (agent@demo.rempart.fr failed the seed quiz once, then passed it) and for a few
learners of the demo hospital, and escape-game sessions run by the CRRC's trainer.

Idempotent: the modules are loaded (nothing changes the second time), the attempts and the
sessions are written once per region.
"""

from __future__ import annotations

import datetime
import random

from django.db import transaction
from django.utils import timezone

from rempart.core.roles import OrgKind, Role
from rempart.organisations.demo import DEMO_DOMAIN
from rempart.organisations.models import Membership, Organisation, Region, User

from . import escape_services, learning_content, learning_services
from .models import Attempt, EscapeGameSession, Module

SEED = 1652  # the seeds' escape-game participants in one region
LEARNERS = 8  # extra learners of the demo hospital, so that its figures are not masked
QUIZ = "quiz-cyber"
RIGHT = {
    "bon-mot-de-passe": ["b"],
    "hameconnage": ["b"],
    "mobilite": ["d"],
    "partage-donnees": ["c"],
}


def _person(local: str) -> User | None:
    return User.objects.filter(email=f"{local}@{DEMO_DOMAIN}").first()


def _home(user: User) -> Organisation | None:
    membership = Membership.objects.active().filter(user=user).select_related("organisation")
    first = membership.first()
    return first.organisation if first else None


def _right_answers(module: Module) -> dict[str, list[str]]:
    return {q["code"]: list(q["correct"]) for q in module.questions}


def _wrong_once(module: Module, rng: random.Random) -> dict[str, list[str]]:
    answers = _right_answers(module)
    question = rng.choice(module.questions)
    wrong = [c["code"] for c in question["choices"] if c["code"] not in question["correct"]]
    answers[question["code"]] = [rng.choice(wrong)]
    return answers


def _learners(home: Organisation) -> list[User]:
    people = []
    for n in range(1, LEARNERS + 1):
        user, created = User.objects.get_or_create(
            email=f"apprenant.{n:02d}@{DEMO_DOMAIN}",
            defaults={"first_name": "Apprenant", "last_name": f"Démo {n:02d}"},
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        Membership.objects.get_or_create(
            user=user, organisation=home, role=Role.STAFF, valid_until=None
        )
        people.append(user)
    return people


def seed_awareness_demo(region: Region) -> list[str]:
    lines = []
    report = learning_content.load()
    lines.append(
        f"Sensibilisation : {len(report.created)} module(s) créé(s), "
        f"{len(report.updated)} mis à jour, {len(report.unchanged)} inchangé(s)."
    )
    agent, dsi, trainer = _person("agent"), _person("dsi"), _person("formateur")
    if agent is None or trainer is None:
        return [*lines, "Sensibilisation : comptes de démonstration absents, rien d'autre créé."]
    home = _home(agent)
    rng = random.Random(SEED)  # noqa: S311 - reproducible demo data, not secrets
    modules = {m.code: m for m in Module.objects.filter(is_active=True)}
    with transaction.atomic():
        if Attempt.objects.filter(organisation__region=region).exists():
            lines.append("Sensibilisation : tentatives déjà présentes, inchangées.")
        else:
            quiz = modules[QUIZ]
            learning_services.attempt_submit(
                actor=agent, module=quiz, answers=_wrong_once(quiz, rng)
            )
            learning_services.attempt_submit(actor=agent, module=quiz, answers=RIGHT)
            learning_services.attempt_submit(
                actor=agent,
                module=modules["hameconnage"],
                answers=_right_answers(modules["hameconnage"]),
            )
            if dsi is not None:
                learning_services.attempt_submit(
                    actor=dsi, module=quiz, answers=_right_answers(quiz)
                )
            count = 4
            for person in _learners(home):
                for code in (QUIZ, "hameconnage", "mobilite"):
                    module = modules[code]
                    if rng.random() < 0.35:
                        learning_services.attempt_submit(
                            actor=person, module=module, answers=_wrong_once(module, rng)
                        )
                        count += 1
                    if rng.random() < 0.85:
                        learning_services.attempt_submit(
                            actor=person, module=module, answers=_right_answers(module)
                        )
                        count += 1
            lines.append(
                f"Sensibilisation : {count} tentatives de quiz (agent@{DEMO_DOMAIN} a échoué une "
                f"fois puis réussi le quiz cyber) et {LEARNERS} apprenants à {home.name}."
            )
        if EscapeGameSession.objects.filter(region=region).exists():
            lines.append("Escape games : sessions déjà présentes, inchangées.")
        else:
            lines.append(_escape_games(region, trainer, home, rng))
    return lines


def _escape_games(region: Region, trainer: User, home: Organisation, rng: random.Random) -> str:
    establishments = list(
        Organisation.objects.filter(region=region, kind=OrgKind.ESTABLISHMENT)
        .exclude(pk=home.pk)
        .order_by("pk")[:40]
    )
    hosts = [home, *rng.sample(establishments, min(5, len(establishments)))]
    today = timezone.localdate()
    total = 0
    for index, host in enumerate(hosts):
        teams = rng.randint(2, 6)
        guests = [g for g in rng.sample(establishments, 2) if g.pk != host.pk]
        rows = [escape_services.ParticipationInput(host, teams * 5 - rng.randint(0, 3))]
        rows += [escape_services.ParticipationInput(g, rng.randint(2, 5)) for g in guests]
        escaped = rng.random() < 0.6
        escape_services.session_create(
            actor=trainer,
            host=host,
            data={
                "held_on": today - datetime.timedelta(days=20 + 37 * index),
                "site": "Salle de formation",
                "facilitator_name": trainer.get_full_name(),
                "team_count": teams,
                "escaped": escaped,
                "escape_minutes": rng.randint(35, 45) if escaped else None,
                "satisfaction": round(rng.uniform(8.2, 9.8), 1),
                "debrief": "Mots de passe sur post-it, session laissée ouverte, clé USB "
                "trouvée branchée : les journalistes ont eu leur scoop. Rappel des bons "
                "réflexes et de MSSanté au débriefing.",
            },
            participations=rows,
        )
        total += sum(r.count for r in rows)
    return f"Escape games : {len(hosts)} sessions « Sant'escape », {total} participants."
