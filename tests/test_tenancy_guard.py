"""Tenancy guard: every route of the project, every role, never a byte of another region.

The routes are discovered from the URL resolver (pages, the DRF router under /api/,
allauth's), so a new view is covered the day it is added, without editing this file.
Two regions are built: A, where one person holds each role, and B, whose every object
carries a canary string in its names. Then:

* anonymous: every route that is not in PUBLIC_ROUTES is refused (login redirect for
  pages, 401/403 with a structured JSON error for the API);
* for each role of region A: every route is called (GET and POST, by session, and by
  API token when the role may use the API) with the ids of B's objects in its integer
  parameters and random values in the others. The answer is a refusal (403/404/405, or a
  redirect that does not lead to a page of B), never a 5xx, never contains the canary,
  and nothing is written about B's organisations.

Ids: after region A is built, every table's id sequence jumps to ID_BASE, so that every
object of B has an id above ID_BASE and every object of A one below; as the sequences of
all tables restart at the same value, a dozen ids cover every object of B. Which of them
to try on a route is learnt from the route itself: it is first called with an id that
names nothing (UNKNOWN_ID), and the SQL it runs says which tables it looks that id up in;
the route is then called with the id of every object of B in those tables (and with one
id of B when it looks nothing up, as a view that refuses before reading anything should).
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from allauth.account.models import EmailAddress
from auditlog.context import disable_auditlog
from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import connection, models, transaction
from django.test import Client, override_settings
from django.test.client import ClientHandler
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.converters import IntConverter, UUIDConverter
from django.urls.exceptions import Resolver404
from django.utils import timezone
from django.utils.regex_helper import normalize

from rempart.core.models import ApiToken, ApiTokenScope, AuditEntry, hash_token
from rempart.core.roles import ROLES, Capability, OrgKind, Role, Scope
from rempart.organisations import services
from rempart.organisations.models import (
    FinessImport,
    LegalStatus,
    Organisation,
    Region,
    Sector,
    User,
)
from rempart.organisations.tests.factories import (
    CategoryFactory,
    DepartementFactory,
    OrganisationFactory,
    member,
    next_finess,
)

CANARY = "CANARI-B-7f3a"
ID_BASE = 700_000
UNKNOWN_ID = ID_BASE + 999_999  # above every id of A and B: names no object

# Routes anyone may open without logging in. Everything else is private: a new route is
# refused to anonymous people unless it is added here, on purpose, with a reason.
# (Static files are served by WhiteNoise before the URL resolver and are not routes.)
PUBLIC_ROUTES = {
    "core:healthz": "probe of the load balancer; says 'ok' or 'error', nothing else",
    "organisations:invitation_accept": "the signed, expiring link sent by e-mail",
    # allauth's entrance: logging in, its second step, and recovering a password.
    "account_login": "login form",
    "mfa_authenticate": "second step of the login (TOTP code), before the person is logged in",
    "account_signup": "closed (invitation only): the page only says so",
    "account_reset_password": "asks for an e-mail address",
    "account_reset_password_done": "'check your mailbox'",
    "account_reset_password_from_key": "the signed link of the reset e-mail",
    "account_reset_password_from_key_done": "'your password was changed'",
    "account_inactive": "'this account is inactive'",
    "account_email_verification_sent": "'check your mailbox'",
    "account_confirm_email": "the signed link of an address confirmation e-mail",
    # On-call paging: the signed, expiring token of a page is the credential (the page shows
    # only the alert's number, organisation and type; GET never writes).
    "incidents:paging_ack": "the signed acknowledgement link of a page (e-mail, gateway)",
    "api-v1:paging-ack": "a gateway acknowledges with the page's signed token (throttled)",
    # Awareness: the code printed on a certificate (128 random bits) is the credential; the page
    # shows only the holder's initials, the module, the date and whether it is valid.
    "awareness:certificate_verify": "public verification of a certificate by its code",
    # Simulated phishing: the recipient's token (192 random bits) is the credential; pixel and
    # link are the only GETs that write (that is the tracking); a dead token gets the same
    # neutral answer, naming no campaign or organisation (rempart/phishing/tracking_views.py).
    "phishing_tracking:pixel": "1x1 image of the message, records 'opened'",
    "phishing_tracking:click": "link of the message, records 'clicked', shows the landing page",
    "phishing_tracking:confirm": "the landing page's script confirms a click (POST)",
    "phishing_tracking:submit": "landing page form: names of the filled fields only (POST)",
    "phishing_tracking:teaching": "the teaching page after a click or a submission",
    "phishing_tracking:neutral": "neutral teaching page (dead token)",
    "phishing_tracking:report": "'report this message': GET shows a button, POST records",
    "phishing_tracking:report_thanks": "thanks for reporting",
    # Trainings: the signed survey link e-mailed to a participant marked present (192 random
    # bits, only their hash stored) is the credential; the page shows the session's title and
    # date only, GET never writes, a second answer is refused (rempart/events/views.py).
    "events:survey": "the satisfaction survey of a training session (signed link)",
    # Crisis exercises: the participant's signed link (192 random bits, only its hash stored,
    # expires 7 days after the planned end) is the credential; a forged, expired or replaced
    # link gets the same neutral 404 page (rempart/exercises/views.py participant_page).
    "exercises:participant_page": "an exercise participant's page: their injects, a message",
}

REFUSED = {401, 403, 404, 405}


# --- Routes -----------------------------------------------------------------------------------


@dataclass
class Route:
    """One URL pattern of the project, with what is needed to build URLs for it."""

    name: str  # "namespace:name", or the regex when the pattern has no name
    fmt: str  # URL template from django.utils.regex_helper.normalize, e.g. "organisations/%(pk)s/"
    params: list[str]
    callback: object
    int_params: list[str] = field(default_factory=list)  # parameters that accept an id
    samples: dict[str, str] = field(default_factory=dict)  # values for the other parameters

    @property
    def is_api(self) -> bool:
        return self.fmt.startswith("api/")

    @property
    def is_public(self) -> bool:
        return self.name in PUBLIC_ROUTES

    def url(self, object_id: int | None = None) -> str:
        values = dict(self.samples)
        for param in self.int_params:
            values[param] = str(object_id if object_id is not None else UNKNOWN_ID)
        return "/" + self.fmt % values

    def __str__(self) -> str:
        return self.name


def _walk(patterns, prefix: str = "", namespace: str = "", converters=None):
    converters = converters or {}
    for pattern in patterns:
        regex = pattern.pattern.regex.pattern.removeprefix("^")
        if isinstance(pattern, URLResolver):
            ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(
                pattern.url_patterns,
                prefix + regex,
                ns,
                {**converters, **pattern.pattern.converters},
            )
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}{pattern.name}" if pattern.name else prefix + regex
            yield (
                name,
                prefix + regex,
                {**converters, **pattern.pattern.converters},
                pattern.callback,
            )


def _resolves_to(path: str, callback) -> bool:
    try:
        return resolve(path).func is callback
    except Resolver404:
        return False


def _sample_value(param: str, converter) -> str:
    if param == "format":  # DRF's format suffix: a real format, so the view itself answers
        return "json"
    if isinstance(converter, UUIDConverter):
        return str(uuid.uuid4())
    return "zq" + secrets.token_hex(6).translate(str.maketrans("0123456789", "ghijklmnop"))


def discover_routes() -> list[Route]:
    routes = []
    for name, regex, converters, callback in _walk(get_resolver().url_patterns):
        fmt, params = max(normalize(regex), key=lambda candidate: len(candidate[1]))
        route = Route(name=name, fmt=fmt, params=list(params), callback=callback)
        route.samples = {p: _sample_value(p, converters.get(p)) for p in params}
        for param in params:
            converter = converters.get(param)
            if isinstance(converter, IntConverter):
                route.int_params.append(param)
            elif converter is None and param != "format":
                # A regex group: it takes ids if it accepts digits.
                probe = {**route.samples, param: "4242"}
                if _resolves_to("/" + fmt % probe, callback):
                    route.int_params.append(param)
        for param in route.int_params:
            route.samples.pop(param)
        assert _resolves_to(route.url(ID_BASE + 1), callback), f"cannot build a URL for {name}"
        routes.append(route)
    return routes


ROUTES = discover_routes()


def test_discovery_sees_the_whole_project():
    """The guard is only as good as its route list: pages, API and allauth must all be in it."""
    names = {route.name for route in ROUTES}
    assert {
        "organisations:detail",
        "organisations:directory",
        "core:audit",
        "account_login",
    } <= names
    assert any(route.is_api for route in ROUTES)
    assert any(route.int_params for route in ROUTES)
    stale = set(PUBLIC_ROUTES) - names
    assert not stale, f"PUBLIC_ROUTES names routes that no longer exist: {sorted(stale)}"


# --- The two regions ----------------------------------------------------------------------------

# For each organisation kind, where a role of that kind is held (first kind the role allows).
KIND_PREFERENCE = [
    OrgKind.ESTABLISHMENT,
    OrgKind.CRRC,
    OrgKind.ARS,
    OrgKind.GHT,
    OrgKind.PROVIDER,
    OrgKind.LEGAL_ENTITY,
    OrgKind.LIBERAL,
]
# National roles see every region by design: they are not tenants of a region.
REGIONAL_ROLES = [role for role in Role if ROLES[role].scope != Scope.NATIONAL]


@dataclass
class Region_:
    region: Region
    orgs: dict[str, Organisation]
    people: dict[str, User]  # role code (or "legal_entity_director") -> person


def _build_region(code: str, label: str) -> Region_:
    region = Region.objects.create(code=code, name=f"Région de test {code}")
    dept = DepartementFactory(code=code, name=f"Département {code}", region=region)
    health = CategoryFactory(code="355", label="Centre Hospitalier (C.H.)", sector=Sector.HEALTH)
    ehpad = CategoryFactory(code="500", label="EHPAD", sector=Sector.MEDICO_SOCIAL)

    def org(kind, name, **extra):
        return OrganisationFactory(
            kind=kind,
            name=f"{name} {label}".strip(),
            region=region,
            departement=dept,
            commune=f"Commune {label}".strip(),
            **extra,
        )

    orgs = {
        "ars": org(OrgKind.ARS, "ARS"),
        "crrc": org(OrgKind.CRRC, "CRRC"),
        "provider": org(OrgKind.PROVIDER, "Prestataire cyber"),
        "liberal": org(OrgKind.LIBERAL, "Cabinet infirmier"),
        "legal_entity": org(OrgKind.LEGAL_ENTITY, "Entité juridique", finess=next_finess(code)),
    }
    orgs["establishment"] = org(
        OrgKind.ESTABLISHMENT,
        "Centre hospitalier",
        finess=next_finess(code),
        category=health,
        legal_status=LegalStatus.PUBLIC,
        legal_entity=orgs["legal_entity"],
    )
    orgs["ght"] = org(OrgKind.GHT, "GHT", support_establishment=orgs["establishment"])
    orgs["establishment"].ght = orgs["ght"]
    orgs["establishment"].save()
    orgs["sibling"] = org(
        OrgKind.ESTABLISHMENT,
        "Hôpital voisin",
        finess=next_finess(code),
        category=health,
        legal_status=LegalStatus.PUBLIC,
        ght=orgs["ght"],
    )
    orgs["essms"] = org(
        OrgKind.ESTABLISHMENT,
        "EHPAD",
        finess=next_finess(code),
        category=ehpad,
        sector=Sector.MEDICO_SOCIAL,
        legal_status=LegalStatus.PRIVATE_NON_PROFIT,
    )

    people = {}
    for role in REGIONAL_ROLES:
        kind = next(k for k in KIND_PREFERENCE if k in ROLES[role].org_kinds)
        home = next(o for o in orgs.values() if o.kind == kind)
        people[role.value] = member(
            role,
            home,
            email=f"{role.value}-{code}-{label}@exemple.fr".lower().replace(" ", ""),
            last_name=f"Personne {label}".strip(),
        )
    people["legal_entity_director"] = member(
        Role.DIRECTOR,
        orgs["legal_entity"],
        email=f"direction-ej-{code}-{label}@exemple.fr".lower(),
        last_name=f"Direction EJ {label}".strip(),
    )
    return Region_(region=region, orgs=orgs, people=people)


def _id_tables() -> list[tuple[str, str]]:
    """(table, id column) of every table whose ids come from a sequence."""
    return sorted(
        {
            (model._meta.db_table, model._meta.pk.column)
            for model in apps.get_models(include_auto_created=True)
            if isinstance(model._meta.pk, models.AutoField)
            and model._meta.managed
            and not model._meta.proxy
        }
    )


def _jump_id_sequences(start: int | None) -> None:
    """Make the next id of every table `start + 1` (see the module docstring); with None, the
    next id after the table's highest row.

    On PostgreSQL a sequence is not rolled back with the transaction: a world built earlier in
    the same process (the module fixture is built again when a worker comes back to this
    module) left them above ID_BASE, where region A's objects would be taken for B's. Each
    world starts with None, before region A is built."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, column in _id_tables():
            if start is None:
                # (Names from the models, quoted: no value of anyone's in this statement.)
                cursor.execute(f"SELECT COALESCE(MAX({quote(column)}), 0) FROM {quote(table)}")  # noqa: S608
                value = cursor.fetchone()[0]
            else:
                value = start
            if connection.vendor == "sqlite":
                cursor.execute("DELETE FROM sqlite_sequence WHERE name = %s", [table])
                cursor.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, value]
                )
            elif connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence(%s, %s), %s, %s)",
                    [table, column, max(value, 1), value > 0],
                )
            else:  # pragma: no cover - the project runs on SQLite and PostgreSQL only
                pytest.fail(f"no id sequence reset for {connection.vendor}")


