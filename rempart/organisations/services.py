"""Writes on organisations, people and invitations: one transaction each, audited, side
effects after commit."""

import datetime
import hashlib

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.roles import ROLES, OrgKind, Role

from . import perms
from .models import Invitation, Membership, Organisation, User

INVITATION_SALT = "rempart.organisations.invitation"


def _email_digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]


def invitation_token(invitation: Invitation) -> str:
    """Signed and timestamped; carries the invitation id and a digest of the address (the
    payload of a signed value is readable, so the address itself never appears in the link)."""
    return signing.dumps(
        {"i": invitation.pk, "e": _email_digest(invitation.email)}, salt=INVITATION_SALT
    )


def invitation_from_token(token: str) -> Invitation:
    """The pending invitation behind a signed link, or a DomainError saying why not."""
    max_age = datetime.timedelta(days=settings.INVITATION_MAX_AGE_DAYS)
    try:
        payload = signing.loads(token, salt=INVITATION_SALT, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise DomainError(
            "Ce lien d'invitation a expiré. Demandez à la personne qui vous a invité de vous en envoyer un nouveau.",
            code="invitation_expired",
        ) from exc
    except signing.BadSignature as exc:
        raise DomainError(
            "Ce lien d'invitation n'est pas valide. Vérifiez qu'il a été copié en entier.",
            code="invitation_invalid",
        ) from exc
    invitation = (
        Invitation.objects.select_related("organisation").filter(pk=payload.get("i")).first()
    )
    if invitation is None or _email_digest(invitation.email) != payload.get("e"):
        raise DomainError("Cette invitation n'existe plus.", code="invitation_invalid")
    if invitation.revoked_at:
        raise DomainError("Cette invitation a été annulée.", code="invitation_revoked")
    if invitation.accepted_at:
        raise DomainError(
            "Cette invitation a déjà été acceptée. Connectez-vous avec votre adresse e-mail.",
            code="invitation_used",
        )
    if invitation.expires_at <= timezone.now():
        raise DomainError(
            "Ce lien d'invitation a expiré. Demandez à la personne qui vous a invité de vous en envoyer un nouveau.",
            code="invitation_expired",
        )
    return invitation


def _check_role_for(actor: User, organisation: Organisation, role: str) -> Role:
    try:
        role_enum = Role(role)
    except ValueError as exc:
        raise DomainError("Ce rôle n'existe pas.", code="unknown_role", field="role") from exc
    if OrgKind(organisation.kind) not in ROLES[role_enum].org_kinds:
        raise DomainError(
            f"Le rôle « {ROLES[role_enum].label} » ne peut pas être attribué dans ce type d'organisation.",
            code="role_not_allowed_here",
            field="role",
        )
    if role_enum not in perms.grantable_roles(actor, organisation):
        raise DomainError(
            f"Vous ne pouvez pas attribuer le rôle « {ROLES[role_enum].label} » dans cette organisation.",
            code="role_not_grantable",
            field="role",
        )
    return role_enum


def invitation_create(
    *, actor: User, organisation: Organisation, email: str, role: str
) -> Invitation:
    if not perms.can_manage_people(actor, organisation):
        raise DomainError(
            "Vous ne pouvez pas inviter de personnes dans cette organisation.", code="forbidden"
        )
    _check_role_for(actor, organisation, role)
    email = email.strip().lower()
    existing_user = User.objects.filter(email__iexact=email).first()
    if (
        existing_user
        and Membership.objects.active()
        .filter(user=existing_user, organisation=organisation, role=role)
        .exists()
    ):
        raise DomainError(
            "Cette personne a déjà ce rôle dans l'organisation.",
            code="already_member",
            field="email",
        )
    now = timezone.now()
    with transaction.atomic():
        # An expired, unanswered invitation for the same role is replaced by the new one.
        Invitation.objects.filter(
            email__iexact=email,
            organisation=organisation,
            role=role,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__lte=now,
        ).update(revoked_at=now)
        try:
            with transaction.atomic():
                invitation = Invitation.objects.create(
                    email=email,
                    organisation=organisation,
                    role=role,
                    invited_by=actor,
                    expires_at=now + datetime.timedelta(days=settings.INVITATION_MAX_AGE_DAYS),
                )
        except IntegrityError as exc:
            raise DomainError(
                "Une invitation est déjà en attente pour cette adresse et ce rôle. "
                "Vous pouvez la renvoyer depuis la liste des invitations.",
                code="invitation_pending",
                field="email",
            ) from exc
        transaction.on_commit(lambda: _send_invitation(invitation.pk))
    return invitation


def _send_invitation(invitation_id: int) -> None:
    from .tasks import send_invitation_email

    send_invitation_email.delay(invitation_id)


def invitation_resend(*, actor: User, invitation: Invitation) -> Invitation:
    if not perms.can_manage_people(actor, invitation.organisation):
        raise DomainError("Vous ne pouvez pas gérer cette invitation.", code="forbidden")
    if invitation.accepted_at or invitation.revoked_at:
        raise DomainError("Cette invitation n'est plus en attente.", code="invitation_closed")
    with transaction.atomic():
        invitation.expires_at = timezone.now() + datetime.timedelta(
            days=settings.INVITATION_MAX_AGE_DAYS
        )
        invitation.save(update_fields=["expires_at"])
        transaction.on_commit(lambda: _send_invitation(invitation.pk))
    return invitation


def invitation_revoke(*, actor: User, invitation: Invitation) -> Invitation:
    if not perms.can_manage_people(actor, invitation.organisation):
        raise DomainError("Vous ne pouvez pas gérer cette invitation.", code="forbidden")
    if invitation.accepted_at or invitation.revoked_at:
        raise DomainError("Cette invitation n'est plus en attente.", code="invitation_closed")
    with transaction.atomic():
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation


def invitation_accept(
    *,
    token: str,
    user: User | None = None,
    first_name: str = "",
    last_name: str = "",
    password: str = "",
) -> Membership:
    """Turn a valid invitation into a membership; create the account if the person has none.

    When `user` is given (a logged-in person), their address must be the invited one.
    """
    with transaction.atomic():
        invitation = invitation_from_token(token)
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("organisation")
            .get(pk=invitation.pk)
        )
        if invitation.accepted_at or invitation.revoked_at:
            raise DomainError("Cette invitation n'est plus en attente.", code="invitation_closed")
        if user is not None:
            if user.email.lower() != invitation.email.lower():
                raise DomainError(
                    f"Cette invitation est destinée à {invitation.email}. "
                    "Déconnectez-vous puis ouvrez à nouveau le lien.",
                    code="invitation_other_user",
                )
        else:
            if User.objects.filter(email__iexact=invitation.email).exists():
                raise DomainError(
                    "Un compte existe déjà pour cette adresse : connectez-vous pour accepter l'invitation.",
                    code="account_exists",
                )
            user = User.objects.create_user(
                email=invitation.email,
                password=password,
                first_name=first_name,
                last_name=last_name,
            )
        membership, _created = Membership.objects.get_or_create(
            user=user,
            organisation=invitation.organisation,
            role=invitation.role,
            valid_until=None,
            defaults={"created_by": invitation.invited_by},
        )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
    perms.forget_memberships(user)
    return membership


