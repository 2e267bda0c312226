"""The demo region's simulated phishing: the CRRC's library of health-sector templates, the
demo hospital's own set-up (a group of 240 people in nine departments, a copied template, a
landing page, a sending profile towards a local SMTP sink), a campaign finished last quarter
with its results, a draft ready to be scheduled, and a mandate given to the CRRC by the second
RSSI's establishment with a delegated campaign finished last month.

Everything is written through the services (audited) except the history of the finished
campaigns (sending times and tracking events), which a demo cannot wait for: it is generated
with a fixed seed so that the figures are the same on every machine.

Idempotent: nothing is written twice for a region.
"""

from __future__ import annotations

import datetime
import random

from django.db import transaction
from django.utils import timezone

from rempart.core.roles import OrgKind
from rempart.organisations.demo import DEMO_DOMAIN
from rempart.organisations.models import Membership, Organisation, Region, User

from . import services
from .models import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    EmailTemplate,
    EventKind,
    MandateVisibility,
    PrivacyMode,
    SendStatus,
    TlsMode,
    TrackingEvent,
)

SEED = 94  # the seeds' share of incidents that start with a phishing e-mail

LIBRARY = [
    {
        "name": "Mise à jour du dossier patient informatisé",
        "subject": "Action requise : validez votre accès au DPI avant vendredi",
        "sender_name": "Service informatique",
        "sender_address": "support-dpi@hopital-maj.example",
        "html_body": (
            "<p>Bonjour {{prenom}},</p><p>Suite à la migration du dossier patient informatisé, "
            "votre accès sera suspendu vendredi si vous ne le validez pas.</p>"
            '<p><a href="{{lien}}">Valider mon accès</a></p>'
            "<p>L'équipe informatique</p>{{pixel}}"
        ),
        "text_body": (
            "Bonjour {{prenom}},\n\nSuite à la migration du dossier patient informatisé, votre "
            "accès sera suspendu vendredi si vous ne le validez pas : {{lien}}\n\n"
            "L'équipe informatique"
        ),
    },
    {
        "name": "Planning de garde modifié",
        "subject": "Votre planning de garde de décembre a été modifié",
        "sender_name": "Direction des soins",
        "sender_address": "planning@rh-hopital.example",
        "html_body": (
            "<p>Bonjour {{prenom}} {{nom}},</p><p>Votre planning de garde a été modifié. "
            'Consultez-le et confirmez avant demain 12 h : <a href="{{lien}}">mon planning</a>.'
            "</p>{{pixel}}"
        ),
        "text_body": (
            "Bonjour {{prenom}} {{nom}},\n\nVotre planning de garde a été modifié. Consultez-le "
            "et confirmez avant demain 12 h : {{lien}}"
        ),
    },
    {
        "name": "Résultats de laboratoire en attente",
        "subject": "Résultats d'analyses disponibles (patient transféré)",
        "sender_name": "Laboratoire Bio-Analyses",
        "sender_address": "resultats@labo-bioanalyses.example",
        "html_body": (
            "<p>Madame, Monsieur,</p><p>Les résultats d'un patient transféré dans votre service "
            'sont disponibles sur notre portail sécurisé : <a href="{{lien}}">consulter les '
            "résultats</a>.</p>{{pixel}}"
        ),
        "text_body": (
            "Madame, Monsieur,\n\nLes résultats d'un patient transféré dans votre service sont "
            "disponibles sur notre portail sécurisé : {{lien}}"
        ),
    },
]

LANDING = {
    "name": "Faux portail d'authentification",
    "form_html": (
        "<h2>Portail de l'hôpital</h2><p>Identifiez-vous pour continuer.</p>"
        '<label for="identifiant">Identifiant</label><input id="identifiant" name="identifiant">'
        '<label for="mot_de_passe">Mot de passe</label>'
        '<input id="mot_de_passe" name="mot_de_passe" type="password">'
    ),
    "fields": ["identifiant", "mot_de_passe"],
    "teaching_title": "C'était un exercice d'hameçonnage simulé",
    "teaching_text": (
        "Ce message était un faux, envoyé par votre établissement pour vous entraîner. Rien de "
        "ce que vous avez saisi n'a été enregistré.\n\nLes indices : un expéditeur inconnu, "
        "une urgence inhabituelle, un lien vers une adresse qui n'est pas celle de "
        "l'hôpital.\n\nEn cas de doute, ne cliquez pas : signalez le message."
    ),
    "module_code": "hameconnage",
}

