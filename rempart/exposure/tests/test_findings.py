"""Running scans and turning what they saw into findings, on loopback only: listeners and TLS
servers on 127.x.y.z addresses of the test's own (allowed by the region's 127.0.0.0/8 lab
range), short timeout plans. Also the worker's life: resuming after a dead worker, cancelling,
the emergency stop, and the alerts (e-mail and webhook) queued on commit."""

from __future__ import annotations

import datetime
import ipaddress

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.roles import OrgKind, Role
from rempart.exposure import services
from rempart.exposure.models import (
    Authorisation,
    EmergencyStop,
    Finding,
    FindingStatus,
    Observation,
    Scan,
    ScanStatus,
)
from rempart.exposure.scanner import ConnectScanner, ScanError, ScanProgress, TimeoutPlan
from rempart.organisations.tests.factories import OrganisationFactory, member
from rempart.phishing.models import WebhookDelivery, WebhookEndpoint

from .factories import authorise, exposure_world, loopback_address
from .servers import NOW, Listener, TlsServer, make_cert

pytestmark = pytest.mark.django_db

FAST = TimeoutPlan(initial=0.3, minimum=0.1, maximum=0.3)
RDP = 3389  # critical, probe "none"
HTTP_ALT = 8080  # medium, probe "http"
HTTPS_ALT = 8443  # medium, TLS
OPENVPN = 1194  # low, probe "none"
HTTP_GREETING = b"HTTP/1.0 200 OK\r\nServer: test-http\r\n\r\n"


@pytest.fixture(autouse=True)
def _no_real_dns(monkeypatch):
    def refuse(name):
        raise AssertionError(f"real DNS lookup attempted for {name!r}")

    monkeypatch.setattr(services, "resolve", refuse)


@pytest.fixture(autouse=True)
def _quiet_watcher(monkeypatch):
    """The watcher polls from its own thread, whose database connection does not see the test's
    uncommitted transaction (it would read the scan as deleted and cancel it). Keep it asleep;
    its check() is tested directly in the test thread below."""
    monkeypatch.setattr(services, "CHECK_EVERY_S", 600)


@pytest.fixture
def servers():
    made = []

    def listen(host, port, greeting=None):
        server = Listener(greeting, host=host, port=port)
        made.append(server)
        return server

    def tls(folder, leaf, host, port):
        server = TlsServer(folder, leaf, host=host, port=port)
        made.append(server)
        return server

    listen.tls = tls
    yield listen
    for server in made:
        server.close()


@pytest.fixture
def world():
    return exposure_world()


def scan_now(world, *, on_commit=None, **kwargs) -> Scan:
    """Queue a scan and run it here; with `on_commit` (pytest-django's capture fixture), the
    callbacks queued by the run (the alerts) are executed — not the queueing's dispatch."""
    scan = services.scan_queue(actor=world.operator, organisation=world.establishment)
    if on_commit is None:
        ran = services.scan_run(scan.pk, timeout_plan=FAST, **kwargs)
    else:
        with on_commit(execute=True):
            ran = services.scan_run(scan.pk, timeout_plan=FAST, **kwargs)
    assert ran is not None
    ran.refresh_from_db()
    return ran


def found(world, port, code, address=None) -> Finding:
    return Finding.objects.get(
        organisation=world.establishment, address=address or world.address, port=port, code=code
    )


def codes_at(world, port, address=None) -> dict[str, str]:
    """code → status of the findings on one port."""
    return dict(
        Finding.objects.filter(
            organisation=world.establishment, address=address or world.address, port=port
        ).values_list("code", "status")
    )


class WorkerDied(Exception):
    """What a worker killed mid-scan looks like to the caller: nothing after it runs."""


class Recording:
    """A scanner that records the hosts of each call and delegates to the connect scanner;
    it may die on a given call, or run `after(n)` once the n-th call returned."""

    name = "recording"

    def __init__(self, *, die_on_call=None, after=None, fail=None):
        self.calls: list[list[str]] = []
        self.inner = ConnectScanner()
        self.die_on_call = die_on_call
        self.after = after
        self.fail = fail

    def scan(self, targets, ports, **kwargs):
        self.calls.append(list(targets))
        if self.fail is not None:
            raise self.fail
        if len(self.calls) == self.die_on_call:
            raise WorkerDied
        result = self.inner.scan(targets, ports, **kwargs)
        if self.after is not None:
            self.after(len(self.calls))
        return result


