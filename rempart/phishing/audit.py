"""What the audit trail records for simulated phishing. Campaign recipients and tracking events
are not audited row by row (tens of thousands per campaign): the campaign's own changes and
the import summaries say who did what."""

from auditlog.registry import auditlog

from .models import (
    Campaign,
    EmailTemplate,
    LandingPage,
    Mandate,
    RecipientGroup,
    RecipientImport,
    SendingProfile,
)

# The SMTP password never enters the trail (its change is recorded without its value).
auditlog.register(SendingProfile, exclude_fields=["password", "updated_at"])
# An import keeps its parsed rows (personal data) out of the trail: counts and status only.
auditlog.register(RecipientImport, exclude_fields=["rows", "rejections"])
auditlog.register(Campaign, exclude_fields=["updated_at"], m2m_fields={"templates", "groups"})
for _model in (RecipientGroup, EmailTemplate, LandingPage, Mandate):
    auditlog.register(_model, exclude_fields=["updated_at"])

# Integrations (mailbox polling, webhooks): the IMAP password and the webhook secret never enter
# the trail (their change is recorded without the value); the polling and delivery bookkeeping
# is not audited (it changes every minute).
from .models import ReportMailbox, WebhookEndpoint  # noqa: E402

auditlog.register(
    ReportMailbox,
    exclude_fields=[
        "password",
        "updated_at",
        "last_polled_at",
        "last_success_at",
        "last_error",
        "reports_recorded",
        "poll_lease_until",
    ],
)
auditlog.register(
    WebhookEndpoint,
    exclude_fields=[
        "secret",
        "updated_at",
        "cursor_event_id",
        "horizon_event_id",
        "horizon_at",
        "last_delivery_at",
    ],
)
