"""Benchmark: the public tracking endpoints of simulated phishing (pixel, link, report) under
load, every event persisted, compared with the same server's static-file ceiling.

Run with `make bench NAME=tracking` or `.venv/bin/python bench/tracking.py` (SQLite), or with
DATABASE_URL pointing to a PostgreSQL server. The benchmark never touches the database named
there: it makes its own (a temporary SQLite file, or a PostgreSQL database
`rempart_bench_tracking` dropped at the end).

It builds a campaign being sent with BENCH_RECIPIENTS recipients (20,000; messages delivered a
day ago, so that no event is flagged "too fast"), starts the tracking server as deployed
(`manage.py tracking_server`: Granian serving config.tracking_wsgi on 127.0.0.1, one process
per core, persistent database connections: DATABASE_CONN_MAX_AGE=60; decision 0005 —
BENCH_SERVER=gunicorn measures gunicorn instead, for comparison), then runs `wrk` on loopback (a Lua script draws a random valid token
for every request):
    GET  /p/o/<token>.gif   the pixel (records "opened")
    GET  /p/c/<token>/      the link (records "clicked", renders the landing page)
    POST /p/s/<token>/      "report this message" (records "reported", redirects)
    GET  /static/core/rempart.css   the ceiling: a static file served by WhiteNoise, same server
After each run it counts the rows stored and compares them with the successful answers wrk got.

Prints:
    pixel_rps / click_rps / report_rps: <n> req/s
    tracking_rps: <n> req/s          the slowest of the three (every event persisted)
    static_ceiling_rps: <n> req/s
    tracking_ratio: <n> %            tracking_rps / static_ceiling_rps
    tracking_events_lost: <n> count  successful answers without their stored event
and exits non-zero when it could not measure (wrk missing, a server that does not start, errors
answered) or when an event is lost. Target: tracking_rps >= 2,000. Details go to stderr.
BENCH_RECIPIENTS, BENCH_DURATION_S, BENCH_CONNECTIONS, BENCH_WEB_WORKERS, BENCH_WEB_THREADS and
BENCH_WRK_THREADS change the sizes; BENCH_LOG_DIR keeps the server's log.
"""

import contextlib
import datetime
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchdb import prepare_database  # noqa: E402 - bench/ is the script's own folder
from benchkit import (  # noqa: E402
    CannotMeasure,
    free_port,
    log,
)

RECIPIENTS = int(os.environ.get("BENCH_RECIPIENTS", "20000"))
DURATION_S = int(os.environ.get("BENCH_DURATION_S", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
WEB_WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "2"))
WEB_THREADS = int(os.environ.get("BENCH_WEB_THREADS", "4"))  # gunicorn only
# "tracking": `manage.py tracking_server` (Granian), the server of /p/ as deployed; "gunicorn":
# the platform pages' server, for comparison.
SERVER = os.environ.get("BENCH_SERVER", "tracking")
WRK_THREADS = int(os.environ.get("BENCH_WRK_THREADS", "1"))
TARGET_RPS = 2000
BENCH_DB_NAME = "rempart_bench_tracking"
STATIC_PATH = "/static/core/rempart.css"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)


# --- Data ---------------------------------------------------------------------------------------