# Department → number of people (two small services, under 5 people, stay masked in reports).
DEPARTMENTS = {
    "Urgences": 38,
    "Médecine polyvalente": 42,
    "Chirurgie": 35,
    "Pharmacie": 12,
    "Admissions et accueil": 24,
    "Ressources humaines": 18,
    "Services techniques": 16,
    "Direction": 3,
    "Informatique": 4,
}
FIRST_NAMES = ["Camille", "Léa", "Hugo", "Nadia", "Thomas", "Inès", "Julien", "Sophie", "Karim"]
LAST_NAMES = ["Martin", "Bernard", "Petit", "Durand", "Leroy", "Moreau", "Fournier", "Girard"]

# Funnel of the finished campaigns: share of people who opened, clicked (of those who opened),
# filled the form (of those who clicked), and reported the message.
FUNNEL = {"opened": 0.46, "clicked": 0.41, "submitted": 0.38, "reported": 0.14}
SCANNER_UA = "Mozilla/5.0 (compatible; Barracuda Sentinel)"


def _person(local: str) -> User | None:
    return User.objects.filter(email=f"{local}@{DEMO_DOMAIN}").first()


def _home(user: User) -> Organisation | None:
    membership = (
        Membership.objects.active()
        .filter(user=user)
        .select_related("organisation")
        .order_by("pk")
        .first()
    )
    return membership.organisation if membership else None


def _group_csv(rng: random.Random, prefix: str) -> bytes:
    lines = ["email;prenom;nom;service;fonction"]
    n = 0
    for department, size in DEPARTMENTS.items():
        for _ in range(size):
            n += 1
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            lines.append(f"{prefix}.{n:03d}@{DEMO_DOMAIN};{first};{last};{department};Agent")
    return "\n".join(lines).encode()


def _setup(actor: User, organisation: Organisation, rng: random.Random, prefix: str):
    """A group, a copied library template, a landing page and a profile of the organisation."""
    group = services.group_create(actor=actor, organisation=organisation, name="Personnels")
    upload = services.recipient_import_prepare(
        actor=actor, group=group, filename="personnels.csv", content=_group_csv(rng, prefix)
    )
    services.recipient_import_confirm(actor=actor, upload=upload)
    return group


def _profile(actor: User, organisation: Organisation):
    return services.profile_create(
        actor=actor,
        organisation=organisation,
        name="Serveur SMTP de démonstration",
        host="127.0.0.1",
        port=1025,
        tls_mode=TlsMode.NONE,
        from_address=f"exercices@{DEMO_DOMAIN}",
        rate_per_second=5,
    )


def _history(campaign: Campaign, started: datetime.datetime, rng: random.Random) -> int:
    """Mark every message sent over two working days after `started` and draw the events."""
    events = []
    recipients = list(campaign.recipients.order_by("pk"))
    for n, recipient in enumerate(recipients):
        sent_at = started + datetime.timedelta(minutes=2 * n)
        recipient.send_status, recipient.sent_at, recipient.attempts = SendStatus.SENT, sent_at, 1
        if campaign.privacy_mode == PrivacyMode.ANONYMOUS:
            recipient.email = ""
        at = sent_at + datetime.timedelta(minutes=rng.randint(5, 600))

        def add(kind, when, who=recipient, **extra):
            events.append(
                TrackingEvent(campaign=campaign, recipient=who, kind=kind, at=when, **extra)
            )

        if rng.random() < 0.04:  # a mail gateway's scanner follows the link within seconds
            add(
                EventKind.CLICKED,
                sent_at + datetime.timedelta(seconds=3),
                suspected_bot=True,
                bot_reason="agent d'analyse de messagerie connu",
            )
        opened = rng.random() < FUNNEL["opened"]
        if opened:
            add(EventKind.OPENED, at)
        if opened and rng.random() < FUNNEL["clicked"]:
            at += datetime.timedelta(seconds=rng.randint(20, 900))
            add(EventKind.CLICKED, at)
            if rng.random() < FUNNEL["submitted"]:
                add(
                    EventKind.SUBMITTED,
                    at + datetime.timedelta(seconds=rng.randint(15, 120)),
                    filled_fields=["identifiant", "mot_de_passe"],
                )
        if rng.random() < FUNNEL["reported"]:
            add(EventKind.REPORTED, at + datetime.timedelta(minutes=rng.randint(1, 90)))
    CampaignRecipient.objects.bulk_update(
        recipients, ["send_status", "sent_at", "attempts", "email"], batch_size=500
    )
    TrackingEvent.objects.bulk_create(events, batch_size=1000)
    last = max((e.at for e in events), default=started)
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.DONE,
        starts_at=started,
        spread_until=started + datetime.timedelta(days=2),
        scheduled_at=started - datetime.timedelta(days=1),
        closed_at=last + datetime.timedelta(days=1),
    )
    return len(events)