def _raw_token(user: User, scope: str, name: str) -> str:
    raw = ApiToken.generate_key()
    ApiToken.objects.create(
        user=user, name=name, key_prefix=raw[:12], key_hash=hash_token(raw), scope=scope
    )
    return raw


@dataclass
class World:
    a: Region_
    b: Region_
    tokens: dict[str, str]  # role code in A -> raw read-write API token
    b_ids: list[int]  # every id of an object of B, whatever its model
    b_models_by_id: dict[int, list[str]]
    b_ids_by_table: dict[str, list[int]]  # table name -> ids of B's objects in it
    b_org_ids: list[int]
    canaries: list[str]
    # Like Client's own handler: CSRF is not checked, so POSTs reach the views.
    handler: ClientHandler = field(default_factory=lambda: ClientHandler(enforce_csrf_checks=False))

    def client(self, **defaults) -> Client:
        """A test client sharing one request handler: its middleware chain is built once."""
        # A view that crashes answers 500 (reported with its route) instead of stopping the run.
        client = Client(raise_request_exception=False, **defaults)
        client.handler = self.handler
        return client


def _build_programme_files(b, call, ars_manager, rssi) -> None:
    """One accepted file of B's GHT with an object of every model that hangs off a file: parts,
    document, comment, history, ARS ceiling, measurement, declaration with proofs, payment,
    financial report, reminder. Written directly: the services' windows are not the point."""
    import datetime
    from decimal import Decimal

    from django.core.files.base import ContentFile

    from rempart.programme import models as pm

    ght, establishment = b.orgs["ght"], b.orgs["establishment"]
    prerequisite, _ = pm.Requirement.objects.get_or_create(
        identifier="D2.TEST.P1",
        defaults={
            "domain": call.domain,
            "kind": pm.RequirementKind.PREREQUISITE,
            "label": "Organisation projet",
            "attainment": pm.Attainment.DECLARED,
        },
    )
    target, _ = pm.Requirement.objects.get_or_create(
        identifier="D2.TEST.01",
        defaults={
            "domain": call.domain,
            "kind": pm.RequirementKind.TARGET,
            "label": "Test de restauration",
            "attainment": pm.Attainment.MEASUREMENT,
            "measurement": pm.Measurement.RESTORATION_TEST,
        },
    )
    now = timezone.now()
    application = pm.Application.objects.create(
        call=call,
        applicant=ght,
        status=pm.ApplicationStatus.ACCEPTED,
        maturity_level=2,
        maturity_summary=f"Diagnostic {CANARY}",
        project_objectives=f"Objectifs {CANARY}",
        project_lead=f"Chef {CANARY}",
        requested_eur=Decimal("30000.00"),
        commitment_signatory=f"Directeur {CANARY}",
        commitment_signed_on=timezone.localdate(),
        ceiling_eur=Decimal("30000.00"),
        ceiling_steps=[f"Calcul {CANARY}"],
        engaged_eur=Decimal("30000.00"),
        submitted_at=now,
        decided_at=now,
        decided_by=ars_manager,
        decision_reason=f"Accord {CANARY}",
        created_by=rssi,
    )
    application.covered_establishments.set([establishment])
    pm.BudgetLine.objects.create(
        application=application, category="conseil", amount_eur=30000, description=CANARY
    )
    pm.PrerequisiteAnswer.objects.create(
        application=application, requirement=prerequisite, met=True, comment=CANARY
    )
    document = pm.ApplicationDocument(
        application=application,
        part=pm.DocumentPart.COMMITMENT,
        original_name=f"lettre-{CANARY}.pdf",
        content_type="application/pdf",
        size=9,
        sha256="0" * 64,
        uploaded_by=rssi,
    )
    document.file.save("lettre.pdf", ContentFile(f"%PDF-{CANARY}".encode()), save=False)
    document.save()
    pm.ApplicationComment.objects.create(
        application=application, author=rssi, author_organisation=establishment, body=CANARY
    )
    pm.ApplicationEvent.objects.create(
        application=application, kind=pm.EventKind.ACCEPTED, actor=ars_manager, message=CANARY
    )
    pm.CeilingOverride.objects.create(
        call=call, applicant=ght, amount_eur=30000, reason=f"Motif {CANARY}", set_by=ars_manager
    )
    measurement = pm.PlatformMeasurement.objects.create(
        organisation=establishment,
        kind=pm.Measurement.RESTORATION_TEST,
        result=f"Restauration {CANARY}",
        measured_on=timezone.localdate(),
        source=f"Source {CANARY}",
        recorded_by=rssi,
    )
    measurement.report.save("rapport.pdf", ContentFile(f"%PDF-{CANARY}".encode()))
    declaration = pm.TargetDeclaration.objects.create(
        application=application,
        requirement=target,
        statement=CANARY,
        declared_by=rssi,
        declared_at=now,
    )
    pm.DeclarationProof.objects.create(
        declaration=declaration,
        kind=pm.ProofKind.MEASUREMENT,
        measurement=measurement,
        measurement_snapshot={"result": CANARY},
        added_by=rssi,
    )
    proof = pm.DeclarationProof(
        declaration=declaration,
        kind=pm.ProofKind.FILE,
        original_name=f"preuve-{CANARY}.pdf",
        content_type="application/pdf",
        size=9,
        sha256="0" * 64,
        added_by=rssi,
    )
    proof.file.save("preuve.pdf", ContentFile(f"%PDF-{CANARY}".encode()), save=False)
    proof.save()
    pm.PaymentRequest.objects.create(
        application=application,
        amount_eur=30000,
        bank_account_holder=f"Titulaire {CANARY}",
        requested_by=rssi,
        requested_at=now,
    )
    report = pm.FinancialReport.objects.create(application=application, filed_by=rssi)
    pm.CostLine.objects.create(
        report=report,
        category="audits",
        supplier=f"Fournisseur {CANARY}",
        invoice_reference=CANARY,
        invoice_date=datetime.date.today(),
        amount_eur=1200,
    )
    pm.ReminderSent.objects.create(
        application=application, call=call, applicant=ght, window="paiement", days_before=7
    )