def block_world(world, monkeypatch, prefix=29):
    """Authorise a loopback block of several hosts (replacing the world's authorisation), in
    batches of two hosts."""
    monkeypatch.setattr(services, "HOSTS_PER_BATCH", 2)
    block = ipaddress.ip_network(f"{loopback_address()}/{prefix}", strict=False)
    asset = services.asset_create(
        actor=world.rssi, organisation=world.establishment, value=str(block)
    )
    authorise(world, [asset], max_rate=1000)
    return [str(a) for a in block.hosts()]


# --- Scans and findings -----------------------------------------------------------------------


def test_rdp_listener_gives_a_critical_and_an_undeclared_finding(world, servers):
    servers(world.address, RDP)
    scan = scan_now(world)

    assert scan.status == ScanStatus.DONE
    assert scan.reason == ""
    assert scan.hosts_done == 1
    assert scan.probes_done == scan.probes_total == len(scan.ports)
    assert scan.percent == 100
    assert scan.open_found >= 1
    assert scan.started_at <= scan.finished_at
    assert Observation.objects.filter(scan=scan, address=world.address, port=RDP).exists()
    assert not Observation.objects.filter(scan=scan, port=HTTP_ALT).exists()

    rdp = found(world, RDP, "exposed_rdp")
    assert rdp.severity == "critical"
    assert rdp.status == FindingStatus.OPEN
    assert rdp.title == "Bureau à distance Microsoft (RDP) exposé sur Internet"
    assert rdp.explanation
    assert rdp.remediation
    assert (rdp.first_scan, rdp.last_scan, rdp.fixed_scan) == (scan, scan, None)
    assert rdp.first_seen_at == rdp.last_seen_at == scan.finished_at
    undeclared = found(world, RDP, services.UNDECLARED)
    assert undeclared.severity == "medium"
    assert undeclared.title == (
        "Service non déclaré : Bureau à distance Microsoft (RDP) (port 3389)"
    )
    assert "le déclarer dans Rempart" in undeclared.remediation
    assert set(codes_at(world, RDP)) == {"exposed_rdp", services.UNDECLARED}


def test_declaring_rdp_does_not_excuse_it(world, servers):
    servers(world.address, RDP)
    first = scan_now(world)
    services.service_declare(
        actor=world.rssi, asset=world.asset, port=RDP, purpose="Télémaintenance"
    )
    second = scan_now(world)

    rdp = found(world, RDP, "exposed_rdp")
    assert rdp.status == FindingStatus.OPEN  # critical: declared or not, it stays
    assert (rdp.first_scan, rdp.last_scan) == (first, second)
    undeclared = found(world, RDP, services.UNDECLARED)
    assert undeclared.status == FindingStatus.FIXED
    assert undeclared.fixed_scan == second
    assert undeclared.fixed_at == second.finished_at


def test_declaring_a_medium_port_clears_both_findings(world, servers):
    listener = servers(world.address, HTTP_ALT, greeting=HTTP_GREETING)
    first = scan_now(world)
    web = found(world, HTTP_ALT, "exposed_http_alt")
    assert web.severity == "medium"
    assert web.detail.startswith("Bannière : HTTP/1.0 200 OK")
    assert listener.received
    assert listener.received[-1].startswith(b"HEAD / HTTP/1.0")
    assert codes_at(world, HTTP_ALT) == {
        "exposed_http_alt": FindingStatus.OPEN,
        services.UNDECLARED: FindingStatus.OPEN,
    }

    services.service_declare(
        actor=world.dsi, asset=world.asset, port=HTTP_ALT, purpose="Portail des résultats"
    )
    second = scan_now(world)
    assert codes_at(world, HTTP_ALT) == {
        "exposed_http_alt": FindingStatus.FIXED,
        services.UNDECLARED: FindingStatus.FIXED,
    }
    assert found(world, HTTP_ALT, "exposed_http_alt").fixed_scan == second
    assert found(world, HTTP_ALT, "exposed_http_alt").first_scan == first
    # The port is still seen: the scan's record keeps it.
    assert Observation.objects.filter(scan=second, port=HTTP_ALT).exists()


