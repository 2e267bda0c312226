"""Benchmark: the anonymised distribution of self-assessment scores at national scale.

Run with `make bench NAME=assessment_distribution` (SQLite), or with DATABASE_URL pointing to a
PostgreSQL server. The benchmark makes its own database (a temporary SQLite file, or a
PostgreSQL database `rempart_bench_assessments` dropped at the end), migrates it and
bulk-creates a questionnaire of 100 questions in 8 themes, 40,000 establishments in 13 regions
(départements, FINESS categories, beds or places) and, for each, one completed assessment with
its 100 answers (4 million rows, bulk-created in batches of 20,000 with the columns an answer
needs) and its stored scores (overall and by theme). Then it times the distribution page as a
national observer sees it (every organisation: overall, by theme, by category, by size class)
and as one region's ARS sees it, through Django's test client (middleware, view, queries,
templates; no network), and counts the page's queries (that the count does not grow with the
data is checked by rempart/assessments/tests/test_regional.py). The page reads the stored
scores, never the answers: the answers are there so that the tables have their real size.
The printed median is the national view's, the heavier one; both are logged.

BENCH_ASSESSMENTS sets the number of organisations (40,000 by default) and BENCH_ANSWERS=0
skips the answers (to measure the page alone quickly).

Prints:
    assessment_distribution_median_ms: <value> ms
    assessment_distribution_queries: <n> queries
and exits non-zero when it could not measure. Details go to stderr.
"""

import datetime
import os
import random
import re
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchdb import prepare_database  # noqa: E402 - bench/ is the script's own folder
from benchkit import finess, log  # noqa: E402
from benchpages import bulk_registry, time_page  # noqa: E402

ORGANISATIONS = int(os.environ.get("BENCH_ASSESSMENTS", "40000"))
WITH_ANSWERS = os.environ.get("BENCH_ANSWERS", "1") != "0"
QUESTIONS = 100
THEMES = 8
REGIONS = 13
DEPARTEMENTS_PER_REGION = 8
BATCH = 20000
WARMUP = 4
MEASURED = 30
TARGET_MS = 300
BENCH_DB_NAME = "rempart_bench_assessments"
URN = "urn:rempart:bench:maturite"
CATEGORIES = [
    ("355", "Centre hospitalier (C.H.)", "sanitaire"),
    ("101", "Centre hospitalier régional (C.H.R.)", "sanitaire"),
    ("365", "Établissement de soins pluridisciplinaire", "sanitaire"),
    ("362", "Centre de lutte contre le cancer", "sanitaire"),
    ("500", "EHPAD", "medico_social"),
    ("183", "Institut médico-éducatif (I.M.E.)", "medico_social"),
    ("255", "Maison d'accueil spécialisée (M.A.S.)", "medico_social"),
    ("999", "Catégorie rare", "sanitaire"),  # 3 organisations: merged, never alone
]


def build_questionnaire():
    from rempart.assessments.models import (
        Choice,
        Question,
        QuestionKind,
        Questionnaire,
        QuestionnaireKind,
        RequirementNode,
    )

    questionnaire = Questionnaire.objects.create(
        urn=URN,
        ref_id="BENCH",
        name="Diagnostic de maturité (benchmark)",
        kind=QuestionnaireKind.MATURITY,
        source_sha256="0" * 64,
    )
    themes = RequirementNode.objects.bulk_create(
        RequirementNode(
            questionnaire=questionnaire,
            urn=f"{URN}:theme{t}",
            order=t + 1,
            depth=1,
            name=f"Thème {t + 1}",
        )
        for t in range(THEMES)
    )
    for theme in themes:
        theme.theme = theme
    RequirementNode.objects.bulk_update(themes, ["theme"])
    requirements = RequirementNode.objects.bulk_create(
        RequirementNode(
            questionnaire=questionnaire,
            urn=f"{URN}:req{q}",
            parent=themes[q % THEMES],
            theme=themes[q % THEMES],
            order=THEMES + q + 1,
            depth=2,
            assessable=True,
            ref_id=f"R{q + 1}",
            name=f"Exigence {q + 1}",
        )
        for q in range(QUESTIONS)
    )
    questions = Question.objects.bulk_create(
        Question(
            questionnaire=questionnaire,
            node=requirements[q],
            urn=f"{URN}:q{q}",
            order=q + 1,
            kind=QuestionKind.SINGLE_CHOICE,
            text=f"Question {q + 1} ?",
        )
        for q in range(QUESTIONS)
    )
    Choice.objects.bulk_create(
        Choice(
            question=question,
            urn=f"{question.urn}:c{c}",
            order=c + 1,
            label=label,
            score=Decimal(value),
        )
        for question in questions
        for c, (label, value) in enumerate((("Non", 0), ("En partie", 50), ("Oui", 100)))
    )
    return questionnaire, themes, questions