def build_data() -> list[str]:
    """An establishment running a campaign being sent to RECIPIENTS people; their tokens."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from rempart.core.roles import OrgKind, Role
    from rempart.organisations.models import Membership, Organisation, Region, User
    from rempart.phishing.models import (
        Campaign,
        CampaignMode,
        CampaignRecipient,
        CampaignStatus,
        EmailTemplate,
        LandingPage,
        SendingProfile,
        SendStatus,
    )

    started = time.perf_counter()
    now = timezone.now()
    with transaction.atomic():
        region = Region.objects.create(code="84", name="Auvergne-Rhône-Alpes")
        hospital = Organisation.objects.create(
            kind=OrgKind.ESTABLISHMENT, name="CH bench", region=region, sector="sanitaire",
            finess="840000012",
        )  # fmt: skip
        rssi = User.objects.create(
            email="rssi@ch-bench.fr", first_name="RSSI", last_name="Bench",
            password=make_password(None),
        )  # fmt: skip
        Membership.objects.create(user=rssi, organisation=hospital, role=Role.RSSI)
        template = EmailTemplate.objects.create(
            organisation=hospital, name="Colis", subject="Votre colis",
            sender_name="Courrier", sender_address="courrier@exemple.fr",
            html_body='<p><a href="{{lien}}">Suivre</a></p>{{pixel}}',
        )  # fmt: skip
        landing = LandingPage.objects.create(
            organisation=hospital, name="Portail",
            form_html=(
                "<h1>Messagerie</h1><label for='u'>Identifiant</label><input id='u' name='identifiant'>"
                "<label for='p'>Mot de passe</label><input id='p' name='mot_de_passe' type='password'>"
            ),
            fields=["identifiant", "mot_de_passe"], teaching_title="C'était un exercice",
            teaching_text="Vérifiez l'expéditeur.", module_code="hameconnage",
        )  # fmt: skip
        profile = SendingProfile.objects.create(
            organisation=hospital, name="SMTP", host="127.0.0.1", port=2525,
            tls_mode="none", from_address="envoi@ch-bench.fr",
        )  # fmt: skip
        campaign = Campaign.objects.create(
            organisation=hospital, operator=hospital, mode=CampaignMode.AUTONOMOUS,
            name="Campagne bench", landing_page=landing, sending_profile=profile,
            starts_at=now - datetime.timedelta(days=2), spread_until=now + datetime.timedelta(days=1),
            staff_information="Note.", legal_basis="Intérêt légitime",
            status=CampaignStatus.SENDING, created_by=rssi, scheduled_at=now - datetime.timedelta(days=2),
        )  # fmt: skip
        campaign.templates.set([template])
        sent_at = now - datetime.timedelta(days=1)
        rows = CampaignRecipient.objects.bulk_create(
            (
                CampaignRecipient(
                    campaign=campaign,
                    department=f"Service {n % 20}",
                    template=template,
                    send_status=SendStatus.SENT,
                    sent_at=sent_at,
                )
                for n in range(RECIPIENTS)
            ),
            batch_size=2000,
        )
    log(
        f"données : 1 campagne, {RECIPIENTS} destinataires, en {time.perf_counter() - started:.1f} s"
    )
    return [row.token for row in rows]


# --- The server and the load ------------------------------------------------------------------------


class Server:
    def __init__(self, port: int, log_path: Path):
        self.port = port
        self.log_path = log_path
        env = os.environ.copy()
        env["DATABASE_CONN_MAX_AGE"] = "60"  # persistent connections, as deployed
        env["DJANGO_SETTINGS_MODULE"] = "config.settings"
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        if SERVER == "gunicorn":  # the platform's pages' server, for comparison
            argv = [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--worker-class",
                "gthread",
                "--workers",
                str(WEB_WORKERS),
                "--threads",
                str(WEB_THREADS),
                "--keep-alive",
                "30",
                "--backlog",
                "2048",
                "--log-level",
                "warning",
            ]
        else:  # the tracking server as deployed (decision 0005)
            argv = [
                sys.executable,
                "manage.py",
                "tracking_server",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(WEB_WORKERS),
            ]
        self.popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise CannotMeasure(f"le serveur d'application s'est arrêté :\n{self.tail()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", STATIC_PATH)
                response = connection.getresponse()
                response.read()
                connection.close()
                if response.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise CannotMeasure(f"le serveur d'application ne répond pas :\n{self.tail()}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)


LUA = """
local tokens = {%(tokens)s}
local n = #tokens
local method = "%(method)s"
local fmt = "%(fmt)s"
local headers = {["User-Agent"] = "%(agent)s"}
if method == "POST" then
  headers["Content-Type"] = "application/x-www-form-urlencoded"
end
math.randomseed(os.time())
request = function()
  local path = fmt
  if n > 0 then path = string.format(fmt, tokens[math.random(n)]) end
  return wrk.format(method, path, headers, method == "POST" and "" or nil)