def membership_end(
    *, actor: User, membership: Membership, on: datetime.date | None = None
) -> Membership:
    if not perms.can_manage_people(actor, membership.organisation):
        raise DomainError(
            "Vous ne pouvez pas modifier les rattachements de cette organisation.", code="forbidden"
        )
    if membership.user_id == actor.pk:
        raise DomainError(
            "Vous ne pouvez pas mettre fin à votre propre rattachement.", code="self_removal"
        )
    if Role(membership.role) not in perms.grantable_roles(actor, membership.organisation):
        raise DomainError("Vous ne pouvez pas retirer ce rôle.", code="role_not_grantable")
    with transaction.atomic():
        membership.valid_until = max(on or timezone.localdate(), membership.valid_from)
        membership.save(update_fields=["valid_until"])
    return membership


ORGANISATION_EDITABLE_FIELDS = (
    "name",
    "address",
    "postal_code",
    "commune",
    "phone",
    "email",
    "beds",
    "places",
    "staff_count",
    "operating_budget_eur",
)


def organisation_update(*, actor: User, organisation: Organisation, **changes) -> Organisation:
    if not perms.can_edit_organisation(actor, organisation):
        raise DomainError("Vous ne pouvez pas modifier cette organisation.", code="forbidden")
    unknown = set(changes) - set(ORGANISATION_EDITABLE_FIELDS)
    if unknown:
        raise DomainError(
            f"Champs non modifiables : {', '.join(sorted(unknown))}.", code="not_editable"
        )
    with transaction.atomic():
        for field, value in changes.items():
            setattr(organisation, field, value)
        organisation.full_clean()
        organisation.save()
    return organisation


