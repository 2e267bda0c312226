"""Evidence: SHA-256 kept, type checked by content, size limit, expiry flagged, download only
through the authorised view and only for the assessment's readers."""

from __future__ import annotations

import datetime
import hashlib
import html

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from rempart.assessments import services
from rempart.assessments.models import Evidence, RequirementNode
from rempart.core.errors import DomainError

from .factories import assessments_world, small_questionnaire
from .test_views import client_for

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def world():
    return assessments_world()


@pytest.fixture
def assessment(world):
    return services.start_assessment(
        actor=world.rssi, organisation=world.establishment, questionnaire=small_questionnaire()
    ).assessment


def pdf(name="nomination.pdf", content=PDF):
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def test_upload_keeps_the_hash_and_a_random_name(world, assessment):
    node = RequirementNode.objects.get(questionnaire=assessment.questionnaire, ref_id="G1")
    evidence = services.add_evidence(
        actor=world.rssi,
        assessment=assessment,
        upload=pdf(),
        title="Lettre de nomination du RSSI",
        effective_on=datetime.date(2025, 1, 1),
        node=node,
    )
    assert evidence.sha256 == hashlib.sha256(PDF).hexdigest()
    assert evidence.original_name == "nomination.pdf"
    assert "nomination" not in evidence.file.name
    assert evidence.content_type == "application/pdf"


def test_type_checked_by_content_and_size(world, assessment, settings):
    with pytest.raises(DomainError, match="ne correspond pas"):
        services.add_evidence(
            actor=world.rssi,
            assessment=assessment,
            upload=pdf(content=b"MZ\x90\x00 not a pdf at all"),
            title="Faux PDF",
            effective_on=datetime.date(2025, 1, 1),
        )
    with pytest.raises(DomainError, match="type accepté"):
        services.add_evidence(
            actor=world.rssi,
            assessment=assessment,
            upload=SimpleUploadedFile("outil.exe", b"MZ\x90\x00"),
            title="Exécutable",
            effective_on=datetime.date(2025, 1, 1),
        )
    settings.REMPART_UPLOAD_MAX_BYTES = 20
    with pytest.raises(DomainError, match="taille maximale"):
        services.add_evidence(
            actor=world.rssi,
            assessment=assessment,
            upload=pdf(),
            title="Trop gros",
            effective_on=datetime.date(2025, 1, 1),
        )
    assert not Evidence.objects.exists()


def test_page_refuses_a_bad_file_with_a_message(world, assessment):
    response = client_for(world.rssi).post(
        reverse("assessments:evidence_add", args=[assessment.pk]),
        {
            "title": "Faux",
            "effective_on": "2025-01-01",
            "file": SimpleUploadedFile("x.pdf", b"not a pdf"),
        },
    )
    assert response.status_code == 400
    assert "ne correspond pas" in html.unescape(response.content.decode())
    assert not Evidence.objects.exists()


def test_expired_evidence_is_flagged_on_page_and_results(world, assessment):
    today = timezone.localdate()
    services.add_evidence(
        actor=world.rssi,
        assessment=assessment,
        upload=pdf(),
        title="Rapport d'audit 2023",
        effective_on=today - datetime.timedelta(days=700),
        expires_on=today - datetime.timedelta(days=1),
    )
    services.add_evidence(
        actor=world.rssi,
        assessment=assessment,
        upload=pdf("pca.pdf"),
        title="PCA à jour",
        effective_on=today,
        expires_on=today + datetime.timedelta(days=365),
    )
    client = client_for(world.rssi)
    page = html.unescape(
        client.get(reverse("assessments:answer", args=[assessment.pk])).content.decode()
    )
    assert page.count("expirée</p>") == 1
    results = html.unescape(
        client.get(reverse("assessments:results", args=[assessment.pk])).content.decode()
    )
    assert 'id="expired-evidence"' in results
    assert "Rapport d'audit 2023" in results
    assert "PCA à jour" not in results.split('id="expired-evidence"')[1].split("</div>")[0]
    with pytest.raises(DomainError, match="expiration"):
        services.add_evidence(
            actor=world.rssi,
            assessment=assessment,
            upload=pdf(),
            title="Incohérente",
            effective_on=today,
            expires_on=today - datetime.timedelta(days=1),
        )


def test_download_scoped_to_the_readers(world, assessment):
    evidence = services.add_evidence(
        actor=world.rssi,
        assessment=assessment,
        upload=pdf(),
        title="Charte",
        effective_on=datetime.date(2025, 1, 1),
    )
    url = reverse("assessments:evidence_download", args=[assessment.pk, evidence.pk])
    response = client_for(world.director).get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert "attachment" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert client_for(world.sibling_rssi).get(url).status_code == 404
    assert client_for(world.outsider_ars).get(url).status_code == 404
    assert client_for(world.staff).get(url).status_code == 403
    assert client_for(world.ars_manager).get(url).status_code == 403  # answers not shared
    services.set_sharing(actor=world.rssi, assessment=assessment, shared=True)
    assert client_for(world.ars_manager).get(url).status_code == 200
    # An evidence id under another assessment's URL: not found.
    other = services.start_assessment(
        actor=world.sibling_rssi,
        organisation=world.sibling,
        questionnaire=assessment.questionnaire,
    ).assessment
    wrong = reverse("assessments:evidence_download", args=[other.pk, evidence.pk])
    assert client_for(world.sibling_rssi).get(wrong).status_code == 404
    # The storage path is never a public URL: the page links to the view only.
    page = client_for(world.rssi).get(reverse("assessments:answer", args=[assessment.pk]))
    assert evidence.file.name not in page.content.decode()


def test_delete_evidence(world, assessment):
    evidence = services.add_evidence(
        actor=world.rssi,
        assessment=assessment,
        upload=pdf(),
        title="Charte",
        effective_on=datetime.date(2025, 1, 1),
    )
    url = reverse("assessments:evidence_delete", args=[assessment.pk, evidence.pk])
    assert client_for(world.sibling_rssi).post(url).status_code == 404
    assert client_for(world.staff).post(url).status_code == 403
    assert Evidence.objects.filter(pk=evidence.pk).exists()
    assert client_for(world.rssi).post(url).status_code == 302
    assert not Evidence.objects.filter(pk=evidence.pk).exists()