def _campaign(actor, group, template, landing, profile, *, name, **extra) -> Campaign:
    """A campaign set up through the services, its schedule in the coming days."""
    start = timezone.localtime().replace(hour=9, minute=0, second=0, microsecond=0)
    start += datetime.timedelta(days=1)
    return services.campaign_create(
        actor=actor,
        templates=[template],
        groups=[group],
        name=name,
        landing_page=landing,
        sending_profile=profile,
        starts_at=start,
        spread_until=start + datetime.timedelta(days=2),
        staff_information=(
            "Les personnels ont été informés en comité social d'établissement que des "
            "exercices d'hameçonnage simulé ont lieu au cours de l'année ; aucun résultat "
            "individuel n'est transmis à la hiérarchie."
        ),
        legal_basis=(
            "Obligation de sécurité des systèmes d'information (RGPD art. 32) ; programme "
            "CaRE, domaine sensibilisation."
        ),
        **extra,
    )


def seed_phishing_demo(region: Region) -> list[str]:
    rssi, crrc_user, rssi2 = _person("rssi"), _person("crrc"), _person("rssi2")
    if not (rssi and crrc_user and rssi2):
        return ["comptes de démonstration absents : lancez d'abord seed_demo"]
    home, other = _home(rssi), _home(rssi2)
    crrc = _home(crrc_user)
    if crrc is None or crrc.kind != OrgKind.CRRC or home is None or other is None:
        return ["organisations de démonstration absentes : lancez d'abord seed_demo"]
    if EmailTemplate.objects.filter(organisation=crrc, library=True).exists():
        return ["hameçonnage simulé : déjà en place"]
    rng = random.Random(SEED)  # noqa: S311 - demo data, not security
    now = timezone.now()
    with transaction.atomic():
        library = [
            services.template_create(actor=crrc_user, organisation=crrc, library=True, **t)
            for t in LIBRARY
        ]
        crrc_landing = services.landing_create(actor=crrc_user, organisation=crrc, **LANDING)
        crrc_profile = _profile(crrc_user, crrc)

        # The demo hospital runs its own campaigns.
        group = _setup(rssi, home, rng, "agent")
        template = services.template_copy(actor=rssi, template=library[0], organisation=home)
        landing = services.landing_create(actor=rssi, organisation=home, **LANDING)
        profile = _profile(rssi, home)
        finished = _campaign(
            rssi,
            group,
            template,
            landing,
            profile,
            name="Exercice DPI — 3e trimestre",
            organisation=home,
        )
        scheduled = services.campaign_schedule(actor=rssi, campaign=finished)
        events = _history(finished, now - datetime.timedelta(days=75), rng)
        _campaign(
            rssi,
            group,
            services.template_copy(actor=rssi, template=library[1], organisation=home),
            landing,
            profile,
            name="Exercice planning de garde (brouillon)",
            organisation=home,
            privacy_mode=PrivacyMode.PSEUDONYMOUS,
            retention_days=30,
        )

        # The second RSSI's establishment delegates to the CRRC.
        other_group = _setup(rssi2, other, rng, "personnel")
        mandate = services.mandate_grant(
            actor=rssi2,
            establishment=other,
            crrc=crrc,
            starts_on=timezone.localdate() - datetime.timedelta(days=60),
            ends_on=timezone.localdate() + datetime.timedelta(days=305),
            visibility=MandateVisibility.AGGREGATES,
            note="Convention de délégation signée avec le CRRC (démonstration).",
        )
        delegated = _campaign(
            crrc_user,
            other_group,
            library[2],
            crrc_landing,
            crrc_profile,
            name="Campagne régionale — résultats de laboratoire",
            mandate=mandate,
        )
        delegated_scheduled = services.campaign_schedule(actor=crrc_user, campaign=delegated)
        delegated_events = _history(delegated, now - datetime.timedelta(days=30), rng)
    return [
        f"bibliothèque régionale : {len(library)} modèles du CRRC",
        f"« {finished.name} » : {scheduled.recipients} destinataires, {events} événements",
        f"« {delegated.name} » (mandat) : {delegated_scheduled.recipients} destinataires, "
        f"{delegated_events} événements",
    ]