def _build_incidents(b) -> None:
    """An object of every incident model in B: an alert paged to B's on-call expert and linked
    to a case (timeline, task, indicator, asset, evidence with custody, declaration, accesses),
    a repeated alert, the rota, a gateway, and an ORSAN activation with a loan."""
    from django.core.files.base import ContentFile

    from rempart.incidents import models as im

    now = timezone.now()
    crrc, victim = b.orgs["crrc"], b.orgs["establishment"]
    oncall, rssi = b.people[Role.CRRC_ONCALL.value], b.people[Role.RSSI.value]
    im.EscalationPolicy.objects.create(crrc=crrc)
    webhook = im.PagingWebhook.objects.create(
        crrc=crrc, name=f"SMS {CANARY}", url="http://127.0.0.1:9/sms", secret="s3cret"
    )
    im.OnCallShift.objects.create(
        crrc=crrc,
        person=oncall,
        starts_at=now - timezone.timedelta(hours=1),
        ends_at=now + timezone.timedelta(hours=8),
        handover_note=f"Relève {CANARY}",
    )
    case = im.Case.objects.create(
        region=b.region,
        organisation=victim,
        year=now.year,
        number=1,
        title=f"Rançongiciel {CANARY}",
        incident_type=im.IncidentType.RANSOMWARE,
        lead=oncall,
        reported_at=now,
        opened_at=now,
    )
    alert = im.Alert.objects.create(
        region=b.region,
        organisation=victim,
        crrc=crrc,
        reporter=rssi,
        source=im.AlertSource.WEB,
        incident_type=im.IncidentType.RANSOMWARE,
        description=f"Écran de rançon {CANARY}",
        received_at=now,
        case=case,
        paging_status=im.PagingStatus.ACKNOWLEDGED,
        acknowledged_by=oncall,
        acknowledged_at=now,
    )
    im.Alert.objects.create(
        region=b.region,
        organisation=victim,
        reporter=rssi,
        source=im.AlertSource.API,
        description=f"Doublon {CANARY}",
        received_at=now,
        duplicate_of=alert,
        paging_status=im.PagingStatus.LINKED,
    )
    im.Page.objects.create(
        alert=alert, step=0, level=1, recipient=oncall, channel=im.PageChannel.EMAIL, created_at=now
    )
    im.Page.objects.create(
        alert=alert,
        step=0,
        level=1,
        recipient=oncall,
        channel=im.PageChannel.WEBHOOK,
        webhook=webhook,
        created_at=now,
    )
    im.CaseAccess.objects.create(
        case=case, organisation=b.orgs["ars"], level=im.AccessLevel.READ, granted_at=now
    )
    im.CaseAccess.objects.create(
        case=case,
        person=b.people[Role.PROVIDER_EXPERT.value],
        level=im.AccessLevel.CONTRIBUTE,
        granted_at=now,
    )
    im.CaseEvent.objects.create(
        case=case, kind=im.EventKind.NOTE, occurred_at=now, recorded_at=now, text=f"Note {CANARY}"
    )
    im.CaseTask.objects.create(case=case, title=f"Isoler {CANARY}", created_at=now)
    im.Indicator.objects.create(
        case=case, kind=im.IndicatorKind.DOMAIN, value=f"{CANARY.lower()}.example", created_at=now
    )
    im.AffectedAsset.objects.create(
        case=case,
        name=f"SRV-{CANARY}",
        kind=im.AssetKind.SERVER,
        state=im.AssetState.COMPROMISED,
        created_at=now,
    )
    evidence = im.Evidence(
        case=case,
        original_name=f"journal-{CANARY}.txt",
        size=6,
        sha256="0" * 64,
        description=f"Journal {CANARY}",
        collected_at=now,
        collected_by_name=f"Expert {CANARY}",
        added_at=now,
    )
    evidence.file.save("journal.txt", ContentFile(f"{CANARY}".encode()), save=False)
    evidence.save()
    im.CustodyEntry.objects.create(
        evidence=evidence, action=im.CustodyAction.DEPOSITED, at=now, actor_name=f"X {CANARY}"
    )
    im.CertSanteDeclaration.objects.create(
        case=case, structure_name=f"CH {CANARY}", prepared_at=now, scope=f"Périmètre {CANARY}"
    )
    activation = im.CrisisActivation.objects.create(
        region=b.region,
        title=f"ORSAN {CANARY}",
        reason=f"Motif {CANARY}",
        activated_at=now,
        case=case,
    )
    activation.affected.set([victim])
    resource = im.PooledResource.objects.create(
        organisation=b.orgs["sibling"],
        region=b.region,
        kind=im.ResourceKind.LAPTOPS,
        label=f"Portables {CANARY}",
        quantity=20,
        created_at=now,
    )
    im.AidRequest.objects.create(
        activation=activation,
        requester=victim,
        kind=im.ResourceKind.LAPTOPS,
        need=f"Besoin {CANARY}",
        quantity=5,
        resource=resource,
        status=im.AidStatus.LENT,
        requested_at=now,
        lent_at=now,
    )