def test_a_low_port_declared_before_the_first_scan_is_never_a_finding(world, servers):
    servers(world.address, OPENVPN)
    services.service_declare(actor=world.rssi, asset=world.asset, port=OPENVPN, purpose="VPN")
    scan = scan_now(world)
    assert Observation.objects.filter(scan=scan, address=world.address, port=OPENVPN).exists()
    assert codes_at(world, OPENVPN) == {}


def test_acknowledge_fix_and_reopen(world, servers):
    listener = servers(world.address, RDP)
    first = scan_now(world)
    rdp = found(world, RDP, "exposed_rdp")

    # Acknowledging needs a reason, and a declarer of the establishment.
    with pytest.raises(DomainError) as error:
        services.finding_acknowledge(actor=world.rssi, finding=rdp, reason="   ")
    assert error.value.field == "reason"
    staff = member(Role.STAFF, world.establishment)
    for actor in (staff, world.operator):
        with pytest.raises(DomainError) as error:
            services.finding_acknowledge(actor=actor, finding=rdp, reason="Vu")
        assert error.value.code == "forbidden"
    rdp.refresh_from_db()
    assert rdp.status == FindingStatus.OPEN
    # The database refuses an acknowledgement without a reason too.
    with pytest.raises(IntegrityError), transaction.atomic():
        Finding.objects.filter(pk=rdp.pk).update(status=FindingStatus.ACKNOWLEDGED, ack_reason="")

    services.finding_acknowledge(
        actor=world.dsi, finding=rdp, reason="  Fermeture prévue au pare-feu lundi "
    )
    rdp.refresh_from_db()
    assert rdp.status == FindingStatus.ACKNOWLEDGED
    assert rdp.ack_reason == "Fermeture prévue au pare-feu lundi"
    assert rdp.ack_by == world.dsi
    assert rdp.ack_at is not None

    # Still seen: still acknowledged (not reopened, not reset to open).
    second = scan_now(world)
    rdp.refresh_from_db()
    assert rdp.status == FindingStatus.ACKNOWLEDGED
    assert rdp.last_scan == second
    assert rdp.ack_reason == "Fermeture prévue au pare-feu lundi"

    # Closed: fixed by the scan that no longer sees it.
    listener.close()
    third = scan_now(world)
    rdp.refresh_from_db()
    assert rdp.status == FindingStatus.FIXED
    assert rdp.fixed_scan == third
    assert rdp.fixed_at == third.finished_at
    assert rdp.last_scan == second  # last time it was seen
    assert found(world, RDP, services.UNDECLARED).status == FindingStatus.FIXED
    with pytest.raises(DomainError):
        services.finding_acknowledge(actor=world.rssi, finding=rdp, reason="Trop tard")

    # Open again: reopened, counted, the fix forgotten; the first sighting kept.
    servers(world.address, RDP)
    fourth = scan_now(world)
    rdp.refresh_from_db()
    assert rdp.status == FindingStatus.REOPENED
    assert rdp.times_reopened == 1
    assert (rdp.fixed_at, rdp.fixed_scan) == (None, None)
    assert (rdp.first_scan, rdp.last_scan) == (first, fourth)
    assert found(world, RDP, services.UNDECLARED).status == FindingStatus.REOPENED
    assert Finding.objects.filter(organisation=world.establishment, port=RDP).count() == 2
    # A reopened finding can be acknowledged again.
    services.finding_acknowledge(actor=world.rssi, finding=rdp, reason="Relancé")
    rdp.refresh_from_db()
    assert rdp.status == FindingStatus.ACKNOWLEDGED


