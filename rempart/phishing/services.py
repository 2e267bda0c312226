"""Writes of simulated phishing: `<entity>_<verb>(*, actor, …)`, one transaction each, audited
(django-auditlog on the models registered in `audit`), refusing with a French DomainError.

The sending engine and the tracking endpoints come next: `campaign_schedule` already builds
what they work on (one CampaignRecipient per person, with its token and its template).
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.models import AuditEntry
from rempart.core.roles import OrgKind
from rempart.organisations.models import Organisation, User

from . import perms, templating
from .csv_import import parse_recipients
from .models import (
    Campaign,
    CampaignMode,
    CampaignRecipient,
    CampaignStatus,
    EmailTemplate,
    ImportStatus,
    LandingPage,
    Mandate,
    Recipient,
    RecipientGroup,
    RecipientImport,
    SendingProfile,
)

FORBIDDEN = "Vous ne gérez pas l'hameçonnage simulé de cette structure."


def _forbid(allowed: bool, message: str = FORBIDDEN) -> None:
    if not allowed:
        raise DomainError(message, code="forbidden")


def _unique_name(model, organisation_id: int, name: str, exclude_pk: int | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise DomainError("Donnez un nom.", field="name")
    clash = model.objects.filter(organisation_id=organisation_id, name__iexact=name)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise DomainError(
            f"« {name} » existe déjà dans cette structure : choisissez un autre nom.",
            field="name",
        )
    return name


def _assign(instance, data: dict[str, Any], fields: tuple[str, ...]) -> None:
    for name in fields:
        if name in data:
            setattr(instance, name, data[name])


# --- Sending profiles -------------------------------------------------------------------------

PROFILE_FIELDS = (
    "host",
    "port",
    "tls_mode",
    "username",
    "from_address",
    "rate_per_second",
    "active",
)


def _check_profile(data: dict[str, Any]) -> None:
    rate = data.get("rate_per_second")
    if rate is not None and not (0 < rate <= 10_000):
        raise DomainError(
            "Le débit doit être compris entre 0,01 et 10 000 messages par seconde.",
            field="rate_per_second",
        )
    port = data.get("port")
    if port is not None and not (1 <= port <= 65535):
        raise DomainError("Le port doit être compris entre 1 et 65535.", field="port")


def _audit_password_change(actor: User, profile: SendingProfile) -> None:
    """The trail excludes the password: record that it changed, never its value."""
    AuditEntry.objects.log_create(
        profile,
        force_log=True,
        action=AuditEntry.Action.UPDATE,
        changes={"password": ["••••", "•••• (nouveau mot de passe)"]},
        actor=actor,
        actor_email=actor.email,
    )


def profile_create(
    *, actor: User, organisation: Organisation, name: str, password: str = "", **data
) -> SendingProfile:
    _forbid(perms.can_manage_resources_of(actor, organisation))
    _check_profile(data)
    with transaction.atomic():
        name = _unique_name(SendingProfile, organisation.pk, name)
        profile = SendingProfile(organisation=organisation, name=name, password=password or "")
        _assign(profile, data, PROFILE_FIELDS)
        profile.save()
    return profile


def profile_update(
    *, actor: User, profile: SendingProfile, name: str, password: str = "", **data
) -> SendingProfile:
    """An empty password keeps the stored one (it is never shown back)."""
    _forbid(perms.can_manage_resources_of(actor, profile.organisation))
    _check_profile(data)
    with transaction.atomic():
        locked = SendingProfile.objects.select_for_update().get(pk=profile.pk)
        locked.name = _unique_name(SendingProfile, locked.organisation_id, name, locked.pk)
        _assign(locked, data, PROFILE_FIELDS)
        if password:
            locked.password = password
        locked.save()
        if password:
            _audit_password_change(actor, locked)
    return locked


# --- Templates ------------------------------------------------------------------------------------

TEMPLATE_FIELDS = ("subject", "sender_name", "sender_address", "html_body", "text_body")


def _check_template(data: dict[str, Any]) -> None:
    errors = templating.template_errors(
        subject=data.get("subject", ""),
        html_body=data.get("html_body", ""),
        text_body=data.get("text_body", ""),
    )
    for field, messages in errors.items():
        raise DomainError(messages[0], field=field)


def template_create(
    *, actor: User, organisation: Organisation, name: str, library: bool = False, **data
) -> EmailTemplate:
    _forbid(perms.can_manage_resources_of(actor, organisation))
    if library and (
        organisation.kind != OrgKind.CRRC or organisation.pk not in perms.crrc_ids(actor)
    ):
        raise DomainError(
            "Seul le CRRC alimente la bibliothèque régionale de modèles.", code="forbidden"
        )
    _check_template(data)
    with transaction.atomic():
        name = _unique_name(EmailTemplate, organisation.pk, name)
        template = EmailTemplate(organisation=organisation, name=name, library=library)
        _assign(template, data, TEMPLATE_FIELDS)
        template.save()
    return template


def template_update(*, actor: User, template: EmailTemplate, name: str, **data) -> EmailTemplate:
    _forbid(
        perms.can_edit_template(actor, template),
        "Ce modèle est en lecture seule pour vous : copiez-le pour l'adapter.",
    )
    _check_template(data)
    with transaction.atomic():
        locked = EmailTemplate.objects.select_for_update().get(pk=template.pk)
        locked.name = _unique_name(EmailTemplate, locked.organisation_id, name, locked.pk)
        _assign(locked, data, TEMPLATE_FIELDS)
        locked.save()
    return locked


def template_copy(
    *, actor: User, template: EmailTemplate, organisation: Organisation
) -> EmailTemplate:
    """Copy a template the user sees (the regional library, or one of their own) into one of
    their organisations, under a free name."""
    _forbid(perms.can_manage_resources_of(actor, organisation))
    if not EmailTemplate.objects.filter(perms.template_q(actor), pk=template.pk).exists():
        raise DomainError("Ce modèle ne vous est pas accessible.", code="forbidden")
    with transaction.atomic():
        base = f"{template.name} (copie)"[:140]
        name, n = base, 2
        while EmailTemplate.objects.filter(organisation=organisation, name__iexact=name).exists():
            name, n = f"{base} {n}", n + 1
        copy = EmailTemplate(organisation=organisation, name=name, copied_from=template)
        for field in TEMPLATE_FIELDS:
            setattr(copy, field, getattr(template, field))
        copy.save()
    return copy


# --- Landing pages --------------------------------------------------------------------------------

LANDING_FIELDS = ("form_html", "fields", "teaching_title", "teaching_text", "module_code")


def _check_landing(data: dict[str, Any]) -> None:
    fields = data.get("fields", [])
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise DomainError("Les champs affichés sont une liste de noms.", field="fields")
    if not (data.get("teaching_text") or "").strip():
        raise DomainError(
            "Écrivez le texte pédagogique montré après le clic : la personne ne doit jamais "
            "tomber sur une page vide.",
            field="teaching_text",
        )


def landing_create(*, actor: User, organisation: Organisation, name: str, **data) -> LandingPage:
    _forbid(perms.can_manage_resources_of(actor, organisation))
    _check_landing(data)
    with transaction.atomic():
        name = _unique_name(LandingPage, organisation.pk, name)
        landing = LandingPage(organisation=organisation, name=name)
        _assign(landing, data, LANDING_FIELDS)
        landing.save()
    return landing


def landing_update(*, actor: User, landing: LandingPage, name: str, **data) -> LandingPage:
    _forbid(perms.can_manage_resources_of(actor, landing.organisation))
    _check_landing(data)
    with transaction.atomic():
        locked = LandingPage.objects.select_for_update().get(pk=landing.pk)
        locked.name = _unique_name(LandingPage, locked.organisation_id, name, locked.pk)
        _assign(locked, data, LANDING_FIELDS)
        locked.save()
    return locked


# --- Groups and CSV import ----------------------------------------------------------------------


def group_create(*, actor: User, organisation: Organisation, name: str) -> RecipientGroup:
    _forbid(perms.can_run_for(actor, organisation))
    with transaction.atomic():
        name = _unique_name(RecipientGroup, organisation.pk, name)
        return RecipientGroup.objects.create(organisation=organisation, name=name)


def group_rename(*, actor: User, group: RecipientGroup, name: str) -> RecipientGroup:
    _forbid(perms.can_run_for(actor, group.organisation))
    with transaction.atomic():
        locked = RecipientGroup.objects.select_for_update().get(pk=group.pk)
        locked.name = _unique_name(RecipientGroup, locked.organisation_id, name, locked.pk)
        locked.save(update_fields=["name", "updated_at"])
    return locked


def group_delete(*, actor: User, group: RecipientGroup) -> None:
    """Delete the group with its people and its imports. Campaigns already scheduled keep
    their own copy of their recipients; a campaign in preparation (draft) loses the group,
    unless it is its only group: then the refusal asks to pick another one first."""
    _forbid(perms.can_run_for(actor, group.organisation))
    with transaction.atomic():
        locked = RecipientGroup.objects.select_for_update().get(pk=group.pk)
        drafts = [
            campaign.name
            for campaign in Campaign.objects.filter(
                pk__in=locked.campaigns.filter(status=CampaignStatus.DRAFT).values("pk")
            ).annotate(group_count=Count("groups"))
            if campaign.group_count == 1
        ]
        if drafts:
            raise DomainError(
                f"Ce groupe est le seul de la campagne en préparation « {drafts[0]} » : "
                "choisissez-lui un autre groupe avant de le supprimer."
            )
        locked.delete()  # (its people and imports with it: CASCADE)


def recipient_remove(*, actor: User, group: RecipientGroup, recipient_id) -> None:
    """Remove one person from a group (they left, or asked not to take part). The trail records
    that someone was removed, never who: the group's list is personal data."""
    _forbid(perms.can_run_for(actor, group.organisation))
    with transaction.atomic():
        deleted, _per_model = Recipient.objects.filter(group=group, pk=recipient_id).delete()
        if not deleted:
            raise DomainError("Cette personne n'est plus dans le groupe.", code="not_found")
        group.save(update_fields=["updated_at"])
        AuditEntry.objects.log_create(
            group,
            force_log=True,
            action=AuditEntry.Action.UPDATE,
            changes={"destinataires": ["", "une personne retirée du groupe"]},
            actor=actor,
            actor_email=actor.email,
        )


