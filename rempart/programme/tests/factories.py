"""Factories for the programme's calls (domains are created directly: the reference data is
loaded by its own tests)."""

import copy
import datetime
from decimal import Decimal

import factory

from rempart.core.roles import OrgKind
from rempart.organisations.models import LegalStatus
from rempart.organisations.tests.factories import (
    CategoryFactory,
    OrganisationFactory,
    RegionFactory,
)
from rempart.programme.models import ApplicantRule, Axis, Call, Domain

# Applications 2 Sept – 31 Oct 2025, declarations until 30 June 2026, payment 1 July – 25 Oct 2026.
CALENDAR = {
    "application_opens_on": datetime.date(2025, 9, 2),
    "application_closes_on": datetime.date(2025, 10, 31),
    "declaration_deadline": datetime.date(2026, 6, 30),
    "payment_opens_on": datetime.date(2026, 7, 1),
    "payment_closes_on": datetime.date(2026, 10, 25),
}

BRACKETS_SCHEDULE = {
    "basis": "operating_budget_eur",
    "method": "brackets",
    "brackets": [
        {"up_to": 5_000_000, "amount": "15000.00"},
        {"up_to": 20_000_000, "amount": "25000.00"},
        {"up_to": 50_000_000, "amount": "60000.00"},
        {"up_to": None, "amount": "700000.00"},
    ],
    "floor": "15000.00",
    "cap": "623026.24",
}


class DomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Domain
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"T{n + 1}")
    title = factory.Sequence(lambda n: f"Domaine de test {n + 1}")
    axis = Axis.OPERATIONAL


class CallFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Call
        skip_postgeneration_save = True

    region = factory.SubFactory(RegionFactory)
    domain = factory.SubFactory(DomainFactory)
    title = factory.Sequence(lambda n: f"Appel de test {n + 1}")
    legal_reference = "Arrêté du 3 juillet 2025"
    national_amount_eur = Decimal("45000000.00")
    envelope_eur = Decimal("5600000.00")
    applicant_rule = ApplicantRule.GHT_OR_LEGAL_ENTITY
    application_opens_on = CALENDAR["application_opens_on"]
    application_closes_on = CALENDAR["application_closes_on"]
    declaration_deadline = CALENDAR["declaration_deadline"]
    payment_opens_on = CALENDAR["payment_opens_on"]
    payment_closes_on = CALENDAR["payment_closes_on"]
    ceiling_schedule = factory.LazyFunction(lambda: copy.deepcopy(BRACKETS_SCHEDULE))

    @factory.post_generation
    def eligible_categories(self, create, extracted, **kwargs):
        if create and extracted:
            self.eligible_categories.set(extracted)


def hospital_category():
    return CategoryFactory(code="355", label="Centre Hospitalier (C.H.)", sector="sanitaire")


def ehpad_category():
    return CategoryFactory(
        code="500",
        label="Etablissement d'hébergement pour personnes âgées dépendantes",
        sector="medico_social",
    )


def ght(region, name="GHT de test", **extra):
    return OrganisationFactory(
        kind=OrgKind.GHT, name=name, region=region, finess=None, sector="", **extra
    )


def legal_entity(region, name="Entité juridique de test", **extra):
    return OrganisationFactory(
        kind=OrgKind.LEGAL_ENTITY, name=name, region=region, sector="", **extra
    )


def establishment(region, name, budget=None, *, category=None, **extra):
    """An active establishment with its operating budget (None: unknown)."""
    return OrganisationFactory(
        kind=OrgKind.ESTABLISHMENT,
        name=name,
        region=region,
        category=category or hospital_category(),
        legal_status=LegalStatus.PUBLIC,
        operating_budget_eur=None if budget is None else Decimal(budget),
        **extra,
    )


# --- Files (applications) -------------------------------------------------------------------------

PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def pdf_upload(name="lettre-engagement.pdf", content=PDF_BYTES):
    """A small real PDF, as a browser would upload it."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="application/pdf")


def application(
    call,
    applicant,
    *,
    status="deposee",
    requested="15000.00",
    ceiling=None,
    covered=(),
    **extra,
):
    """A complete file in `status`, written directly (services are tested on their own):
    dossier parts filled, a balanced budget (one consulting line), prerequisites met."""
    from django.utils import timezone

    from rempart.programme.models import (
        Application,
        ApplicationStatus,
        BudgetLine,
        PrerequisiteAnswer,
        Requirement,
        RequirementKind,
    )

    requested = Decimal(requested)
    values = {
        "status": status,
        "maturity_level": 2,
        "maturity_summary": "Diagnostic réalisé avec le CRRC.",
        "project_objectives": "Atteindre les cibles du domaine.",
        "project_schedule": "Comité de pilotage mensuel.",
        "project_lead": "Camille Martin",
        "requested_eur": requested,
        "commitment_signatory": "Le directeur",
        "commitment_signed_on": datetime.date(2025, 9, 15),
    }
    if status != ApplicationStatus.DRAFT:
        values["submitted_at"] = timezone.now()
        values["ceiling_eur"] = Decimal(ceiling) if ceiling is not None else requested
    if status == ApplicationStatus.ACCEPTED:
        values["engaged_eur"] = requested
        values["decided_at"] = timezone.now()
    values.update(extra)
    app = Application.objects.create(call=call, applicant=applicant, **values)
    if covered:
        app.covered_establishments.set(covered)
    BudgetLine.objects.create(application=app, category="conseil", amount_eur=requested)
    PrerequisiteAnswer.objects.bulk_create(
        PrerequisiteAnswer(application=app, requirement=r, met=True)
        for r in Requirement.objects.filter(
            domain_id=call.domain_id, kind=RequirementKind.PREREQUISITE
        )
    )
    return app
