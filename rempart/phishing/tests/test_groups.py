"""Recipient groups after their import: renaming, deleting (never leaving a campaign being
prepared without recipients), removing one person; only the establishment that runs its
campaigns may do it, every change is audited without naming the person removed."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from rempart.core.models import AuditEntry
from rempart.phishing import services
from rempart.phishing.models import (
    Campaign,
    CampaignRecipient,
    Recipient,
    RecipientGroup,
)

from .factories import group_with, phishing_world, sent_campaign

pytestmark = pytest.mark.django_db

EMAILS = ["ana@ch-test.fr", "bob@ch-test.fr", "cleo@ch-test.fr"]


@pytest.fixture
def world():
    return phishing_world()


@pytest.fixture
def group(world):
    return group_with(world.rssi, world.hospital, EMAILS)


def as_(client, user):
    client.force_login(user)
    return client


def entries(group):
    return AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(RecipientGroup), object_pk=str(group.pk)
    )


def test_rename_and_a_name_already_taken(client, world, group):
    other = group_with(world.rssi, world.hospital, [], name="Direction")
    page = as_(client, world.rssi).get(reverse("phishing:group_detail", args=[group.pk]))
    assert reverse("phishing:group_rename", args=[group.pk]) in page.content.decode()
    url = reverse("phishing:group_rename", args=[group.pk])
    response = client.post(url, {"name": "Soignants 2027"})
    assert response.status_code == 302
    group.refresh_from_db()
    assert group.name == "Soignants 2027"
    assert entries(group).filter(action=AuditEntry.Action.UPDATE).exists()
    # A name already used in the establishment (whatever the case): refused, nothing changes.
    refused = client.post(url, {"name": other.name.upper()})
    assert refused.status_code == 400
    assert "existe déjà" in refused.content.decode()
    group.refresh_from_db()
    assert group.name == "Soignants 2027"


def test_delete_removes_the_list_but_not_the_campaigns_already_sent(client, world, group):
    campaign, _people = sent_campaign(world, {"Urgences": 5})
    campaign.groups.add(group)
    url = reverse("phishing:group_delete", args=[group.pk])
    confirm = as_(client, world.rssi).get(url)
    assert "3 destinataire(s)" in confirm.content.decode()
    response = client.post(url)
    assert response.status_code == 302
    assert not RecipientGroup.objects.filter(pk=group.pk).exists()
    assert not Recipient.objects.filter(email__in=EMAILS).exists()
    # The campaign keeps its recipients and results.
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 5
    assert entries(group).filter(action=AuditEntry.Action.DELETE).exists()


def test_a_draft_campaign_is_never_left_without_recipients(client, world, group):
    draft = Campaign.objects.create(
        organisation=world.hospital,
        operator=world.hospital,
        mode="autonomous",
        name="En préparation",
        created_by=world.rssi,
    )
    draft.groups.add(group)
    response = as_(client, world.rssi).post(reverse("phishing:group_delete", args=[group.pk]))
    assert response.status_code == 400
    assert "« En préparation »" in response.content.decode()
    assert RecipientGroup.objects.filter(pk=group.pk).exists()
    # With another group, the draft simply loses this one.
    draft.groups.add(group_with(world.rssi, world.hospital, ["dan@ch-test.fr"], name="Autres"))
    assert client.post(reverse("phishing:group_delete", args=[group.pk])).status_code == 302
    assert list(draft.groups.values_list("name", flat=True)) == ["Autres"]


def test_remove_one_person_audited_without_naming_them(client, world, group):
    bob = group.recipients.get(email="bob@ch-test.fr")
    url = reverse("phishing:recipient_remove", args=[group.pk, bob.pk])
    assert as_(client, world.rssi).get(url).status_code == 405
    response = client.post(url)
    assert response.status_code == 302
    assert sorted(group.recipients.values_list("email", flat=True)) == [
        "ana@ch-test.fr",
        "cleo@ch-test.fr",
    ]
    entry = entries(group).filter(actor=world.rssi).latest("pk")
    assert "bob" not in str(entry.changes).lower()
    # Twice: a clear message, nothing else removed.
    again = client.post(url, follow=True)
    assert "plus dans le groupe" in again.content.decode()
    assert group.recipients.count() == 2


def test_a_person_of_another_group_cannot_be_removed_through_this_one(client, world, group):
    other = group_with(world.rssi, world.hospital, ["eve@ch-test.fr"], name="Autres")
    eve = other.recipients.get()
    url = reverse("phishing:recipient_remove", args=[group.pk, eve.pk])
    as_(client, world.rssi).post(url)
    assert other.recipients.filter(pk=eve.pk).exists()


@pytest.mark.parametrize("who", ["staff", "crrc_operator", "outsider_rssi", "ars_manager"])
def test_only_the_establishment_changes_its_groups(client, world, group, who):
    ana = group.recipients.get(email="ana@ch-test.fr")
    as_(client, getattr(world, who))
    for url, data in (
        (reverse("phishing:group_rename", args=[group.pk]), {"name": "Piraté"}),
        (reverse("phishing:group_delete", args=[group.pk]), {}),
        (reverse("phishing:recipient_remove", args=[group.pk, ana.pk]), {}),
    ):
        assert client.post(url, data).status_code in (403, 404), url
    group.refresh_from_db()
    assert group.name == "Tous les personnels"
    assert group.recipients.count() == 3


def test_services_refuse_someone_else_directly(world, group):
    from rempart.core.errors import DomainError

    with pytest.raises(DomainError) as refused:
        services.group_rename(actor=world.outsider_rssi, group=group, name="X")
    assert refused.value.code == "forbidden"
