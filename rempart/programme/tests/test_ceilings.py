"""Ceilings as data: schedule validation, each establishment's ceiling with its computation,
GHT and legal entity sums, eligibility, the applicants of a region and the envelope."""

import copy
from decimal import Decimal

import pytest

from rempart.core.roles import OrgKind
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory
from rempart.programme import ceilings
from rempart.programme.ceilings import CeilingResult, validate_schedule
from rempart.programme.models import ApplicantRule, Call

from .factories import (
    BRACKETS_SCHEDULE,
    CallFactory,
    ehpad_category,
    establishment,
    ght,
    hospital_category,
    legal_entity,
)

pytestmark = pytest.mark.django_db


def plain(text: str) -> str:
    """Steps use no-break spaces between thousands; tests read them as plain spaces."""
    return text.replace("\u00a0", " ")


def steps(result: CeilingResult) -> list[str]:
    return [plain(step) for step in result.steps]


# --- Validation --------------------------------------------------------------------------------


def test_valid_schedules():
    assert validate_schedule(BRACKETS_SCHEDULE) == []
    assert (
        validate_schedule(
            {"basis": "beds", "method": "rate", "rate": "150.00", "floor": "15000.00"}
        )
        == []
    )
    assert (
        validate_schedule(
            {
                "basis": "places",
                "method": "brackets",
                "brackets": [{"up_to": None, "amount": "0.00"}],
            }
        )
        == []
    )


def with_changes(**changes):
    schedule = copy.deepcopy(BRACKETS_SCHEDULE)
    for key, value in changes.items():
        if value is None:
            schedule.pop(key, None)
        else:
            schedule[key] = value
    return schedule


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        ({}, "Le barème des plafonds est vide"),
        ("barème", "Le barème des plafonds est vide"),
        (with_changes(basis="surface"), "Choisissez la base de calcul du plafond"),
        (with_changes(method="forfait"), "Choisissez la méthode de calcul"),
        (with_changes(plancher="1"), "Élément(s) inconnu(s) dans le barème : plancher"),
        (with_changes(brackets=[]), "Indiquez au moins une tranche"),
        (
            with_changes(
                brackets=[
                    {"up_to": 20_000_000, "amount": "15000.00"},
                    {"up_to": 5_000_000, "amount": "25000.00"},
                    {"up_to": None, "amount": "60000.00"},
                ]
            ),
            "Tranche 2 : la limite haute (5 000 000) doit être supérieure à celle de la tranche précédente (20 000 000).",
        ),
        (
            with_changes(brackets=[{"up_to": 5_000_000, "amount": "15000.00"}]),
            "Tranche 1 : la dernière tranche ne doit pas avoir de limite haute",
        ),
        (
            with_changes(
                brackets=[{"up_to": None, "amount": "15000.00"}, {"up_to": None, "amount": "1.00"}]
            ),
            "Tranche 1 : seule la dernière tranche peut être sans limite haute.",
        ),
        (
            with_changes(brackets=[{"up_to": None, "amount": 15000}]),
            "Tranche 1 : le montant doit être écrit comme un montant décimal entre guillemets",
        ),
        (
            with_changes(brackets=[{"up_to": None, "amount": "15000.005"}]),
            "a plus de deux décimales : arrondissez au centime",
        ),
        (
            with_changes(
                brackets=[
                    {"up_to": "beaucoup", "amount": "1.00"},
                    {"up_to": None, "amount": "2.00"},
                ]
            ),
            "Tranche 1 : la limite haute (« beaucoup ») n'est pas un nombre.",
        ),
        (
            with_changes(brackets=[{"up_to": None, "amount": "-5.00"}]),
            "Tranche 1 : le montant doit être positif ou nul.",
        ),
        (with_changes(rate="0.001"), "Le taux ne s'utilise qu'avec la méthode « taux »"),
        (with_changes(method="rate", brackets=None), "Indiquez le taux"),
        (
            with_changes(method="rate", brackets=None, rate="0"),
            "Le taux doit être strictement positif.",
        ),
        (
            with_changes(method="rate", rate="0.001"),
            "Les tranches ne s'utilisent qu'avec la méthode",
        ),
        (
            with_changes(floor="700000.00"),
            "Le plancher (700 000,00 €) dépasse le plafond maximal (623 026,24 €).",
        ),
        (with_changes(cap="0.00"), "Le plafond maximal doit être strictement positif."),
        (
            with_changes(floor="quinze mille"),
            "Le plancher (« quinze mille ») n'est pas un montant.",
        ),
    ],
)
def test_invalid_schedules_are_explained_in_french(schedule, words):
    errors = [plain(e) for e in validate_schedule(schedule)]
    assert any(words in error for error in errors), errors


