"""What the audit trail records for the exposure watch: every declaration, authorisation, lab
range, scan (who launched it, its scope and rate), finding change and emergency stop. What a scan
saw (observations) is the scan's own record and is not audited twice."""

from auditlog.registry import auditlog

from .models import (
    Asset,
    Authorisation,
    DeclaredService,
    EmergencyStop,
    Finding,
    LabRange,
    Scan,
)

auditlog.register(LabRange)
auditlog.register(Asset)
auditlog.register(DeclaredService)
auditlog.register(Authorisation, m2m_fields={"assets"})
auditlog.register(
    Scan, exclude_fields=["worker_heartbeat", "probes_done", "open_found", "hosts_done"]
)
auditlog.register(Finding, exclude_fields=["last_seen_at", "last_scan"])
auditlog.register(EmergencyStop)
