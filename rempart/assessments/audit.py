"""What the audit trail records for self-assessments: questionnaires loaded, assessments (status,
scores, sharing), answers, evidence and the action plan. Evidence files are recorded by their
hash and name, never their content."""

from auditlog.registry import auditlog

from .models import Action, Answer, Assessment, AssessmentCampaign, Evidence, Questionnaire

auditlog.register(Questionnaire, exclude_fields=["loaded_at"])
auditlog.register(AssessmentCampaign)
auditlog.register(Assessment, exclude_fields=["updated_at"])
auditlog.register(Answer)
auditlog.register(Evidence)
auditlog.register(Action, exclude_fields=["updated_at"])
