from auditlog.registry import auditlog

from .models import Call, Domain, Requirement

auditlog.register(Domain, exclude_fields=["updated_at", "requirements", "calls"])
auditlog.register(Requirement)
auditlog.register(
    Call, exclude_fields=["created_at", "updated_at"], m2m_fields={"eligible_categories"}
)

from .models import (  # noqa: E402
    Application,
    ApplicationComment,
    ApplicationDocument,
    BudgetLine,
    CeilingOverride,
    CostLine,
    DeclarationProof,
    FinancialReport,
    PaymentRequest,
    PlatformMeasurement,
    PrerequisiteAnswer,
    TargetDeclaration,
)

auditlog.register(
    Application, exclude_fields=["created_at", "updated_at"], m2m_fields={"covered_establishments"}
)
for _model in (
    BudgetLine,
    PrerequisiteAnswer,
    ApplicationDocument,
    ApplicationComment,
    CeilingOverride,
    PlatformMeasurement,
    TargetDeclaration,
    DeclarationProof,
    PaymentRequest,
    FinancialReport,
    CostLine,
):
    auditlog.register(_model)
