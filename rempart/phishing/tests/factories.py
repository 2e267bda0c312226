"""A small region for phishing tests: an establishment with its director, RSSI, DSI and a
staff member, the region's CRRC with an operator and a trainer, the ARS, and an outsider
region (establishment RSSI, CRRC operator)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils import timezone

from rempart.core.roles import OrgKind, Role
from rempart.organisations.models import Organisation, User
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member
from rempart.phishing import services
from rempart.phishing.models import MandateVisibility

HTML = '<p>Bonjour {{prenom}} {{nom}},</p><p><a href="{{lien}}">Voir</a></p>{{pixel}}'
TEXT = "Bonjour {{prenom}}, voir {{lien}}"


@dataclass
class PhishingWorld:
    hospital: Organisation
    crrc: Organisation
    ars: Organisation
    director: User
    rssi: User
    dsi: User
    staff: User
    crrc_operator: User
    trainer: User
    ars_manager: User
    other_hospital: Organisation
    outsider_rssi: User
    outsider_crrc: User


def phishing_world(code: str = "86") -> PhishingWorld:
    region = RegionFactory(code=code, name=f"Région {code}")
    other = RegionFactory(code=f"{code[0]}{(int(code[1]) + 1) % 10}", name="Autre région")
    hospital = OrganisationFactory(kind=OrgKind.ESTABLISHMENT, region=region, name="CH Test")
    crrc = OrganisationFactory(kind=OrgKind.CRRC, region=region, name="CRRC Test")
    ars = OrganisationFactory(kind=OrgKind.ARS, region=region, name="ARS Test")
    other_hospital = OrganisationFactory(kind=OrgKind.ESTABLISHMENT, region=other, name="CH Loin")
    other_crrc = OrganisationFactory(kind=OrgKind.CRRC, region=other, name="CRRC Loin")
    return PhishingWorld(
        hospital=hospital,
        crrc=crrc,
        ars=ars,
        director=member(Role.DIRECTOR, hospital),
        rssi=member(Role.RSSI, hospital),
        dsi=member(Role.DSI, hospital),
        staff=member(Role.STAFF, hospital),
        crrc_operator=member(Role.CRRC_OPERATOR, crrc),
        trainer=member(Role.TRAINER, crrc),
        ars_manager=member(Role.ARS_MANAGER, ars),
        other_hospital=other_hospital,
        outsider_rssi=member(Role.RSSI, other_hospital),
        outsider_crrc=member(Role.CRRC_OPERATOR, other_crrc),
    )


def template(actor, organisation, name="Colis en attente", **extra):
    data = {
        "subject": "Votre colis {{prenom}}",
        "sender_name": "Service courrier",
        "sender_address": "courrier@exemple.fr",
        "html_body": HTML,
        "text_body": TEXT,
    }
    data.update(extra)
    return services.template_create(actor=actor, organisation=organisation, name=name, **data)


def profile(actor, organisation, name="SMTP interne", password="secret-smtp"):  # noqa: S107
    return services.profile_create(
        actor=actor,
        organisation=organisation,
        name=name,
        host="smtp.exemple.fr",
        port=587,
        tls_mode="starttls",
        username="envoi",
        password=password,
        from_address="envoi@exemple.fr",
        rate_per_second=5,
        active=True,
    )


def landing(actor, organisation, name="Faux portail"):
    return services.landing_create(
        actor=actor,
        organisation=organisation,
        name=name,
        form_html="<form><input name='identifiant'><input name='mot_de_passe'></form>",
        fields=["identifiant", "mot_de_passe"],
        teaching_title="C'était un exercice",
        teaching_text="Vérifiez toujours l'expéditeur.",
        module_code="hameconnage",
    )


def mandate(world: PhishingWorld, *, days=90, visibility=MandateVisibility.AGGREGATES):
    today = timezone.localdate()
    return services.mandate_grant(
        actor=world.rssi,
        establishment=world.hospital,
        crrc=world.crrc,
        starts_on=today - datetime.timedelta(days=1),
        ends_on=today + datetime.timedelta(days=days),
        visibility=visibility,
    )


def group_with(actor, organisation, emails, name="Tous les personnels"):
    from rempart.phishing.models import Recipient

    group = services.group_create(actor=actor, organisation=organisation, name=name)
    for i, email in enumerate(emails):
        Recipient.objects.create(
            group=group, email=email, first_name=f"P{i}", last_name=f"N{i}", department="Urgences"
        )
    return group


# --- Results: a campaign already sent, built directly (no SMTP) ----------------------


def sent_campaign(
    world: PhishingWorld,
    departments: dict[str, int],
    *,
    organisation=None,
    privacy="pseudonymous",
    status="done",
    delegated_under=None,
    name="Campagne test",
    sent_at=None,
):
    """A campaign of `organisation` (default: the world's hospital) whose recipients — so many
    per department — were all sent their message at `sent_at`. Delegated when a mandate is
    given. Returns (campaign, recipients in creation order)."""
    from rempart.phishing.models import Campaign, CampaignRecipient, EmailTemplate

    organisation = organisation or world.hospital
    sent_at = sent_at or timezone.now() - datetime.timedelta(days=2)
    operator = delegated_under.crrc if delegated_under else organisation
    owner = world.crrc_operator if delegated_under else world.rssi
    mail = EmailTemplate.objects.create(
        organisation=operator,
        name=f"Modèle {name} {organisation.pk}",
        subject="Votre colis",
        sender_name="Service courrier",
        sender_address="courrier@exemple.fr",
        html_body=HTML,
    )
    campaign = Campaign.objects.create(
        organisation=organisation,
        operator=operator,
        mode="delegated" if delegated_under else "autonomous",
        mandate=delegated_under,
        name=name,
        privacy_mode=privacy,
        status=status,
        created_by=owner,
        scheduled_at=sent_at,
        closed_at=sent_at + datetime.timedelta(days=1) if status == "done" else None,
    )
    rows = []
    for department, count in departments.items():
        for i in range(count):
            rows.append(
                CampaignRecipient(
                    campaign=campaign,
                    department=department,
                    email=f"{department.lower()}{i}@exemple.fr",
                    first_name=f"Prénom{i}",
                    last_name=f"{department}{i}",
                    template=mail,
                    send_status="sent",
                    sent_at=sent_at,
                )
            )
    CampaignRecipient.objects.bulk_create(rows)
    return campaign, list(campaign.recipients.order_by("pk"))


def delivered_campaign(world: PhishingWorld):
    """A campaign made through the services and being sent: two recipients, with the world's
    template, landing page (with a form) and profile, messages delivered an hour ago."""
    from rempart.phishing.models import Campaign, CampaignRecipient, CampaignStatus, SendStatus

    now = timezone.now()
    created = services.campaign_create(
        actor=world.rssi,
        organisation=world.hospital,
        name="Colis piégé de décembre",
        templates=[template(world.rssi, world.hospital)],
        landing_page=landing(world.rssi, world.hospital),
        sending_profile=profile(world.rssi, world.hospital),
        groups=[group_with(world.rssi, world.hospital, ["a@exemple.fr", "b@exemple.fr"])],
        starts_at=now + datetime.timedelta(hours=1),
        spread_until=now + datetime.timedelta(days=3),
        staff_information="Note de service.",
        legal_basis="Intérêt légitime",
    )
    services.campaign_schedule(actor=world.rssi, campaign=created)
    Campaign.objects.filter(pk=created.pk).update(status=CampaignStatus.SENDING)
    CampaignRecipient.objects.filter(campaign=created).update(
        send_status=SendStatus.SENT, sent_at=now - datetime.timedelta(hours=1)
    )
    created.refresh_from_db()
    return created


def event(recipient, kind, *, bot=False, after=datetime.timedelta(minutes=10)):
    """A tracking event of `recipient`, `after` its sending."""
    from rempart.phishing.models import TrackingEvent

    return TrackingEvent.objects.create(
        campaign_id=recipient.campaign_id,
        recipient=recipient,
        kind=kind,
        at=recipient.sent_at + after,
        suspected_bot=bot,
        bot_reason="scanner" if bot else "",
    )


# --- Sending: a campaign scheduled through the services, to a local SMTP sink ---------


def sending_campaign(
    world: PhishingWorld,
    emails,
    *,
    port: int,
    host: str = "127.0.0.1",
    actor=None,
    mandate_=None,
    privacy="pseudonymous",
    rate=1000,
    starts_at=None,
    spread_until=None,
    window=(datetime.time(0, 0), datetime.time(23, 59, 59)),
    weekdays_only=False,
    name="Campagne envoi",
    **extra,
):
    """A campaign scheduled (snapshot taken) whose profile points to `host:port` without TLS
    nor login. By default it may send at any time, from now, spread over one second."""
    from rempart.phishing.models import SendingProfile

    actor = actor or (world.crrc_operator if mandate_ else world.rssi)
    operator = mandate_.crrc if mandate_ else world.hospital
    now = timezone.now()
    smtp = SendingProfile.objects.create(
        organisation=operator,
        name=f"Sink {name}",
        host=host,
        port=port,
        tls_mode="none",
        from_address="envoi@exemple.fr",
        rate_per_second=rate,
    )
    data = {
        "name": name,
        "templates": [template(actor, operator, name=f"Modèle {name}")],
        "landing_page": landing(actor, operator, name=f"Page {name}"),
        "sending_profile": smtp,
        "groups": [group_with(world.rssi, world.hospital, emails, name=f"Groupe {name}")],
        "starts_at": starts_at or now - datetime.timedelta(seconds=1),
        "spread_until": spread_until or now + datetime.timedelta(seconds=1),
        "window_start": window[0],
        "window_end": window[1],
        "weekdays_only": weekdays_only,
        "privacy_mode": privacy,
        "staff_information": "Note de service du 1er septembre.",
        "legal_basis": "Intérêt légitime (sécurité du SI)",
        **extra,
    }
    campaign = services.campaign_create(
        actor=actor, organisation=None if mandate_ else world.hospital, mandate=mandate_, **data
    )
    services.campaign_schedule(actor=actor, campaign=campaign)
    if starts_at is None and spread_until is None:
        # Planned, and every message due now (the spreading has its own tests).
        from rempart.phishing import sending

        sending.plan_campaign(campaign.pk)
        campaign.recipients.update(next_attempt_at=timezone.now())
    campaign.refresh_from_db()
    return campaign