def _build_awareness(b) -> None:
    """A quiz attempt with its certificate by B's staff member, and an escape-game session of
    B with a participation row. The module is national content: no canary in it."""
    import datetime

    from rempart.awareness import models as aw

    now = timezone.now()
    staff, establishment = b.people[Role.STAFF.value], b.orgs["establishment"]
    module, _ = aw.Module.objects.get_or_create(
        code="garde-tenancy",
        defaults={
            "title": "Module national",
            "theme": aw.Theme.GENERAL,
            "audience": aw.Audience.EVERYONE,
            "duration_minutes": 5,
            "content_hash": "0" * 64,
            "questions": [],
        },
    )
    attempt = aw.Attempt.objects.create(
        user=staff,
        organisation=establishment,
        module=module,
        module_version=1,
        module_title=module.title,
        pass_mark=80,
        answers=[{"code": "q", "text": f"Question {CANARY}", "selected": ["a"]}],
        correct_count=1,
        question_count=1,
        score=100,
        passed=True,
        submitted_at=now,
    )
    aw.Certificate.objects.create(
        attempt=attempt,
        user=staff,
        organisation=establishment,
        code=f"code-{CANARY}",
        holder_name=f"Agent {CANARY}",
        organisation_name=establishment.name,
        module_title=module.title,
        module_version=1,
        score=100,
        issued_at=now,
    )
    session = aw.EscapeGameSession.objects.create(
        region=b.region,
        host=establishment,
        site=f"Salle {CANARY}",
        held_on=datetime.date.today(),
        facilitator=b.people[Role.TRAINER.value],
        facilitator_name=f"Animatrice {CANARY}",
        debrief=f"Débriefing {CANARY}",
        participant_count=7,
        recorded_by=b.people[Role.TRAINER.value],
    )
    aw.EscapeGameParticipation.objects.create(
        session=session, organisation=b.orgs["sibling"], count=7, names=f"Nom {CANARY}"
    )


