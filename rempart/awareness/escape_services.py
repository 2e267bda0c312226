"""Writes of the escape-game sessions: record and edit one, with its participation rows, in one
transaction, audited. Only MANAGE_AWARENESS holders covering the host organisation (the CRRC
and the trainers of its region); participating organisations must be of the same region."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from rempart.core.errors import DomainError
from rempart.organisations.models import Organisation

from . import perms
from .models import EscapeGameParticipation, EscapeGameSession

SESSION_FIELDS = (
    "site",
    "held_on",
    "facilitator_name",
    "scenario",
    "duration_minutes",
    "team_count",
    "escaped",
    "escape_minutes",
    "debrief",
    "satisfaction",
)


@dataclass(frozen=True)
class ParticipationInput:
    organisation: Organisation
    count: int
    names: str = ""


def _check(actor, host: Organisation, data: dict, rows: Sequence[ParticipationInput]) -> None:
    if not perms.can_manage_escape_game_at(actor, host):
        raise DomainError(perms.NOT_MANAGER, code="forbidden", field="host")
    if not rows:
        raise DomainError(
            "Indiquez au moins une organisation participante et son nombre de participants.",
            field="participations",
        )
    seen = set()
    for row in rows:
        if row.count < 1:
            raise DomainError(
                "Le nombre de participants ne peut pas être négatif ni nul.",
                field="participations",
            )
        if row.organisation.pk in seen:
            raise DomainError(
                f"« {row.organisation.name} » figure deux fois : regroupez ses participants.",
                field="participations",
            )
        seen.add(row.organisation.pk)
        if row.organisation.region_id != host.region_id:
            raise DomainError(
                f"« {row.organisation.name} » n'est pas dans la région de la structure d'accueil.",
                field="participations",
            )
    satisfaction = data.get("satisfaction")
    if satisfaction is not None and not (Decimal(0) <= Decimal(satisfaction) <= Decimal(10)):
        raise DomainError("La satisfaction se note de 0 à 10.", field="satisfaction")
    if data.get("escape_minutes") is not None and data.get("escaped") is not True:
        raise DomainError(
            "Le temps de sortie ne se renseigne que si les joueurs se sont évadés.",
            field="escape_minutes",
        )


def _write_rows(session: EscapeGameSession, rows: Sequence[ParticipationInput]) -> None:
    existing = {p.organisation_id: p for p in session.participations.all()}
    wanted = {row.organisation.pk: row for row in rows}
    for org_id, participation in existing.items():
        if org_id not in wanted:
            participation.delete()
    for org_id, row in wanted.items():
        participation = existing.get(org_id)
        if participation is None:
            EscapeGameParticipation.objects.create(
                session=session, organisation=row.organisation, count=row.count, names=row.names
            )
        elif (participation.count, participation.names) != (row.count, row.names):
            participation.count, participation.names = row.count, row.names
            participation.save()
    session.participant_count = sum(row.count for row in rows)


def session_create(
    *, actor, host: Organisation, data: dict, participations: Sequence[ParticipationInput]
) -> EscapeGameSession:
    _check(actor, host, data, participations)
    with transaction.atomic():
        session = EscapeGameSession.objects.create(
            region_id=host.region_id,
            host=host,
            recorded_by=actor,
            facilitator=actor,
            **{k: data[k] for k in SESSION_FIELDS if k in data},
        )
        _write_rows(session, participations)
        session.save(update_fields=["participant_count"])
    return session


def session_update(
    *,
    actor,
    session: EscapeGameSession,
    host: Organisation,
    data: dict,
    participations: Sequence[ParticipationInput],
) -> EscapeGameSession:
    if not perms.can_manage_escape_game_at(actor, session.host):
        raise DomainError(perms.NOT_MANAGER, code="forbidden")
    _check(actor, host, data, participations)
    with transaction.atomic():
        session = EscapeGameSession.objects.select_for_update().get(pk=session.pk)
        session.host, session.region_id = host, host.region_id
        for key in SESSION_FIELDS:
            if key in data:
                setattr(session, key, data[key])
        _write_rows(session, participations)
        session.save()
    return session