# --- One establishment -------------------------------------------------------------------------


@pytest.fixture
def region():
    return RegionFactory(code="84", name="Auvergne-Rhône-Alpes")


@pytest.fixture
def call(region):
    return CallFactory(region=region)


def test_bracket_ceiling_with_its_computation(call, region):
    hospital = establishment(region, "CH de Vienne", "42000000")
    result = ceilings.ceiling_for(call, hospital)
    assert result.amount == Decimal("60000.00")
    assert result.missing == []
    assert steps(result) == [
        f"CH de Vienne (FINESS {hospital.finess}) : Budget d'exploitation 42 000 000 € → tranche 20–50 M€ : 60 000,00 €"
    ]


def test_first_and_last_brackets_and_the_cap(call, region):
    small = establishment(region, "Hôpital local", "3000000")
    large = establishment(region, "CHU", "80000000")
    assert steps(ceilings.ceiling_for(call, small))[0].endswith(
        "Budget d'exploitation 3 000 000 € → tranche jusqu'à 5 M€ : 15 000,00 €"
    )
    result = ceilings.ceiling_for(call, large)
    assert result.amount == Decimal("623026.24")
    assert steps(result)[0].endswith(
        "Budget d'exploitation 80 000 000 € → tranche au-delà de 50 M€ : 700 000,00 €, plafond 623 026,24 € appliqué"
    )


def test_rate_with_floor(region):
    call = CallFactory(
        region=region,
        ceiling_schedule={"basis": "beds", "method": "rate", "rate": "150.00", "floor": "15000.00"},
    )
    big = establishment(region, "CH A", beds=320)
    small = establishment(region, "CH B", beds=40)
    assert ceilings.ceiling_for(call, big).amount == Decimal("48000.00")
    assert steps(ceilings.ceiling_for(call, big))[0].endswith(
        "320 lits × 150,00 € par lit = 48 000,00 €"
    )
    result = ceilings.ceiling_for(call, small)
    assert result.amount == Decimal("15000.00")  # 40 × 150 = 6 000 €, raised to the floor
    assert steps(result)[0].endswith(
        "40 lits × 150,00 € par lit = 6 000,00 €, plancher 15 000,00 € appliqué"
    )


def test_rounding_to_the_cent_half_up(region):
    """Hand-computed: 3 000 100,00 € × 0,125 % = 3 750,125 € → 3 750,13 € (half up; banker's
    rounding would give 3 750,12 €). Each establishment is rounded before the sum: two of them
    make 7 500,26 €, not 7 500,25 €."""
    call = CallFactory(
        region=region,
        applicant_rule=ApplicantRule.GHT_OR_LEGAL_ENTITY,
        ceiling_schedule={"basis": "operating_budget_eur", "method": "rate", "rate": "0.00125"},
    )
    group = ght(region)
    first = establishment(region, "CH Un", "3000100.00", ght=group)
    establishment(region, "CH Deux", "3000100.00", ght=group)
    one = ceilings.ceiling_for(call, first)
    assert one.amount == Decimal("3750.13")
    assert steps(one)[0].endswith("Budget d'exploitation 3 000 100 € × 0,125 % = 3 750,13 €")
    both = ceilings.ceiling_for(call, group)
    assert both.amount == Decimal("7500.26")
    assert steps(both)[-1] == "Somme sur 2 établissements : 7 500,26 €"


def test_missing_figure_is_reported_never_guessed(call, region):
    hospital = establishment(region, "CH sans budget", None)
    result = ceilings.ceiling_for(call, hospital)
    assert result.amount == Decimal("0.00")
    assert not result.complete
    assert result.missing == [
        f"CH sans budget (FINESS {hospital.finess}) : budget d'exploitation non renseigné dans l'annuaire"
    ]