SCORES = (0.0, 50.0, 100.0)  # the choices « Non », « En partie », « Oui »


def _pick(organisation_id: int, question_id: int, level: int) -> int:
    """Which choice (0, 1, 2) the assessment of an organisation of this level gives to a
    question: « Oui » for a share of questions equal to its level, else « En partie » or « Non »
    half and half. The same rule as PICK_SQL (`level` rides in the assessment's `answered_count`
    until the answers are written)."""
    if (organisation_id * 7919 + question_id * 104729) % 100 < level:
        return 2
    return 1 if (organisation_id * 31 + question_id * 17) % 2 == 0 else 0


PICK_SQL = (  # (% doubled: the statement has bound parameters)
    "CASE WHEN (a.organisation_id * 7919 + q.id * 104729) %% 100 < a.answered_count THEN 2 "
    "WHEN (a.organisation_id * 31 + q.id * 17) %% 2 = 0 THEN 1 ELSE 0 END"
)


def _insert_answers(questionnaire, now) -> int:
    """Every question of every assessment, answered by the rule of `_pick`, in one statement.
    The choices of a question were bulk-created together: their ids follow one another."""
    from django.db import connection

    from rempart.assessments.models import Answer, Assessment, Choice, Question

    sql = f"""
        INSERT INTO {Answer._meta.db_table}
            (assessment_id, question_id, choice_id, text_value, score, comment, answered_at)
        SELECT a.id, q.id, fc.first_id + ({PICK_SQL}), '', ({PICK_SQL}) * 50, '', %s
        FROM {Assessment._meta.db_table} a
        CROSS JOIN {Question._meta.db_table} q
        JOIN (
            SELECT question_id, MIN(id) AS first_id FROM {Choice._meta.db_table}
            GROUP BY question_id
        ) fc ON fc.question_id = q.id
        WHERE a.questionnaire_id = %s AND q.questionnaire_id = %s
    """  # noqa: S608 - table names of our models, values bound
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Every row joins an existing assessment, question and choice: the foreign keys
            # hold by construction. Their deferred checks (three per row, 12 million for 4
            # million rows) would cost over a minute at COMMIT; like pg_restore's
            # --disable-triggers, this transaction skips them (the benchmark runs as the
            # database's superuser, as in CI).
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, [now, questionnaire.pk, questionnaire.pk])
        rows = cursor.rowcount
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")
        return rows


