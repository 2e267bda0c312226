"""Exposure watch pages: the CRRC's regional board (with the emergency stop and the lab ranges),
an organisation's page (findings, trend, assets, authorisations, scans), a scan with its live
progress, a finding with its remediation.

Thin: reads through `selectors` (403 with the reason for a person without access, 404 for an
object outside their scope), writes through `services` (DomainError → the French message on the
form, what was typed kept; "forbidden" → 403)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rempart.core.charts import BLUE_LIGHT, ORANGE, RED, YELLOW, vbar_chart
from rempart.core.csv_export import csv_response
from rempart.core.errors import DomainError
from rempart.core.webflow import form_error, posted, refuse_forbidden, submit

from . import perms, services
from . import selectors as sel
from .forms import AssetForm, AuthorisationForm, LabRangeForm, ReasonForm, ServiceForm
from .models import FindingStatus, Severity


def org_url(organisation, anchor: str = "") -> str:
    return reverse("exposure:organisation", args=[organisation.pk]) + anchor


def _refused(request, exc: DomainError, to: str):
    refuse_forbidden(exc)
    messages.error(request, exc.message)
    return redirect(to)


# --- Home and the regional board --------------------------------------------------------------


@require_GET
def home(request):
    if not perms.can_use(request.user):
        raise PermissionDenied(perms.NO_ACCESS)
    if perms.is_watcher(request.user):
        return render(
            request,
            "exposure/board.html",
            {
                "title": "Veille d'exposition régionale",
                "lines": sel.board(request.user),
                "summary": sel.board_summary(request.user),
                "stop": sel.stop_state(),
                "stop_form": ReasonForm(),
                "running": list(sel.running_scans(request.user)),
                "severities": Severity,
            },
        )
    organisations = list(sel.organisations(request.user))
    if len(organisations) == 1:
        return redirect(org_url(organisations[0]))
    return render(
        request,
        "exposure/organisation_list.html",
        {"title": "Veille d'exposition", "organisations": organisations},
    )


@require_POST
def emergency_stop(request):
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Donnez le motif de l'arrêt d'urgence.")
        return redirect("exposure:home")
    try:
        services.emergency_stop(actor=request.user, reason=form.cleaned_data["reason"])
    except DomainError as exc:
        return _refused(request, exc, reverse("exposure:home"))
    messages.success(request, "Arrêt d'urgence engagé : aucune analyse ne tourne plus.")
    return redirect("exposure:home")


@require_POST
def emergency_release(request):
    try:
        services.emergency_release(actor=request.user)
    except DomainError as exc:
        return _refused(request, exc, reverse("exposure:home"))
    messages.success(request, "Arrêt d'urgence levé : les analyses peuvent reprendre.")
    return redirect("exposure:home")


@require_http_methods(["GET", "POST"])
def lab_ranges(request):
    if not perms.is_watcher(request.user):
        raise PermissionDenied(perms.NOT_WATCHER)
    regions = sel.watch_regions(request.user)
    form = LabRangeForm(posted(request), regions=regions)
    done, status = submit(
        request,
        form,
        lambda: services.lab_range_allow(actor=request.user, **form.cleaned_data),
        then=lambda _lab: ("exposure:lab_ranges",),
        success="Plage de laboratoire autorisée.",
    )
    if done:
        return done
    return render(
        request,
        "exposure/lab_ranges.html",
        {"title": "Plages de laboratoire", "form": form, "ranges": sel.lab_ranges(request.user)},
        status=status,
    )


@require_POST
def lab_range_revoke(request, pk: int):
    lab = sel.lab_ranges(request.user).filter(pk=pk).first()
    if lab is None:
        raise PermissionDenied(perms.NOT_WATCHER)
    services.lab_range_revoke(actor=request.user, lab=lab)
    messages.success(request, f"La plage {lab.network} n'est plus autorisée.")
    return redirect("exposure:lab_ranges")


# --- An organisation --------------------------------------------------------------------------


@require_GET
def organisation(request, pk: int):
    org = sel.get_organisation(request.user, pk)
    show_all = request.GET.get("tous") == "1"
    findings = sel.findings_of(org, active_only=not show_all)
    trend = sel.trend(org)
    user = request.user
    return render(
        request,
        "exposure/organisation.html",
        {
            "title": f"Exposition — {org.name}",
            "organisation": org,
            "findings": findings,
            "show_all": show_all,
            "counts": sel.severity_counts(findings),
            "trend": trend,
            "trend_chart": _trend_chart(trend),
            "assets": sel.assets_of(org),
            "authorisations": list(sel.authorisations_of(org)[:10]),
            "in_force": sel.authorisation_in_force(org),
            "scans": sel.scans_of(org),
            "can_declare": perms.can_declare(user, org),
            "can_authorise": perms.can_authorise(user, org),
            "can_watch": perms.can_watch(user, org),
            "asset_form": AssetForm(),
            "severities": Severity,
        },
    )


def _trend_chart(trend) -> dict | None:
    """Active findings by severity after each finished scan, as stacked bars."""
    if len(trend.points) < 2:
        return None
    colours = {"critical": RED, "high": ORANGE, "medium": YELLOW, "low": BLUE_LIGHT}
    return vbar_chart(
        "chart-trend",
        "Constats à traiter après chaque analyse",
        [f"n° {scan.pk}" for scan, _counts in trend.points],
        [
            (Severity(key).label, colour, [counts[key] for _scan, counts in trend.points])
            for key, colour in colours.items()
        ],
        titles=[
            f"Analyse n° {scan.pk} du {scan.finished_at:%d/%m/%Y}" for scan, _c in trend.points
        ],
    )


@require_POST
def asset_create(request, pk: int):
    org = sel.get_organisation(request.user, pk)
    form = AssetForm(request.POST)
    if form.is_valid():
        try:
            asset = services.asset_create(actor=request.user, organisation=org, **form.cleaned_data)
        except DomainError as exc:
            refuse_forbidden(exc)
            form_error(form, exc)
        else:
            messages.success(request, f"{asset.value} est déclaré.")
            return redirect(org_url(org, "#actifs"))
    return render(
        request,
        "exposure/asset_form.html",
        {"title": "Déclarer un actif exposé", "organisation": org, "form": form},
        status=400,
    )


@require_POST
def asset_retire(request, pk: int):
    asset = sel.get_asset(request.user, pk)
    try:
        services.asset_retire(actor=request.user, asset=asset)
    except DomainError as exc:
        return _refused(request, exc, org_url(asset.organisation, "#actifs"))
    messages.success(request, f"{asset.value} est retiré : il ne sera plus analysé.")
    return redirect(org_url(asset.organisation, "#actifs"))


@require_http_methods(["GET", "POST"])
def service_add(request, pk: int):
    asset = sel.get_asset(request.user, pk)
    if not perms.can_declare(request.user, asset.organisation):
        raise PermissionDenied(perms.NOT_DECLARER)
    form = ServiceForm(posted(request))
    done, status = submit(
        request,
        form,
        lambda: services.service_declare(actor=request.user, asset=asset, **form.cleaned_data),
        then=lambda _service: (org_url(asset.organisation, "#actifs"),),
        success="Service déclaré.",
    )
    if done:
        return done
    return render(
        request,
        "exposure/service_form.html",
        {
            "title": f"Déclarer un service exposé sur {asset.value}",
            "organisation": asset.organisation,
            "asset": asset,
            "form": form,
        },
        status=status,
    )


@require_POST
def service_remove(request, pk: int):
    service = sel.get_service(request.user, pk)
    org = service.asset.organisation
    try:
        services.service_remove(actor=request.user, service=service)
    except DomainError as exc:
        return _refused(request, exc, org_url(org, "#actifs"))
    messages.success(request, "Service retiré de la déclaration.")
    return redirect(org_url(org, "#actifs"))


@require_http_methods(["GET", "POST"])
def authorisation_create(request, pk: int):
    org = sel.get_organisation(request.user, pk)
    if not perms.can_authorise(request.user, org):
        raise PermissionDenied(perms.NOT_SIGNER)
    assets = org.exposure_assets.filter(retired_at__isnull=True).order_by("kind", "value")
    form = AuthorisationForm(
        posted(request),
        assets=assets,
        initial={**AuthorisationForm.defaults(), "assets": list(assets)},
    )

    def sign():
        data = {k: v for k, v in form.cleaned_data.items() if k != "confirm"}
        data["weekdays"] = "".join(data["weekdays"])
        return services.authorisation_sign(actor=request.user, organisation=org, **data)

    done, status = submit(
        request,
        form,
        sign,
        then=lambda _authorisation: (org_url(org, "#autorisations"),),
        success="Autorisation signée : le CRRC peut analyser ces actifs.",
    )
    if done:
        return done
    return render(
        request,
        "exposure/authorisation_form.html",
        {
            "title": "Signer l'autorisation d'analyse",
            "organisation": org,
            "form": form,
            "has_assets": assets.exists(),
        },
        status=status,
    )


@require_POST
def authorisation_revoke(request, pk: int):
    authorisation = sel.get_authorisation(request.user, pk)
    org = authorisation.organisation
    try:
        services.authorisation_revoke(actor=request.user, authorisation=authorisation)
    except DomainError as exc:
        return _refused(request, exc, org_url(org, "#autorisations"))
    messages.success(request, "Autorisation révoquée : plus aucune analyse n'est permise.")
    return redirect(org_url(org, "#autorisations"))


# --- Scans ------------------------------------------------------------------------------------


@require_POST
def scan_create(request, pk: int):
    org = sel.get_organisation(request.user, pk)
    try:
        scan = services.scan_queue(actor=request.user, organisation=org)
    except DomainError as exc:
        return _refused(request, exc, org_url(org, "#analyses"))
    messages.success(request, "Analyse lancée.")
    return redirect("exposure:scan_detail", scan.pk)


@require_GET
def scan_detail(request, pk: int):
    scan = sel.get_scan(request.user, pk)
    context = {
        "title": f"Analyse n° {scan.pk} — {scan.organisation.name}",
        "here": f"Analyse n° {scan.pk}",
        "scan": scan,
        "organisation": scan.organisation,
        "can_watch": perms.can_watch(request.user, scan.organisation),
    }
    if request.headers.get("HX-Request"):
        return render(request, "exposure/_scan_progress.html", {**context, "fragment": True})
    context["observations"] = sel.observations_of(scan) if scan.is_finished else []
    return render(request, "exposure/scan_detail.html", context)


@require_POST
def scan_cancel(request, pk: int):
    scan = sel.get_scan(request.user, pk)
    try:
        services.scan_cancel(actor=request.user, scan=scan)
    except DomainError as exc:
        return _refused(request, exc, reverse("exposure:scan_detail", args=[scan.pk]))
    messages.success(request, "Annulation demandée : l'analyse s'arrête dans la seconde.")
    return redirect("exposure:scan_detail", scan.pk)


@require_GET
def scan_export(request, pk: int):
    """The scan's report as CSV (a proof for a CaRE declaration): every open port it saw and
    the findings it left open."""
    scan = sel.get_scan(request.user, pk)
    rows = []
    open_by_key: dict[tuple[str, int], list[str]] = {}
    for finding in scan.organisation.exposure_findings.filter(last_scan=scan).exclude(
        status=FindingStatus.FIXED
    ):
        open_by_key.setdefault((finding.address, finding.port), []).append(
            f"[{finding.get_severity_display()}] {finding.title}"
        )
    for obs in scan.observations.all():
        rows.append(
            [
                obs.address,
                obs.port,
                obs.service,
                obs.product,
                obs.banner,
                (obs.tls or {}).get("protocol", ""),
                " ; ".join(open_by_key.get((obs.address, obs.port), [])),
            ]
        )
    return csv_response(
        f"analyse-exposition-{scan.pk}.csv",
        ["Adresse", "Port", "Service", "Produit", "Bannière", "TLS", "Constats ouverts"],
        rows,
    )


# --- Findings ---------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def finding_detail(request, pk: int):
    finding = sel.get_finding(request.user, pk)
    can_declare = perms.can_declare(request.user, finding.organisation)
    form = ReasonForm(posted(request), initial={"reason": finding.ack_reason})
    if request.method == "POST" and not can_declare:
        raise PermissionDenied(perms.NOT_DECLARER)
    done, status = submit(
        request,
        form,
        lambda: services.finding_acknowledge(
            actor=request.user, finding=finding, reason=form.cleaned_data["reason"]
        ),
        then=lambda _finding: (org_url(finding.organisation, "#constats"),),
        success="Constat pris en compte.",
    )
    if done:
        return done
    return render(
        request,
        "exposure/finding_detail.html",
        {
            "title": finding.title,
            "finding": finding,
            "organisation": finding.organisation,
            "form": form,
            "can_acknowledge": can_declare and finding.is_active,
        },
        status=status,
    )