def test_invalid_schedule_gives_no_ceiling(region):
    call = CallFactory(region=region, ceiling_schedule={"basis": "beds"})
    hospital = establishment(region, "CH", "1000000")
    result = ceilings.ceiling_for(call, hospital)
    assert result.amount == Decimal("0.00")
    assert result.missing == [ceilings.NO_SCHEDULE]


def test_establishment_of_another_region(call):
    elsewhere = establishment(RegionFactory(code="11"), "CH ailleurs", "1000000")
    result = ceilings.ceiling_for(call, elsewhere)
    assert result.amount == Decimal("0.00")
    assert "n'est pas un établissement actif de la région" in result.missing[0]


# --- Groups ------------------------------------------------------------------------------------


@pytest.fixture
def world(region):
    """A GHT with a direct member and a member through its legal entity, a legal entity outside
    any GHT with two establishments, a lone establishment, an empty GHT, a closed establishment,
    and an establishment of another region."""
    group = ght(region, "GHT Alpes")
    member_ej = legal_entity(region, "CH Grenoble (EJ)", ght=group)
    outside_ej = legal_entity(region, "Association Les Tilleuls")
    w = {
        "ght": group,
        "empty_ght": ght(region, "GHT sans membre"),
        "outside_ej": outside_ej,
        "a": establishment(region, "CH Voiron", "42000000", ght=group),
        "d": establishment(region, "CH Grenoble site Nord", "80000000", legal_entity=member_ej),
        "f": establishment(region, "Clinique des Tilleuls", "3000000", legal_entity=outside_ej),
        "h": establishment(
            region,
            "EHPAD des Tilleuls",
            "2000000",
            legal_entity=outside_ej,
            category=ehpad_category(),
        ),
        "lone": establishment(region, "Centre de dialyse", None),
    }
    establishment(region, "CH fermé", "42000000", ght=group, is_active=False)
    establishment(RegionFactory(code="11"), "CH d'une autre région", "42000000")
    return w


def test_ght_ceiling_is_the_sum_of_its_members(call, world):
    result = ceilings.ceiling_for(call, world["ght"])
    # CH Voiron 60 000,00 + CH Grenoble site Nord 623 026,24 (capped)
    assert result.amount == Decimal("683026.24")
    assert steps(result)[-1] == "Somme sur 2 établissements : 683 026,24 €"
    assert any(s.startswith("CH Grenoble site Nord") for s in steps(result))


def test_legal_entity_ceiling_is_the_sum_of_its_establishments(call, world):
    result = ceilings.ceiling_for(call, world["outside_ej"])
    assert result.amount == Decimal("30000.00")  # 15 000 + 15 000


def test_applicants_ght_or_legal_entity(call, world):
    applicants = ceilings.applicants_of(call)
    summary = {(a.name, a.kind): (a.ceiling.amount, len(a.establishments)) for a in applicants}
    assert summary == {
        ("GHT Alpes", OrgKind.GHT): (Decimal("683026.24"), 2),
        ("Association Les Tilleuls", OrgKind.LEGAL_ENTITY): (Decimal("30000.00"), 2),
        ("Centre de dialyse", OrgKind.ESTABLISHMENT): (Decimal("0.00"), 1),
    }
    assert [a.name for a in applicants] == [
        "Association Les Tilleuls",
        "Centre de dialyse",
        "GHT Alpes",
    ]
    lone = next(a for a in applicants if a.name == "Centre de dialyse")
    assert lone.ceiling.missing


def test_applicants_each_establishment(call, world):
    call.applicant_rule = ApplicantRule.ESTABLISHMENT
    call.save()
    applicants = ceilings.applicants_of(call)
    assert sorted(a.name for a in applicants) == sorted(
        [
            "CH Voiron",
            "CH Grenoble site Nord",
            "Clinique des Tilleuls",
            "EHPAD des Tilleuls",
            "Centre de dialyse",
        ]
    )
    assert {a.kind for a in applicants} == {OrgKind.ESTABLISHMENT}


