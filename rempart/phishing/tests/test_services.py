"""Services and permissions of simulated phishing: owner, colleague with a lesser role (staff),
outsider of another region, CRRC with and without a valid mandate, the ARS."""

import datetime

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.models import AuditEntry
from rempart.phishing import perms, selectors, services, templating
from rempart.phishing.models import (
    Campaign,
    CampaignMode,
    CampaignRecipient,
    CampaignStatus,
    EventKind,
    ImportStatus,
    PrivacyMode,
    Recipient,
    SendingProfile,
    TrackingEvent,
)

from .factories import group_with, landing, mandate, phishing_world, profile, template

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return phishing_world()


def ready_campaign(world, actor, organisation=None, mandate_=None, **extra):
    operator = mandate_.crrc if mandate_ else organisation
    target = mandate_.establishment if mandate_ else organisation
    now = timezone.now()
    data = {
        "name": "Campagne d'automne",
        "templates": [template(actor, operator)],
        "landing_page": landing(actor, operator),
        "sending_profile": profile(actor, operator),
        "groups": [group_with(world.rssi, target, ["a@exemple.fr", "b@exemple.fr"])],
        "starts_at": now + datetime.timedelta(hours=1),
        "spread_until": now + datetime.timedelta(days=3),
        "staff_information": "Les personnels ont été informés par note de service.",
        "legal_basis": "Intérêt légitime (sécurité du SI)",
    }
    data.update(extra)
    return services.campaign_create(
        actor=actor, organisation=None if mandate_ else organisation, mandate=mandate_, **data
    )


# --- Permissions --------------------------------------------------------------------------------


def test_who_runs_phishing(world):
    for user in (world.director, world.rssi, world.dsi):
        assert perms.can_run_for(user, world.hospital)
        assert perms.is_phishing_user(user)
    for user in (world.staff, world.outsider_rssi, world.crrc_operator, world.ars_manager):
        assert not perms.can_run_for(user, world.hospital)
    assert not perms.is_phishing_user(world.staff)
    assert not perms.is_phishing_user(world.ars_manager)
    assert perms.is_phishing_user(world.crrc_operator)
    assert perms.is_phishing_user(world.trainer)
    assert perms.crrc_ids(world.crrc_operator) == {world.crrc.pk}


def test_profile_password_is_encrypted_kept_when_empty_and_never_audited(world):
    created = profile(world.rssi, world.hospital, password="tres-secret")
    raw = SendingProfile.objects.filter(pk=created.pk).values_list("password", flat=True)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM phishing_sendingprofile WHERE id = %s", [created.pk])
        stored = cursor.fetchone()[0]
    assert stored != "tres-secret"
    assert "tres-secret" not in stored
    assert list(raw) == ["tres-secret"]
    updated = services.profile_update(
        actor=world.rssi, profile=created, name="SMTP interne", host="smtp2.exemple.fr"
    )
    assert updated.password == "tres-secret"
    assert updated.host == "smtp2.exemple.fr"
    services.profile_update(actor=world.rssi, profile=created, name="SMTP", password="zq-Secret-2")
    assert SendingProfile.objects.get(pk=created.pk).password == "zq-Secret-2"
    trail = " ".join(str(e.changes) for e in AuditEntry.objects.all())
    assert "tres-secret" not in trail
    assert "zq-Secret-2" not in trail
    assert "••••" in trail


@pytest.mark.parametrize("who", ["staff", "outsider_rssi", "crrc_operator", "ars_manager"])
def test_others_cannot_create_resources_of_an_establishment(world, who):
    with pytest.raises(DomainError) as excinfo:
        profile(getattr(world, who), world.hospital)
    assert excinfo.value.code == "forbidden"


def test_template_variables_are_checked_in_french(world):
    with pytest.raises(DomainError, match="Variable inconnue") as excinfo:
        template(world.rssi, world.hospital, html_body="{{lien}} {{prénom}}")
    assert excinfo.value.field == "html_body"
    with pytest.raises(DomainError, match=r"doit contenir le lien de suivi") as excinfo:
        template(world.rssi, world.hospital, html_body="<p>Bonjour {{prenom}}</p>")
    assert excinfo.value.field == "html_body"
    errors = templating.template_errors(subject="{{lien}}", html_body="{{ lien }}", text_body="x")
    assert set(errors) == {"subject", "text_body"}
    assert (
        templating.render("<b>{{prenom}}</b>", {"prenom": "<x>"}, html=True) == "<b>&lt;x&gt;</b>"
    )