def test_expired_certificate_gives_a_tls_finding(world, servers, tmp_path):
    leaf = make_cert(
        ips=(world.address,),
        not_before=NOW - datetime.timedelta(days=400),
        not_after=NOW - datetime.timedelta(days=3),
    )
    server = servers.tls(tmp_path, leaf, world.address, HTTPS_ALT)
    scan = scan_now(world)

    observation = Observation.objects.get(scan=scan, address=world.address, port=HTTPS_ALT)
    assert observation.tls["error"] == ""
    assert observation.tls["protocol"].startswith("TLS")
    assert datetime.datetime.fromisoformat(observation.tls["not_after"]) < timezone.now()
    assert server.handshakes  # the TLS check really spoke to it
    expired = found(world, HTTPS_ALT, "tls_expired")
    assert expired.severity == "high"
    assert expired.title == "Certificat expiré"
    assert "date de fin de validité" in expired.explanation
    assert expired.remediation.startswith(
        "Renouveler le certificat auprès de l'autorité de certification"
    )
    assert found(world, HTTPS_ALT, "exposed_https_alt").severity == "medium"

    # Declared, the console is no longer a finding, but its certificate still is.
    services.service_declare(
        actor=world.rssi, asset=world.asset, port=HTTPS_ALT, purpose="Console du pare-feu"
    )
    scan_now(world)
    statuses = codes_at(world, HTTPS_ALT)
    assert statuses["tls_expired"] == FindingStatus.OPEN
    assert statuses["exposed_https_alt"] == FindingStatus.FIXED
    assert statuses[services.UNDECLARED] == FindingStatus.FIXED

    # A renewed certificate fixes it.
    server.close()
    servers.tls(tmp_path, make_cert(ips=(world.address,)), world.address, HTTPS_ALT)
    renewed = scan_now(world)
    expired.refresh_from_db()
    assert expired.status == FindingStatus.FIXED
    assert expired.fixed_scan == renewed


def test_findings_outside_the_scan_are_not_touched(world, servers):
    earlier = scan_now(world)  # nothing open: no finding

    def make(address, port, code, organisation=world.establishment):
        return Finding.objects.create(
            organisation=organisation,
            address=address,
            port=port,
            code=code,
            severity="critical",
            title="Ancien constat",
            explanation="Constat d'une analyse précédente.",
            remediation="Rien.",
            first_seen_at=earlier.finished_at,
            last_seen_at=earlier.finished_at,
            first_scan=earlier,
            last_scan=earlier,
        )

    elsewhere = make(loopback_address(), RDP, "exposed_rdp")  # an address not in the scope
    unwatched = make(world.address, 47123, services.UNDECLARED)  # a port not scanned
    neighbour = OrganisationFactory(kind=OrgKind.ESTABLISHMENT, region=world.region)
    theirs = make(world.address, RDP, "exposed_rdp", organisation=neighbour)
    closed = make(world.address, RDP, "exposed_rdp")  # in scope, no longer answering

    scan = scan_now(world)

    for finding in (elsewhere, unwatched, theirs):
        finding.refresh_from_db()
        assert finding.status == FindingStatus.OPEN
        assert finding.last_scan == earlier
    closed.refresh_from_db()
    assert closed.status == FindingStatus.FIXED
    assert closed.fixed_scan == scan


def test_scan_outside_the_window_is_cancelled_without_scanning(world):
    scan = services.scan_queue(actor=world.operator, organisation=world.establishment)
    other_day = str(timezone.localdate().isoweekday() % 7 + 1)
    Authorisation.objects.filter(pk=world.authorisation.pk).update(weekdays=other_day)
    scanner = Recording()
    ran = services.scan_run(scan.pk, scanner=scanner, timeout_plan=FAST)
    assert scanner.calls == []
    assert ran.status == ScanStatus.CANCELLED
    assert ran.reason.startswith("hors des jours autorisés (")
    assert ran.hosts_done == 0


def test_engine_failure_marks_the_scan_failed(world):
    scan = services.scan_queue(actor=world.operator, organisation=world.establishment)
    ran = services.scan_run(
        scan.pk, scanner=Recording(fail=ScanError("cible refusée")), timeout_plan=FAST
    )
    ran.refresh_from_db()
    assert ran.status == ScanStatus.FAILED
    assert ran.reason == "Le moteur d'analyse a échoué : cible refusée"
    assert ran.finished_at is not None
    assert not Finding.objects.exists()


