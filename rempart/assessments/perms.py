"""Who may do what with self-assessments and action plans. Plain functions over the roles table.

* **Assessing** (ASSESS: an establishment's director, RSSI and DSI, or those of its legal entity
  on its establishments): answer the organisation's assessments, attach evidence, complete
  them, import a referential of their own (CISO Assistant format), keep the action plan.
* **Figures** (VIEW_ASSESSMENT_FIGURES: the region's ARS and CRRC operators, national
  observers; a GHT coordinator for the GHT's members): completion, scores by theme, anonymised
  distributions and who may need help — never the answers, unless the organisation shared them
  with its region (`Assessment.shared_with_region`).
* **Campaigns** (RUN_ASSESSMENT_CAMPAIGNS: the region's ARS and CRRC operators): launch a
  campaign for the region, with a deadline and reminders.
"""

from __future__ import annotations

from django.db.models import Q

from rempart.core.roles import Capability
from rempart.organisations import perms as org_perms
from rempart.organisations.models import Organisation

C = Capability

NOT_ASSESSOR = (
    "Seuls la direction, le RSSI ou le DSI de l'établissement répondent à ses autoévaluations "
    "et tiennent son plan d'action."
)
NO_FIGURES = (
    "Les résultats régionaux des autoévaluations sont réservés à l'ARS, au CRRC et aux "
    "coordinateurs de GHT."
)
NOT_CAMPAIGNER = "Seuls l'ARS et le CRRC lancent les campagnes d'autoévaluation de la région."
ANSWERS_NOT_SHARED = (
    "Les réponses de cet établissement ne sont pas partagées : seuls son avancement et ses "
    "scores sont visibles."
)


def assess_q(user) -> Q | None:
    """Organisations whose assessments and action plan the user keeps (None: none)."""
    return org_perms.capability_q(user, C.ASSESS)


def can_assess(user) -> bool:
    return assess_q(user) is not None


def can_assess_for(user, organisation: Organisation) -> bool:
    return org_perms.can(user, C.ASSESS, organisation)


def figures_q(user) -> Q | None:
    """Organisations whose completion and scores the user sees (None: none; Q(): all)."""
    return org_perms.capability_q(user, C.VIEW_ASSESSMENT_FIGURES)


def can_view_figures(user) -> bool:
    return figures_q(user) is not None


def can_view_figures_of(user, organisation: Organisation) -> bool:
    return org_perms.can(user, C.VIEW_ASSESSMENT_FIGURES, organisation)


def can_read_answers(user, assessment) -> bool:
    """The organisation's own people; the region's figures roles when it shared them."""
    organisation = assessment.organisation
    if can_assess_for(user, organisation):
        return True
    return assessment.shared_with_region and can_view_figures_of(user, organisation)


def campaign_regions(user) -> set[int] | None:
    """Regions where the user launches campaigns (None: every region; empty: none)."""
    return org_perms.capability_regions(user, C.RUN_ASSESSMENT_CAMPAIGNS, whole_region_only=True)


def can_run_campaigns(user) -> bool:
    regions = campaign_regions(user)
    return regions is None or bool(regions)


def questionnaire_q(user) -> Q | None:
    """Questionnaires the user may read: the shared library, and the referentials imported by
    the organisations they assess for (None: none)."""
    if not (can_assess(user) or can_view_figures(user) or can_run_campaigns(user)):
        return None
    q = Q(organisation__isnull=True)
    own = assess_q(user)
    if own is not None:
        q |= Q(organisation__in=Organisation.objects.filter(own))
    return q


def can_use_assessments(user) -> bool:
    """Whether the pages open at all (the menu shows them)."""
    return can_assess(user) or can_view_figures(user) or can_run_campaigns(user)