def _build_phishing(b) -> None:
    """An object of every phishing model in B: the establishment's group (with a recipient, a
    pending import), profile, template, landing page; the CRRC's library template and
    profile; a mandate; an autonomous campaign and a delegated one, with a campaign recipient
    and tracking events."""
    import datetime

    from rempart.phishing import models as ph

    crrc, hospital = b.orgs["crrc"], b.orgs["establishment"]
    rssi, operator = b.people[Role.RSSI.value], b.people[Role.CRRC_OPERATOR.value]
    today, now = timezone.localdate(), timezone.now()
    group = ph.RecipientGroup.objects.create(organisation=hospital, name=f"Groupe {CANARY}")
    ph.Recipient.objects.create(
        group=group,
        email=f"{CANARY}-agent@exemple.fr".lower(),
        first_name=CANARY,
        last_name=CANARY,
        department=f"Service {CANARY}",
        position=CANARY,
    )
    ph.RecipientImport.objects.create(
        organisation=hospital,
        group=group,
        uploaded_by=rssi,
        source_name=f"liste-{CANARY}.csv",
        encoding="UTF-8",
        delimiter=";",
        lines_read=2,
        rows=[{"email": f"{CANARY}@exemple.fr".lower(), "first_name": CANARY}],
        rejections=[{"line": 3, "email": CANARY, "reasons": ["e-mail invalide"]}],
    )
    body = f'<p>{CANARY} {{{{prenom}}}}</p><a href="{{{{lien}}}}">lien</a>'
    resources = {}
    for owner in (hospital, crrc):
        resources[owner.pk] = (
            ph.SendingProfile.objects.create(
                organisation=owner,
                name=f"Profil {CANARY}",
                host=f"smtp-{CANARY}.exemple.fr".lower(),
                password=f"secret-{CANARY}",
                from_address=f"{CANARY}@exemple.fr".lower(),
            ),
            ph.EmailTemplate.objects.create(
                organisation=owner,
                library=owner == crrc,
                name=f"Modèle {CANARY}",
                subject=f"Objet {CANARY}",
                sender_name=CANARY,
                sender_address=f"{CANARY}@exemple.fr".lower(),
                html_body=body,
            ),
            ph.LandingPage.objects.create(
                organisation=owner,
                name=f"Page {CANARY}",
                form_html=f"<form>{CANARY}</form>",
                fields=["identifiant"],
                teaching_title=CANARY,
                teaching_text=CANARY,
            ),
        )
    mandate = ph.Mandate.objects.create(
        establishment=hospital,
        crrc=crrc,
        starts_on=today - datetime.timedelta(days=1),
        ends_on=today + datetime.timedelta(days=60),
        note=f"Mandat {CANARY}",
        signed_by=rssi,
    )
    for mode, owner, actor in (
        (ph.CampaignMode.AUTONOMOUS, hospital, rssi),
        (ph.CampaignMode.DELEGATED, crrc, operator),
    ):
        profile, template, landing = resources[owner.pk]
        campaign = ph.Campaign.objects.create(
            organisation=hospital,
            operator=owner,
            mode=mode,
            mandate=mandate if mode == ph.CampaignMode.DELEGATED else None,
            name=f"Campagne {CANARY}",
            landing_page=landing,
            sending_profile=profile,
            starts_at=now,
            spread_until=now + datetime.timedelta(days=2),
            privacy_mode=ph.PrivacyMode.PSEUDONYMOUS,
            staff_information=CANARY,
            legal_basis=CANARY,
            status=ph.CampaignStatus.SCHEDULED,
            created_by=actor,
        )
        campaign.templates.set([template])
        campaign.groups.set([group])
        recipient = ph.CampaignRecipient.objects.create(
            campaign=campaign,
            department=f"Service {CANARY}",
            email=f"{CANARY}-agent@exemple.fr".lower(),
            first_name=CANARY,
            template=template,
        )
        ph.TrackingEvent.objects.create(
            campaign=campaign, recipient=recipient, kind=ph.EventKind.CLICKED
        )
        ph.TrackingEvent.objects.create(
            campaign=campaign,
            recipient=recipient,
            kind=ph.EventKind.SUBMITTED,
            filled_fields=["identifiant"],
        )
    # Integrations: reporting mailboxes (establishment, CRRC), a webhook and its log.
    for owner in (hospital, crrc):
        ph.ReportMailbox.objects.create(
            organisation=owner,
            name=f"Boîte {CANARY}",
            address=f"{CANARY}@exemple.fr".lower(),
            host=f"imap-{CANARY}.exemple.fr".lower(),
            username=CANARY,
            password=f"secret-{CANARY}",
            last_error=f"Erreur {CANARY}",
        )
    endpoint = ph.WebhookEndpoint.objects.create(
        organisation=hospital,
        name=f"Webhook {CANARY}",
        url=f"https://{CANARY.lower()}.exemple.fr/hook",
        secret=f"whsec-{CANARY}",
        events=["event.clicked"],
    )
    ph.WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="ping",
        dedup_key=f"ping:{CANARY}",
        payload={"message": CANARY},
        error=f"Erreur {CANARY}",
    )


def _build_events(b) -> None:
    """A published training session of B's CRRC (started yesterday), a registration by B's
    establishment marked present, and its satisfaction answer."""
    import datetime

    from rempart.events import models as ev

    starts = timezone.now() - datetime.timedelta(days=1)
    session = ev.TrainingSession.objects.create(
        organiser=b.orgs["crrc"],
        region=b.region,
        kind=ev.SessionKind.TRAINING,
        programme=f"Programme {CANARY}",
        title=f"Formation {CANARY}",
        description=f"Description {CANARY}",
        audience=[ev.Audience.IT_TEAMS],
        starts_at=starts,
        ends_at=starts + datetime.timedelta(hours=3),
        location=f"Salle {CANARY}",
        capacity=12,
        status=ev.SessionStatus.PUBLISHED,
        created_by=b.people[Role.TRAINER.value],
    )
    registration = ev.Registration.objects.create(
        session=session,
        organisation=b.orgs["establishment"],
        first_name="Agent",
        last_name=f"Formé {CANARY}",
        email=f"{CANARY}-stagiaire@exemple.fr".lower(),
        registered_by=b.people[Role.RSSI.value],
        status=ev.RegistrationStatus.CONFIRMED,
        attended=True,
    )
    ev.SurveyAnswer.objects.create(
        registration=registration, score=9, comment=f"Avis {CANARY}", submitted_at=timezone.now()
    )


def _build_exercises(b) -> None:
    """B's CRRC library scenario and B's establishment's own one; a played exercise of B's
    establishment with its participant (signed link), released inject, journal, evaluation,
    RETEX with an action and coverage verdict; a regional exercise of B's CRRC."""
    import datetime

    from rempart.exercises import models as ex
    from rempart.exercises.coverage import refresh_coverage

    now = timezone.now()
    library = ex.Scenario.objects.create(
        region=b.region,
        slug=f"regional-{CANARY.lower()}",
        title=f"Scénario {CANARY}",
        level=ex.Level.BEGINNER,
        theme=ex.Theme.RANSOMWARE,
        summary=f"Résumé {CANARY}",
        duration_minutes=120,
        functions=[ex.Function.GENERAL_MANAGEMENT],
        criteria=[{"code": "alerte", "label": f"Critère {CANARY}"}],
    )
    ex.ScenarioInject.objects.create(
        scenario=library,
        order=1,
        offset_minutes=0,
        title=f"Stimulus {CANARY}",
        body=f"Message {CANARY}",
        channel=ex.Channel.SCREEN,
        functions=[ex.Function.IT],
    )
    ex.Scenario.objects.create(
        organisation=b.orgs["establishment"],
        slug=f"own-{CANARY.lower()}",
        title=f"Scénario propre {CANARY}",
        level=ex.Level.EXPERT,
        theme=ex.Theme.DATA_LEAK,
        summary=f"Résumé {CANARY}",
        duration_minutes=60,
    )
    for holder, kind in (
        (b.orgs["establishment"], ex.RunKind.ESTABLISHMENT),
        (b.orgs["crrc"], ex.RunKind.REGIONAL),
    ):
        run = ex.ExerciseRun.objects.create(
            organisation=holder,
            region=b.region,
            kind=kind,
            scenario=library,
            title=f"Exercice {CANARY}",
            level=library.level,
            theme=library.theme,
            criteria=library.criteria,
            objectives=f"Objectifs {CANARY}",
            planned_start=now - datetime.timedelta(days=2),
            status=ex.RunStatus.FINISHED,
            started_at=now - datetime.timedelta(days=2),
            ended_at=now - datetime.timedelta(days=2) + datetime.timedelta(hours=3),
            location=f"Salle {CANARY}",
        )
        participant = ex.ExerciseParticipant.objects.create(
            run=run,
            organisation=b.orgs["establishment"],
            function=ex.Function.GENERAL_MANAGEMENT,
            full_name=f"Directrice {CANARY}",
            email=f"{CANARY}-joueur@exemple.fr".lower(),
            link_token_hash=secrets.token_hex(32),
            link_expires_at=now + datetime.timedelta(days=5),
        )
        inject = ex.RunInject.objects.create(
            run=run,
            order=1,
            offset_minutes=0,
            title=f"Stimulus {CANARY}",
            body=f"Message {CANARY}",
            channel=ex.Channel.EMAIL,
            released_at=now - datetime.timedelta(days=2),
        )
        ex.JournalEntry.objects.create(
            run=run,
            at=now - datetime.timedelta(days=2),
            kind=ex.EntryKind.REACTION,
            inject=inject,
            participant=participant,
            text=f"Réaction {CANARY}",
        )
        ex.Evaluation.objects.create(
            run=run,
            scores={"alerte": {"score": 3, "comment": f"Note {CANARY}"}},
            summary=f"Synthèse {CANARY}",
            evaluated_at=now,
        )
        debrief = ex.Debrief.objects.create(
            run=run,
            held_on=timezone.localdate(),
            strengths=f"Forces {CANARY}",
            improvements=f"Faiblesses {CANARY}",
        )
        ex.DebriefAction.objects.create(debrief=debrief, title=f"Action {CANARY}", owner=CANARY)
        refresh_coverage(run)


