from django.urls import reverse
from django.utils.translation import gettext as _

from rempart.organisations import perms

from .middleware import has_second_factor
from .roles import Capability


def navigation(request):
    """The main menu: only what the person's roles give access to."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = [(_("Accueil"), reverse("core:home"))]
    memberships = perms.active_memberships(user)
    if perms.requires_mfa(user) and not has_second_factor(user):
        return {"nav_items": []}  # nothing else opens until the second factor is set up
    if perms.has_capability(user, Capability.VIEW_DIRECTORY):
        items.append((_("Annuaire"), reverse("organisations:directory")))
    if len(memberships) == 1:
        items.append(
            (
                _("Mon organisation"),
                reverse("organisations:detail", args=[memberships[0].organisation_id]),
            )
        )
    if perms.has_capability(user, Capability.VIEW_PROGRAMME):
        programme = [
            (_("Appels à financement"), reverse("programme:calls")),
            (_("Dossiers CaRE"), reverse("programme:application_list")),
        ]
        # Figures across applicants: region-wide and national roles only.
        if (
            perms.capability_regions(user, Capability.VIEW_PROGRAMME, whole_region_only=True)
            != set()
        ):
            programme.append((_("Statistiques CaRE"), reverse("programme:statistics")))
        items.append((_("Programme CaRE"), programme))
    incidents = _incident_items(user)
    if incidents:
        items.append((_("Incidents"), incidents))
    awareness = _awareness_items(user, memberships)
    if awareness:
        items.append((_("Sensibilisation"), awareness))
    phishing = _phishing_items(user, memberships)
    if phishing:
        items.append((_("Hameçonnage simulé"), phishing))
    trainings = _training_items(user)
    if trainings:
        items.append((_("Formations"), trainings))
    exercises = _exercise_items(user)
    if exercises:
        items.append((_("Exercices de crise"), exercises))
    exposure = _exposure_items(user)
    if exposure:
        items.append((_("Exposition"), exposure))
    assessments = _assessment_items(user)
    if assessments:
        items.append((_("Autoévaluation"), assessments))
    # The platform's tools in one menu: the main menu keeps to two lines at 1280 pixels.
    tools = []
    if perms.has_capability(user, Capability.IMPORT_FINESS):
        tools.append((_("Import FINESS"), reverse("organisations:finess_import")))
    if perms.has_capability(user, Capability.VIEW_AUDIT):
        tools.append((_("Journal d'audit"), reverse("core:audit")))
    if perms.has_capability(user, Capability.USE_API):
        tools.append((_("Jetons d'API"), reverse("core:api_tokens")))
    if tools:
        items.append((_("Outils"), tools))
    # The current item is the one whose address is the longest prefix of the page's.
    urls = [
        u
        for _label, target in items
        for u in ([target] if isinstance(target, str) else [url for _sub, url in target])
    ]
    current = max(
        (
            url
            for url in urls
            if request.path == url or (url != "/" and request.path.startswith(url))
        ),
        key=len,
        default=None,
    )
    nav = []
    for label, target in items:
        if isinstance(target, str):
            nav.append({"label": label, "url": target, "current": target == current})
            continue
        children = [{"label": sub, "url": url, "current": url == current} for sub, url in target]
        nav.append(
            {
                "label": label,
                "children": children,
                "current": any(child["current"] for child in children),
            }
        )
    report_url = (
        reverse("incidents:alert_new")
        if perms.has_capability(user, Capability.REPORT_INCIDENT)
        else None
    )
    return {"nav_items": nav, "report_incident_url": report_url}


def _incident_items(user) -> list[tuple[str, str]]:
    """The incident assistance menu: alerts and cases for those who report or handle them, the
    rota for the CRRC, ORSAN cyber for the region's actors, figures for the ARS and CRRC."""
    has = lambda capability: perms.has_capability(user, capability)  # noqa: E731
    items = []
    if has(Capability.REPORT_INCIDENT):
        items.append((_("Signaler un incident"), reverse("incidents:alert_new")))
    if has(Capability.REPORT_INCIDENT) or has(Capability.HANDLE_INCIDENTS):
        items.append((_("Alertes"), reverse("incidents:alert_list")))
    if (
        has(Capability.VIEW_INCIDENTS)
        or has(Capability.HANDLE_INCIDENTS)
        or has(Capability.VIEW_INCIDENT_STATS)
    ):
        items.append((_("Dossiers d'incident"), reverse("incidents:case_list")))
    if has(Capability.MANAGE_ONCALL) or has(Capability.HANDLE_INCIDENTS):
        items.append((_("Astreinte"), reverse("incidents:oncall_rota")))
    if any(
        has(c)
        for c in (
            Capability.ACTIVATE_CRISIS,
            Capability.MOBILISE_RESOURCES,
            Capability.OFFER_RESOURCES,
        )
    ):
        items.append((_("ORSAN cyber"), reverse("incidents:orsan_activations")))
    if (
        perms.capability_regions(user, Capability.VIEW_INCIDENT_STATS, whole_region_only=True)
        != set()
    ):
        items.append((_("Statistiques incidents"), reverse("incidents:stats")))
    return items