end
"""


def run_wrk(
    port: int,
    workdir: Path,
    name: str,
    method: str,
    fmt: str,
    tokens: list[str],
    seconds: int = DURATION_S,
) -> dict:
    script = workdir / f"{name}.lua"
    script.write_text(
        LUA
        % {
            "tokens": ",".join(f'"{t}"' for t in tokens),
            "method": method,
            "fmt": fmt,
            "agent": BROWSER,
        }
    )
    args = [
        WRK, "-t", str(WRK_THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s",
        "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}",
    ]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise CannotMeasure(f"wrk a échoué ({name}) :\n{done.stderr}{done.stdout}")
    out = done.stdout
    total = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if not total or not rps:
        raise CannotMeasure(f"sortie de wrk illisible ({name}) :\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    result = {
        "requests": int(total.group(1)),
        "rps": float(rps.group(1)),
        "bad": int(bad.group(1)) if bad else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }
    latency = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", out)
    log(
        f"  {name:12s}: {result['requests']} réponses en {seconds} s, {result['rps']:.0f} req/s"
        f" (latence moyenne {latency.group(1) if latency else '?'}), {result['bad']} réponses"
        f" en erreur{', erreurs réseau : ' + result['socket_errors'] if result['socket_errors'] else ''}"
    )
    return result


def count_events(kind: str) -> int:
    from rempart.phishing.models import TrackingEvent

    return TrackingEvent.objects.filter(kind=kind).count()


def run(engine: str, workdir: Path) -> dict:
    import django
    from django.core.management import call_command

    django.setup()
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    tokens = build_data()
    if engine == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    connection.close()  # the server opens its own

    port = free_port()
    server = Server(port, workdir / "server.log")
    figures: dict = {}
    lost = 0
    try:
        server.wait()
        described = (
            f"gunicorn {WEB_WORKERS} processus × {WEB_THREADS} fils (gthread)"
            if SERVER == "gunicorn"
            else f"de suivi (manage.py tracking_server : Granian, {WEB_WORKERS} processus)"
        )
        log(
            f"serveur {described} ; wrk {WRK_THREADS} fil(s), {CONNECTIONS} connexions, "
            f"{DURATION_S} s par point d'entrée"
        )
        # Warm-up: every worker imports its URLs and views, loads its templates and opens its
        # database connection (a malformed token: nothing is written).
        run_wrk(port, workdir, "warmup", "GET", "/p/c/x/", [], seconds=3)
        endpoints = (
            # A first, shorter run of the pixel warms the database connections and caches up
            # (its events are checked too, its rate is not kept).
            ("warmup-pixel", "GET", "/p/o/%s.gif", "opened"),
            ("pixel", "GET", "/p/o/%s.gif", "opened"),
            ("click", "GET", "/p/c/%s/", "clicked"),
            ("report", "POST", "/p/s/%s/", "reported"),
        )
        for name, method, fmt, kind in endpoints:
            before = count_events(kind)
            seconds = 3 if name.startswith("warmup") else DURATION_S
            result = run_wrk(port, workdir, name, method, fmt, tokens, seconds=seconds)
            answered = result["requests"] - result["bad"]
            time.sleep(1)  # requests still in flight when wrk stopped
            stored = count_events(kind) - before
            missing = max(0, answered - stored)
            log(
                f"                {answered} réponses réussies, {stored} événements « {kind} » enregistrés"
            )
            if result["bad"]:
                raise CannotMeasure(
                    f"{result['bad']} réponses en erreur sur {name} :\n{server.tail()}"
                )
            lost += missing
            figures[name] = result["rps"]
        figures["static"] = run_wrk(port, workdir, "static", "GET", STATIC_PATH, [])["rps"]
    finally:
        server.stop()
    figures["lost"] = lost
    return figures


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("REMPART_LOG_LEVEL", "WARNING")  # one log line per request would distort
    os.environ.pop("REDIS_URL", None)
    if not Path(WRK).exists():
        log("wrk est introuvable : le benchmark en a besoin (apt-get install wrk).")
        return 2
    engine, cleanup = prepare_database(BENCH_DB_NAME)
    log(f"base : {engine} (base dédiée au benchmark)")
    try:
        with tempfile.TemporaryDirectory(prefix="tracking-") as workdir:
            logs = Path(os.environ.get("BENCH_LOG_DIR") or workdir)
            logs.mkdir(parents=True, exist_ok=True)
            figures = run(engine, Path(workdir) if logs == Path(workdir) else logs)
    except CannotMeasure as exc:
        log(f"mesure impossible : {exc}")
        return 3
    finally:
        cleanup()
    tracking_rps = min(figures["pixel"], figures["click"], figures["report"])
    for name in ("pixel", "click", "report"):
        print(f"{name}_rps: {figures[name]:.0f} req/s")
    print(f"tracking_rps: {tracking_rps:.0f} req/s")
    print(f"static_ceiling_rps: {figures['static']:.0f} req/s")
    print(f"tracking_ratio: {100 * tracking_rps / figures['static']:.0f} %")
    print(f"tracking_events_lost: {figures['lost']} count")
    if tracking_rps < TARGET_RPS:
        log(f"objectif manqué : {tracking_rps:.0f} req/s < {TARGET_RPS} req/s")
    return 1 if figures["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