def build_data():
    from allauth.mfa.totp.internal.auth import TOTP
    from django.db import transaction
    from django.utils import timezone

    from rempart.assessments.models import Assessment, AssessmentStatus
    from rempart.core.roles import OrgKind, Role
    from rempart.organisations.models import Membership, Organisation, User

    rng = random.Random(20261206)
    started = time.perf_counter()
    now = timezone.now()
    with transaction.atomic():
        regions, departements, categories = bulk_registry(
            REGIONS, DEPARTEMENTS_PER_REGION, CATEGORIES
        )
        ars = Organisation.objects.bulk_create(
            Organisation(kind=OrgKind.ARS, name=f"ARS {region.name}", region=region)
            for region in regions
        )
        batch = []
        for i in range(ORGANISATIONS):
            region_index = rng.randrange(REGIONS)
            category = categories[-1] if i < 3 else categories[rng.randrange(len(categories) - 1)]
            health = category.sector == "sanitaire"
            batch.append(
                Organisation(
                    kind=OrgKind.ESTABLISHMENT,
                    name=f"Établissement {i:05d}",
                    finess=finess(i),
                    region=regions[region_index],
                    departement=departements[
                        region_index * DEPARTEMENTS_PER_REGION
                        + rng.randrange(DEPARTEMENTS_PER_REGION)
                    ],
                    category=category,
                    sector=category.sector,
                    beds=int(rng.lognormvariate(5, 1)) if health else None,
                    places=None if health else rng.randrange(10, 200),
                )
            )
        organisations = []
        for start in range(0, len(batch), 5000):
            organisations += Organisation.objects.bulk_create(batch[start : start + 5000])
        questionnaire, themes, questions = build_questionnaire()
        log(f"  organisations et questionnaire : {time.perf_counter() - started:.1f} s")

        # Each organisation's level (0–100) drives its answers; the stored scores are the
        # answers' means (by theme and overall), as the scoring service would store them,
        # computed here with `_pick` before the assessments are saved. The answers are then
        # generated by the database itself (INSERT … SELECT over assessments × questions: 4
        # million rows in seconds, not minutes of Python objects) by the same rule, PICK_SQL;
        # the level rides in `answered_count` until then.
        levels = [round(rng.betavariate(2, 2) * 100) for _ in organisations]
        theme_of = [index % THEMES for index in range(len(questions))]
        assessments = []
        for organisation, level in zip(organisations, levels, strict=True):
            by_theme = [[] for _ in range(THEMES)]
            for index, question in enumerate(questions):
                by_theme[theme_of[index]].append(SCORES[_pick(organisation.pk, question.pk, level)])
            theme_scores = {
                theme.urn: round(sum(values) / len(values), 1)
                for theme, values in zip(themes, by_theme, strict=True)
            }
            assessments.append(
                Assessment(
                    organisation=organisation,
                    questionnaire=questionnaire,
                    status=AssessmentStatus.COMPLETED,
                    completed_at=now - datetime.timedelta(days=rng.randrange(365)),
                    answered_count=level,
                    applicable_count=QUESTIONS,
                    theme_scores=theme_scores,
                    score=Decimal(str(round(sum(theme_scores.values()) / THEMES, 1))),
                )
            )
        for start in range(0, len(assessments), BATCH):
            Assessment.objects.bulk_create(assessments[start : start + BATCH])
        answers_started = time.perf_counter()
        answer_rows = _insert_answers(questionnaire, now) if WITH_ANSWERS else 0
        answers_seconds = time.perf_counter() - answers_started
        Assessment.objects.filter(questionnaire=questionnaire).update(answered_count=QUESTIONS)

        observer = User.objects.create_user("observateur@bench.fr", None, first_name="Nadia")
        national = Organisation.objects.create(kind=OrgKind.NATIONAL, name="Opérateur national")
        Membership.objects.create(user=observer, organisation=national, role=Role.NATIONAL_OBSERVER)
        TOTP.activate(observer, "JBSWY3DPEHPK3PXP")
        manager = User.objects.create_user("ars@bench.fr", None, first_name="Camille")
        Membership.objects.create(user=manager, organisation=ars[0], role=Role.ARS_MANAGER)
        TOTP.activate(manager, "JBSWY3DPEHPK3PXP")
    log(
        f"données : {len(organisations)} autoévaluations terminées, {answer_rows} réponses "
        f"(réponses : {answers_seconds:.1f} s), en tout {time.perf_counter() - started:.1f} s"
    )
    return questionnaire, observer, manager


def measure(questionnaire, observer, manager) -> tuple[float, int]:
    from django.urls import reverse

    def check(response, label) -> None:
        if response.status_code != 200:
            raise SystemExit(f"La page de répartition répond {response.status_code} ({label})")
        if b'id="overall"' not in response.content:
            raise SystemExit(f"La page de répartition ne montre pas les quartiles ({label})")
        if "Catégorie rare".encode() in response.content:
            raise SystemExit("Un groupe de moins de 5 organisations est montré seul")

    url = reverse("assessments:regional_distribution", args=[questionnaire.pk])
    clients, median_ms, queries = time_page(
        url,
        {"national": observer, "ARS d'une région": manager},
        check,
        warmup=WARMUP,
        measured=MEASURED,
    )
    page = clients["national"].get(url).content.decode()
    median = re.search(r'id="overall">.*?<td>Toutes</td><td>(\d+)</td>', page, re.S)
    log(f"  autoévaluations comptées (national) : {median.group(1) if median else '?'}")
    return median_ms, queries


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("REMPART_LOG_LEVEL", "WARNING")
    engine, cleanup = prepare_database(BENCH_DB_NAME)
    try:
        import django

        django.setup()
        from django.core.management import call_command

        log(
            f"base : {engine} (base dédiée), {ORGANISATIONS} autoévaluations de {QUESTIONS} "
            f"questions{'' if WITH_ANSWERS else ' (sans les réponses)'}"
        )
        call_command("migrate", verbosity=0, interactive=False)
        questionnaire, observer, manager = build_data()
        from django.db import connection

        with connection.cursor() as cursor:  # planner statistics, as a live database has
            cursor.execute("ANALYZE")
        median_ms, queries = measure(questionnaire, observer, manager)
    finally:
        cleanup()
    print(f"assessment_distribution_median_ms: {median_ms:.1f} ms")
    print(f"assessment_distribution_queries: {queries} queries")
    if median_ms > TARGET_MS:
        log(f"objectif manqué : médiane {median_ms:.1f} ms > {TARGET_MS} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