def _awareness_items(user, memberships) -> list[tuple[str, str]]:
    """Awareness: modules for every member; escape games and results for the managers."""
    items = []
    if memberships:
        items.append((_("Modules e-learning"), reverse("awareness:modules")))
    if perms.has_capability(user, Capability.VIEW_AWARENESS) or perms.has_capability(
        user, Capability.MANAGE_AWARENESS
    ):
        items.append((_("Escape games"), reverse("awareness:escape_list")))
        items.append((_("Résultats"), reverse("awareness:figures")))
    return items


def _phishing_items(user, memberships) -> list[tuple[str, str]]:
    """Simulated phishing: an establishment's director, RSSI and DSI (own campaigns), a CRRC's
    operators and trainers (campaigns under mandate, the regional template library)."""
    from rempart.phishing.results import can_view_regional

    from .roles import ROLES, OrgKind, Role

    runs = perms.has_capability(user, Capability.RUN_PHISHING) or any(
        m.organisation.kind == OrgKind.CRRC
        and Capability.RUN_DELEGATED_PHISHING in ROLES[Role(m.role)].capabilities
        for m in memberships
    )
    items = []
    if runs:
        items = [
            (_("Campagnes"), reverse("phishing:campaign_list")),
            (_("Groupes de destinataires"), reverse("phishing:group_list")),
            (_("Modèles de message"), reverse("phishing:template_list")),
            (_("Pages d'atterrissage"), reverse("phishing:landing_list")),
            (_("Profils d'envoi"), reverse("phishing:profile_list")),
            (_("Mandats"), reverse("phishing:mandate_list")),
            (_("Boîtes de signalement"), reverse("phishing:mailbox_list")),
            (_("Webhooks"), reverse("phishing:webhook_list")),
        ]
    if can_view_regional(user):
        items.append((_("Chiffres régionaux"), reverse("phishing:regional_results")))
    return items


def _training_items(user) -> list[tuple[str, str]]:
    """Trainings and webinars: the sessions for those who register people or run sessions,
    their staff's trainings for establishments, the figures for the region's ARS and CRRC."""
    from rempart.events import perms as event_perms

    if not event_perms.can_use_trainings(user):
        return []
    items = [(_("Sessions"), reverse("events:session_list"))]
    if event_perms.can_register(user):
        items.append((_("Formations de mes équipes"), reverse("events:my_staff")))
    if event_perms.can_view_figures(user):
        items.append((_("Chiffres des formations"), reverse("events:figures")))
    return items


def _exercise_items(user) -> list[tuple[str, str]]:
    """Crisis exercises: one's organisation's exercises and the scenario library for those who
    run them (or maintain the library), the coverage for the ARS, CRRC and GHT coordinators."""
    from rempart.exercises import perms as exercise_perms

    items = []
    if exercise_perms.can_run_exercises(user):
        items.append((_("Mes exercices"), reverse("exercises:run_list")))
    if exercise_perms.scenario_q(user) is not None:
        items.append((_("Bibliothèque de scénarios"), reverse("exercises:library_list")))
    if exercise_perms.can_view_coverage(user):
        items.append((_("Couverture des exercices"), reverse("exercises:coverage")))
    return items


def _exposure_items(user) -> list[tuple[str, str]]:
    """Exposure watch: one's organisations' findings and assets; the regional board and the lab
    ranges for the CRRC."""
    from rempart.exposure import perms as exposure_perms

    if not exposure_perms.can_use(user):
        return []
    if exposure_perms.is_watcher(user):
        return [
            (_("Tableau régional"), reverse("exposure:home")),
            (_("Plages de laboratoire"), reverse("exposure:lab_ranges")),
        ]
    return [(_("Mon exposition"), reverse("exposure:home"))]


def _assessment_items(user) -> list[tuple[str, str]]:
    """Self-assessment: one's organisation's assessments and action plan; the region's
    campaigns, completion and distributions for the ARS, CRRC and GHT coordinators."""
    from rempart.assessments import perms as assessment_perms

    items = []
    if assessment_perms.can_assess(user):
        items.append((_("Mes autoévaluations"), reverse("assessments:home")))
        items.append((_("Plan d'action"), reverse("assessments:plan")))
    if assessment_perms.can_view_figures(user) or assessment_perms.can_run_campaigns(user):
        items.append((_("Résultats régionaux"), reverse("assessments:regional_home")))
    return items
