"""Pages of trainings, for the owner, a lesser colleague and an outsider of another region."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from rempart.events import services
from rempart.events.models import Registration, RegistrationStatus, SurveyAnswer, TrainingSession
from rempart.incidents.tests.test_declaration import pdf_text

from .factories import events_world, published_session, register, run_on_commit_now, start

pytestmark = pytest.mark.django_db


class _Undefined(str):
    def __mod__(self, other):
        # (The shared field component probes `widget.input_type`, which a textarea lacks.)
        if str(other).endswith("widget.input_type"):
            return ""
        raise AssertionError(f"Variable de gabarit indéfinie : {other}")


@pytest.fixture(autouse=True)
def strict_templates(settings):
    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "OPTIONS": {**settings.TEMPLATES[0]["OPTIONS"], "string_if_invalid": _Undefined("%s")},
        }
    ]


@pytest.fixture
def world(monkeypatch):
    run_on_commit_now(monkeypatch)
    return events_world()


@pytest.fixture
def session(world):
    return published_session(world, capacity=1)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(name, *args):
    return reverse(f"events:{name}", args=args)


# --- Who opens what ---------------------------------------------------------------------------


def test_trainer_pages(world, session):
    client = client_for(world.trainer)
    for url in (
        _url("session_list"),
        _url("session_list") + "?passees=1",
        _url("session_create"),
        _url("session_detail", session.pk),
        _url("session_edit", session.pk),
        _url("attendance", session.pk),
        _url("survey_results", session.pk),
        _url("figures"),
    ):
        assert client.get(url).status_code == 200, url
    assert client.get(_url("attendance_export", session.pk)).status_code == 200
    assert client.get(_url("figures_export")).status_code == 200
    # A trainer registers nobody: the staff page is not theirs.
    assert client.get(_url("my_staff")).status_code == 403


def test_director_pages_and_refusals(world, session):
    client = client_for(world.director)
    for url in (_url("session_list"), _url("session_detail", session.pk), _url("my_staff")):
        assert client.get(url).status_code == 200, url
    assert client.get(_url("my_staff_export")).status_code == 200
    for url in (
        _url("session_create"),
        _url("session_edit", session.pk),
        _url("attendance", session.pk),
        _url("attendance_export", session.pk),
        _url("survey_results", session.pk),
    ):
        assert client.get(url).status_code == 403, url
    response = client.get(_url("figures"))
    assert response.status_code == 403
    assert "réservés à l&#x27;ARS et au CRRC" in response.text


def test_lesser_colleague_is_refused_with_the_reason(world, session):
    client = client_for(world.staff)
    response = client.get(_url("session_list"))
    assert response.status_code == 403
    assert "réservés aux directions, RSSI et DSI" in response.text
    assert client.get(_url("session_detail", session.pk)).status_code == 403
    assert client.get(_url("my_staff")).status_code == 403
    response = client.post(
        _url("registration_create", session.pk),
        {
            "organisation": world.establishment.pk,
            "first_name": "A",
            "last_name": "B",
            "email": "a@b.fr",
        },
    )
    assert response.status_code == 403
    assert not Registration.objects.exists()


def test_outsiders_of_another_region_get_404(world, session):
    registration = register(world, session, 1).registration
    for user in (world.outsider_director, world.outsider_trainer):
        client = client_for(user)
        assert client.get(_url("session_list")).status_code == 200
        assert session.title not in client.get(_url("session_list")).text
        for url in (
            _url("session_detail", session.pk),
            _url("session_edit", session.pk),
            _url("attendance", session.pk),
            _url("attendance_export", session.pk),
            _url("survey_results", session.pk),
        ):
            assert client.get(url).status_code == 404, (user, url)
        assert client.post(_url("session_cancel", session.pk)).status_code == 404
        assert client.post(_url("registration_cancel", registration.pk)).status_code == 404
        assert client.get(_url("certificate_pdf", registration.pk)).status_code == 404
    registration.refresh_from_db()
    assert registration.status == RegistrationStatus.CONFIRMED


def test_ars_sees_sessions_and_figures_but_no_names(world, session):
    register(world, session, 1)
    client = client_for(world.ars_manager)
    response = client.get(_url("session_detail", session.pk))
    assert response.status_code == 200
    assert "personne1@ch-rivebelle.fr" not in response.text
    assert 'id="registration-form"' not in response.text
    assert client.get(_url("figures")).status_code == 200


def test_drafts_are_hidden_from_establishments(world):
    draft = services.session_create(
        actor=world.trainer,
        organiser=world.crrc,
        data={
            **{
                k: v
                for k, v in published_session(world).__dict__.items()
                if k in services.SESSION_FIELDS
            },
            "title": "Brouillon secret",
        },
    )
    assert client_for(world.director).get(_url("session_detail", draft.pk)).status_code == 404
    assert "Brouillon secret" not in client_for(world.director).get(_url("session_list")).text
    assert "Brouillon secret" in client_for(world.trainer).get(_url("session_list")).text


def test_menu_shows_trainings_only_to_who_may_use_them(world):
    assert "Formations de mes équipes" in client_for(world.director).get("/").text
    assert "Chiffres des formations" in client_for(world.ars_manager).get("/").text
    assert "/formations/" not in client_for(world.staff).get("/").text


# --- Registering ---------------------------------------------------------------------------------


def _person(world, n, **extra):
    return {
        "organisation": world.establishment.pk,
        "first_name": f"Prénom{n}",
        "last_name": f"Nom{n}",
        "email": f"personne{n}@ch-rivebelle.fr",
        "function": "Technicienne SI",
        **extra,
    }


def test_register_two_people_one_goes_to_the_waiting_list(world, session):
    client = client_for(world.director)
    response = client.post(_url("registration_create", session.pk), _person(world, 1), follow=True)
    assert "Prénom1 Nom1 est inscrit·e à la session." in response.text
    response = client.post(_url("registration_create", session.pk), _person(world, 2), follow=True)
    assert (
        "Session complète : Prénom2 Nom2 est inscrit·e en liste d&#x27;attente (position 1)."
        in response.text
    )
    assert 'id="waiting-table"' in response.text
    statuses = dict(Registration.objects.values_list("email", "status"))
    assert statuses == {
        "personne1@ch-rivebelle.fr": RegistrationStatus.CONFIRMED,
        "personne2@ch-rivebelle.fr": RegistrationStatus.WAITING,
    }


def test_double_registration_is_refused_with_the_input_kept(world, session):
    client = client_for(world.director)
    client.post(_url("registration_create", session.pk), _person(world, 1))
    response = client.post(
        _url("registration_create", session.pk),
        _person(world, 1, first_name="Jumelle", email="PERSONNE1@ch-rivebelle.fr"),
    )
    assert response.status_code == 400
    assert "une seule inscription par personne" in response.text
    assert 'value="Jumelle"' in response.text
    assert Registration.objects.count() == 1


def test_bad_registration_input_is_refused_in_french(world, session):
    client = client_for(world.director)
    response = client.post(
        _url("registration_create", session.pk),
        {"organisation": world.other_establishment.pk, "first_name": "", "email": "pas-un-mail"},
    )
    assert response.status_code == 400
    assert "Choisissez l&#x27;une de vos structures" in response.text
    assert "Indiquez le prénom" in response.text
    assert "adresse électronique valide" in response.text
    assert not Registration.objects.exists()


def test_cancel_promotes_and_says_so(world, session):
    first = register(world, session, 1).registration
    register(world, session, 2)
    response = client_for(world.rssi).post(_url("registration_cancel", first.pk), follow=True)
    assert "Prénom2 Nom2 quitte la liste d&#x27;attente" in response.text
    # A second cancel is refused with a message, nothing changes.
    response = client_for(world.rssi).post(_url("registration_cancel", first.pk), follow=True)
    assert "déjà annulée" in response.text


def test_get_never_writes(world, session):
    client = client_for(world.trainer)
    before = TrainingSession.objects.get(pk=session.pk).updated_at
    for name in ("session_publish", "session_cancel", "registration_create"):
        assert client.get(_url(name, session.pk)).status_code == 405
    assert TrainingSession.objects.get(pk=session.pk).updated_at == before


# --- Trainer -------------------------------------------------------------------------------------


def test_trainer_creates_publishes_and_form_errors_keep_the_input(world):
    client = client_for(world.trainer)
    data = {
        "organiser": world.crrc.pk,
        "kind": "webinar",
        "programme": "Webinaires régionaux",
        "title": "Webinaire : sauvegardes 3-2-1-1-0",
        "audience": ["it_teams", "medico_social"],
        "day": "2031-05-12",
        "start_time": "14:00",
        "end_time": "13:00",
        "location": "",
        "online_url": "",
        "capacity": "-3",
    }
    response = client.post(_url("session_create"), data)
    assert response.status_code == 400
    assert "L&#x27;heure de fin doit suivre" in response.text
    assert "lien de connexion pour une session en ligne" in response.text
    assert "au moins 1" in response.text
    assert 'value="Webinaire : sauvegardes 3-2-1-1-0"' in response.text
    assert 'id="audience-medico_social" value="medico_social" checked' in response.text
    assert not TrainingSession.objects.exists()
    data.update(end_time="15:30", online_url="https://visio.exemple.fr/w", capacity="100")
    response = client.post(_url("session_create"), data)
    session = TrainingSession.objects.get()
    assert response.status_code == 302
    assert session.status == "draft"
    assert session.audience == ["it_teams", "medico_social"]
    response = client.post(_url("session_publish", session.pk), follow=True)
    assert "La session est publiée" in response.text
    # Another region's CRRC is not a choice.
    response = client.post(_url("session_create"), {**data, "organiser": world.other_crrc.pk})
    assert response.status_code == 400
    assert "Choisissez un CRRC de votre région" in response.text


def test_attendance_survey_and_average(world, session, client):
    session = TrainingSession.objects.get(pk=session.pk)
    registration = register(world, session, 1).registration
    trainer = client_for(world.trainer)
    response = trainer.post(_url("attendance", session.pk), {"present": [registration.pk]})
    assert response.status_code == 400
    assert "une fois la session commencée" in response.text
    start(session)
    response = trainer.post(_url("attendance", session.pk), {"present": ["x"]})
    assert response.status_code == 400
    mail.outbox.clear()
    response = trainer.post(
        _url("attendance", session.pk), {"present": [registration.pk]}, follow=True
    )
    assert "1 présent·e(s) sur 1" in response.text
    token = re.search(r"/formations/questionnaire/([^/\s]+)/", mail.outbox[0].body).group(1)
    survey_url = _url("survey", token)

    # Public page: no account; GET writes nothing.
    anonymous = Client()
    response = anonymous.get(survey_url)
    assert response.status_code == 200
    assert session.title in response.text
    assert response["X-Robots-Tag"] == "noindex"
    assert not SurveyAnswer.objects.exists()
    response = anonymous.post(survey_url, {"score": "11"})
    assert response.status_code == 400
    assert "Choisissez une note de 0 à 10" in response.text
    response = anonymous.post(survey_url, {"score": "9", "comment": "Très concret"})
    assert "Merci" in response.text
    response = anonymous.post(survey_url, {"score": "1", "comment": "Autre avis"})
    assert response.status_code == 409
    assert "première réponse est conservée" in response.text
    assert SurveyAnswer.objects.get().score == 9
    assert anonymous.get(_url("survey", "forged:token:x")).status_code == 404

    response = trainer.get(_url("survey_results", session.pk))
    assert "Satisfaction moyenne : 9,00/10" in response.text
    assert "Très concret" in response.text
    response = client_for(world.ars_manager).get(_url("figures"))
    assert 'id="overall-satisfaction">9,00/10' in response.text


def test_certificate_only_for_people_present(world, session):
    registration = register(world, session, 1).registration
    director = client_for(world.director)
    assert director.get(_url("certificate_pdf", registration.pk)).status_code == 403
    start(session)
    services.attendance_record(actor=world.trainer, session=session, present_ids={registration.pk})
    response = director.get(_url("certificate_pdf", registration.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    assert "Attestation de présence" in text
    assert "Prénom1 Nom1" in text
    assert "Rançongiciel : détecter et réagir" in text
    assert "CRRC Rivebelle" in text
    # Another establishment of the region does not get it.
    assert (
        client_for(world.sibling_director).get(_url("certificate_pdf", registration.pk)).status_code
        == 404
    )
    # The staff page lists it, with the download link.
    response = director.get(_url("my_staff"))
    assert _url("certificate_pdf", registration.pk) in response.text


def test_attendance_sheet_csv_is_formula_safe(world, session):
    services.registration_create(
        actor=world.director,
        session=session,
        organisation=world.establishment,
        first_name="=HYPERLINK()",
        last_name="Nom",
        email="f@ch.fr",
        function="+cmd",
    )
    response = client_for(world.trainer).get(_url("attendance_export", session.pk))
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeffNom;Prénom;Courriel")
    assert "'=HYPERLINK()" in body
    assert "'+cmd" in body


# --- Query budgets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["trainer", "director"])
def test_list_pages_keep_a_query_budget(world, user, django_assert_max_num_queries):
    for n in range(12):
        session = published_session(world, capacity=3, title=f"Session {n}")
        register(world, session, n)
    client = client_for(getattr(world, user))
    with django_assert_max_num_queries(12):
        assert client.get(_url("session_list")).status_code == 200
    if user == "director":
        with django_assert_max_num_queries(12):
            assert client.get(_url("my_staff")).status_code == 200
    else:
        with django_assert_max_num_queries(16):
            assert client.get(_url("figures")).status_code == 200
