"""What the audit trail records for trainings. The survey token's hash never enters the trail;
the e-mail bookkeeping (reminder and survey sent) is not audited (it changes in the background)."""

from auditlog.registry import auditlog

from .models import Registration, SurveyAnswer, TrainingSession

auditlog.register(TrainingSession, exclude_fields=["updated_at"])
auditlog.register(
    Registration,
    exclude_fields=["updated_at", "survey_token_hash", "survey_sent_at", "reminder_sent_at"],
)
auditlog.register(SurveyAnswer)
