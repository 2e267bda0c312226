"""Reads of the escape-game sessions, scoped: MANAGE_AWARENESS holders see the sessions of
their region; VIEW_AWARENESS holders see the sessions hosted by or involving organisations
within their scope, and only those organisations' participation rows."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from rempart.organisations.models import Organisation

from . import perms
from .models import EscapeGameParticipation, EscapeGameSession


def _scope(user) -> Q:
    q = perms.figures_q(user)
    if q is None:
        raise PermissionDenied(perms.NO_ESCAPE)
    return q


def scope_organisations(user) -> QuerySet[Organisation]:
    return Organisation.objects.filter(_scope(user))


def _participation_in_scope(user) -> Q:
    q = _scope(user)
    if not q:
        return Q()
    return Q(organisation__in=Organisation.objects.filter(q).values("pk"))


def sessions(
    user,
    *,
    year: int | None = None,
    organisation: Organisation | None = None,
) -> QuerySet[EscapeGameSession]:
    """The sessions the user may see (403 without any awareness capability)."""
    scope = _scope(user)
    qs = EscapeGameSession.objects.select_related("host", "region")
    if scope:
        in_scope = Organisation.objects.filter(scope).values("pk")
        involved = EscapeGameParticipation.objects.filter(
            session_id=OuterRef("pk"), organisation__in=in_scope
        )
        qs = qs.filter(Q(host__in=in_scope) | Q(Exists(involved)))
    if year:
        qs = qs.filter(held_on__year=year)
    if organisation is not None:
        qs = qs.filter(
            Q(host=organisation)
            | Q(
                Exists(
                    EscapeGameParticipation.objects.filter(
                        session_id=OuterRef("pk"), organisation=organisation
                    )
                )
            )
        )
    return qs.order_by("-held_on", "-pk")


def with_visible_participations(user, qs: QuerySet[EscapeGameSession]):
    visible = EscapeGameParticipation.objects.filter(_participation_in_scope(user)).select_related(
        "organisation"
    )
    return qs.prefetch_related(Prefetch("participations", queryset=visible, to_attr="visible"))


@dataclass(frozen=True)
class Totals:
    sessions: int
    participants: int  # from organisations within the user's scope
    organisations: int


def totals(user, qs: QuerySet[EscapeGameSession]) -> Totals:
    rows = EscapeGameParticipation.objects.filter(
        _participation_in_scope(user), session__in=qs.values("pk")
    )
    aggregate = rows.aggregate(total=Sum("count"))
    return Totals(
        sessions=qs.count(),
        participants=aggregate["total"] or 0,
        organisations=rows.values("organisation").distinct().count(),
    )


def get_session(user, pk: int) -> EscapeGameSession:
    session = sessions(user).filter(pk=pk).first()
    if session is None:
        raise Http404("Session introuvable.")
    session.can_edit = perms.can_manage_escape_game_at(user, session.host)
    session.visible = list(
        EscapeGameParticipation.objects.filter(_participation_in_scope(user), session=session)
        .select_related("organisation")
        .order_by("organisation__name")
    )
    return session


def get_session_for_edit(user, pk: int) -> EscapeGameSession:
    session = get_session(user, pk)
    if not session.can_edit:
        raise PermissionDenied(perms.NOT_MANAGER)
    return session


def host_choices(user) -> QuerySet[Organisation]:
    """Organisations where the user may record a session (their region, for the CRRC)."""
    q = perms.manage_q(user)
    if q is None:
        raise PermissionDenied(perms.NOT_MANAGER)
    return Organisation.objects.filter(q, is_active=True).order_by("name", "pk")


def filter_organisations(user) -> QuerySet[Organisation]:
    """Organisations offered by the list's filter."""
    return scope_organisations(user).filter(is_active=True).order_by("name", "pk")


def export_rows(user, qs: QuerySet[EscapeGameSession]):
    """One row per (session, organisation within scope), for the CSV export."""
    rows = (
        EscapeGameParticipation.objects.filter(
            _participation_in_scope(user), session__in=qs.values("pk")
        )
        .select_related("session", "session__host", "organisation")
        .order_by("-session__held_on", "session_id", "organisation__name")
    )
    for row in rows.iterator(chunk_size=500):
        s = row.session
        yield [
            s.held_on.strftime("%d/%m/%Y"),
            s.scenario,
            s.host.name,
            s.site,
            s.facilitator_name,
            s.team_count,
            {True: "oui", False: "non"}.get(s.escaped, ""),
            s.escape_minutes if s.escape_minutes is not None else "",
            str(s.satisfaction).replace(".", ",") if s.satisfaction is not None else "",
            row.organisation.name,
            row.organisation.finess or "",
            row.count,
        ]


def current_year() -> int:
    return timezone.localdate().year
