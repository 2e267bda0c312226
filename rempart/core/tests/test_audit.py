"""The audit trail: who changed what, when, in which organisation, before and after; read
with the same scoping as the data."""

import csv
import io

import pytest
from auditlog.context import set_actor
from django.urls import reverse

from rempart.core.models import AuditEntry
from rempart.core.roles import OrgKind, Role
from rempart.organisations import services
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    region_a, region_b = RegionFactory(code="84"), RegionFactory(code="11")
    ars_a = OrganisationFactory(
        kind=OrgKind.ARS, region=region_a, finess=None, sector="", name="ARS A"
    )
    hospital_a = OrganisationFactory(region=region_a, name="CH Alpha")
    other_a = OrganisationFactory(region=region_a, name="CH Gamma")
    hospital_b = OrganisationFactory(region=region_b, name="CH Bêta")
    return {
        "ars_manager": member(Role.ARS_MANAGER, ars_a),
        "rssi_a": member(Role.RSSI, hospital_a),
        "staff_a": member(Role.STAFF, hospital_a),
        "rssi_b": member(Role.RSSI, hospital_b),
        "hospital_a": hospital_a,
        "other_a": other_a,
        "hospital_b": hospital_b,
    }


def test_web_update_records_actor_ip_organisation_and_before_after(client, world):
    hospital = world["hospital_a"]
    client.force_login(world["rssi_a"])
    client.post(
        reverse("organisations:edit", args=[hospital.pk]),
        {"name": "CH Alpha-Nord", "beds": "120"},
        REMOTE_ADDR="10.1.2.3",
    )
    entry = AuditEntry.objects.filter(
        content_type__model="organisation", object_id=hospital.pk
    ).latest("timestamp")
    assert entry.action == AuditEntry.Action.UPDATE
    assert entry.actor == world["rssi_a"]
    assert entry.remote_addr == "10.1.2.3"
    assert entry.organisation_id == hospital.pk
    assert entry.timestamp is not None
    assert entry.changes_dict["name"] == ["CH Alpha", "CH Alpha-Nord"]
    assert entry.changes_dict["beds"] == ["None", "120"]


def test_create_and_delete_are_recorded_with_their_organisation(world):
    rssi = world["rssi_a"]
    with set_actor(rssi):
        invitation = services.invitation_create(
            actor=rssi, organisation=world["hospital_a"], email="x@a.fr", role=Role.STAFF
        )
        invitation_pk = invitation.pk
        invitation.delete()
    created = AuditEntry.objects.get(
        content_type__model="invitation", object_id=invitation_pk, action=AuditEntry.Action.CREATE
    )
    deleted = AuditEntry.objects.get(
        content_type__model="invitation", object_id=invitation_pk, action=AuditEntry.Action.DELETE
    )
    for entry in (created, deleted):
        assert entry.actor == rssi
        assert entry.organisation_id == world["hospital_a"].pk
    assert created.changes_dict["email"] == ["None", "x@a.fr"]


def test_secrets_never_enter_the_trail(world):
    user = world["rssi_a"]
    user.set_password("un-autre-mot-de-passe-long")
    user.save()
    for entry in AuditEntry.objects.filter(content_type__model__in=["user", "authenticator"]):
        assert "password" not in entry.changes_dict
        assert "data" not in entry.changes_dict


def _visible_org_ids(client, person):
    client.force_login(person)
    response = client.get(reverse("core:audit_export"))
    assert response.status_code == 200
    rows = list(
        csv.reader(
            io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig")), delimiter=";"
        )
    )
    return rows[0], {row[7] for row in rows[1:]}


def test_scoping_region_establishment_and_learner(client, world):
    header, organisations = _visible_org_ids(client, world["ars_manager"])
    assert header[:4] == ["date", "acteur", "adresse IP", "action"]
    assert {"CH Alpha", "CH Gamma"} <= organisations
    assert "CH Bêta" not in organisations
    _, organisations = _visible_org_ids(client, world["rssi_a"])
    assert organisations == {"CH Alpha"}
    client.force_login(world["staff_a"])
    assert client.get(reverse("core:audit")).status_code == 404
    assert client.get(reverse("core:audit_export")).status_code == 404


def test_audit_page_filters_and_foreign_organisation(client, world):
    client.force_login(world["rssi_a"])
    page = client.get(reverse("core:audit"), {"organisation": world["hospital_a"].pk, "action": 0})
    assert page.status_code == 200
    assert "CH Alpha" in page.text
    assert (
        client.get(reverse("core:audit"), {"organisation": world["hospital_b"].pk}).status_code
        == 404
    )
    page = client.get(reverse("core:audit"), {"since": "2026-05-02", "until": "2026-05-01"})
    assert page.status_code == 200
    assert "postérieure" in page.text


def test_csv_export_neutralises_formulas(client, world):
    hospital = world["hospital_a"]
    client.force_login(world["rssi_a"])
    client.post(
        reverse("organisations:edit", args=[hospital.pk]), {"name": '=HYPERLINK("http://x")'}
    )
    content = b"".join(client.get(reverse("core:audit_export")).streaming_content).decode(
        "utf-8-sig"
    )
    assert "'=HYPERLINK" in content
    assert ";=HYPERLINK" not in content
