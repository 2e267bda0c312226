"""Action plan: actions from the gaps of an assessment, hand-written actions (past due dates
allowed and flagged), status changes, filters, query budget, RETEX import, exports, reminders."""

from __future__ import annotations

import datetime
import html

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from rempart.assessments import services
from rempart.assessments.models import Action, ActionStatus
from rempart.core.errors import DomainError
from rempart.programme.tests.factories import DomainFactory

from .factories import assessments_world, small_questionnaire
from .test_services import choice, q
from .test_views import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return assessments_world()


@pytest.fixture
def completed(world):
    """A completed assessment with two measures triggered (« Non » to q1 and to q3) and a gap
    without a measure (q4 partly ticked)."""
    questionnaire = small_questionnaire()
    assessment = services.start_assessment(
        actor=world.rssi, organisation=world.establishment, questionnaire=questionnaire
    ).assessment
    for n, labels in ((1, ["Non"]), (3, ["Non"]), (4, ["DPI"])):
        question = q(questionnaire, n)
        services.save_answer(
            actor=world.rssi,
            assessment=assessment,
            question=question,
            values=[str(choice(question, label).pk) for label in labels],
        )
    return services.complete_assessment(actor=world.rssi, assessment=assessment)


def plan_table(client, world, **params) -> str:
    page = html.unescape(client.get(plan_url(world, **params)).content.decode())
    return page.split('id="plan-table"', 1)[1].split("</table>", 1)[0]


def plan_url(world, **params):
    query = "&".join(
        f"{k}={v}" for k, v in {"organisation": world.establishment.pk, **params}.items()
    )
    return f"{reverse('assessments:plan')}?{query}"


def test_actions_from_gaps_prefilled_and_linked(world, completed):
    domain = DomainFactory(code="D2", title="Sauvegardes et continuité")
    items = {item.key: item for item in services.gap_choices(completed)}
    measure_keys = [k for k in items if k.startswith("m")]
    question_keys = [k for k in items if k.startswith("q")]
    assert len(measure_keys) == 2
    assert len(question_keys) == 1
    client = client_for(world.rssi)
    response = client.post(
        reverse("assessments:actions_from_gaps", args=[completed.pk]),
        {"gaps": measure_keys + question_keys},
    )
    assert response.status_code == 302
    actions = Action.objects.filter(organisation=world.establishment).order_by("pk")
    assert actions.count() == 3
    offline = actions.get(title="Mettre en place une sauvegarde hors ligne")
    assert offline.source_assessment == completed
    assert offline.source_measure.urn.endswith(":m2")
    assert offline.source_question.urn.endswith(":q3")
    assert offline.priority == "high"
    assert offline.care_domain == domain
    gap = actions.get(source_measure=None)
    assert gap.source_question.urn.endswith(":q4")
    # Posting the same gaps again adds nothing.
    client.post(
        reverse("assessments:actions_from_gaps", args=[completed.pk]), {"gaps": measure_keys}
    )
    assert Action.objects.filter(organisation=world.establishment).count() == 3
    # A key that is not a gap of this assessment: refused, nothing added.
    with pytest.raises(DomainError, match="rechargez"):
        services.actions_from_gaps(actor=world.rssi, assessment=completed, keys=["m999999"])
    # People outside: 404 / 403.
    url = reverse("assessments:actions_from_gaps", args=[completed.pk])
    assert client_for(world.sibling_rssi).post(url, {"gaps": measure_keys}).status_code == 404
    assert client_for(world.ars_manager).post(url, {"gaps": measure_keys}).status_code == 403


def test_results_page_offers_the_gaps(world, completed):
    page = html.unescape(
        client_for(world.rssi)
        .get(reverse("assessments:results", args=[completed.pk]))
        .content.decode()
    )
    assert "Créer des actions à partir des écarts" in page
    assert 'value="m' in page
    assert 'value="q' in page


def test_past_due_date_allowed_and_flagged_status_changes(world):
    client = client_for(world.rssi)
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    response = client.post(
        reverse("assessments:action_create"),
        {
            "organisation": world.establishment.pk,
            "title": "Segmenter le réseau du plateau technique",
            "owner": "DSI",
            "due_on": yesterday.isoformat(),
            "status": "todo",
            "priority": "high",
            "estimated_cost_eur": "12500,50",
        },
    )
    assert response.status_code == 302
    action = Action.objects.get(organisation=world.establishment)
    assert str(action.estimated_cost_eur) == "12500.50"
    assert "en retard" in plan_table(client, world)
    assert action.title in plan_table(client, world, en_retard=1)
    client.post(reverse("assessments:action_status", args=[action.pk]), {"status": "done"})
    action.refresh_from_db()
    assert action.status == ActionStatus.DONE
    assert action.done_on == timezone.localdate()
    assert action.title not in plan_table(client, world, en_retard=1)
    assert action.title in plan_table(client, world, statut="done")
    client.post(reverse("assessments:action_status", args=[action.pk]), {"status": "in_progress"})
    action.refresh_from_db()
    assert action.done_on is None
    response = client.post(reverse("assessments:action_status", args=[action.pk]), {"status": "x"})
    action.refresh_from_db()
    assert action.status == ActionStatus.IN_PROGRESS


def test_bad_input_keeps_what_was_typed(world):
    response = client_for(world.rssi).post(
        reverse("assessments:action_create"),
        {
            "organisation": world.establishment.pk,
            "title": "",
            "owner": "Mme Garnier",
            "status": "todo",
            "priority": "medium",
            "estimated_cost_eur": "-5",
        },
    )
    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert "Donnez un intitulé à l'action." in page
    assert "ne peut pas être négatif" in page
    assert 'value="Mme Garnier"' in page
    assert not Action.objects.exists()