def _build_exposure(b) -> None:
    """B's exposure watch: a lab range of B's CRRC, an asset of B's establishment with a declared
    service, its authorisation, a finished scan with what it saw, a finding, and a released
    emergency stop."""
    import datetime

    from rempart.exposure import models as xm

    now, today = timezone.now(), timezone.localdate()
    operator, hospital = b.people[Role.CRRC_OPERATOR.value], b.orgs["establishment"]
    lab = xm.LabRange.objects.create(
        region=b.region, network="10.66.0.0/24", reason=f"Labo {CANARY}", allowed_by=operator
    )
    asset = xm.Asset.objects.create(
        organisation=hospital,
        kind=xm.AssetKind.ADDRESS,
        value="10.66.0.7/32",
        description=f"Portail {CANARY}",
        address_count=1,
        lab_range=lab,
    )
    xm.DeclaredService.objects.create(asset=asset, port=8443, purpose=f"Portail {CANARY}")
    authorisation = xm.Authorisation.objects.create(
        organisation=hospital,
        signed_by=b.people[Role.RSSI.value],
        signer_name=f"Signataire {CANARY}",
        signer_title="RSSI",
        valid_from=today,
        valid_until=today + datetime.timedelta(days=300),
        weekdays="12345",
        window_start=datetime.time(9),
        window_end=datetime.time(17),
        max_rate=100,
    )
    authorisation.assets.set([asset])
    scan = xm.Scan.objects.create(
        organisation=hospital,
        authorisation=authorisation,
        trigger=xm.ScanTrigger.ON_DEMAND,
        launched_by=operator,
        status=xm.ScanStatus.DONE,
        targets=[["10.66.0.7", "", asset.pk]],
        ports=[3389, 8443],
        rate=100,
        hosts_done=1,
        probes_done=2,
        probes_total=2,
        open_found=1,
        reason=f"Motif {CANARY}",
        started_at=now,
        finished_at=now,
    )
    xm.Observation.objects.create(
        scan=scan, address="10.66.0.7", port=3389, service="rdp", banner=f"Bannière {CANARY}"
    )
    xm.Finding.objects.create(
        organisation=hospital,
        address="10.66.0.7",
        port=3389,
        code="exposed_rdp",
        severity=xm.Severity.CRITICAL,
        title=f"RDP exposé {CANARY}",
        explanation=f"Explication {CANARY}",
        remediation="Fermer le port.",
        first_seen_at=now,
        last_seen_at=now,
        first_scan=scan,
        last_scan=scan,
    )
    xm.EmergencyStop.objects.create(
        active=False,
        engaged_by=operator,
        reason=f"Arrêt {CANARY}",
        released_by=operator,
        released_at=now,
    )


def _build_assessments(b) -> None:
    """A referential imported by B's establishment, its assessment with an answer and an
    evidence file, an action of its plan, and a campaign of B's ARS."""
    import datetime

    from django.core.files.base import ContentFile

    from rempart.assessments import models as am
    from rempart.assessments.tests.factories import small_questionnaire

    today = timezone.localdate()
    questionnaire = small_questionnaire(
        urn=f"urn:rempart:{CANARY.lower()}", organisation=b.orgs["establishment"]
    )
    questionnaire.name = f"Référentiel {CANARY}"
    questionnaire.save()
    campaign = am.AssessmentCampaign.objects.create(
        region=b.region,
        organiser=b.orgs["ars"],
        questionnaire=questionnaire,
        title=f"Campagne {CANARY}",
        message=f"Message {CANARY}",
        opens_on=today - datetime.timedelta(days=3),
        deadline=today + datetime.timedelta(days=30),
        population=["establishment"],
        reminder_days=[7],
    )
    assessment = am.Assessment.objects.create(
        organisation=b.orgs["establishment"], questionnaire=questionnaire, campaign=campaign
    )
    question = questionnaire.questions.order_by("order").first()
    am.Answer.objects.create(
        assessment=assessment,
        question=question,
        choice=question.choices.order_by("order").first(),
        comment=f"Commentaire {CANARY}",
        answered_at=timezone.now(),
    )
    evidence = am.Evidence(
        assessment=assessment,
        title=f"Preuve {CANARY}",
        original_name=f"preuve-{CANARY}.pdf",
        content_type="application/pdf",
        size=12,
        sha256="a" * 64,
        effective_on=today,
    )
    evidence.file.save("preuve.pdf", ContentFile(b"%PDF-1.4 " + CANARY.encode()), save=False)
    evidence.save()
    am.Action.objects.create(
        organisation=b.orgs["establishment"],
        title=f"Action {CANARY}",
        owner=CANARY,
        source_assessment=assessment,
        source_question=question,
    )


