"""Roles as data, in one place.

Each role says which kind of organisation it can be held in, how far its scope reaches
(the organisation itself, its GHT's members, its region, or the whole country), whether
MFA is mandatory, and which capabilities it grants. Permission functions read this table;
nothing else in the code compares role names.
"""

from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import gettext_lazy as _


class Scope(StrEnum):
    ORGANISATION = "organisation"  # the organisation itself
    GHT = "ght"  # the GHT and its member establishments
    REGION = "region"  # every organisation of the region
    NATIONAL = "national"  # every organisation


class OrgKind(StrEnum):
    NATIONAL = "national"
    ARS = "ars"
    CRRC = "crrc"
    GHT = "ght"
    LEGAL_ENTITY = "legal_entity"
    ESTABLISHMENT = "establishment"
    PROVIDER = "provider"
    LIBERAL = "liberal"


ORG_KIND_LABELS = {
    OrgKind.NATIONAL: _("Opérateur national"),
    OrgKind.ARS: _("Agence régionale de santé"),
    OrgKind.CRRC: _("Centre régional de ressources cyber"),
    OrgKind.GHT: _("Groupement hospitalier de territoire"),
    OrgKind.LEGAL_ENTITY: _("Entité juridique"),
    OrgKind.ESTABLISHMENT: _("Établissement"),
    OrgKind.PROVIDER: _("Prestataire"),
    OrgKind.LIBERAL: _("Professionnel libéral"),
}


class Capability(StrEnum):
    VIEW_DIRECTORY = "view_directory"  # list organisations within scope
    VIEW_PEOPLE = "view_people"  # see members of organisations within scope
    MANAGE_PEOPLE = "manage_people"  # invite, change roles, end memberships within scope
    IMPORT_FINESS = "import_finess"  # update the registry from a FINESS extract
    EDIT_ORGANISATION = "edit_organisation"  # edit organisation details within scope
    VIEW_AUDIT = "view_audit"  # read the audit trail of organisations within scope
    USE_API = "use_api"  # create personal API tokens
    VIEW_PROGRAMME = "view_programme"  # CaRE domains and the calls of one's region
    MANAGE_CALLS = "manage_calls"  # open and edit the region's funding calls, windows, envelope
    EDIT_PROGRAMME_DATA = "edit_programme_data"  # edit domains, prerequisites and targets
    APPLY_FUNDING = "apply_funding"  # prepare and submit a file, declare targets, request payment
    DECIDE_FUNDING = "decide_funding"  # review files, validate targets, payments, reports, ceilings
    COMMENT_APPLICATIONS = "comment_applications"  # comment on the files one can see
    # Incident assistance.
    REPORT_INCIDENT = "report_incident"  # file an alert for an organisation within scope
    VIEW_INCIDENTS = "view_incidents"  # see (and manage) the alerts and cases of one's scope
    HANDLE_INCIDENTS = "handle_incidents"  # be paged, acknowledge, qualify, work assigned cases
    MANAGE_ONCALL = "manage_oncall"  # rota, escalation policy, gateways, chain test (CRRC)
    VIEW_INCIDENT_STATS = "view_incident_stats"  # regional incident figures and response times
    ACTIVATE_CRISIS = "activate_crisis"  # activate and lift ORSAN cyber (ARS)
    MOBILISE_RESOURCES = "mobilise_resources"  # allot pooled resources to requests (ARS, CRRC)
    OFFER_RESOURCES = "offer_resources"  # offer one's pooled resources, ask for help when hit
    # Awareness (learning itself needs no capability: any active membership).
    MANAGE_AWARENESS = "manage_awareness"  # record escape games, see the region's learning figures
    VIEW_AWARENESS = "view_awareness"  # awareness figures of the organisations within scope
    # Simulated phishing: an establishment runs its own campaigns ("autonomous mode"); the CRRC
    # runs them for establishments that gave it a valid mandate ("delegated mode").
    RUN_PHISHING = "run_phishing"  # own organisation's campaigns, groups, profiles, mandates
    RUN_DELEGATED_PHISHING = "run_delegated_phishing"  # campaigns under mandate; CRRC library
    # Trainings, webinars and workshops of the CRRC (rempart/events).
    MANAGE_TRAININGS = "manage_trainings"  # publish sessions, registrations, attendance, surveys
    REGISTER_TRAINEES = "register_trainees"  # register one's organisation's people, cancel
    VIEW_TRAINING_FIGURES = "view_training_figures"  # the region's participation and satisfaction
    # Cyber crisis exercises (rempart/exercises).
    RUN_EXERCISES = (
        "run_exercises"  # plan, run, evaluate and debrief one's organisation's exercises
    )
    # Regional exercises are held by the CRRC or the ARS itself, with several establishments:
    # granted by a regional role, this one reaches the holder's own organisation only.
    RUN_REGIONAL_EXERCISES = "run_regional_exercises"
    MANAGE_EXERCISE_LIBRARY = "manage_exercise_library"  # the region's scenario library (CRRC)
    VIEW_EXERCISE_COVERAGE = "view_exercise_coverage"  # coverage of the organisations within scope
    # Self-assessment and action plans (rempart/assessments).
    ASSESS = "assess"  # answer one's organisation's assessments, import a referential, action plan
    RUN_ASSESSMENT_CAMPAIGNS = (
        "run_assessment_campaigns"  # launch the region's campaigns (ARS, CRRC)
    )
    VIEW_ASSESSMENT_FIGURES = (
        "view_assessment_figures"  # completion, scores, distributions in scope
    )
    # Exposure watch (rempart/exposure).
    DECLARE_EXPOSURE = "declare_exposure"  # declare public assets, see and acknowledge findings
    AUTHORISE_SCANS = "authorise_scans"  # sign (and revoke) the scan authorisation
    # The CRRC's watch: scans of the authorised scopes, the regional board, lab ranges and the
    # emergency stop.
    RUN_EXPOSURE_WATCH = "run_exposure_watch"


