"""Funding call services and pages, with the people every view test needs: the owner (ARS
manager), a lesser role of the region (RSSI of an establishment, a learner) and outsiders (an
ARS manager of another region, anonymous)."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from rempart.core.errors import DomainError
from rempart.core.models import AuditEntry
from rempart.core.roles import OrgKind, Role
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member
from rempart.programme import services
from rempart.programme.demo import seed_programme_demo
from rempart.programme.models import ApplicantRule, Call
from rempart.programme.windows import Phase, paris_today, phase_on

from .factories import (
    BRACKETS_SCHEDULE,
    CALENDAR,
    CallFactory,
    DomainFactory,
    establishment,
    ght,
    hospital_category,
    legal_entity,
)

pytestmark = pytest.mark.django_db

TODAY = paris_today()


def plain(text: str) -> str:
    return text.replace("\u00a0", " ").replace("&#x27;", "'").replace("&#39;", "'")


@pytest.fixture
def region():
    return RegionFactory(code="84", name="Auvergne-Rhône-Alpes")


@pytest.fixture
def other_region():
    return RegionFactory(code="11", name="Île-de-France")


@pytest.fixture
def domain():
    return DomainFactory(code="D2", title="Continuité et reprise d'activité")


@pytest.fixture
def orgs(region):
    group = ght(region, "GHT Alpes Dauphiné")
    tilleuls = legal_entity(region, "Association Les Tilleuls")
    return {
        "ars": OrganisationFactory(
            kind=OrgKind.ARS, name="ARS ARA", region=region, finess=None, sector=""
        ),
        "crrc": OrganisationFactory(
            kind=OrgKind.CRRC, name="CRRC ARA", region=region, finess=None, sector=""
        ),
        "ght": group,
        "voiron": establishment(region, "CH Voiron", "42000000", ght=group),
        "grenoble": establishment(region, "CH Grenoble", "3000000", ght=group),
        "tilleuls": tilleuls,
        "clinique": establishment(
            region, "Clinique des Tilleuls", "3000000", legal_entity=tilleuls
        ),
    }


@pytest.fixture
def manager(orgs):
    return member(Role.ARS_MANAGER, orgs["ars"])


@pytest.fixture
def rssi(orgs):
    return member(Role.RSSI, orgs["voiron"])


@pytest.fixture
def learner(orgs):
    return member(Role.STAFF, orgs["voiron"])


@pytest.fixture
def outsider(other_region):
    ars = OrganisationFactory(
        kind=OrgKind.ARS, name="ARS IDF", region=other_region, finess=None, sector=""
    )
    return member(Role.ARS_MANAGER, ars)


def open_call(region, domain, **extra):
    """A call whose application window is open today."""
    return CallFactory(
        region=region,
        domain=domain,
        title="CaRE D2 — Continuité",
        application_opens_on=TODAY - datetime.timedelta(days=30),
        application_closes_on=TODAY + datetime.timedelta(days=60),
        declaration_deadline=TODAY + datetime.timedelta(days=300),
        payment_opens_on=TODAY + datetime.timedelta(days=301),
        payment_closes_on=TODAY + datetime.timedelta(days=400),
        **extra,
    )


def future_dates():
    return {
        "application_opens_on": TODAY + datetime.timedelta(days=10),
        "application_closes_on": TODAY + datetime.timedelta(days=70),
        "declaration_deadline": TODAY + datetime.timedelta(days=300),
        "payment_opens_on": TODAY + datetime.timedelta(days=301),
        "payment_closes_on": TODAY + datetime.timedelta(days=400),
    }


def create_kwargs(region, domain, **changes):
    values = {
        "region": region,
        "domain": domain,
        "title": "CaRE D2 — Continuité",
        "legal_reference": "Arrêté du 3 juillet 2025",
        "national_amount_eur": Decimal("45000000.00"),
        "envelope_eur": Decimal("5600000.00"),
        "applicant_rule": ApplicantRule.GHT_OR_LEGAL_ENTITY,
        **future_dates(),
        "ceiling_schedule": dict(BRACKETS_SCHEDULE),
    }
    values.update(changes)
    return values


# --- Services ----------------------------------------------------------------------------------


def test_create_call_audited(manager, region, domain):
    call = services.call_create(
        actor=manager, **create_kwargs(region, domain), eligible_categories=[hospital_category()]
    )
    assert call.created_by == manager
    assert list(call.eligible_categories.values_list("code", flat=True)) == ["355"]
    assert AuditEntry.objects.filter(
        object_pk=str(call.pk), action=AuditEntry.Action.CREATE
    ).exists()


def test_only_the_regions_manager_creates(rssi, outsider, region, domain):
    for person in (rssi, outsider):
        with pytest.raises(DomainError) as refused:
            services.call_create(actor=person, **create_kwargs(region, domain))
        assert refused.value.code == "forbidden"
    assert not Call.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"application_closes_on": TODAY}, "application_closes_on", "La clôture des candidatures"),
        (
            {"payment_opens_on": TODAY + datetime.timedelta(days=20)},
            "payment_opens_on",
            "doit ouvrir après la clôture",
        ),
        (
            {"envelope_eur": Decimal("50000000.00")},
            "envelope_eur",
            "ne peut pas dépasser le montant national",
        ),
        (
            {"national_amount_eur": Decimal("-1")},
            "national_amount_eur",
            "doit être un montant positif",
        ),
        ({"title": "  "}, "title", "Indiquez l'intitulé de l'appel."),
        ({"applicant_rule": "tout_le_monde"}, "applicant_rule", "Choisissez qui candidate"),
        (
            {"ceiling_schedule": {"basis": "beds", "method": "rate"}},
            "ceiling_schedule",
            "Indiquez le taux",
        ),
    ],
)
def test_create_refuses_bad_input(manager, region, domain, changes, field, words):
    with pytest.raises(DomainError) as refused:
        services.call_create(actor=manager, **create_kwargs(region, domain, **changes))
    assert refused.value.field == field
    assert words in refused.value.message
    assert not Call.objects.exists()


def test_update_before_opening_needs_no_reason(manager, region, domain):
    call = CallFactory(region=region, domain=domain, **future_dates())
    services.call_update(
        actor=manager, call=call, ceiling_schedule={**BRACKETS_SCHEDULE, "floor": "10000.00"}
    )
    call.refresh_from_db()
    assert call.ceiling_schedule["floor"] == "10000.00"


def test_update_of_an_open_call_needs_a_reason_kept_in_the_audit(manager, region, domain):
    call = open_call(region, domain)
    new_schedule = {**BRACKETS_SCHEDULE, "floor": "20000.00"}
    with pytest.raises(DomainError) as refused:
        services.call_update(actor=manager, call=call, ceiling_schedule=new_schedule)
    assert refused.value.code == "reason_required"
    assert "le barème des plafonds" in refused.value.message
    call.refresh_from_db()
    assert call.ceiling_schedule["floor"] == "15000.00"

    with pytest.raises(DomainError) as refused:
        services.call_update(
            actor=manager,
            call=call,
            application_opens_on=call.application_opens_on - datetime.timedelta(days=1),
        )
    assert "la date d'ouverture des candidatures" in refused.value.message

    # Free changes: the envelope, a future date moved to another future date.
    services.call_update(
        actor=manager,
        call=call,
        envelope_eur=Decimal("6000000.00"),
        payment_closes_on=call.payment_closes_on + datetime.timedelta(days=5),
    )

    services.call_update(
        actor=manager,
        call=call,
        ceiling_schedule=new_schedule,
        reason="Barème rectifié par l'instruction du 12 mars",
    )
    call.refresh_from_db()
    assert call.ceiling_schedule["floor"] == "20000.00"
    entry = AuditEntry.objects.filter(
        object_pk=str(call.pk), action=AuditEntry.Action.UPDATE
    ).latest("pk")
    assert entry.additional_data == {"motif": "Barème rectifié par l'instruction du 12 mars"}
    assert "ceiling_schedule" in entry.changes_dict


def test_same_schedule_written_differently_is_not_a_change(manager, region, domain):
    call = open_call(region, domain)
    rewritten = {
        **BRACKETS_SCHEDULE,
        "floor": "15000",
        "brackets": [
            {**b, "amount": b["amount"].removesuffix(".00")} for b in BRACKETS_SCHEDULE["brackets"]
        ],
    }
    entries = AuditEntry.objects.count()
    services.call_update(actor=manager, call=call, ceiling_schedule=rewritten)
    call.refresh_from_db()
    assert call.ceiling_schedule == BRACKETS_SCHEDULE
    assert AuditEntry.objects.count() == entries


def test_update_refuses_another_region_and_unknown_fields(manager, outsider, region, domain):
    call = CallFactory(region=region, domain=domain, **future_dates())
    with pytest.raises(DomainError):
        services.call_update(actor=outsider, call=call, title="Piraté")
    with pytest.raises(DomainError) as refused:
        services.call_update(actor=manager, call=call, region=RegionFactory(code="11"))
    assert refused.value.code == "not_editable"


# --- Pages: list ---------------------------------------------------------------------------------


def test_list_for_manager_rssi_learner_and_anonymous(
    client, region, other_region, domain, orgs, manager, rssi, learner
):
    call = open_call(region, domain)
    CallFactory(region=other_region, domain=domain, title="Appel d'une autre région")
    url = reverse("programme:calls")

    client.force_login(manager)
    page = client.get(url)
    assert page.status_code == 200
    assert "Ouvrir un appel" in page.text
    assert call.title in page.text
    assert "Candidatures ouvertes" in page.text
    assert "Appel d'une autre région" not in page.text

    client.force_login(rssi)
    page = client.get(url)
    assert page.status_code == 200
    assert "Ouvrir un appel" not in page.text
    assert (
        "Votre établissement « CH Voiron » candidate via le GHT « GHT Alpes Dauphiné »."
        in plain(page.text)
    )
    assert "Appel d'une autre région" not in page.text

    client.force_login(learner)
    assert client.get(url).status_code == 404

    client.logout()
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_list_hint_through_the_legal_entity_and_ineligible(client, region, domain, orgs):
    call = open_call(region, domain)
    person = member(Role.DSI, orgs["clinique"])
    client.force_login(person)
    assert (
        "Votre établissement « Clinique des Tilleuls » candidate via votre entité juridique « Association Les Tilleuls »."
        in plain(client.get(reverse("programme:calls")).text)
    )
    from .factories import ehpad_category

    call.eligible_categories.set([ehpad_category()])
    assert "n'est pas dans une catégorie éligible à cet appel" in plain(
        client.get(reverse("programme:calls")).text
    )


# --- Pages: create and edit ----------------------------------------------------------------------


def form_data(region, domain, **changes):
    dates = future_dates()
    data = {
        "region": region.pk,
        "domain": domain.pk,
        "title": "CaRE D2 — Continuité et reprise",
        "legal_reference": "Arrêté du 3 juillet 2025",
        "national_amount_eur": "45 000 000",
        "envelope_eur": "5 600 000,00",
        "applicant_rule": ApplicantRule.GHT_OR_LEGAL_ENTITY,
        **{name: value.isoformat() for name, value in dates.items()},
        "basis": "operating_budget_eur",
        "method": "brackets",
        "brackets": "5000000;15000\n20 000 000;25 000\nau-delà;60000",
        "rate": "",
        "floor": "15 000",
        "cap": "623 026,24",
    }
    data.update(changes)
    return data


def test_manager_creates_a_call(client, region, domain, orgs, manager):
    client.force_login(manager)
    assert client.get(reverse("programme:call_create")).status_code == 200
    response = client.post(
        reverse("programme:call_create"),
        form_data(region, domain, eligible_categories=[str(hospital_category().pk)]),
    )
    call = Call.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("programme:call_detail", args=[call.pk])
    assert call.envelope_eur == Decimal("5600000.00")
    assert call.ceiling_schedule == {
        "basis": "operating_budget_eur",
        "method": "brackets",
        "brackets": [
            {"up_to": 5000000, "amount": "15000.00"},
            {"up_to": 20000000, "amount": "25000.00"},
            {"up_to": None, "amount": "60000.00"},
        ],
        "floor": "15000.00",
        "cap": "623026.24",
    }
    assert list(call.eligible_categories.values_list("code", flat=True)) == ["355"]


def test_create_with_a_bad_window_saves_nothing_and_keeps_the_input(
    client, region, domain, orgs, manager
):
    client.force_login(manager)
    data = form_data(
        region,
        domain,
        application_closes_on=(TODAY + datetime.timedelta(days=5)).isoformat(),  # before opening
    )
    response = client.post(reverse("programme:call_create"), data)
    assert response.status_code == 400
    text = plain(response.text)
    assert "L'appel n'a pas été enregistré" in text
    assert "La clôture des candidatures" in text
    assert 'value="CaRE D2 — Continuité et reprise"' in text  # nothing typed is lost
    assert "20 000 000;25 000" in text
    assert not Call.objects.exists()


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        (
            {"brackets": "5000000;15000\nbeaucoup;25000"},
            "Ligne 2 : la limite haute « beaucoup » n'est pas un nombre",
        ),
        ({"brackets": "5000000;15000\n1000000;25000\nau-delà;1"}, "Tranche 2 : la limite haute"),
        ({"brackets": "5000000"}, "écrivez « limite haute;montant »"),
        ({"method": "rate", "brackets": ""}, "Indiquez le taux"),
        ({"floor": "700 000"}, "Le plancher (700 000,00 €) dépasse le plafond maximal"),
        ({"envelope_eur": "cinq millions"}, "n'est pas un montant"),
        ({"envelope_eur": "50 000 000"}, "ne peut pas dépasser le montant national"),
    ],
)
def test_create_schedule_and_amount_errors(client, region, domain, orgs, manager, changes, words):
    client.force_login(manager)
    response = client.post(reverse("programme:call_create"), form_data(region, domain, **changes))
    assert response.status_code == 400
    assert words in plain(response.text)
    assert not Call.objects.exists()


def test_manager_edits_an_open_call_with_a_reason(client, region, domain, orgs, manager):
    call = open_call(region, domain)
    url = reverse("programme:call_edit", args=[call.pk])
    client.force_login(manager)
    page = client.get(url)
    assert page.status_code == 200
    assert "Motif de la modification" in page.text
    assert "au-delà;700000.00" in page.text  # the stored brackets, as editable lines
    dates = {name: getattr(call, name).isoformat() for name in CALENDAR}
    data = form_data(region, domain, **dates, brackets="5000000;15000\nau-delà;50000")
    response = client.post(url, data)
    assert response.status_code == 400
    assert "indiquez un motif" in plain(response.text)
    call.refresh_from_db()
    assert len(call.ceiling_schedule["brackets"]) == 4

    response = client.post(url, {**data, "reason": "Barème national révisé"})
    assert response.status_code == 302
    call.refresh_from_db()
    assert call.ceiling_schedule["brackets"] == [
        {"up_to": 5000000, "amount": "15000.00"},
        {"up_to": None, "amount": "50000.00"},
    ]
    entry = AuditEntry.objects.filter(
        object_pk=str(call.pk), action=AuditEntry.Action.UPDATE
    ).latest("pk")
    assert entry.actor == manager
    assert entry.additional_data == {"motif": "Barème national révisé"}
    assert entry.organisation_id == orgs["ars"].pk


def test_edit_and_create_are_404_for_others(
    client, region, other_region, domain, orgs, rssi, learner, outsider
):
    call = open_call(region, domain)
    for person in (rssi, learner):
        client.force_login(person)
        assert client.get(reverse("programme:call_edit", args=[call.pk])).status_code == 404
        assert (
            client.post(reverse("programme:call_edit", args=[call.pk]), {"title": "x"}).status_code
            == 404
        )
        assert client.get(reverse("programme:call_create")).status_code == 404
    client.force_login(outsider)
    assert client.get(reverse("programme:call_edit", args=[call.pk])).status_code == 404
    assert client.get(reverse("programme:call_detail", args=[call.pk])).status_code == 404
    # The outsider creates calls in their own region only: the form offers no other.
    page = client.get(reverse("programme:call_create"))
    assert region.name not in page.text
    assert other_region.name in page.text


# --- Pages: detail and CSV -----------------------------------------------------------------------


def test_detail_for_manager(client, region, domain, orgs, manager):
    call = open_call(region, domain)
    client.force_login(manager)
    page = client.get(reverse("programme:call_detail", args=[call.pk]))
    assert page.status_code == 200
    text = plain(page.text)
    assert "Candidatures ouvertes" in text
    assert "Arrêté du 3 juillet 2025" in text
    assert "Tranche 20–50 M€ : 60 000,00 €" in text
    assert "Enveloppe régionale" in text
    assert "5 600 000,00 €" in text
    # GHT: 60 000 + 15 000; legal entity: 15 000 → potential 90 000,00 €
    assert "Potentiel (somme des plafonds) : 90 000,00 €" in text
    assert "GHT Alpes Dauphiné" in text
    assert "Association Les Tilleuls" in text
    assert "Détail du calcul" in text
    assert "Budget d'exploitation 42 000 000 € → tranche 20–50 M€ : 60 000,00 €" in text
    assert "Engagé : 0,00 €" in text


def test_rssi_sees_their_ceiling_only(client, region, other_region, domain, orgs, rssi):
    call = open_call(region, domain)
    foreign = CallFactory(region=other_region, domain=domain)
    client.force_login(rssi)
    page = client.get(reverse("programme:call_detail", args=[call.pk]))
    assert page.status_code == 200
    text = plain(page.text)
    assert "Votre plafond" in text
    assert "GHT Alpes Dauphiné" in text
    assert "75 000,00 €" in text
    assert "Association Les Tilleuls" not in text
    assert "Clinique des Tilleuls" not in text
    assert "Potentiel" not in text
    assert "Modifier l'appel" not in text
    assert client.get(reverse("programme:call_detail", args=[foreign.pk])).status_code == 404
    assert client.get(reverse("programme:call_ceilings_csv", args=[foreign.pk])).status_code == 404

    csv = b"".join(
        client.get(reverse("programme:call_ceilings_csv", args=[call.pk])).streaming_content
    ).decode()
    assert "GHT Alpes Dauphiné" in csv
    assert "75000,00" in csv
    assert "Tilleuls" not in csv


def test_csv_for_manager_lists_every_applicant(client, region, domain, orgs, manager):
    call = open_call(region, domain)
    client.force_login(manager)
    response = client.get(reverse("programme:call_ceilings_csv", args=[call.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().lstrip("\ufeff").splitlines()
    assert lines[0].startswith("Candidat;Type;FINESS")
    assert len(lines) == 3
    assert any(
        line.startswith("Association Les Tilleuls;Entité juridique;") and ";15000,00;" in line
        for line in lines
    )


def test_learner_and_anonymous_never_see_a_call(client, region, domain, orgs, learner):
    call = open_call(region, domain)
    client.force_login(learner)
    assert client.get(reverse("programme:call_detail", args=[call.pk])).status_code == 404
    assert client.get(reverse("programme:call_ceilings_csv", args=[call.pk])).status_code == 404
    client.logout()
    for name in ("programme:call_detail", "programme:call_ceilings_csv", "programme:call_edit"):
        response = client.get(reverse(name, args=[call.pk]))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))


def _populate(region, size):
    group = ght(region, "GHT volumineux")
    entity = legal_entity(region, "EJ volumineuse")
    for i in range(size):
        extra = {"ght": group} if i % 3 else {"legal_entity": entity}
        if i % 5 == 0:
            extra = {}  # alone: applies on its own
        establishment(region, f"Établissement {i:03d}", str(1_000_000 * (i + 1)), **extra)


@pytest.mark.parametrize("size", [5, 60])
def test_detail_query_count_does_not_grow_with_applicants(
    client, region, domain, orgs, manager, size, django_assert_max_num_queries
):
    """15 queries with 5 or 60 establishments (session, user, memberships, MFA, the call, its
    eligible categories, the region's establishments, the applicants' names, the ARS ceilings, the accepted amounts,
    the files of the applicants on the page…)."""
    _populate(region, size)
    call = open_call(region, domain)
    client.force_login(manager)
    client.get(reverse("programme:call_detail", args=[call.pk]))  # warm the session
    with django_assert_max_num_queries(15):
        page = client.get(reverse("programme:call_detail", args=[call.pk]))
    assert page.status_code == 200


def test_applicants_are_paginated_by_fifty_with_htmx(client, region, domain, orgs, manager):
    _populate(region, 60)
    call = open_call(region, domain, applicant_rule=ApplicantRule.ESTABLISHMENT)
    client.force_login(manager)
    url = reverse("programme:call_detail", args=[call.pk])
    first = client.get(url)
    assert first.text.count("<details>") == 50
    second = client.get(
        url + "?page=2", headers={"HX-Request": "true", "HX-Target": "call-applicants"}
    )
    assert second.status_code == 200
    assert "<h1>" not in second.text
    assert second.text.count("<details>") == 63 - 50  # 60 + the 3 establishments of `orgs`
    full = client.get(url + "?page=2")
    assert second.text.strip() in full.text


# --- Demo ----------------------------------------------------------------------------------------


def test_demo_calls_are_idempotent(client, region, orgs, manager):
    DomainFactory(code="D1", title="Annuaires techniques et exposition sur internet")
    DomainFactory(code="D2", title="Continuité et reprise d'activité")
    hospital_category()
    report = seed_programme_demo(region)
    assert [line.split(" :")[0] for line in report] == ["Appel D1 créé", "Appel D2 créé"]
    d1 = Call.objects.get(domain__code="D1")
    d2 = Call.objects.get(domain__code="D2")
    assert phase_on(d1, TODAY) == Phase.CLOSED
    assert phase_on(d2, TODAY) == Phase.APPLICATIONS
    assert d1.envelope_eur == Decimal("8100000.00")
    assert d1.ceiling_schedule["cap"] == "623026.24"
    assert d1.created_by == manager
    entries = AuditEntry.objects.count()
    assert [line.split(" :")[0] for line in seed_programme_demo(region)] == [
        "Appel D1 inchangé",
        "Appel D2 inchangé",
    ]
    assert AuditEntry.objects.count() == entries
    assert Call.objects.count() == 2
    client.force_login(manager)
    assert client.get(reverse("programme:call_detail", args=[d1.pk])).status_code == 200


def test_ght_coordinator_legal_entity_director_and_crrc(client, region, domain, orgs):
    call = open_call(region, domain)
    url = reverse("programme:call_detail", args=[call.pk])
    coordinator = member(Role.GHT_COORDINATOR, orgs["ght"])
    client.force_login(coordinator)
    text = plain(client.get(url).text)
    assert "GHT Alpes Dauphiné" in text
    assert "Association Les Tilleuls" not in text
    assert "Votre GHT « GHT Alpes Dauphiné » dépose un dossier unique" in plain(
        client.get(reverse("programme:calls")).text
    )

    director = member(Role.DIRECTOR, orgs["tilleuls"])
    client.force_login(director)
    text = plain(client.get(url).text)
    assert "Association Les Tilleuls" in text
    assert "15 000,00 €" in text
    assert "GHT Alpes Dauphiné" not in text

    operator = member(Role.CRRC_OPERATOR, orgs["crrc"])
    client.force_login(operator)
    text = plain(client.get(url).text)
    assert "GHT Alpes Dauphiné" in text
    assert "Association Les Tilleuls" in text
    assert "Modifier l'appel" not in text
    assert client.get(reverse("programme:call_edit", args=[call.pk])).status_code == 404
