"""Windows of a call: the phase on each boundary date, and refusals outside a window with a
message that says when the next one opens."""

import datetime

import pytest
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.programme import windows
from rempart.programme.models import Call
from rempart.programme.windows import Phase, Window

from .factories import CALENDAR

D = datetime.date


@pytest.fixture
def call():
    # Not saved: windows only read the dates.
    return Call(**CALENDAR)


@pytest.mark.parametrize(
    ("day", "phase"),
    [
        (D(2025, 9, 1), Phase.UPCOMING),
        (D(2025, 9, 2), Phase.APPLICATIONS),
        (D(2025, 10, 31), Phase.APPLICATIONS),
        (D(2025, 11, 1), Phase.OPERATIONAL),
        (D(2026, 6, 30), Phase.OPERATIONAL),
        (D(2026, 7, 1), Phase.PAYMENT),
        (D(2026, 10, 25), Phase.PAYMENT),
        (D(2026, 10, 26), Phase.CLOSED),
    ],
)
def test_phase_on_each_boundary(call, day, phase):
    assert windows.phase_on(call, day) == phase


def test_phase_labels_are_french():
    assert [p.label for p in Phase] == [
        "À venir",
        "Candidatures ouvertes",
        "Instruction et phase opérationnelle",
        "Guichet de paiement ouvert",
        "Clos",
    ]


def test_declaration_window_runs_from_the_day_after_applications_close(call):
    declaration = windows.span(call, Window.DECLARATION)
    assert (declaration.opens_on, declaration.closes_on) == (D(2025, 11, 1), D(2026, 6, 30))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2025, 9, 1), (Window.APPLICATION, D(2025, 9, 2))),
        (D(2025, 9, 2), (Window.DECLARATION, D(2025, 11, 1))),
        (D(2025, 10, 31), (Window.DECLARATION, D(2025, 11, 1))),
        (D(2025, 11, 1), (Window.PAYMENT, D(2026, 7, 1))),
        (D(2026, 7, 1), None),
    ],
)
def test_next_opening(call, day, expected):
    following = windows.next_opening(call, day)
    assert (following and (following.window, following.opens_on)) == expected


@pytest.mark.parametrize("day", [D(2025, 9, 2), D(2025, 10, 1), D(2025, 10, 31)])
def test_application_accepted_inside_its_window_bounds_included(call, day):
    windows.require_open(call, Window.APPLICATION, today=day)


def test_application_refused_the_day_before_opening(call):
    with pytest.raises(DomainError) as refused:
        windows.require_open(call, Window.APPLICATION, today=D(2025, 9, 1))
    assert refused.value.code == "window_not_open"
    assert refused.value.message == (
        "La fenêtre de candidature n'est pas encore ouverte : elle ouvrira le 2 septembre 2025 "
        "et fermera le 31 octobre 2025 au soir."
    )


def test_application_refused_the_day_after_closing_says_what_comes_next(call):
    with pytest.raises(DomainError) as refused:
        windows.require_open(call, Window.APPLICATION, today=D(2025, 11, 1))
    assert refused.value.code == "window_closed"
    assert refused.value.message == (
        "La fenêtre de candidature est close depuis le 31 octobre 2025 au soir. "
        "Prochaine étape : guichet de paiement du 1er juillet 2026 au 25 octobre 2026."
    )


def test_declaration_window_bounds(call):
    with pytest.raises(DomainError) as refused:
        windows.require_open(call, Window.DECLARATION, today=D(2025, 10, 31))
    assert "ouvrira le 1er novembre 2025" in refused.value.message
    windows.require_open(call, Window.DECLARATION, today=D(2025, 11, 1))
    windows.require_open(call, Window.DECLARATION, today=D(2026, 6, 30))
    with pytest.raises(DomainError) as refused:
        windows.require_open(call, Window.DECLARATION, today=D(2026, 7, 1))
    assert refused.value.message == (
        "La fenêtre de déclaration d'atteinte des cibles est close depuis le 30 juin 2026 au soir. "
        "Aucune autre fenêtre n'est prévue pour cet appel."
    )


def test_payment_window_bounds(call):
    with pytest.raises(DomainError) as refused:
        windows.require_open(call, Window.PAYMENT, today=D(2026, 6, 30))
    assert refused.value.message == (
        "Le guichet de paiement n'est pas encore ouvert : il ouvrira le 1er juillet 2026 "
        "et fermera le 25 octobre 2026 au soir."
    )
    windows.require_open(call, Window.PAYMENT, today=D(2026, 7, 1))
    windows.require_open(call, Window.PAYMENT, today=D(2026, 10, 25))
    with pytest.raises(DomainError) as refused:
        windows.require_open(call, Window.PAYMENT, today=D(2026, 10, 26))
    assert refused.value.message == (
        "Le guichet de paiement est clos depuis le 25 octobre 2026 au soir. "
        "Aucune autre fenêtre n'est prévue pour cet appel."
    )


def test_today_is_the_day_in_paris(call, monkeypatch):
    """23:30 UTC on 31 October is already 1 November in Paris: applications are closed."""
    instant = datetime.datetime(2025, 10, 31, 23, 30, tzinfo=datetime.UTC)
    monkeypatch.setattr(timezone, "now", lambda: instant)
    assert windows.paris_today() == D(2025, 11, 1)
    with pytest.raises(DomainError):
        windows.require_open(call, Window.APPLICATION)
    earlier = datetime.datetime(2025, 10, 31, 22, 30, tzinfo=datetime.UTC)  # 23:30 in Paris
    monkeypatch.setattr(timezone, "now", lambda: earlier)
    windows.require_open(call, Window.APPLICATION)


def test_french_dates():
    assert windows.format_date_fr(D(2026, 1, 1)) == "1er janvier 2026"
    assert windows.format_date_fr(D(2025, 8, 15)) == "15 août 2025"


def test_check_order_accepts_a_well_ordered_calendar():
    assert windows.check_order(CALENDAR) == []


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        (
            {"application_closes_on": D(2025, 9, 1)},
            "application_closes_on",
            "La clôture des candidatures (1er septembre 2025) doit être le jour de l'ouverture",
        ),
        (
            {"declaration_deadline": D(2025, 10, 31)},
            "declaration_deadline",
            "doit être postérieure à la clôture des candidatures (31 octobre 2025)",
        ),
        (
            {"payment_opens_on": D(2025, 10, 31)},
            "payment_opens_on",
            "Le guichet de paiement (31 octobre 2025) doit ouvrir après la clôture des candidatures",
        ),
        (
            {"payment_closes_on": D(2026, 6, 30)},
            "payment_closes_on",
            "La fermeture du guichet de paiement (30 juin 2026) doit être le jour de son ouverture",
        ),
        (
            {"payment_opens_on": D(2026, 3, 1), "payment_closes_on": D(2026, 5, 31)},
            "payment_closes_on",
            "au plus tôt à la date limite de déclaration (30 juin 2026)",
        ),
        (
            {"payment_opens_on": None},
            "payment_opens_on",
            "Indiquez la date d'ouverture du guichet de paiement.",
        ),
    ],
)
def test_check_order_messages(changes, field, words):
    errors = windows.check_order({**CALENDAR, **changes})
    assert any(f == field and words in message for f, message in errors), errors