CREATABLE_KINDS = (OrgKind.GHT, OrgKind.PROVIDER, OrgKind.LIBERAL)


def organisation_create(*, actor: User, kind: str, name: str, region, **fields) -> Organisation:
    """Create an organisation that the FINESS registry does not provide."""
    if kind not in CREATABLE_KINDS:
        raise DomainError(
            "Les établissements et entités juridiques viennent du répertoire FINESS : importez une extraction.",
            code="kind_from_finess",
            field="kind",
        )
    regions = perms.creatable_regions(actor)
    if regions is not None and region.pk not in regions:
        raise DomainError(
            "Vous ne pouvez pas créer d'organisation dans cette région.",
            code="forbidden",
            field="region",
        )
    with transaction.atomic():
        organisation = Organisation(kind=kind, name=name.strip(), region=region, **fields)
        organisation.full_clean()
        organisation.save()
    return organisation


def ght_add_member(*, actor: User, ght: Organisation, establishment: Organisation) -> Organisation:
    if not perms.can_manage_ght_composition(actor, ght):
        raise DomainError("Vous ne pouvez pas modifier la composition de ce GHT.", code="forbidden")
    if establishment.kind not in (OrgKind.ESTABLISHMENT, OrgKind.LEGAL_ENTITY):
        raise DomainError(
            "Seuls les établissements et entités juridiques peuvent être membres d'un GHT.",
            code="not_an_establishment",
            field="establishment",
        )
    if establishment.region_id != ght.region_id:
        raise DomainError(
            "Cet établissement n'est pas dans la région du GHT.",
            code="other_region",
            field="establishment",
        )
    if establishment.ght_id == ght.pk:
        raise DomainError(
            f"{establishment.name} est déjà membre de ce GHT.",
            code="already_member",
            field="establishment",
        )
    if establishment.ght_id is not None:
        raise DomainError(
            f"{establishment.name} est déjà membre du GHT « {establishment.ght.name} » : "
            "retirez-le d'abord de ce GHT (un établissement appartient à un seul GHT).",
            code="other_ght",
            field="establishment",
        )
    with transaction.atomic():
        establishment.ght = ght
        establishment.save(update_fields=["ght", "updated_at"])
    return establishment


def ght_remove_member(
    *, actor: User, ght: Organisation, establishment: Organisation
) -> Organisation:
    if not perms.can_manage_ght_composition(actor, ght):
        raise DomainError("Vous ne pouvez pas modifier la composition de ce GHT.", code="forbidden")
    if establishment.ght_id != ght.pk:
        raise DomainError("Cet établissement n'est pas membre de ce GHT.", code="not_member")
    if ght.support_establishment_id == establishment.pk:
        raise DomainError(
            "Désignez d'abord un autre établissement support avant de retirer celui-ci.",
            code="is_support",
        )
    with transaction.atomic():
        establishment.ght = None
        establishment.save(update_fields=["ght", "updated_at"])
    return establishment


def ght_set_support(*, actor: User, ght: Organisation, establishment: Organisation) -> Organisation:
    if not perms.can_manage_ght_composition(actor, ght):
        raise DomainError("Vous ne pouvez pas modifier la composition de ce GHT.", code="forbidden")
    if establishment.ght_id != ght.pk:
        raise DomainError(
            "L'établissement support doit être membre du GHT.",
            code="not_member",
            field="establishment",
        )
    with transaction.atomic():
        ght.support_establishment = establishment
        ght.save(update_fields=["support_establishment", "updated_at"])
    return ght
