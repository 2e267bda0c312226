"""The demo's files: D1's whole cycle in the past, D2 in progress, never for the demo accounts."""

import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from rempart.programme.application_services import engaged_on
from rempart.programme.models import (
    Application,
    ApplicationStatus,
    Call,
    DeclarationProof,
    FinancialReport,
    PaymentRequest,
    ProofKind,
    TargetDeclaration,
)

pytestmark = pytest.mark.django_db


def run(command: str) -> str:
    out = io.StringIO()
    call_command(command, stdout=out)
    return out.getvalue()


@pytest.fixture
def demo():
    run("seed_demo")
    return run("seed_programme_demo")


def test_d1_is_closed_with_137_files_and_its_whole_cycle(demo):
    d1 = Call.objects.get(domain__code="D1")
    files = Application.objects.filter(call=d1)
    assert files.count() == 137
    assert files.filter(status=ApplicationStatus.ACCEPTED).count() == 133
    assert files.filter(status=ApplicationStatus.REJECTED).exclude(decision_reason="").count() == 4
    covered = files.values("covered_establishments").distinct().count()
    assert 200 <= covered <= 230
    engaged = engaged_on(d1)
    assert Decimal("7000000") < engaged <= d1.envelope_eur
    assert "137 dossiers déposés" in demo
    # every accepted file declared its targets with proofs; measurements are frozen in them
    declarations = TargetDeclaration.objects.filter(application__call=d1)
    assert declarations.count() >= 133 * 2
    assert not declarations.filter(proofs__isnull=True).exists()
    frozen = DeclarationProof.objects.filter(
        declaration__application__call=d1, kind=ProofKind.MEASUREMENT
    ).first()
    assert frozen.measurement_snapshot["level"] == frozen.measurement.level
    paid = PaymentRequest.objects.filter(application__call=d1, status="paye")
    assert paid.count() > 100
    assert all(p.paid_eur == p.application.engaged_eur for p in paid)
    recovering = FinancialReport.objects.filter(application__call=d1, to_recover_eur__gt=0)
    for report in recovering:
        assert report.to_recover_eur == report.paid_eur - report.eligible_costs_eur


def test_d2_files_are_in_progress_and_leave_the_demo_accounts_free(demo):
    d2 = Call.objects.get(domain__code="D2")
    statuses = set(Application.objects.filter(call=d2).values_list("status", flat=True))
    assert statuses == {
        ApplicationStatus.DRAFT,
        ApplicationStatus.SUBMITTED,
        ApplicationStatus.UNDER_REVIEW,
        ApplicationStatus.COMPLEMENT_REQUESTED,
    }
    demo_orgs = set(
        Application.objects.filter(call=d2)
        .filter(applicant__memberships__user__email__endswith="@demo.rempart.fr")
        .values_list("pk", flat=True)
    )
    assert demo_orgs == set()


def test_running_it_again_changes_nothing(demo):
    before = Application.objects.count(), TargetDeclaration.objects.count()
    again = run("seed_programme_demo")
    assert "Dossiers de l'appel D1 : inchangés." in again
    assert (Application.objects.count(), TargetDeclaration.objects.count()) == before
