import datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rempart.awareness import escape_services as services
from rempart.awareness.escape_services import ParticipationInput
from rempart.awareness.models import EscapeGameSession
from rempart.core.errors import DomainError
from rempart.core.models import AuditEntry

from .factories import awareness_world

pytestmark = pytest.mark.django_db

DATA = {
    "held_on": datetime.date(2025, 3, 12),
    "facilitator_name": "Fanny Morel",
    "scenario": "Sant'escape sécurité numérique",
    "duration_minutes": 45,
    "team_count": 2,
    "escaped": True,
    "escape_minutes": 41,
    "satisfaction": 9,
    "site": "Salle B",
    "debrief": "Bon débrief",
}


@pytest.fixture
def world():
    return awareness_world()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _session(world, **extra):
    rows = extra.pop(
        "rows",
        [
            ParticipationInput(world.establishment, 5, "Alice\nBruno"),
            ParticipationInput(world.sibling, 3),
        ],
    )
    return services.session_create(
        actor=world.trainer, host=world.establishment, data={**DATA, **extra}, participations=rows
    )


def test_trainer_records_a_session_with_its_participants(world):
    session = _session(world)
    assert session.participant_count == 8
    assert session.region == world.region
    assert session.duration_minutes == 45
    assert AuditEntry.objects.filter(organisation_id=world.establishment.pk).exists()


def test_refusals(world):
    with pytest.raises(DomainError, match="CRRC et les formateurs"):
        services.session_create(
            actor=world.director,
            host=world.establishment,
            data=DATA,
            participations=[ParticipationInput(world.establishment, 5)],
        )
    with pytest.raises(DomainError, match="CRRC et les formateurs"):
        services.session_create(
            actor=world.outsider_trainer,
            host=world.establishment,
            data=DATA,
            participations=[ParticipationInput(world.establishment, 5)],
        )
    with pytest.raises(DomainError, match="pas dans la région"):
        _session(world, rows=[ParticipationInput(world.other_establishment, 5)])
    with pytest.raises(DomainError, match="négatif"):
        _session(world, rows=[ParticipationInput(world.establishment, -1)])
    with pytest.raises(DomainError, match="deux fois"):
        _session(
            world,
            rows=[
                ParticipationInput(world.establishment, 1),
                ParticipationInput(world.establishment, 2),
            ],
        )
    assert not EscapeGameSession.objects.exists()


def test_update_replaces_the_rows(world):
    session = _session(world)
    services.session_update(
        actor=world.crrc_operator,
        session=session,
        host=world.establishment,
        data={**DATA, "team_count": 3},
        participations=[ParticipationInput(world.sibling, 6)],
    )
    session.refresh_from_db()
    assert session.team_count == 3
    assert session.participant_count == 6
    assert [p.organisation for p in session.participations.all()] == [world.sibling]


def test_form_errors_are_french_and_keep_the_input(world):
    client = client_for(world.trainer)
    response = client.post(
        reverse("awareness:escape_create"),
        {
            "host": world.establishment.pk,
            "facilitator_name": "Fanny",
            "scenario": "Sant'escape sécurité numérique",
            "duration_minutes": 45,
            "team_count": 1,
            "site": "Salle polyvalente",
            "part-TOTAL_FORMS": 2,
            "part-INITIAL_FORMS": 0,
            "part-0-organisation": world.establishment.pk,
            "part-0-count": -3,
        },
    )
    assert response.status_code == 400
    assert "Indiquez la date de la session" in response.text
    assert "ne peut pas être négatif" in response.text
    assert 'value="Salle polyvalente"' in response.text
    assert not EscapeGameSession.objects.exists()
    # An organisation of another region is not a choice.
    response = client.post(
        reverse("awareness:escape_create"),
        {
            "host": world.other_establishment.pk,
            "held_on": "2025-03-12",
            "facilitator_name": "Fanny",
            "scenario": "S",
            "duration_minutes": 45,
            "team_count": 1,
            "part-TOTAL_FORMS": 1,
            "part-INITIAL_FORMS": 0,
            "part-0-organisation": world.other_establishment.pk,
            "part-0-count": 3,
        },
    )
    assert response.status_code == 400
    assert "Choisissez une structure de votre région" in response.text


def test_who_sees_what(world):
    session = _session(world)
    detail = reverse("awareness:escape_detail", args=[session.pk])
    # The CRRC and the ARS see the whole session; the trainer may edit it.
    page = client_for(world.trainer).get(detail)
    assert page.status_code == 200
    assert "Modifier" in page.text
    assert "Alice" in page.text
    ars = client_for(world.ars_manager).get(detail)
    assert ars.status_code == 200
    assert "CH Voisin" in ars.text
    assert "Modifier" not in ars.text
    # The sibling's director sees the session, and only their own row.
    sibling = client_for(world.sibling_director).get(detail)
    assert sibling.status_code == 200
    assert "CH Voisin" in sibling.text
    assert "Alice" not in sibling.text
    # Staff, outsiders: refused.
    assert client_for(world.staff).get(reverse("awareness:escape_list")).status_code == 403
    assert client_for(world.outsider_trainer).get(detail).status_code == 404
    assert (
        client_for(world.director)
        .get(reverse("awareness:escape_edit", args=[session.pk]))
        .status_code
        == 403
    )


def test_list_totals_filters_export_and_query_budget(world, django_assert_max_num_queries):
    client = client_for(world.crrc_operator)
    url = reverse("awareness:escape_list")
    _session(world)
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for _ in range(3):
        _session(world)
    with django_assert_max_num_queries(len(one.captured_queries)):
        page = client.get(url)  # the number of queries does not grow with the rows
    assert page.status_code == 200
    assert "32 participants, 4 session(s)" in page.text
    sibling_view = client_for(world.sibling_director).get(url)
    assert "12 participants, 4 session(s)" in sibling_view.text
    filtered = client.get(url, {"annee": 2024})
    assert "0 participants" in filtered.text
    bad = client.get(url, {"organisation": world.other_establishment.pk, "annee": "abc"})
    assert bad.status_code == 200
    assert "Indiquez une année" in bad.text
    export = client.get(reverse("awareness:escape_export"))
    body = b"".join(export.streaming_content).decode()
    assert body.startswith("\ufeffDate;Scénario")
    assert body.count("CH Voisin") >= 4