def recipient_import_prepare(
    *, actor: User, group: RecipientGroup, filename: str, content: bytes
) -> RecipientImport:
    """Read the file and keep its good rows and its report, waiting for confirmation. Nothing
    reaches the group yet."""
    _forbid(perms.can_run_for(actor, group.organisation))
    parsed = parse_recipients(content)
    with transaction.atomic():
        # One pending import per person and group: a new upload replaces the previous one.
        RecipientImport.objects.filter(
            group=group, uploaded_by=actor, status=ImportStatus.PENDING
        ).update(status=ImportStatus.CANCELLED, finished_at=timezone.now())
        return RecipientImport.objects.create(
            organisation=group.organisation,
            group=group,
            uploaded_by=actor,
            source_name=(filename or "fichier.csv")[:255],
            encoding=parsed.encoding,
            delimiter=parsed.delimiter,
            lines_read=parsed.lines_read,
            rows=parsed.rows,
            rejections=parsed.rejections,
        )


def recipient_import_confirm(*, actor: User, upload: RecipientImport) -> RecipientImport:
    """Import the good rows: new people are added, known ones (same e-mail) updated."""
    _forbid(perms.can_run_for(actor, upload.group.organisation))
    if upload.uploaded_by_id != actor.pk:
        raise DomainError("Seule la personne qui a déposé le fichier confirme l'import.")
    with transaction.atomic():
        locked = RecipientImport.objects.select_for_update().get(pk=upload.pk)
        if locked.status != ImportStatus.PENDING:
            raise DomainError("Cet import a déjà été traité ou abandonné : déposez le fichier.")
        group = RecipientGroup.objects.select_for_update().get(pk=locked.group_id)
        existing = {r.email.lower(): r for r in group.recipients.all()}
        new, changed = [], []
        fields = ("first_name", "last_name", "department", "position")
        for row in locked.rows:
            found = existing.get(row["email"])
            if found is None:
                new.append(Recipient(group=group, **row))
            elif any(getattr(found, f) != row[f] for f in fields):
                for f in fields:
                    setattr(found, f, row[f])
                changed.append(found)
        Recipient.objects.bulk_create(new, batch_size=1000)
        Recipient.objects.bulk_update(changed, fields, batch_size=1000)
        locked.status = ImportStatus.IMPORTED
        locked.created_count, locked.updated_count = len(new), len(changed)
        locked.rows = []  # personal data is now in the group; the import keeps counts only
        locked.finished_at = timezone.now()
        locked.save()
        group.save(update_fields=["updated_at"])
    return locked