def test_eligible_categories_restrict_applicants_and_ceilings(call, world):
    call.eligible_categories.set([hospital_category()])
    call = Call.objects.get(pk=call.pk)
    applicants = {a.name: a for a in ceilings.applicants_of(call)}
    # The EHPAD no longer counts in its legal entity's ceiling.
    assert applicants["Association Les Tilleuls"].ceiling.amount == Decimal("15000.00")
    assert len(applicants["Association Les Tilleuls"].establishments) == 1
    result = ceilings.ceiling_for(call, world["outside_ej"])
    assert result.amount == Decimal("15000.00")
    assert any("EHPAD des Tilleuls" in s and "non éligible" in s for s in result.steps)

    call.eligible_categories.set([ehpad_category()])
    call = Call.objects.get(pk=call.pk)
    applicants = ceilings.applicants_of(call)
    assert [(a.name, [e.name for e in a.establishments]) for a in applicants] == [
        ("Association Les Tilleuls", ["EHPAD des Tilleuls"])
    ]


def test_envelope_summary(call, world):
    summary = ceilings.envelope_summary(call)
    assert summary.envelope == Decimal("5600000.00")
    assert summary.potential == Decimal("713026.24")  # 683 026,24 + 30 000,00 + 0,00
    assert summary.applicants == 3
    assert summary.establishments == 5
    assert summary.incomplete == 1
    assert summary.engaged == Decimal("0.00")
    assert summary.accepted == 0
    assert summary.potential_percent == Decimal("12.7")
    assert not summary.potential_exceeds_envelope


def test_envelope_summary_counts_accepted_files_and_the_ars_ceilings(
    call, world, django_user_model
):
    from rempart.programme.models import CeilingOverride
    from rempart.programme.tests.factories import application

    application(call, world["outside_ej"], status="acceptee", requested="12000.00")
    application(call, world["ght"], status="deposee", requested="300000.00")
    CeilingOverride.objects.create(
        call=call, applicant=world["outside_ej"], amount_eur=Decimal("20000.00"), reason="Arbitrage"
    )
    summary = ceilings.envelope_summary(call)
    assert summary.engaged == Decimal("12000.00")  # only the accepted file
    assert summary.accepted == 1
    assert summary.remaining == Decimal("5588000.00")
    assert summary.potential == Decimal("703026.24")  # 683 026,24 + 20 000,00 (ARS) + 0,00


@pytest.mark.parametrize("size", [5, 60])
def test_applicants_of_runs_a_fixed_number_of_queries(region, size, django_assert_num_queries):
    call = CallFactory(region=region)
    groups = [ght(region, f"GHT {i}") for i in range(3)]
    entity = legal_entity(region)
    for i in range(size):
        establishment(
            region,
            f"Établissement {i}",
            str(1_000_000 * (i + 1)),
            **({"ght": groups[i % 3]} if i % 2 else {"legal_entity": entity}),
        )
    call = Call.objects.get(pk=call.pk)
    with django_assert_num_queries(3):
        applicants = ceilings.applicants_of(call)
    assert sum(len(a.establishments) for a in applicants) == size


def test_french_formatting():
    assert plain(ceilings.format_eur(Decimal("623026.24"))) == "623 026,24 €"
    assert plain(ceilings.format_eur(Decimal("0"))) == "0,00 €"
    assert ceilings.parse_decimal("15 000,50 €") == Decimal("15000.50")
    assert ceilings.parse_decimal("abc") is None
    assert ceilings.parse_decimal("NaN") is None


def test_schedule_in_words():
    lines = [plain(line) for line in ceilings.Schedule.from_data(BRACKETS_SCHEDULE).describe()]
    assert lines == [
        "Base de calcul : budget d'exploitation de chaque établissement.",
        "Tranche jusqu'à 5 M€ : 15 000,00 €",
        "Tranche 5–20 M€ : 25 000,00 €",
        "Tranche 20–50 M€ : 60 000,00 €",
        "Tranche au-delà de 50 M€ : 700 000,00 €",
        "Plancher par établissement : 15 000,00 €",
        "Plafond maximal par établissement : 623 026,24 €",
    ]


def test_an_organisation_that_does_not_apply(call, region):
    ars = OrganisationFactory(kind=OrgKind.ARS, region=region, finess=None, sector="")
    result = ceilings.ceiling_for(call, ars)
    assert result.amount == Decimal("0.00")
    assert result.missing
