from auditlog.registry import auditlog

from .models import (
    AffectedAsset,
    AidRequest,
    Alert,
    Case,
    CaseAccess,
    CaseEvent,
    CaseTask,
    CertSanteDeclaration,
    CrisisActivation,
    CustodyEntry,
    EscalationPolicy,
    Evidence,
    Indicator,
    OnCallShift,
    Page,
    PagingWebhook,
    PooledResource,
)

# The paging bookkeeping (next step, counters) changes every few minutes: the audit keeps the
# facts (acknowledged, qualified, linked to a case), not the clock.
auditlog.register(Alert, exclude_fields=["paging_step", "next_page_at"])
auditlog.register(PagingWebhook, exclude_fields=["secret"])
auditlog.register(Case, exclude_fields=["updated_at"])
auditlog.register(CertSanteDeclaration, exclude_fields=["updated_at"])
auditlog.register(CrisisActivation, m2m_fields={"affected"})
for _model in (
    EscalationPolicy,
    OnCallShift,
    Page,
    CaseAccess,
    CaseEvent,
    CaseTask,
    Indicator,
    AffectedAsset,
    Evidence,
    CustodyEntry,
    PooledResource,
    AidRequest,
):
    auditlog.register(_model)