def recipient_import_cancel(*, actor: User, upload: RecipientImport) -> None:
    if upload.uploaded_by_id != actor.pk:
        raise DomainError("Seule la personne qui a déposé le fichier l'abandonne.")
    with transaction.atomic():
        updated = RecipientImport.objects.filter(pk=upload.pk, status=ImportStatus.PENDING).update(
            status=ImportStatus.CANCELLED, finished_at=timezone.now(), rows=[]
        )
    if not updated:
        raise DomainError("Cet import a déjà été traité ou abandonné.")


# --- Mandates -------------------------------------------------------------------------------------


def mandate_grant(
    *,
    actor: User,
    establishment: Organisation,
    crrc: Organisation,
    starts_on: datetime.date,
    ends_on: datetime.date,
    visibility: str,
    note: str = "",
) -> Mandate:
    _forbid(
        perms.can_run_for(actor, establishment),
        "Seuls la direction, le RSSI et le DSI de l'établissement donnent un mandat.",
    )
    if crrc.kind != OrgKind.CRRC or crrc.region_id != establishment.region_id:
        raise DomainError("Le mandat se donne au CRRC de votre région.", field="crrc")
    if ends_on < starts_on:
        raise DomainError("La fin du mandat doit suivre son début.", field="ends_on")
    if ends_on < timezone.localdate():
        raise DomainError(
            "Ce mandat serait déjà échu : choisissez une fin à venir.", field="ends_on"
        )
    if (ends_on - starts_on).days > 3 * 366:
        raise DomainError("Un mandat dure au plus trois ans : il se renouvelle.", field="ends_on")
    with transaction.atomic():
        return Mandate.objects.create(
            establishment=establishment,
            crrc=crrc,
            starts_on=starts_on,
            ends_on=ends_on,
            visibility=visibility,
            note=note,
            signed_by=actor,
        )