# --- Cancelling and the emergency stop while running --------------------------------------------


def test_cancel_between_batches_keeps_what_was_done(world, servers, monkeypatch):
    hosts = block_world(world, monkeypatch)
    servers(hosts[0], RDP)
    servers(hosts[4], RDP)
    scan = services.scan_queue(actor=world.operator, organisation=world.establishment)
    assert [t[0] for t in scan.targets] == hosts

    def cancel_after_first(n):
        if n == 1:
            services.scan_cancel(actor=world.operator, scan=scan)

    scanner = Recording(after=cancel_after_first)
    ran = services.scan_run(scan.pk, scanner=scanner, timeout_plan=FAST)
    ran.refresh_from_db()

    assert scanner.calls == [hosts[0:2]]
    assert ran.status == ScanStatus.CANCELLED
    assert ran.reason == "Annulée par Inès Analyste"
    assert ran.hosts_done == 2
    assert ran.probes_done == 2 * len(ran.ports)
    assert 0 < ran.percent < 100
    # The finished batch counts; the hosts never scanned have no finding.
    assert found(world, RDP, "exposed_rdp", address=hosts[0]).status == FindingStatus.OPEN
    assert not Finding.objects.filter(address=hosts[4]).exists()


def test_emergency_stop_engaged_before_the_worker_starts(world):
    scan = services.scan_queue(actor=world.operator, organisation=world.establishment)
    # Engaged directly (the service would also cancel the queued scan): the worker checks too.
    EmergencyStop.objects.create(engaged_by=world.operator, reason="Alerte ANSSI")
    scanner = Recording()
    ran = services.scan_run(scan.pk, scanner=scanner, timeout_plan=FAST)
    assert scanner.calls == []
    assert ran.status == ScanStatus.CANCELLED
    assert ran.reason == "Arrêt d'urgence : Alerte ANSSI"


def test_emergency_stop_during_a_scan_stops_it_after_the_batch(world, monkeypatch):
    hosts = block_world(world, monkeypatch)
    scan = services.scan_queue(actor=world.operator, organisation=world.establishment)

    def stop_after_first(n):
        if n == 1:
            services.emergency_stop(actor=world.operator, reason="Plainte d'un opérateur")

    scanner = Recording(after=stop_after_first)
    ran = services.scan_run(scan.pk, scanner=scanner, timeout_plan=FAST)
    assert scanner.calls == [hosts[0:2]]
    assert ran.status == ScanStatus.CANCELLED
    assert ran.reason == "Arrêt d'urgence : Plainte d'un opérateur"
    services.emergency_release(actor=world.operator)
    again = services.scan_queue(actor=world.operator, organisation=world.establishment)
    assert again.status == ScanStatus.QUEUED


def test_watcher_check_reports_progress_cancel_and_stop(world):
    scan = services.scan_queue(actor=world.operator, organisation=world.establishment)
    claimed = services._claim(scan.pk)
    assert claimed.status == ScanStatus.RUNNING
    Scan.objects.filter(pk=scan.pk).update(worker_heartbeat=None)

    watcher = services._Watcher(claimed, base_done=0)
    watcher.on_progress(ScanProgress(done=5, total=claimed.probes_total, open_found=2, elapsed=0))
    watcher.check()
    state = Scan.objects.get(pk=scan.pk)
    assert not watcher.event.is_set()
    assert (state.probes_done, state.open_found) == (5, 2)
    assert state.worker_heartbeat is not None

    services.scan_cancel(actor=world.operator, scan=claimed)
    watcher.check()
    assert watcher.event.is_set()
    assert watcher.reason == "Annulée par Inès Analyste"

    stopped = services._Watcher(claimed, base_done=0)
    EmergencyStop.objects.create(engaged_by=world.operator, reason="Alerte")
    stopped.check()
    assert stopped.reason == "Arrêt d'urgence : Alerte"

    # The window closing stops it too.
    EmergencyStop.objects.update(active=False, released_at=timezone.now())
    Scan.objects.filter(pk=scan.pk).update(cancel_requested=False)
    other_day = str(timezone.localdate().isoweekday() % 7 + 1)
    Authorisation.objects.filter(pk=world.authorisation.pk).update(weekdays=other_day)
    late = services._Watcher(Scan.objects.get(pk=scan.pk), base_done=0)
    late.check()
    assert late.event.is_set()
    assert late.reason.startswith("hors des jours autorisés")