def test_edit_delete_and_scope(world):
    action = services.action_create(
        actor=world.rssi, organisation=world.establishment, data={"title": "Former les équipes"}
    )
    edit = reverse("assessments:action_edit", args=[action.pk])
    assert client_for(world.sibling_rssi).get(edit).status_code == 404
    assert client_for(world.outsider_rssi).get(edit).status_code == 404
    assert client_for(world.staff).get(edit).status_code == 403
    assert client_for(world.ars_manager).get(edit).status_code == 404
    response = client_for(world.director).post(
        edit, {"title": "Former les équipes soignantes", "status": "in_progress", "priority": "low"}
    )
    assert response.status_code == 302
    action.refresh_from_db()
    assert action.title == "Former les équipes soignantes"
    assert action.priority == "low"
    delete = reverse("assessments:action_delete", args=[action.pk])
    assert client_for(world.sibling_rssi).post(delete).status_code == 404
    assert client_for(world.rssi).post(delete).status_code == 302
    assert not Action.objects.exists()
    # Another organisation's plan through the query: not found; the staff: refused.
    assert (
        client_for(world.rssi)
        .get(f"{reverse('assessments:plan')}?organisation={world.sibling.pk}")
        .status_code
        == 404
    )
    assert client_for(world.staff).get(reverse("assessments:plan")).status_code == 403


def test_plan_query_budget(world, django_assert_max_num_queries):
    domain = DomainFactory(code="D1")
    for n in range(30):
        services.action_create(
            actor=world.rssi,
            organisation=world.establishment,
            data={
                "title": f"Action {n}",
                "due_on": timezone.localdate() + datetime.timedelta(days=n - 10),
                "care_domain": domain,
            },
        )
    client = client_for(world.rssi)
    client.get(plan_url(world))  # warm the session
    with django_assert_max_num_queries(16):
        response = client.get(plan_url(world))
    assert response.status_code == 200
    assert html.unescape(response.content.decode()).count("en retard</p>") == 10


def test_retex_actions_listed_and_imported_once(world):
    from rempart.exercises.models import Debrief, DebriefAction
    from rempart.exercises.tests.factories import ScenarioFactory, run_from

    run = run_from(ScenarioFactory(), world.establishment)
    debrief = Debrief.objects.create(
        run=run, held_on=timezone.localdate(), strengths="Alerte rapide", improvements="Annuaire"
    )
    decided = DebriefAction.objects.create(
        debrief=debrief, title="Imprimer l'annuaire de crise", owner="Direction", priority="high"
    )
    other_run = run_from(ScenarioFactory(), world.sibling)
    other = DebriefAction.objects.create(
        debrief=Debrief.objects.create(
            run=other_run, held_on=timezone.localdate(), strengths="-", improvements="-"
        ),
        title="Action d'un autre établissement",
    )
    client = client_for(world.rssi)
    page = html.unescape(client.get(plan_url(world)).content.decode())
    assert "Imprimer l'annuaire de crise" in page
    assert "Action d'un autre établissement" not in page
    url = reverse("assessments:retex_import", args=[decided.pk])
    assert client.post(url, {"organisation": world.establishment.pk}).status_code == 302
    imported = Action.objects.get(organisation=world.establishment)
    assert imported.title == decided.title
    assert imported.priority == "high"
    client.post(url, {"organisation": world.establishment.pk})
    assert Action.objects.filter(organisation=world.establishment).count() == 1
    assert "dans le plan" in html.unescape(client.get(plan_url(world)).content.decode())
    # Another establishment's RETEX action: not found.
    response = client.post(
        reverse("assessments:retex_import", args=[other.pk]),
        {"organisation": world.establishment.pk},
    )
    assert response.status_code == 404


def test_plan_exports(world):
    services.action_create(
        actor=world.rssi,
        organisation=world.establishment,
        data={"title": '=HYPERLINK("x")', "due_on": timezone.localdate()},
    )
    client = client_for(world.rssi)
    pdf = client.get(f"{reverse('assessments:plan_pdf')}?organisation={world.establishment.pk}")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    xlsx = client.get(f"{reverse('assessments:plan_xlsx')}?organisation={world.establishment.pk}")
    assert xlsx.status_code == 200
    assert xlsx.content[:2] == b"PK"
    assert (
        client_for(world.sibling_rssi)
        .get(f"{reverse('assessments:plan_pdf')}?organisation={world.establishment.pk}")
        .status_code
        == 404
    )


def test_reminders_due_within_a_week_or_overdue(world):
    today = timezone.localdate()
    for title, days, status in (
        ("En retard", -3, "todo"),
        ("Dans 5 jours", 5, "in_progress"),
        ("Dans 30 jours", 30, "todo"),
        ("Faite en retard", -3, "done"),
    ):
        services.action_create(
            actor=world.rssi,
            organisation=world.establishment,
            data={
                "title": title,
                "due_on": today + datetime.timedelta(days=days),
                "status": status,
            },
        )
    sent = services.send_action_reminders(today)
    assert sent == 1
    message = mail.outbox[0]
    assert set(message.to) == {world.rssi.email, world.director.email}
    assert world.staff.email not in message.to
    assert "En retard" in message.body
    assert "Dans 5 jours" in message.body
    assert "Dans 30 jours" not in message.body
    assert "Faite en retard" not in message.body