def mandate_revoke(*, actor: User, mandate: Mandate) -> Mandate:
    """From now on the CRRC runs nothing more for the establishment: its campaigns that are
    not finished are cancelled (nothing more is sent)."""
    _forbid(
        perms.can_manage_mandate(actor, mandate),
        "Seul l'établissement qui a donné le mandat le révoque.",
    )
    with transaction.atomic():
        locked = Mandate.objects.select_for_update().get(pk=mandate.pk)
        if locked.revoked_at is not None:
            raise DomainError("Ce mandat est déjà révoqué.")
        locked.revoked_at, locked.revoked_by = timezone.now(), actor
        locked.save()
        for campaign in locked.campaigns.exclude(
            status__in=(CampaignStatus.DONE, CampaignStatus.CANCELLED)
        ):
            campaign.status, campaign.closed_at = CampaignStatus.CANCELLED, timezone.now()
            campaign.save()
    return locked


# --- Campaigns ------------------------------------------------------------------------------------

CAMPAIGN_FIELDS = (
    "name",
    "landing_page",
    "sending_profile",
    "starts_at",
    "spread_until",
    "window_start",
    "window_end",
    "weekdays_only",
    "privacy_mode",
    "retention_days",
    "staff_information",
    "legal_basis",
)


def _check_campaign(campaign: Campaign, templates, groups) -> None:
    operator = campaign.operator_id
    if not (campaign.name or "").strip():
        raise DomainError("Donnez un nom à la campagne.", field="name")
    if any(t.organisation_id != operator for t in templates):
        raise DomainError(
            "Les modèles doivent appartenir à la structure qui mène la campagne (copiez ceux "
            "de la bibliothèque).",
            field="templates",
        )
    if campaign.landing_page and campaign.landing_page.organisation_id != operator:
        raise DomainError("Cette page d'atterrissage n'est pas la vôtre.", field="landing_page")
    if campaign.sending_profile and campaign.sending_profile.organisation_id != operator:
        raise DomainError("Ce profil d'envoi n'est pas le vôtre.", field="sending_profile")
    if any(g.organisation_id != campaign.organisation_id for g in groups):
        raise DomainError("Les groupes doivent appartenir à la structure ciblée.", field="groups")
    if campaign.starts_at and campaign.spread_until and campaign.spread_until <= campaign.starts_at:
        raise DomainError(
            "La fin de l'étalement doit suivre le début des envois.", field="spread_until"
        )
    if campaign.window_end <= campaign.window_start:
        raise DomainError("L'heure de fin doit suivre l'heure de début.", field="window_end")
    if not 1 <= campaign.retention_days <= 365:
        raise DomainError(
            "La conservation des identités va de 1 à 365 jours.", field="retention_days"
        )


