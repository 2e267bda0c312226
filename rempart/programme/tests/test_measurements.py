"""Platform measurements: who records them (followup_perms), what is checked, the single entry
point used by the platform's modules, and the organisation's measurements page."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from rempart.core.errors import DomainError
from rempart.core.models import AuditEntry
from rempart.core.roles import OrgKind, Role
from rempart.organisations.tests.factories import OrganisationFactory, member
from rempart.programme import measurement_services
from rempart.programme.followup_perms import can_record_measurement
from rempart.programme.models import Measurement, PlatformMeasurement

from .factories import establishment, legal_entity, pdf_upload
from .test_declarations import *  # noqa: F403  (the fixtures of the world)
from .test_declarations import days, plain, travel

pytestmark = pytest.mark.django_db


def record(organisation, by, **changes):
    values = {
        "kind": Measurement.DIRECTORY_AUDIT_LEVEL,
        "level": 3,
        "result": "Niveau 3 atteint",
        "measured_on": days(-3),
        "source": "ANSSI — service ADS (collecteur ORADAD)",
    }
    values.update(changes)
    return measurement_services.record_measurement(
        organisation=organisation, recorded_by=by, **values
    )


# --- Who records ----------------------------------------------------------------------------------


def test_who_records_a_measurement(region, other_region, orgs, manager, crrc, rssi, far_manager):
    tilleuls = legal_entity(region, "Association Les Tilleuls")
    clinique = establishment(region, "Clinique des Tilleuls", "3000000", legal_entity=tilleuls)
    voiron, grenoble, lyon = orgs["voiron"], orgs["grenoble"], orgs["lyon"]
    coordinator = member(Role.GHT_COORDINATOR, orgs["ght"])
    ej_director = member(Role.DIRECTOR, tilleuls)
    dsi = member(Role.DSI, clinique)
    learner = member(Role.STAFF, voiron)
    oncall = member(Role.CRRC_ONCALL, orgs["crrc"])
    national = member(
        Role.NATIONAL_OBSERVER,
        OrganisationFactory(
            kind=OrgKind.NATIONAL, name="ANS", region=None, departement=None, finess=None, sector=""
        ),
    )
    far_establishment = establishment(other_region, "CH Créteil", "3000000")

    expectations = [
        # APPLY_FUNDING in the organisation, its legal entity or its GHT
        (rssi, voiron, True),
        (rssi, grenoble, False),
        (rssi, orgs["ght"], False),
        (coordinator, orgs["ght"], True),
        (coordinator, grenoble, True),
        (coordinator, lyon, False),
        (ej_director, clinique, True),
        (ej_director, tilleuls, True),
        (ej_director, voiron, False),
        (dsi, clinique, True),
        (dsi, tilleuls, False),
        # the region's programme operators
        (manager, voiron, True),
        (manager, lyon, True),
        (crrc, orgs["ght"], True),
        (crrc, clinique, True),
        (manager, far_establishment, False),
        (far_manager, voiron, False),
        (far_manager, far_establishment, True),
        # neither learners, on-call experts (no VIEW_PROGRAMME) nor national observers
        (learner, voiron, False),
        (oncall, voiron, False),
        (national, voiron, False),
    ]
    for person, organisation, expected in expectations:
        assert can_record_measurement(person, organisation) is expected, (
            person.memberships.get().role,
            organisation.name,
        )


def test_people_without_the_right_are_refused(orgs, stranger):
    with pytest.raises(DomainError) as refused:
        record(orgs["voiron"], stranger)
    assert refused.value.code == "forbidden"
    assert "CH Voiron" in refused.value.message
    assert not PlatformMeasurement.objects.exists()


# --- What is recorded -----------------------------------------------------------------------------


def test_a_person_records_with_a_report_audited(orgs, rssi):
    measurement = record(
        orgs["voiron"],
        rssi,
        report=pdf_upload("rapport-ads.pdf"),
        details={"note": "Collecte ORADAD du 2 mars"},
    )
    measurement.refresh_from_db()
    assert measurement.recorded_by == rssi
    assert measurement.level == 3
    assert measurement.report_name == "rapport-ads.pdf"
    assert measurement.report.name.startswith("prive/programme/platformmeasurement/")
    assert measurement.details == {"note": "Collecte ORADAD du 2 mars"}
    assert AuditEntry.objects.filter(
        content_type__model="platformmeasurement",
        object_pk=str(measurement.pk),
        organisation_id=orgs["voiron"].pk,
    ).exists()


def test_platform_modules_record_without_a_person(orgs):
    measurement = record(
        orgs["grenoble"],
        None,
        kind=Measurement.EXPOSURE_SCAN,
        level=2,
        result="2 services exposés",
        source="Rempart — veille d'exposition",
        details={"services": ["rdp", "smb"], "ports": [3389, 445]},
    )
    assert measurement.recorded_by is None
    assert measurement.details["ports"] == [3389, 445]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"kind": "inconnu"}, "kind", "Choisissez la nature de la mesure."),
        ({"level": 0}, "level", "Le niveau va de 1 à 5."),
        ({"level": 6}, "level", "Le niveau va de 1 à 5."),
        ({"level": "trois"}, "level", "Le niveau va de 1 à 5."),
        ({"result": "   "}, "result", "Indiquez le résultat."),
        ({"result": "x" * 256}, "result", "ne doit pas dépasser 255 caractères"),
        ({"source": ""}, "source", "Indiquez la source de la mesure."),
        ({"measured_on": None}, "measured_on", "Indiquez la date de la mesure."),
        ({"measured_on": "2025-01-01"}, "measured_on", "Indiquez la date de la mesure."),
        ({"measured_on": days(1)}, "measured_on", "ne peut pas être dans le futur"),
        ({"details": ["pas", "un", "dict"]}, "details", "dictionnaire"),
        ({"details": {"quand": datetime.date(2025, 1, 1)}}, "details", "JSON"),
    ],
)
def test_bad_inputs_are_refused(orgs, rssi, changes, field, message):
    with pytest.raises(DomainError) as refused:
        record(orgs["voiron"], rssi, **changes)
    assert refused.value.field == field
    assert message in refused.value.message
    assert not PlatformMeasurement.objects.exists()


def test_today_is_accepted_and_level_is_optional(orgs, rssi, monkeypatch):
    today = days(0)
    travel(monkeypatch, today)
    measurement = record(
        orgs["voiron"], rssi, kind=Measurement.CRISIS_EXERCISE, level="", measured_on=today
    )
    assert measurement.level is None
    assert measurement.measured_on == today


def test_a_bad_report_and_a_non_hospital_organisation_are_refused(orgs, rssi, manager):
    fake = SimpleUploadedFile("rapport.exe", b"MZ\x90\x00", content_type="application/pdf")
    with pytest.raises(DomainError) as refused:
        record(orgs["voiron"], rssi, report=fake)
    assert refused.value.code == "file_type"
    assert refused.value.field == "report"
    with pytest.raises(DomainError) as refused:
        record(orgs["ars"], manager)
    assert "établissement, une entité juridique ou un GHT" in refused.value.message
    assert not PlatformMeasurement.objects.exists()


def test_latest_by_kind(orgs):
    record(orgs["voiron"], None, measured_on=days(-30), result="Niveau 2", level=2)
    record(orgs["voiron"], None, measured_on=days(-3), result="Niveau 4", level=4)
    record(orgs["voiron"], None, kind=Measurement.RESTORATION_TEST, level=None, result="OK")
    latest = measurement_services.latest_by_kind(orgs["voiron"])
    assert [(m.kind, m.result) for m in latest] == [
        (Measurement.DIRECTORY_AUDIT_LEVEL, "Niveau 4"),
        (Measurement.RESTORATION_TEST, "OK"),
    ]


# --- The page -------------------------------------------------------------------------------------


def test_page_lists_and_records(client, orgs, rssi):
    record(orgs["voiron"], None, result="Niveau 2 mesuré par le module", level=2)
    url = reverse("programme:measurements", args=[orgs["voiron"].pk])
    client.force_login(rssi)
    page = client.get(url)
    assert page.status_code == 200
    text = plain(page.text)
    assert "Niveau 2 mesuré par le module" in text
    assert "Module de la plateforme" in text
    assert "Enregistrer une mesure" in text

    response = client.post(
        url,
        {
            "kind": Measurement.RESTORATION_TEST,
            "level": "",
            "result": "Restauration du DPI en 5 h",
            "measured_on": days(-2).isoformat(),
            "source": "Test de restauration interne",
            "note": "Sauvegarde hors ligne",
            "report": pdf_upload("pv-restauration.pdf"),
        },
    )
    assert response.status_code == 302
    assert response["Location"] == url
    measurement = PlatformMeasurement.objects.get(result="Restauration du DPI en 5 h")
    assert measurement.recorded_by == rssi
    assert measurement.details == {"note": "Sauvegarde hors ligne"}
    page = client.get(url)
    assert "Mesure enregistrée." in plain(page.text)

    download = client.get(
        reverse("programme:measurement_report", args=[orgs["voiron"].pk, measurement.pk])
    )
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    assert "pv-restauration.pdf" in download["Content-Disposition"]
    assert download["X-Content-Type-Options"] == "nosniff"
    assert b"".join(download.streaming_content).startswith(b"%PDF")


def test_page_errors_keep_the_input(client, orgs, rssi):
    url = reverse("programme:measurements", args=[orgs["voiron"].pk])
    client.force_login(rssi)
    response = client.post(
        url,
        {
            "kind": Measurement.DIRECTORY_AUDIT_LEVEL,
            "level": "3",
            "result": "Niveau 3 prévu",
            "measured_on": days(5).isoformat(),
            "source": "ANSSI — service ADS (collecteur ORADAD)",
        },
    )
    assert response.status_code == 400
    text = plain(response.text)
    assert "ne peut pas être dans le futur" in text
    assert 'value="Niveau 3 prévu"' in text
    assert not PlatformMeasurement.objects.exists()


def test_page_visibility_and_recording_rights(client, orgs, rssi, stranger, crrc, far_manager):
    measurement = record(orgs["voiron"], None, report=pdf_upload("r.pdf"))
    url = reverse("programme:measurements", args=[orgs["voiron"].pk])
    report_url = reverse("programme:measurement_report", args=[orgs["voiron"].pk, measurement.pk])
    data = {
        "kind": Measurement.CRISIS_EXERCISE,
        "result": "Exercice joué",
        "measured_on": days(-1).isoformat(),
        "source": "Exercice de crise (RETEX)",
    }
    # another establishment of the region, another region's ARS: nothing to see
    for person in (stranger, far_manager):
        client.force_login(person)
        assert client.get(url).status_code == 404
        assert client.post(url, data).status_code == 404
        assert client.get(report_url).status_code == 404
    # the measurement read through another organisation's page: 404
    client.force_login(stranger)
    assert (
        client.get(
            reverse("programme:measurement_report", args=[orgs["lyon"].pk, measurement.pk])
        ).status_code
        == 404
    )
    # a learner sees their establishment but does not record
    learner = member(Role.STAFF, orgs["voiron"])
    client.force_login(learner)
    page = client.get(url)
    assert page.status_code == 200
    assert "Enregistrer une mesure" not in page.text
    response = client.post(url, data)
    assert response.status_code == 403
    assert "Vous ne pouvez pas enregistrer de mesure pour CH Voiron." in plain(response.text)
    # the CRRC records
    client.force_login(crrc)
    assert client.post(url, data).status_code == 302
    assert PlatformMeasurement.objects.filter(recorded_by=crrc).count() == 1
    client.logout()
    assert client.get(url).status_code == 302