# Capabilities exercised only in the name of one's own organisation. A regional role grants
# them without holding them: the ARS appoints an establishment's director, who applies for
# funding; the ARS itself decides on files and must never prepare one (separation of duties).
# Likewise an establishment's incidents are its own: the ARS names its RSSI but sees its cases
# only when invited (it sees the region's figures). An establishment declares its own exposed
# assets and signs its own scan authorisation: the CRRC that scans never signs for it.
ON_OWN_BEHALF = frozenset(
    {
        Capability.APPLY_FUNDING,
        Capability.REPORT_INCIDENT,
        Capability.VIEW_INCIDENTS,
        Capability.OFFER_RESOURCES,
        Capability.RUN_PHISHING,
        Capability.REGISTER_TRAINEES,
        Capability.RUN_EXERCISES,
        Capability.ASSESS,
        Capability.DECLARE_EXPOSURE,
        Capability.AUTHORISE_SCANS,
    }
)


class Role(StrEnum):
    NATIONAL_OBSERVER = "national_observer"
    ARS_MANAGER = "ars_manager"
    CRRC_OPERATOR = "crrc_operator"
    CRRC_ONCALL = "crrc_oncall"
    TRAINER = "trainer"
    GHT_COORDINATOR = "ght_coordinator"
    DIRECTOR = "director"
    RSSI = "rssi"
    DSI = "dsi"
    STAFF = "staff"
    PROVIDER_EXPERT = "provider_expert"


@dataclass(frozen=True)
class RoleSpec:
    code: Role
    label: str
    org_kinds: frozenset[OrgKind]
    scope: Scope
    capabilities: frozenset[Capability]
    grantable: frozenset[Role] = frozenset()  # roles this role may give to others
    requires_mfa: bool = True
    sees_own_ght: bool = False  # establishment roles that also see their GHT's shared data


C = Capability
_ESTABLISHMENT_KINDS = frozenset({OrgKind.ESTABLISHMENT, OrgKind.LEGAL_ENTITY})
_ESTABLISHMENT_ROLES = frozenset({Role.DIRECTOR, Role.RSSI, Role.DSI, Role.STAFF})
_READ = frozenset({C.VIEW_DIRECTORY, C.VIEW_PEOPLE})