def campaign_create(
    *,
    actor: User,
    organisation: Organisation | None = None,
    mandate: Mandate | None = None,
    templates=(),
    groups=(),
    **data,
) -> Campaign:
    """Autonomous (`organisation` given: one of the user's establishments) or delegated
    (`mandate` given: valid today, held by the user's CRRC). Always a draft."""
    if mandate is not None:
        mandate = Mandate.objects.select_related("establishment", "crrc").get(pk=mandate.pk)
        _forbid(
            mandate.crrc_id in perms.crrc_ids(actor),
            "Ce mandat n'a pas été donné à votre CRRC.",
        )
        if not mandate.is_valid():
            raise DomainError("Ce mandat n'est pas valide aujourd'hui.", field="mandate")
        campaign = Campaign(
            organisation=mandate.establishment,
            operator=mandate.crrc,
            mode=CampaignMode.DELEGATED,
            mandate=mandate,
            created_by=actor,
        )
    elif organisation is not None:
        _forbid(perms.can_run_for(actor, organisation))
        campaign = Campaign(
            organisation=organisation,
            operator=organisation,
            mode=CampaignMode.AUTONOMOUS,
            created_by=actor,
        )
    else:
        raise DomainError("Choisissez la structure ciblée ou le mandat.", field="organisation")
    _assign(campaign, data, CAMPAIGN_FIELDS)
    templates, groups = list(templates), list(groups)
    _check_campaign(campaign, templates, groups)
    with transaction.atomic():
        campaign.save()
        campaign.templates.set(templates)
        campaign.groups.set(groups)
    return campaign


def campaign_update(*, actor: User, campaign: Campaign, templates, groups, **data) -> Campaign:
    _forbid(perms.can_edit_campaign(actor, campaign), "Vous ne menez pas cette campagne.")
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if not locked.is_editable:
            raise DomainError("Seule une campagne en brouillon se modifie.")
        _assign(locked, data, CAMPAIGN_FIELDS)
        templates, groups = list(templates), list(groups)
        _check_campaign(locked, templates, groups)
        locked.save()
        locked.templates.set(templates)
        locked.groups.set(groups)
    return locked