# --- Resuming after a dead worker -------------------------------------------------------------


def test_dead_worker_scan_resumes_after_the_saved_hosts(world, servers, monkeypatch):
    hosts = block_world(world, monkeypatch)
    assert len(hosts) == 6
    servers(hosts[0], RDP)
    servers(hosts[4], RDP)
    scan = services.scan_queue(actor=world.operator, organisation=world.establishment)

    dying = Recording(die_on_call=2)
    with pytest.raises(WorkerDied):
        services.scan_run(scan.pk, scanner=dying, timeout_plan=FAST)
    assert dying.calls == [hosts[0:2], hosts[2:4]]
    scan.refresh_from_db()
    assert scan.status == ScanStatus.RUNNING
    assert scan.hosts_done == 2
    assert scan.probes_done == 2 * len(scan.ports)
    assert scan.open_found == 1
    started_at = scan.started_at
    assert Observation.objects.filter(scan=scan, address=hosts[0], port=RDP).exists()

    # While its heartbeat is fresh, nobody takes it over.
    assert services.scan_run(scan.pk, scanner=Recording(), timeout_plan=FAST) is None
    dispatched = []
    monkeypatch.setattr(services, "dispatch", dispatched.append)
    assert services.requeue_stale() == []

    stale = timezone.now() - services.HEARTBEAT_STALE - datetime.timedelta(seconds=30)
    Scan.objects.filter(pk=scan.pk).update(worker_heartbeat=stale)
    assert services.requeue_stale() == [scan.pk]
    assert dispatched == [scan.pk]  # handed to a worker: here, the test
    resuming = Recording()
    ran = services.scan_run(scan.pk, scanner=resuming, timeout_plan=FAST)

    assert resuming.calls == [hosts[2:4], hosts[4:6]]  # only what was left
    ran.refresh_from_db()
    assert ran.status == ScanStatus.DONE
    assert ran.hosts_done == 6
    assert ran.probes_done == ran.probes_total == 6 * len(ran.ports)
    assert ran.open_found == 2
    assert ran.started_at == started_at
    # Findings cover the hosts of both workers.
    for address in (hosts[0], hosts[4]):
        finding = found(world, RDP, "exposed_rdp", address=address)
        assert finding.status == FindingStatus.OPEN
        assert finding.first_scan == ran
    assert Observation.objects.filter(scan=ran, port=RDP).count() == 2


def test_only_queued_or_abandoned_scans_are_taken(world):
    scan = services.scan_queue(actor=world.operator, organisation=world.establishment)
    Scan.objects.filter(pk=scan.pk).update(
        status=ScanStatus.RUNNING, worker_heartbeat=timezone.now() - datetime.timedelta(minutes=1)
    )
    scanner = Recording()
    assert services.scan_run(scan.pk, scanner=scanner, timeout_plan=FAST) is None
    Scan.objects.filter(pk=scan.pk).update(status=ScanStatus.DONE, finished_at=timezone.now())
    assert services.scan_run(scan.pk, scanner=scanner, timeout_plan=FAST) is None
    assert services.scan_run(scan.pk + 1000, scanner=scanner, timeout_plan=FAST) is None
    assert scanner.calls == []


# --- Alerts -----------------------------------------------------------------------------------