def test_library_is_read_only_for_the_region_and_copied(world):
    shared = template(world.crrc_operator, world.crrc, name="Bibliothèque", library=True)
    with pytest.raises(DomainError):
        template(world.rssi, world.hospital, name="X", library=True)
    assert shared in selectors.templates_visible_to(world.rssi)
    assert shared not in selectors.templates_visible_to(world.outsider_rssi)
    assert shared not in selectors.templates_visible_to(world.staff)
    with pytest.raises(DomainError):
        services.template_update(actor=world.rssi, template=shared, name="Piraté", subject="x")
    copy = services.template_copy(actor=world.rssi, template=shared, organisation=world.hospital)
    assert copy.organisation == world.hospital
    assert not copy.library
    assert copy.copied_from == shared
    assert copy.html_body == shared.html_body
    again = services.template_copy(actor=world.rssi, template=shared, organisation=world.hospital)
    assert again.name != copy.name
    with pytest.raises(DomainError):
        services.template_copy(
            actor=world.outsider_rssi, template=shared, organisation=world.other_hospital
        )


def test_mandate_grant_revoke_and_who_sees_it(world):
    given = mandate(world)
    assert given.is_valid()
    assert given in selectors.mandates_visible_to(world.crrc_operator)
    assert given in selectors.mandates_visible_to(world.director)
    assert given not in selectors.mandates_visible_to(world.outsider_crrc)
    assert given not in selectors.mandates_visible_to(world.staff)
    assert list(selectors.usable_mandates(world.crrc_operator)) == [given]
    assert list(selectors.usable_mandates(world.outsider_crrc)) == []
    with pytest.raises(DomainError):
        services.mandate_revoke(actor=world.crrc_operator, mandate=given)
    with pytest.raises(DomainError, match="CRRC de votre région"):
        services.mandate_grant(
            actor=world.rssi,
            establishment=world.hospital,
            crrc=world.ars,
            starts_on=timezone.localdate(),
            ends_on=timezone.localdate(),
            visibility="aggregates",
        )
    services.mandate_revoke(actor=world.rssi, mandate=given)
    assert list(selectors.usable_mandates(world.crrc_operator)) == []


def test_autonomous_campaign_and_schedule_snapshot(world):
    campaign = ready_campaign(world, world.rssi, world.hospital, privacy_mode="anonymous")
    assert campaign.mode == CampaignMode.AUTONOMOUS
    assert campaign.operator == world.hospital
    assert campaign in selectors.campaigns_visible_to(world.director)
    assert campaign not in selectors.campaigns_visible_to(world.crrc_operator)
    assert campaign not in selectors.campaigns_visible_to(world.outsider_rssi)
    assert not perms.can_edit_campaign(world.staff, campaign)
    scheduled = services.campaign_schedule(actor=world.rssi, campaign=campaign)
    assert scheduled.recipients == 2
    rows = list(CampaignRecipient.objects.filter(campaign=campaign))
    assert {r.department for r in rows} == {"Urgences"}
    # Names make the message; the anonymous mode erases them with the address once it is sent.
    assert {r.first_name for r in rows} == {"P0", "P1"}
    assert all(len(r.token) >= 22 for r in rows)
    assert len({r.token for r in rows}) == 2
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    with pytest.raises(DomainError, match="brouillon"):
        services.campaign_update(
            actor=world.rssi, campaign=campaign, templates=[], groups=[], name="x"
        )


def test_pseudonymous_snapshot_keeps_names_encrypted(world):
    campaign = ready_campaign(
        world, world.rssi, world.hospital, privacy_mode=PrivacyMode.PSEUDONYMOUS
    )
    services.campaign_schedule(actor=world.rssi, campaign=campaign)
    row = CampaignRecipient.objects.filter(campaign=campaign).order_by("pk").first()
    assert row.first_name == "P0"
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT email, first_name FROM phishing_campaignrecipient WHERE id = %s", [row.pk]
        )
        email, first = cursor.fetchone()
    assert "exemple.fr" not in email
    assert first != "P0"


def test_schedule_refuses_an_incomplete_campaign_in_french(world):
    campaign = services.campaign_create(
        actor=world.rssi, organisation=world.hospital, name="Incomplète"
    )
    with pytest.raises(DomainError) as excinfo:
        services.campaign_schedule(actor=world.rssi, campaign=campaign)
    for words in ("modèle", "page d'atterrissage", "profil d'envoi", "information", "base légale"):
        assert words in excinfo.value.message
    assert not CampaignRecipient.objects.exists()


def test_resources_of_another_organisation_are_refused(world):
    foreign = template(world.outsider_rssi, world.other_hospital)
    with pytest.raises(DomainError) as excinfo:
        services.campaign_create(
            actor=world.rssi, organisation=world.hospital, name="X", templates=[foreign]
        )
    assert excinfo.value.field == "templates"