def launch_problems(campaign: Campaign) -> list[str]:
    """What is missing before the campaign can be scheduled (empty: ready)."""
    problems = []
    if not campaign.templates.exists():
        problems.append("Choisissez au moins un modèle de message.")
    if campaign.landing_page_id is None:
        problems.append("Choisissez une page d'atterrissage.")
    if campaign.sending_profile_id is None:
        problems.append("Choisissez un profil d'envoi.")
    elif not campaign.sending_profile.active:
        problems.append("Le profil d'envoi est désactivé.")
    if not Recipient.objects.filter(group__in=campaign.groups.all()).exists():
        problems.append("Choisissez au moins un groupe qui compte des destinataires.")
    if not campaign.starts_at or not campaign.spread_until:
        problems.append("Indiquez le début des envois et la fin de l'étalement.")
    elif campaign.spread_until <= timezone.now():
        problems.append("La fin de l'étalement est déjà passée.")
    if not campaign.staff_information.strip():
        problems.append("Rédigez l'information des personnels.")
    if not campaign.legal_basis.strip():
        problems.append("Indiquez la base légale.")
    if campaign.mode == CampaignMode.DELEGATED:
        mandate = campaign.mandate
        if mandate is None or not mandate.is_valid():
            problems.append("Le mandat n'est plus valide.")
        elif campaign.spread_until and (
            timezone.localtime(campaign.spread_until).date() > mandate.ends_on
        ):
            problems.append("La campagne doit se terminer avant la fin du mandat.")
    return problems


@dataclass
class Scheduled:
    campaign: Campaign
    recipients: int


def campaign_schedule(*, actor: User, campaign: Campaign) -> Scheduled:
    """Check the set-up, then snapshot the recipients (one per e-mail, with a random template
    among the chosen ones and its token): the sending engine works on that list."""
    _forbid(perms.can_edit_campaign(actor, campaign), "Vous ne menez pas cette campagne.")
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status != CampaignStatus.DRAFT:
            raise DomainError("Seule une campagne en brouillon se programme.")
        problems = launch_problems(locked)
        if problems:
            raise DomainError(" ".join(problems))
        templates = list(locked.templates.all())
        seen: set[str] = set()
        rows = []
        chooser = random.SystemRandom()
        people = Recipient.objects.filter(group__in=locked.groups.all()).order_by("pk")
        for person in people.iterator(chunk_size=2000):
            email = person.email.lower()
            if email in seen:
                continue
            seen.add(email)
            rows.append(
                CampaignRecipient(
                    campaign=locked,
                    department=person.department,
                    # The address and the names make the message; the anonymous mode erases
                    # them as soon as it is sent.
                    email=email,
                    first_name=person.first_name,
                    last_name=person.last_name,
                    template=chooser.choice(templates),
                )
            )
        CampaignRecipient.objects.bulk_create(rows, batch_size=1000)
        locked.status, locked.scheduled_at = CampaignStatus.SCHEDULED, timezone.now()
        locked.save()
    return Scheduled(locked, len(rows))


def campaign_cancel(*, actor: User, campaign: Campaign) -> Campaign:
    _forbid(
        perms.can_cancel_campaign(actor, campaign), "Vous ne pouvez pas annuler cette campagne."
    )
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status in (CampaignStatus.DONE, CampaignStatus.CANCELLED):
            raise DomainError("Cette campagne est déjà close.")
        locked.status, locked.closed_at = CampaignStatus.CANCELLED, timezone.now()
        locked.save()
        # Nothing more will be sent: pending messages stay pending (never marked sent).
        locked.recipients.filter(~Q(send_status="sent")).update(next_attempt_at=None)
    return locked
