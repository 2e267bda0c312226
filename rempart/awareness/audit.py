from auditlog.registry import auditlog

from .models import Attempt, Certificate, EscapeGameParticipation, EscapeGameSession, Module

auditlog.register(Module, exclude_fields=["updated_at"])
auditlog.register(Attempt)
auditlog.register(Certificate)
auditlog.register(EscapeGameSession, exclude_fields=["updated_at"])
auditlog.register(EscapeGameParticipation)