def test_delegated_campaign_needs_a_valid_mandate(world):
    with pytest.raises(DomainError):  # the CRRC cannot run an autonomous campaign for them
        services.campaign_create(actor=world.crrc_operator, organisation=world.hospital, name="X")
    given = mandate(world)
    campaign = ready_campaign(world, world.crrc_operator, mandate_=given)
    assert campaign.mode == CampaignMode.DELEGATED
    assert (campaign.organisation, campaign.operator) == (world.hospital, world.crrc)
    # The establishment sees it (results too), cannot edit it, may cancel it.
    assert campaign in selectors.campaigns_visible_to(world.rssi)
    assert not perms.can_edit_campaign(world.rssi, campaign)
    assert perms.can_cancel_campaign(world.rssi, campaign)
    assert perms.can_edit_campaign(world.trainer, campaign)
    assert not perms.can_view_campaign(world.outsider_crrc, campaign)
    with pytest.raises(DomainError):
        services.campaign_create(actor=world.outsider_crrc, mandate=given, name="X")
    # Revoked: the CRRC can no longer edit, the draft is cancelled.
    services.mandate_revoke(actor=world.director, mandate=given)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED
    assert not perms.can_edit_campaign(world.crrc_operator, campaign)
    with pytest.raises(DomainError, match="pas valide"):
        services.campaign_create(actor=world.crrc_operator, mandate=given, name="Y")


def test_crrc_picks_groups_only_under_a_valid_mandate(world):
    group = group_with(world.rssi, world.hospital, ["a@exemple.fr"])
    from rempart.phishing.models import RecipientGroup

    def pickable(user):
        return set(RecipientGroup.objects.filter(perms.delegated_group_q(user)))

    assert pickable(world.crrc_operator) == set()
    mandate(world)
    assert pickable(world.crrc_operator) == {group}
    assert pickable(world.outsider_crrc) == set()
    # …but never browses the people: the group pages are the establishment's.
    assert group not in selectors.groups_visible_to(world.crrc_operator)


def test_csv_import_two_steps_and_update_not_duplicate(world):
    group = group_with(world.rssi, world.hospital, ["known@exemple.fr"], name="Import")
    content = (
        "email;prenom;nom;service;fonction\n"
        "KNOWN@exemple.fr;Nouveau;Nom;Bloc;IBODE\n"
        "new@exemple.fr;Léa;Roux;Pharmacie;Préparatrice\n"
        "cassé;x;y;z;w\n"
    ).encode()
    upload = services.recipient_import_prepare(
        actor=world.rssi, group=group, filename="liste.csv", content=content
    )
    assert upload.status == ImportStatus.PENDING
    assert len(upload.rows) == 2
    assert upload.rejections == [{"line": 4, "email": "cassé", "reasons": ["e-mail invalide"]}]
    assert group.recipients.count() == 1  # nothing before confirmation
    with pytest.raises(DomainError):
        services.recipient_import_confirm(actor=world.director, upload=upload)
    done = services.recipient_import_confirm(actor=world.rssi, upload=upload)
    assert (done.created_count, done.updated_count, done.rows) == (1, 1, [])
    known = group.recipients.get(email="known@exemple.fr")
    assert (known.first_name, known.department) == ("Nouveau", "Bloc")
    assert group.recipients.count() == 2
    with pytest.raises(DomainError, match="déjà été traité"):
        services.recipient_import_confirm(actor=world.rssi, upload=upload)
    with pytest.raises(DomainError):
        services.recipient_import_prepare(
            actor=world.staff, group=group, filename="x.csv", content=content
        )


def test_database_refuses_broken_invariants(world):
    group = group_with(world.rssi, world.hospital, ["a@exemple.fr"], name="Contraintes")
    with pytest.raises(IntegrityError), transaction.atomic():
        Recipient.objects.create(group=group, email="A@EXEMPLE.FR")
    campaign = ready_campaign(world, world.rssi, world.hospital)
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(mode=CampaignMode.DELEGATED)
    services.campaign_schedule(actor=world.rssi, campaign=campaign)
    row = campaign.recipients.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        TrackingEvent.objects.create(
            campaign=campaign, recipient=row, kind=EventKind.CLICKED, filled_fields=["x"]
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignRecipient.objects.filter(pk=row.pk).update(send_status="sent")
    TrackingEvent.objects.create(
        campaign=campaign, recipient=row, kind=EventKind.SUBMITTED, filled_fields=["identifiant"]
    )
