"""What the audit trail records for crisis exercises. Participants' link hashes never enter it;
the journal is itself append-only and dated (its entries are not audited twice); coverage records
are recomputed from the audited records."""

from auditlog.registry import auditlog

from .models import (
    Debrief,
    DebriefAction,
    Evaluation,
    ExerciseParticipant,
    ExerciseRun,
    RunInject,
    Scenario,
)

auditlog.register(Scenario)
auditlog.register(ExerciseRun, exclude_fields=["updated_at"])
auditlog.register(
    ExerciseParticipant, exclude_fields=["link_token_hash", "link_expires_at", "link_sent_at"]
)
auditlog.register(RunInject)
auditlog.register(Evaluation)
auditlog.register(Debrief, exclude_fields=["updated_at"])
auditlog.register(DebriefAction)