def _build_world() -> World:
    _jump_id_sequences(None)
    a = _build_region("91", "")
    assert max(o.pk for o in a.orgs.values()) < ID_BASE, "region A's ids must stay below B's"
    tokens = {}
    for key, user in a.people.items():
        role = Role.DIRECTOR if key == "legal_entity_director" else Role(key)
        if Capability.USE_API in ROLES[role].capabilities:
            tokens[key] = _raw_token(user, ApiTokenScope.READ_WRITE, "Jeton de test")

    _jump_id_sequences(ID_BASE)
    started = timezone.now()

    # Region B's people and organisations are created without their creation records (a few
    # dozen audit entries would multiply the ids to try); the audited writes below still give
    # B its audit entries, through the services.
    with disable_auditlog():
        b = _build_region("92", CANARY)
    rssi = b.people[Role.RSSI.value]
    ars_manager = b.people[Role.ARS_MANAGER.value]
    # Objects of every tenant-owned model, each named with the canary.
    pending = services.invitation_create(
        actor=rssi,
        organisation=b.orgs["establishment"],
        email=f"{CANARY}-invitee@exemple.fr".lower(),
        role=Role.DSI,
    )
    revoked = services.invitation_create(
        actor=rssi,
        organisation=b.orgs["establishment"],
        email=f"{CANARY}-revoked@exemple.fr".lower(),
        role=Role.STAFF,
    )
    services.invitation_revoke(actor=rssi, invitation=revoked)
    services.organisation_update(
        actor=ars_manager,
        organisation=b.orgs["essms"],
        phone="0400000000",
        email=f"{CANARY}-contact@exemple.fr".lower(),
    )
    _raw_token(ars_manager, ApiTokenScope.READ_WRITE, f"Jeton {CANARY}")
    EmailAddress.objects.create(user=rssi, email=rssi.email, verified=True, primary=True)
    finess_import = FinessImport.objects.create(
        source_name=f"finess-{CANARY}.csv",
        uploaded_by=b.people[Role.CRRC_OPERATOR.value],
        status=FinessImport.Status.DONE,
        lines_read=3,
        rejected_count=1,
        rejections=[{"line": 2, "finess": "920000000", "reason": f"Rejet {CANARY}"}],
        started_at=started,
        finished_at=timezone.now(),
    )
    # Uploaded by B's CRRC: a run of region B (a run without region is a national one,
    # from the command line, which every importer may read).
    finess_import.regions.set([b.region])
    # A funding call of B (the domain is national reference data: no canary in it).
    import datetime

    from rempart.programme.models import ApplicantRule, Domain
    from rempart.programme.services import call_create

    today, day = timezone.localdate(), datetime.timedelta(days=1)
    call = call_create(
        actor=ars_manager,
        region=b.region,
        domain=Domain.objects.get_or_create(
            code="D2", defaults={"title": "Domaine 2", "axis": "gouvernance"}
        )[0],
        title=f"Appel {CANARY}",
        legal_reference=f"Arrêté {CANARY}",
        national_amount_eur=45_000_000,
        envelope_eur=5_600_000,
        applicant_rule=ApplicantRule.GHT_OR_LEGAL_ENTITY,
        application_opens_on=today - day,
        application_closes_on=today + 60 * day,
        declaration_deadline=today + 300 * day,
        payment_opens_on=today + 301 * day,
        payment_closes_on=today + 400 * day,
        ceiling_schedule={"basis": "beds", "method": "rate", "rate": "100.00"},
    )
    _build_programme_files(b, call, ars_manager, rssi)
    with disable_auditlog():  # (their audit entries would multiply the ids to try)
        _build_incidents(b)
        _build_awareness(b)
        _build_phishing(b)
        _build_events(b)
        _build_exercises(b)
        _build_assessments(b)
        _build_exposure(b)
    assert pending.pk > ID_BASE

    b_models_by_id: dict[int, list[str]] = {}
    b_ids_by_table: dict[str, list[int]] = {}
    for model in apps.get_models():
        if not isinstance(model._meta.pk, models.AutoField):
            continue
        for pk in model._default_manager.filter(pk__gt=ID_BASE).values_list("pk", flat=True):
            b_models_by_id.setdefault(pk, []).append(model._meta.label)
            if model is not AuditEntry:  # (read only through the filtered journal, never by id)
                b_ids_by_table.setdefault(model._meta.db_table, []).append(pk)
    canaries = [CANARY.lower()] + [o.finess for o in b.orgs.values() if o.finess]
    # What A's people create during the checks (an alert is saved even when empty) gets ids far
    # above B's: a B id never names one of A's own new objects.
    _jump_id_sequences(ID_BASE * 2)
    return World(
        a=a,
        b=b,
        tokens=tokens,
        b_ids=sorted({pk for pks in b_ids_by_table.values() for pk in pks}),
        b_models_by_id=b_models_by_id,
        b_ids_by_table=b_ids_by_table,
        b_org_ids=[o.pk for o in b.orgs.values()],
        canaries=canaries,
    )


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Both regions, built once for the module inside a transaction rolled back at the end
    (each test then runs in its own savepoint)."""
    with (
        django_db_blocker.unblock(),
        override_settings(
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
            # (E-mails and tasks are scheduled on commit: never, in this rolled-back transaction.)
            # WhiteNoise would index every static file again for each new test client (0.4 s each);
            # static files are not routes and play no part here.
            WHITENOISE_USE_FINDERS=False,
            # B's uploaded files (application parts, proofs) go to a throwaway folder.
            MEDIA_ROOT=str(tmp_path_factory.mktemp("tenancy-media")),
        ),
    ):
        atomic = transaction.atomic()
        atomic._from_testcase = True  # let durable blocks of the code under test nest in it
        atomic.__enter__()
        # Thousands of refusals: their log lines (one per 4xx) would cost more than the checks.
        # Server errors are still logged, with their traceback.
        loggers = [logging.getLogger(name) for name in ("django_structlog", "django.request")]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield _build_world()
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def test_region_b_holds_every_tenant_owned_model(world, db):
    """Each model that belongs to an organisation or a person has objects in B, so the
    guard tries their ids. A new tenant-owned model must get a B object in _build_world."""
    user_model, org_model = apps.get_model(settings.AUTH_USER_MODEL), Organisation

    def tenant_owned(model) -> bool:
        if model in (user_model, org_model):
            return True
        return any(
            isinstance(f, models.ForeignKey) and f.related_model in (user_model, org_model)
            for f in model._meta.get_fields()
        )

    present = {label for labels in world.b_models_by_id.values() for label in labels}
    missing = sorted(
        model._meta.label
        for model in apps.get_models()
        if tenant_owned(model) and model._meta.label not in present
    )
    assert not missing, f"region B has no object of these tenant-owned models: {missing}"
    assert len(world.b_ids) < 20, "too many B ids: the guard would get slow"


# --- Checks -------------------------------------------------------------------------------------


def _body(response) -> str:
    content = response.getvalue() if hasattr(response, "getvalue") else response.content
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return (headers + "\n" + content.decode("utf-8", errors="replace")).lower()


def _leaks(world: World, response) -> list[str]:
    body = _body(response)
    return [canary for canary in world.canaries if canary.lower() in body]


def _redirect_into_b(world: World, response) -> str | None:
    """The B object a redirect leads to, if any (a redirect to the login page is fine)."""
    if response.status_code not in (301, 302, 303, 307, 308):
        return None
    path = urlsplit(response["Location"]).path
    try:
        match = resolve(path)
    except Resolver404:
        return None
    for value in match.kwargs.values():
        if str(value).isdigit() and int(value) in world.b_models_by_id:
            return f"{path} ({', '.join(world.b_models_by_id[int(value)])} of region B)"
    return None


# `"table"."column" = 1699999` or `"table"."column" IN (1699999`, as both engines print them.
_COMPARED_TO_UNKNOWN_ID = re.compile(rf'"(\w+)"\."(\w+)"\s*(?:=|IN\s*\()\s*{UNKNOWN_ID}\b')


def _id_columns() -> dict[tuple[str, str], str]:
    """(table, column) -> the table whose ids that column holds: the primary key names its own
    table's objects, a foreign key its target's."""
    columns = {}
    for model in apps.get_models(include_auto_created=True):
        table = model._meta.db_table
        for f in model._meta.concrete_fields:
            if f.primary_key:
                columns[(table, f.column)] = table
            elif f.is_relation and f.related_model is not None:
                columns[(table, f.column)] = f.related_model._meta.db_table
    return columns


ID_COLUMNS = _id_columns()


def _b_ids_looked_up(world: World, queries) -> list[int]:
    """B's ids in the tables a call made with UNKNOWN_ID looked that id up in, read from its
    SQL: the column compared to the id says which table's objects the id names. When the
    comparison is not that plain (an alias in a subquery, a column that is not an id), every
    table of the query counts: more ids, never fewer. One id of B when no query used it."""
    unknown = str(UNKNOWN_ID)
    tables: set[str] = set()
    for query in queries:
        sql = query["sql"]
        if unknown not in sql:
            continue
        named = [
            ID_COLUMNS.get((table, column))
            for table, column in _COMPARED_TO_UNKNOWN_ID.findall(sql)
        ]
        if named and all(named) and len(named) == sql.count(unknown):
            tables.update(named)
        else:
            tables.update(table for table in world.b_ids_by_table if f'"{table}"' in sql)
    ids = {pk for table in tables for pk in world.b_ids_by_table.get(table, ())}
    return sorted(ids) or world.b_ids[:1]


def _b_audit_count(world: World) -> int:
    return AuditEntry.objects.filter(organisation_id__in=world.b_org_ids).count()


# --- Anonymous ----------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_anonymous_is_refused_everywhere_but_public_routes(route, world, db):
    client = world.client()
    login_url = reverse("account_login")
    for method in ("get", "post"):
        response = getattr(client, method)(route.url(world.b_ids[0]))
        label = f"anonymous {method.upper()} {route.url(world.b_ids[0])} ({route.name})"
        assert response.status_code < 500, f"{label}: {response.status_code}"
        assert not _leaks(world, response), f"{label}: body shows region B data"
        if route.is_public:
            continue
        if route.is_api and response.status_code != 302:  # (a 302: an HTML page under /api/)
            assert response.status_code in (401, 403), (
                f"{label}: {response.status_code}, not refused"
            )
            error = response.json().get("error", {})
            assert error.get("code"), f"{label}: not a structured error"
            assert error.get("message"), f"{label}: not a structured error"
        else:
            assert response.status_code == 302, f"{label}: {response.status_code}, not refused"
            assert response["Location"].startswith(login_url), (
                f"{label}: redirects to {response['Location']}"
            )


# --- Every role of region A against region B ---------------------------------------------------


# Query-string parameters a list may take to narrow to one object: tried with B's ids.
PROBE_PARAMS = (
    "organisation",
    "organisation_id",
    "ght",
    "user",
    "membership",
    "legal_entity",
    "pk",
    "id",
)


ALL_ROLES = [*REGIONAL_ROLES, "legal_entity_director"]
# Two halves, two classes: `--dist loadscope` gives each class to a worker; the module's world
# is built once per worker.
ESTABLISHMENT_SIDE = [
    role
    for role in ALL_ROLES
    if role == "legal_entity_director" or OrgKind.ESTABLISHMENT in ROLES[role].org_kinds
]
REGION_SIDE = [role for role in ALL_ROLES if role not in ESTABLISHMENT_SIDE]


class TestEstablishmentSideRoles:
    @pytest.mark.parametrize("role", ESTABLISHMENT_SIDE, ids=str)
    def test_never_reaches_region_b(self, role, world, db):
        _never_reaches_region_b(role, world)


class TestRegionSideRoles:
    @pytest.mark.parametrize("role", REGION_SIDE, ids=str)
    def test_never_reaches_region_b(self, role, world, db):
        _never_reaches_region_b(role, world)


def test_the_halves_cover_every_role():
    assert sorted(map(str, ESTABLISHMENT_SIDE + REGION_SIDE)) == sorted(map(str, ALL_ROLES))


def _never_reaches_region_b(role, world) -> None:
    key = role.value if isinstance(role, Role) else role
    user = world.a.people[key]
    session = world.client()
    session.force_login(user)
    clients = [("session", session)]
    if key in world.tokens:
        clients.append(("token", world.client(HTTP_AUTHORIZATION=f"Token {world.tokens[key]}")))
    b_target = world.b.orgs["establishment"].pk
    probe = "?" + "&".join(f"{p}={b_target}" for p in PROBE_PARAMS)

    failures: list[str] = []
    answered: dict[str, int] = {}  # client -> number of 200 answers (the person really got in)
    audit_before = _b_audit_count(world)

    def check(
        route: Route, client_label: str, client, method: str, url: str, with_b_id: bool
    ) -> int:
        response = getattr(client, method)(url)
        answered[client_label] = answered.get(client_label, 0) + (response.status_code == 200)
        label = (
            f"{key} {client_label} {method.upper()} {url} ({route.name}) → {response.status_code}"
        )
        if response.status_code >= 500:
            failures.append(f"{label}: server error")
        if leaks := _leaks(world, response):
            failures.append(f"{label}: body shows region B data {leaks}")
        if into_b := _redirect_into_b(world, response):
            failures.append(f"{label}: redirects to {into_b}")
        elif with_b_id and not route.is_public and response.status_code not in REFUSED | {302, 303}:
            failures.append(f"{label}: a B id was not refused")
        elif (
            route.params
            and not route.is_public
            and response.status_code not in REFUSED | {302, 303, 400, 410}
        ):
            failures.append(f"{label}: a made-up value was not refused")
        if method == "post" and client_label == "session" and "_auth_user_id" not in client.session:
            client.force_login(user)  # the route logged us out (logout): carry on logged in
        return response.status_code

    for route in ROUTES:
        cache.clear()  # the API's throttle counts every call: the guard makes thousands
        for client_label, client in clients if route.is_api else clients[:1]:
            for method in ("get", "post"):
                if not route.int_params:
                    url = route.url()
                    check(route, client_label, client, method, url, False)
                    if method == "get" and not route.params:
                        check(route, client_label, client, "get", url + probe, False)
                    continue
                # First an id that names nothing: what the route looks it up in.
                with CaptureQueriesContext(connection) as queries:
                    status = check(route, client_label, client, method, route.url(), False)
                if status == 405:  # a method the route does not handle: no id changes that
                    continue
                for object_id in _b_ids_looked_up(world, queries):
                    check(route, client_label, client, method, route.url(object_id), True)

    # A guard that is refused everywhere proves nothing: the person must reach their own pages.
    for client_label, _client in clients:
        if not answered.get(client_label):
            failures.append(
                f"{key} {client_label}: no route answered 200, the checks above prove nothing"
            )
    if (after := _b_audit_count(world)) != audit_before:
        failures.append(f"{key}: {after - audit_before} audit entries written about region B")
    assert not failures, f"{len(failures)} tenancy failures:\n" + "\n".join(failures)


@pytest.mark.parametrize(
    ("route_name", "model"),
    [("organisations:detail", Organisation), ("exercises:run_detail", "exercises.ExerciseRun")],
)
def test_the_ids_tried_are_those_of_the_objects_the_route_reads(route_name, model, world, db):
    """The guard can only be trusted if it learns the right tables: a route that reads an
    organisation is tried with every organisation of B, one that reads a run with B's runs."""
    model = apps.get_model(model) if isinstance(model, str) else model
    route = next(r for r in ROUTES if r.name == route_name)
    client = world.client()
    client.force_login(world.a.people[Role.ARS_MANAGER.value])
    with CaptureQueriesContext(connection) as queries:
        client.get(route.url())
    expected = sorted(model._default_manager.filter(pk__gt=ID_BASE).values_list("pk", flat=True))
    assert expected
    assert _b_ids_looked_up(world, queries) == expected


def test_guard_detects_a_leak(world, db):
    """The guard can fail: region B's own RSSI sees B's canary on their establishment page."""
    client = Client()
    client.force_login(world.b.people[Role.RSSI.value])
    response = client.get(reverse("organisations:detail", args=[world.b.orgs["establishment"].pk]))
    assert response.status_code == 200
    assert _leaks(world, response)
