from auditlog.registry import auditlog

from .models import Call, Domain, Requirement

auditlog.register(Domain, exclude_fields=["updated_at", "requirements", "calls"])
auditlog.register(Requirement)
auditlog.register(
    Call, exclude_fields=["created_at", "updated_at"], m2m_fields={"eligible_categories"}
)
