"""The windows of a funding call, and the server-side rule that nothing is accepted outside them.

A call has three windows, each with inclusive dates in Europe/Paris:

* candidature: [application_opens_on, application_closes_on];
* déclaration d'atteinte des cibles: from the day after applications close to the
  declaration deadline (the operational phase, once applications have been reviewed);
* guichet de paiement: [payment_opens_on, payment_closes_on].

`phase_on` says where a call stands on a given day, `next_opening` which window opens next,
and `require_open` is what every submission, declaration and payment request calls before it
writes anything: it raises a DomainError whose French message says when the window closed or
opens, and what comes next.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rempart.core.errors import DomainError

PARIS = ZoneInfo("Europe/Paris")

MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def paris_today() -> datetime.date:
    """Today in Europe/Paris: a window closing on 31 October is open until midnight in Paris,
    whatever the server's own time zone."""
    return timezone.localdate(timezone=PARIS)


def format_date_fr(day: datetime.date) -> str:
    """« 1er janvier 2026 », « 31 octobre 2025 »."""
    number = "1er" if day.day == 1 else str(day.day)
    return f"{number} {MONTHS[day.month - 1]} {day.year}"


class Phase(StrEnum):
    UPCOMING = "a_venir"
    APPLICATIONS = "candidatures"
    OPERATIONAL = "operationnelle"
    PAYMENT = "paiement"
    CLOSED = "clos"

    @property
    def label(self) -> str:
        return str(PHASE_LABELS[self])

    @property
    def badge(self) -> str:
        """DSFR badge modifier for the phase."""
        return PHASE_BADGES[self]


PHASE_LABELS = {
    Phase.UPCOMING: _("À venir"),
    Phase.APPLICATIONS: _("Candidatures ouvertes"),
    Phase.OPERATIONAL: _("Instruction et phase opérationnelle"),
    Phase.PAYMENT: _("Guichet de paiement ouvert"),
    Phase.CLOSED: _("Clos"),
}
PHASE_BADGES = {
    Phase.UPCOMING: "fr-badge--info",
    Phase.APPLICATIONS: "fr-badge--success",
    Phase.OPERATIONAL: "fr-badge--new",
    Phase.PAYMENT: "fr-badge--warning",
    Phase.CLOSED: "",
}


class Window(StrEnum):
    APPLICATION = "candidature"
    DECLARATION = "declaration"
    PAYMENT = "paiement"


# (name of the window, with its article, as it appears in a sentence)
WINDOW_NAMES = {
    Window.APPLICATION: ("fenêtre de candidature", "la fenêtre de candidature"),
    Window.DECLARATION: (
        "déclaration d'atteinte des cibles",
        "la fenêtre de déclaration d'atteinte des cibles",
    ),
    Window.PAYMENT: ("guichet de paiement", "le guichet de paiement"),
}


@dataclass(frozen=True)
class WindowSpan:
    window: Window
    opens_on: datetime.date
    closes_on: datetime.date

    @property
    def name(self) -> str:
        return WINDOW_NAMES[self.window][0]

    @property
    def label(self) -> str:
        return self.name[0].upper() + self.name[1:]

    @property
    def opens_label(self) -> str:
        return format_date_fr(self.opens_on)

    @property
    def closes_label(self) -> str:
        return format_date_fr(self.closes_on)

    def is_open_on(self, day: datetime.date) -> bool:
        return self.opens_on <= day <= self.closes_on

    def describe(self) -> str:
        """« guichet de paiement du 1er janvier 2026 au 25 octobre 2026 »."""
        return f"{self.name} du {format_date_fr(self.opens_on)} au {format_date_fr(self.closes_on)}"


def spans(call) -> list[WindowSpan]:
    """The call's windows in chronological order of opening."""
    result = [
        WindowSpan(Window.APPLICATION, call.application_opens_on, call.application_closes_on),
        WindowSpan(
            Window.DECLARATION,
            call.application_closes_on + datetime.timedelta(days=1),
            call.declaration_deadline,
        ),
        WindowSpan(Window.PAYMENT, call.payment_opens_on, call.payment_closes_on),
    ]
    return sorted(result, key=lambda span: (span.opens_on, list(Window).index(span.window)))


def span(call, window: Window | str) -> WindowSpan:
    window = Window(window)
    return next(s for s in spans(call) if s.window == window)


def phase_on(call, day: datetime.date) -> Phase:
    """Where the call stands on `day`: before applications, applications open, review and
    operational phase (declarations), payment window open, or closed."""
    if day < call.application_opens_on:
        return Phase.UPCOMING
    if day <= call.application_closes_on:
        return Phase.APPLICATIONS
    if call.payment_opens_on <= day <= call.payment_closes_on:
        return Phase.PAYMENT
    if day > call.payment_closes_on and day > call.declaration_deadline:
        return Phase.CLOSED
    return Phase.OPERATIONAL