def test_alert_email_and_webhook_after_a_critical_finding(
    world, servers, mailoutbox, django_capture_on_commit_callbacks
):
    staff = member(Role.STAFF, world.establishment, email="agent@chu-test.fr")
    neighbour = OrganisationFactory(kind=OrgKind.ESTABLISHMENT, region=world.region)
    outsider = member(Role.RSSI, neighbour, email="rssi@voisin.fr")
    hook = WebhookEndpoint.objects.create(
        organisation=world.establishment,
        name="SIEM",
        url="https://siem.chu-test.fr/hooks/rempart",
        secret="secret-de-test",
        events=["exposure.findings", "event.clicked"],
    )
    phishing_only = WebhookEndpoint.objects.create(
        organisation=world.establishment,
        name="Sensibilisation",
        url="https://rh.chu-test.fr/hooks",
        secret="secret-de-test",
        events=["event.clicked"],
    )
    paused = WebhookEndpoint.objects.create(
        organisation=world.establishment,
        name="Ancien SIEM",
        url="https://old.chu-test.fr/hooks",
        secret="secret-de-test",
        events=["exposure.findings"],
        active=False,
    )
    servers(world.address, RDP)

    scan = scan_now(world, on_commit=django_capture_on_commit_callbacks)

    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert set(message.to) == {world.rssi.email, world.director.email, world.dsi.email}
    assert staff.email not in message.to
    assert outsider.email not in message.to
    assert world.operator.email not in message.to
    assert message.subject == (
        "[Rempart] Exposition : 2 nouveau(x) constat(s) — Centre hospitalier de Vienne"
    )
    assert f"L'analyse d'exposition n° {scan.pk} de Centre hospitalier de Vienne" in message.body
    assert (
        f"- [Critique] Bureau à distance Microsoft (RDP) exposé sur Internet — {world.address}:3389"
    ) in message.body
    assert "- [Moyenne] Service non déclaré : Bureau à distance Microsoft (RDP) (port 3389)" in (
        message.body
    )
    assert f"/exposition/organisations/{world.establishment.pk}/" in message.body

    delivery = WebhookDelivery.objects.get()
    assert delivery.endpoint == hook
    assert delivery.dedup_key == f"exposure:{scan.pk}"
    assert delivery.event_type == "exposure.findings"
    assert delivery.payload["scan"] == scan.pk
    assert {(f["code"], f["address"], f["port"]) for f in delivery.payload["findings"]} == {
        ("exposed_rdp", world.address, RDP),
        (services.UNDECLARED, world.address, RDP),
    }
    assert not phishing_only.deliveries.exists()
    assert not paused.deliveries.exists()

    # Nothing new: no e-mail, no delivery.
    scan_now(world, on_commit=django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 1
    assert WebhookDelivery.objects.count() == 1


def test_alert_for_a_reopened_finding_and_nothing_for_a_fix(
    world, servers, mailoutbox, django_capture_on_commit_callbacks
):
    listener = servers(world.address, RDP)
    scan_now(world, on_commit=django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 1
    listener.close()
    scan_now(world, on_commit=django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 1  # a fix is not alerted
    servers(world.address, RDP)
    reopened = scan_now(world, on_commit=django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 2
    body = mailoutbox[1].body
    assert f"n° {reopened.pk}" in body
    assert f"exposé sur Internet — {world.address}:3389 (rouvert)" in body


def test_alert_lists_findings_from_the_most_to_the_least_severe(
    world, servers, mailoutbox, django_capture_on_commit_callbacks
):
    servers(world.address, OPENVPN)  # low
    servers(world.address, HTTP_ALT, greeting=HTTP_GREETING)  # medium
    servers(world.address, RDP)  # critical
    scan_now(world, on_commit=django_capture_on_commit_callbacks)
    [message] = mailoutbox
    levels = [
        line.split("]")[0].removeprefix("- [")
        for line in message.body.splitlines()
        if line.startswith("- [")
    ]
    assert levels == ["Critique", "Moyenne", "Moyenne", "Moyenne", "Moyenne", "Faible"]


def test_alert_without_critical_or_new_port_is_not_sent(
    world, servers, mailoutbox, django_capture_on_commit_callbacks, tmp_path
):
    """A port declared before the scan with an expired certificate: the TLS finding (high) is
    shown, but only critical findings and newly open ports are alerted."""
    services.service_declare(actor=world.rssi, asset=world.asset, port=HTTPS_ALT, purpose="VPN")
    leaf = make_cert(
        ips=(world.address,),
        not_before=NOW - datetime.timedelta(days=400),
        not_after=NOW - datetime.timedelta(days=3),
    )
    servers.tls(tmp_path, leaf, world.address, HTTPS_ALT)
    scan_now(world, on_commit=django_capture_on_commit_callbacks)
    assert found(world, HTTPS_ALT, "tls_expired").status == FindingStatus.OPEN
    assert mailoutbox == []


def test_declarers_of_an_establishment(world):
    member(Role.STAFF, world.establishment)
    gone = member(Role.DSI, world.establishment)
    gone.is_active = False
    gone.save()
    neighbour = OrganisationFactory(kind=OrgKind.ESTABLISHMENT, region=world.region)
    member(Role.RSSI, neighbour)
    assert {u.pk for u in services.declarers_of(world.establishment)} == {
        world.rssi.pk,
        world.director.pk,
        world.dsi.pk,
    }


def test_a_finished_scan_is_a_measurement_that_a_care_declaration_can_cite(world, servers):
    from rempart.programme.models import Measurement, PlatformMeasurement

    servers(world.address, RDP)
    scan = scan_now(world)
    measurement = PlatformMeasurement.objects.get(organisation=world.establishment)
    assert measurement.kind == Measurement.EXPOSURE_SCAN
    assert measurement.recorded_by is None
    assert measurement.measured_on == timezone.localdate(scan.finished_at)
    assert f"analyse n° {scan.pk}" in measurement.source
    assert measurement.result == (
        "1 port(s) ouvert(s), 2 constat(s) à traiter dont 1 critique(s) et 0 élevé(s)"
    )
    assert measurement.details["findings"]["critical"] == 1
    assert measurement.details["scan"] == scan.pk


def test_a_cancelled_scan_is_no_measurement(world):
    scan = services.scan_queue(actor=world.operator, organisation=world.establishment)
    Scan.objects.filter(pk=scan.pk).update(cancel_requested=True, reason="Annulée par l'analyste")
    assert services.scan_run(scan.pk, timeout_plan=FAST).status == ScanStatus.CANCELLED
    assert not world.establishment.measurements.exists()


def _with_version_detection(world):
    Authorisation.objects.filter(pk=world.authorisation.pk).update(version_detection=True)


def test_versions_are_identified_by_nmap_on_the_open_ports_only(world, servers):
    """nmap -sV (Debian package) names the product behind an SSH banner on a declared port."""
    import shutil

    if shutil.which("nmap") is None:
        pytest.skip("nmap n'est pas installé (make nmap)")
    _with_version_detection(world)
    services.service_declare(actor=world.rssi, asset=world.asset, port=2222, purpose="SSH")
    servers(world.address, 2222, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
    servers(world.address, RDP)  # probe "none": nmap never sends it anything
    scan = scan_now(world)
    assert scan.version_detection
    ssh = Observation.objects.get(scan=scan, port=2222)
    assert "OpenSSH" in ssh.product
    assert "9.2p1" in ssh.product
    assert Observation.objects.get(scan=scan, port=RDP).product == ""
    assert scan.skipped == []


def test_without_nmap_the_scan_stands_and_says_why(world, servers):
    class Missing:
        def scan(self, *args, **kwargs):
            raise services.NmapError("nmap n'est pas installé sur ce serveur.")

    _with_version_detection(world)
    servers(world.address, HTTP_ALT, HTTP_GREETING)
    scan = scan_now(world, version_scanner=Missing())
    assert scan.status == ScanStatus.DONE
    assert [
        "identification des versions",
        "nmap n'est pas installé sur ce serveur.",
    ] in scan.skipped
    assert found(world, HTTP_ALT, "undeclared_service").status == FindingStatus.OPEN


def test_versions_are_not_asked_for_without_the_authorisation_s_consent(world, servers):
    class MustNotRun:
        def scan(self, *args, **kwargs):
            raise AssertionError("nmap ran without consent")

    servers(world.address, HTTP_ALT, HTTP_GREETING)
    scan = scan_now(world, version_scanner=MustNotRun())
    assert scan.status == ScanStatus.DONE
    assert not scan.version_detection
