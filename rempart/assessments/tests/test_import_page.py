"""The RSSI imports a referential they already use (CISO Assistant format) from the page: it
becomes their organisation's questionnaire; a broken file lists its problems and loads nothing."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from rempart.assessments.models import Questionnaire

from .factories import assessments_world

pytestmark = pytest.mark.django_db
DATA = Path(__file__).resolve().parent / "data"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def upload(client, organisation, name: str, content: bytes):
    return client.post(
        reverse("assessments:questionnaire_import"),
        {"organisation": organisation.pk, "file": SimpleUploadedFile(name, content)},
    )


def test_a_ciso_assistant_file_becomes_the_organisations_questionnaire():
    w = assessments_world()
    content = (DATA / "ciso_assistant_sample.yaml").read_bytes()
    response = upload(client_for(w.rssi), w.establishment, "referentiel.yaml", content)
    assert response.status_code == 302
    imported = Questionnaire.objects.get(organisation=w.establishment)
    assert imported.source_format == "ciso_assistant"
    assert imported.questions.exists()
    home = client_for(w.rssi).get(reverse("assessments:home")).content.decode()
    assert html.escape(imported.name) in home
    # The sibling establishment never sees it.
    sibling_home = client_for(w.sibling_rssi).get(reverse("assessments:home")).content.decode()
    assert html.escape(imported.name) not in sibling_home


def test_a_broken_file_lists_its_problems_with_their_lines_and_loads_nothing():
    w = assessments_world()
    content = (DATA / "broken.yaml").read_bytes()
    response = upload(client_for(w.rssi), w.establishment, "casse.yaml", content)
    assert response.status_code == 400
    body = html.unescape(response.content.decode())
    assert "rien n'a été importé" in body
    assert 'id="problem-table"' in body
    assert not Questionnaire.objects.filter(organisation=w.establishment).exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("referentiel.pdf", b"%PDF-1.4", "extension .yaml ou .yml"),
        ("referentiel.yaml", b"\xff\xfe\x00", "pas un texte UTF-8"),
    ],
)
def test_a_file_that_is_not_yaml_is_refused_with_what_to_do(name, content, message):
    w = assessments_world()
    response = upload(client_for(w.rssi), w.establishment, name, content)
    assert response.status_code == 400
    assert message in html.unescape(response.content.decode())


def test_staff_and_regional_roles_cannot_import_and_outsiders_get_404():
    w = assessments_world()
    content = (DATA / "ciso_assistant_sample.yaml").read_bytes()
    assert upload(client_for(w.staff), w.establishment, "r.yaml", content).status_code == 403
    assert upload(client_for(w.ars_manager), w.establishment, "r.yaml", content).status_code == 403
    assert (
        upload(client_for(w.outsider_rssi), w.establishment, "r.yaml", content).status_code == 404
    )
    assert not Questionnaire.objects.filter(organisation=w.establishment).exists()