ROLES: dict[Role, RoleSpec] = {
    spec.code: spec
    for spec in [
        RoleSpec(
            Role.NATIONAL_OBSERVER,
            _("Observateur national"),
            frozenset({OrgKind.NATIONAL}),
            Scope.NATIONAL,
            frozenset(
                {
                    C.VIEW_DIRECTORY,
                    C.USE_API,
                    C.VIEW_PROGRAMME,
                    C.VIEW_INCIDENT_STATS,
                    C.VIEW_AWARENESS,
                    C.VIEW_EXERCISE_COVERAGE,
                    C.VIEW_ASSESSMENT_FIGURES,
                }
            ),
        ),
        RoleSpec(
            Role.ARS_MANAGER,
            _("Chargé de programme ARS"),
            frozenset({OrgKind.ARS}),
            Scope.REGION,
            _READ
            | {
                C.MANAGE_PEOPLE,
                C.IMPORT_FINESS,
                C.EDIT_ORGANISATION,
                C.VIEW_AUDIT,
                C.USE_API,
                C.VIEW_PROGRAMME,
                C.MANAGE_CALLS,
                C.EDIT_PROGRAMME_DATA,
                C.DECIDE_FUNDING,
                C.COMMENT_APPLICATIONS,
                C.VIEW_INCIDENT_STATS,
                C.ACTIVATE_CRISIS,
                C.MOBILISE_RESOURCES,
                C.VIEW_AWARENESS,
                C.VIEW_TRAINING_FIGURES,
                C.RUN_REGIONAL_EXERCISES,
                C.VIEW_EXERCISE_COVERAGE,
                C.RUN_ASSESSMENT_CAMPAIGNS,
                C.VIEW_ASSESSMENT_FIGURES,
            },
            grantable=frozenset({Role.ARS_MANAGER, Role.GHT_COORDINATOR}) | _ESTABLISHMENT_ROLES,
        ),
        RoleSpec(
            Role.CRRC_OPERATOR,
            _("Opérateur CRRC"),
            frozenset({OrgKind.CRRC}),
            Scope.REGION,
            _READ
            | {
                C.MANAGE_PEOPLE,
                C.IMPORT_FINESS,
                C.EDIT_ORGANISATION,
                C.VIEW_AUDIT,
                C.USE_API,
                C.VIEW_PROGRAMME,
                C.COMMENT_APPLICATIONS,
                C.REPORT_INCIDENT,
                C.VIEW_INCIDENTS,
                C.HANDLE_INCIDENTS,
                C.MANAGE_ONCALL,
                C.VIEW_INCIDENT_STATS,
                C.MOBILISE_RESOURCES,
                C.OFFER_RESOURCES,
                C.MANAGE_AWARENESS,
                C.VIEW_AWARENESS,
                C.RUN_DELEGATED_PHISHING,
                C.MANAGE_TRAININGS,
                C.VIEW_TRAINING_FIGURES,
                C.RUN_REGIONAL_EXERCISES,
                C.MANAGE_EXERCISE_LIBRARY,
                C.VIEW_EXERCISE_COVERAGE,
                C.RUN_ASSESSMENT_CAMPAIGNS,
                C.VIEW_ASSESSMENT_FIGURES,
                C.RUN_EXPOSURE_WATCH,
            },
            grantable=frozenset(
                {
                    Role.CRRC_OPERATOR,
                    Role.CRRC_ONCALL,
                    Role.TRAINER,
                    Role.GHT_COORDINATOR,
                    Role.PROVIDER_EXPERT,
                }
            )
            | _ESTABLISHMENT_ROLES,
        ),
        RoleSpec(
            Role.CRRC_ONCALL,
            _("Expert d'astreinte CRRC"),
            frozenset({OrgKind.CRRC, OrgKind.PROVIDER}),
            Scope.REGION,
            _READ | {C.USE_API, C.REPORT_INCIDENT, C.HANDLE_INCIDENTS},
        ),
        RoleSpec(
            Role.TRAINER,
            _("Formateur"),
            frozenset({OrgKind.CRRC, OrgKind.PROVIDER}),
            Scope.REGION,
            frozenset(
                {
                    C.VIEW_DIRECTORY,
                    C.MANAGE_AWARENESS,
                    C.VIEW_AWARENESS,
                    C.RUN_DELEGATED_PHISHING,
                    C.MANAGE_TRAININGS,
                    C.RUN_REGIONAL_EXERCISES,
                    C.MANAGE_EXERCISE_LIBRARY,
                }
            ),
        ),
        RoleSpec(
            Role.GHT_COORDINATOR,
            _("Coordinateur GHT"),
            frozenset({OrgKind.GHT}),
            Scope.GHT,
            _READ
            | {
                C.MANAGE_PEOPLE,
                C.EDIT_ORGANISATION,
                C.VIEW_AUDIT,
                C.USE_API,
                C.VIEW_PROGRAMME,
                C.APPLY_FUNDING,
                C.COMMENT_APPLICATIONS,
                C.REPORT_INCIDENT,
                C.VIEW_INCIDENTS,
                C.OFFER_RESOURCES,
                C.VIEW_AWARENESS,
                C.VIEW_EXERCISE_COVERAGE,
                C.VIEW_ASSESSMENT_FIGURES,
                C.DECLARE_EXPOSURE,
                C.AUTHORISE_SCANS,
            },
            grantable=frozenset({Role.GHT_COORDINATOR}) | _ESTABLISHMENT_ROLES,
        ),
        RoleSpec(
            Role.DIRECTOR,
            _("Directeur d'établissement"),
            _ESTABLISHMENT_KINDS,
            Scope.ORGANISATION,
            _READ
            | {
                C.MANAGE_PEOPLE,
                C.EDIT_ORGANISATION,
                C.VIEW_AUDIT,
                C.USE_API,
                C.VIEW_PROGRAMME,
                C.APPLY_FUNDING,
                C.COMMENT_APPLICATIONS,
                C.REPORT_INCIDENT,
                C.VIEW_INCIDENTS,
                C.OFFER_RESOURCES,
                C.VIEW_AWARENESS,
                C.RUN_PHISHING,
                C.REGISTER_TRAINEES,
                C.RUN_EXERCISES,
                C.ASSESS,
                C.DECLARE_EXPOSURE,
                C.AUTHORISE_SCANS,
            },
            grantable=_ESTABLISHMENT_ROLES,
            sees_own_ght=True,
        ),
        RoleSpec(
            Role.RSSI,
            _("RSSI / référent SSI"),
            _ESTABLISHMENT_KINDS,
            Scope.ORGANISATION,
            _READ
            | {
                C.MANAGE_PEOPLE,
                C.EDIT_ORGANISATION,
                C.VIEW_AUDIT,
                C.USE_API,
                C.VIEW_PROGRAMME,
                C.APPLY_FUNDING,
                C.COMMENT_APPLICATIONS,
                C.REPORT_INCIDENT,
                C.VIEW_INCIDENTS,
                C.OFFER_RESOURCES,
                C.VIEW_AWARENESS,
                C.RUN_PHISHING,
                C.REGISTER_TRAINEES,
                C.RUN_EXERCISES,
                C.ASSESS,
                C.DECLARE_EXPOSURE,
                C.AUTHORISE_SCANS,
            },
            grantable=_ESTABLISHMENT_ROLES,
            sees_own_ght=True,
        ),
        RoleSpec(
            Role.DSI,
            _("DSI"),
            _ESTABLISHMENT_KINDS,
            Scope.ORGANISATION,
            _READ
            | {
                C.MANAGE_PEOPLE,
                C.USE_API,
                C.VIEW_PROGRAMME,
                C.APPLY_FUNDING,
                C.COMMENT_APPLICATIONS,
                C.REPORT_INCIDENT,
                C.VIEW_INCIDENTS,
                C.OFFER_RESOURCES,
                C.VIEW_AWARENESS,
                C.RUN_PHISHING,
                C.REGISTER_TRAINEES,
                C.RUN_EXERCISES,
                C.ASSESS,
                C.DECLARE_EXPOSURE,
            },
            grantable=frozenset({Role.DSI, Role.STAFF}),
            sees_own_ght=True,
        ),
        RoleSpec(
            Role.STAFF,
            _("Personnel (apprenant)"),
            frozenset(OrgKind) - {OrgKind.NATIONAL},
            Scope.ORGANISATION,
            frozenset({C.REPORT_INCIDENT}),
            requires_mfa=False,
        ),
        RoleSpec(
            Role.PROVIDER_EXPERT,
            _("Expert prestataire"),
            frozenset({OrgKind.PROVIDER}),
            Scope.ORGANISATION,
            frozenset({C.VIEW_PEOPLE, C.HANDLE_INCIDENTS}),
        ),
    ]
}

ROLE_CHOICES = [(spec.code.value, spec.label) for spec in ROLES.values()]
ORG_KIND_CHOICES = [(kind.value, label) for kind, label in ORG_KIND_LABELS.items()]


def role_spec(code: str) -> RoleSpec:
    return ROLES[Role(code)]