def open_windows(call, day: datetime.date) -> list[WindowSpan]:
    return [s for s in spans(call) if s.is_open_on(day)]


def next_opening(call, day: datetime.date) -> WindowSpan | None:
    """The first window that opens after `day` (None when every window has opened)."""
    return next((s for s in spans(call) if s.opens_on > day), None)


def current_or_next(call, day: datetime.date) -> WindowSpan | None:
    """What the calls list shows: the window open today, else the next one to open."""
    opened = open_windows(call, day)
    return opened[0] if opened else next_opening(call, day)


def require_open(call, window: Window | str, *, today: datetime.date | None = None) -> None:
    """Refuse (DomainError) anything done outside `window`, saying when it opens or closed
    and what comes next. Every write bound to a window calls this on the server."""
    today = today or paris_today()
    target = span(call, window)
    if target.is_open_on(today):
        return
    with_article = WINDOW_NAMES[target.window][1]
    subject = with_article[0].upper() + with_article[1:]
    closed_feminine = target.window != Window.PAYMENT
    if today < target.opens_on:
        message = (
            f"{subject} n'est pas encore {'ouverte' if closed_feminine else 'ouvert'} : "
            f"{'elle' if closed_feminine else 'il'} ouvrira le {format_date_fr(target.opens_on)} "
            f"et fermera le {format_date_fr(target.closes_on)} au soir."
        )
        raise DomainError(message, code="window_not_open")
    message = (
        f"{subject} est {'close' if closed_feminine else 'clos'} depuis le "
        f"{format_date_fr(target.closes_on)} au soir."
    )
    following = next_opening(call, today)
    if following is not None:
        message += f" Prochaine étape : {following.describe()}."
    else:
        message += " Aucune autre fenêtre n'est prévue pour cet appel."
    raise DomainError(message, code="window_closed")


# --- Order of the dates -----------------------------------------------------------------------

DATE_FIELDS = (
    "application_opens_on",
    "application_closes_on",
    "declaration_deadline",
    "payment_opens_on",
    "payment_closes_on",
)


def check_order(dates: dict[str, datetime.date | None]) -> list[tuple[str, str]]:
    """(field, French message) for every date missing or out of order.

    Stricter than the database constraints (which accept equal dates): each phase must start
    the day after the previous one ends, so that a day never belongs to two phases."""
    errors: list[tuple[str, str]] = []
    missing = {
        "application_opens_on": "Indiquez la date d'ouverture des candidatures.",
        "application_closes_on": "Indiquez la date de clôture des candidatures.",
        "declaration_deadline": "Indiquez la date limite de déclaration d'atteinte des cibles.",
        "payment_opens_on": "Indiquez la date d'ouverture du guichet de paiement.",
        "payment_closes_on": "Indiquez la date de fermeture du guichet de paiement.",
    }
    for field_name, message in missing.items():
        if not dates.get(field_name):
            errors.append((field_name, message))
    if errors:
        return errors
    a_open, a_close = dates["application_opens_on"], dates["application_closes_on"]
    deadline = dates["declaration_deadline"]
    p_open, p_close = dates["payment_opens_on"], dates["payment_closes_on"]
    if a_close < a_open:
        errors.append(
            (
                "application_closes_on",
                f"La clôture des candidatures ({format_date_fr(a_close)}) doit être le jour de "
                f"l'ouverture ({format_date_fr(a_open)}) ou après.",
            )
        )
    if deadline <= a_close:
        errors.append(
            (
                "declaration_deadline",
                f"La date limite de déclaration ({format_date_fr(deadline)}) doit être postérieure "
                f"à la clôture des candidatures ({format_date_fr(a_close)}) : les déclarations "
                "se font pendant la phase opérationnelle.",
            )
        )
    if p_open <= a_close:
        errors.append(
            (
                "payment_opens_on",
                f"Le guichet de paiement ({format_date_fr(p_open)}) doit ouvrir après la clôture "
                f"des candidatures ({format_date_fr(a_close)}).",
            )
        )
    if p_close < p_open:
        errors.append(
            (
                "payment_closes_on",
                f"La fermeture du guichet de paiement ({format_date_fr(p_close)}) doit être le "
                f"jour de son ouverture ({format_date_fr(p_open)}) ou après.",
            )
        )
    if p_close < deadline:
        errors.append(
            (
                "payment_closes_on",
                f"Le guichet de paiement doit fermer ({format_date_fr(p_close)}) au plus tôt à la "
                f"date limite de déclaration ({format_date_fr(deadline)}) : sinon des cibles "
                "déclarées à temps ne pourraient plus être payées.",
            )
        )
    return errors
