"""The CRRC's on-call pages: the rota (who is on call now, the week by level, gaps in level-1
coverage, add / edit / delete / repeat shifts), handover notes, the escalation policy and the
paging gateways.

Thin views: the CRRC and every shift or gateway are read through `oncall_selectors` (403 with
the reason outside the user's scope, 404 if missing), every write goes through
`oncall_services` (DomainError → the French message next to the field, with what was typed),
and a POST that works redirects with a message — except the creation or renewal of a
generated gateway key, whose confirmation shows the key once and is never cached.
"""

from __future__ import annotations

import datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods

from rempart.core.errors import DomainError

from . import oncall_selectors as sel
from . import oncall_services as services
from .oncall_forms import (
    HandoverForm,
    PolicyForm,
    RepeatForm,
    RotateForm,
    ShiftEditForm,
    ShiftForm,
    WebhookCreateForm,
    WebhookForm,
)

WEEK_TARGET = "oncall-week"


def _refuse(form, exc: DomainError) -> int:
    """Put the service's message on the field at fault; the status of the re-rendered page."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    return 403 if exc.code == "forbidden" else 400


def _crrc_param(request) -> str | None:
    return request.POST.get("crrc") or request.GET.get("crrc")


def rota_url(crrc, monday: datetime.date | None = None) -> str:
    query = {"crrc": crrc.pk}
    if monday is not None:
        query["semaine"] = monday.isoformat()
    return f"{reverse('incidents:oncall_rota')}?{urlencode(query)}"


def _week_of(moment: datetime.datetime) -> datetime.date:
    return sel.week_monday(sel.local(moment).date())


# --- Rota -----------------------------------------------------------------------------------------


def _rota_context(request, crrc, monday, *, shift_form=None, repeat_form=None) -> dict:
    week = sel.week_view(crrc, monday)
    context = {
        "title": f"Planning d'astreinte — {crrc.name}",
        "crrc": crrc,
        "week": week,
        "now": sel.now_panel(crrc),
        "can_manage": crrc.can_manage,
        "tab": "rota",
        "week_target": WEEK_TARGET,
        "is_current_week": monday == sel.week_monday(sel.paris_today()),
    }
    if crrc.can_manage:
        if shift_form is None:
            initial = {"level": 1}
            now = timezone.now().replace(second=0, microsecond=0)
            gap = next((g for g in week.gaps if g.end > now), None)
            if gap is not None:  # propose to fill the next hole (from now if it has begun)
                start = max(gap.start, now)
                initial["starts_at"] = start
                initial["ends_at"] = min(gap.end, start + datetime.timedelta(hours=12))
            shift_form = ShiftForm(
                candidates=sel.rota_candidates(crrc), initial=initial, auto_id="tour_%s"
            )
        context["shift_form"] = shift_form
        context["repeat_form"] = repeat_form or RepeatForm(auto_id="recopie_%s")
    return context


@require_http_methods(["GET", "POST"])
def oncall_rota(request):
    crrc = sel.get_rota_crrc(request.user, _crrc_param(request))
    monday, understood = sel.parse_week(request.POST.get("semaine") or request.GET.get("semaine"))
    if request.method == "GET":
        if not understood:
            messages.warning(
                request, "Cette semaine n'a pas été comprise : voici la semaine en cours."
            )
        context = _rota_context(request, crrc, monday)
        if request.htmx and request.htmx.target == WEEK_TARGET:
            return render(request, "incidents/includes/oncall_week.html", context)
        return render(request, "incidents/oncall_rota.html", context)
    if not crrc.can_manage:
        raise PermissionDenied(sel.MANAGE_ONLY)
    action = request.POST.get("action")
    if action == "add":
        return _add_shift(request, crrc, monday)
    if action == "repeat":
        return _repeat_week(request, crrc, monday)
    messages.error(request, "Action inconnue : rechargez la page.")
    return redirect(rota_url(crrc, monday))


def _add_shift(request, crrc, monday):
    form = ShiftForm(request.POST, candidates=sel.rota_candidates(crrc), auto_id="tour_%s")
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            shift = services.shift_create(
                actor=request.user,
                crrc=crrc,
                person=data["person"],
                level=data["level"],
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                phone=data["phone"],
            )
        except DomainError as exc:
            status = _refuse(form, exc)
        else:
            messages.success(
                request,
                f"Tour ajouté : {shift.person}, niveau {shift.level}, du "
                f"{sel.format_moment_fr(shift.starts_at)} au {sel.format_moment_fr(shift.ends_at)}.",
            )
            return redirect(rota_url(crrc, _week_of(shift.starts_at)))
    context = _rota_context(request, crrc, monday, shift_form=form)
    return render(request, "incidents/oncall_rota.html", context, status=status)


def _repeat_week(request, crrc, monday):
    form = RepeatForm(request.POST, auto_id="recopie_%s")
    status = 400
    if form.is_valid():
        try:
            result = services.week_repeat(
                actor=request.user, crrc=crrc, monday=monday, weeks=form.cleaned_data["weeks"]
            )
        except DomainError as exc:
            status = _refuse(form, exc)
        else:
            level = messages.success if result.created else messages.warning
            level(request, f"Semaine recopiée : {result.message}")
            for reason in result.skipped[:10]:
                messages.info(request, f"Ignoré — {reason}.")
            return redirect(rota_url(crrc, monday))
    context = _rota_context(request, crrc, monday, repeat_form=form)
    return render(request, "incidents/oncall_rota.html", context, status=status)


def _shift_initial(shift) -> dict:
    return {
        "person": str(shift.person_id),
        "level": shift.level,
        "starts_at": shift.starts_at,
        "ends_at": shift.ends_at,
        "phone": shift.phone,
        "handover_note": shift.handover_note,
    }


def _shift_candidates(shift) -> list:
    """The rota's people, plus the shift's own person even if their role has ended since."""
    people = list(sel.rota_candidates(shift.crrc))
    if all(p.pk != shift.person_id for p in people):
        people.append(shift.person)
    return people


@require_http_methods(["GET", "POST"])
def oncall_shift_edit(request, pk: int):
    shift = sel.get_manageable_shift(request.user, pk)
    crrc = shift.crrc
    status = 200
    if request.method == "GET":
        form = ShiftEditForm(candidates=_shift_candidates(shift), initial=_shift_initial(shift))
    else:
        form = ShiftEditForm(request.POST, candidates=_shift_candidates(shift))
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                shift = services.shift_update(
                    actor=request.user,
                    shift=shift,
                    person=data["person"],
                    level=data["level"],
                    starts_at=data["starts_at"],
                    ends_at=data["ends_at"],
                    phone=data["phone"],
                    handover_note=data["handover_note"],
                )
            except DomainError as exc:
                status = _refuse(form, exc)
            else:
                messages.success(
                    request,
                    f"Tour modifié : {shift.person}, niveau {shift.level}, du "
                    f"{sel.format_moment_fr(shift.starts_at)} au "
                    f"{sel.format_moment_fr(shift.ends_at)}.",
                )
                return redirect(rota_url(crrc, _week_of(shift.starts_at)))
    context = {
        "title": f"Modifier un tour d'astreinte — {crrc.name}",
        "crrc": crrc,
        "shift": shift,
        "form": form,
        "back_url": rota_url(crrc, _week_of(shift.starts_at)),
        "tab": "rota",
        "can_manage": True,
    }
    return render(request, "incidents/oncall_shift_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
def oncall_shift_delete(request, pk: int):
    shift = sel.get_manageable_shift(request.user, pk)
    crrc = shift.crrc
    back = rota_url(crrc, _week_of(shift.starts_at))
    label = (
        f"{shift.person}, niveau {shift.level}, du {sel.format_moment_fr(shift.starts_at)} au "
        f"{sel.format_moment_fr(shift.ends_at)}"
    )
    if request.method == "POST":
        try:
            services.shift_delete(actor=request.user, shift=shift)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Tour supprimé : {label}.")
        return redirect(back)
    now = timezone.now()
    context = {
        "title": f"Supprimer un tour d'astreinte — {crrc.name}",
        "crrc": crrc,
        "shift": shift,
        "label": label,
        "is_running": shift.starts_at <= now < shift.ends_at,
        "back_url": back,
        "tab": "rota",
        "can_manage": True,
    }
    return render(request, "incidents/oncall_shift_delete.html", context)


# --- Handover -------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def oncall_handover(request):
    crrc = sel.get_rota_crrc(request.user, _crrc_param(request))
    status = 200
    form = shift = None
    now = timezone.now()
    if request.method == "POST":
        shift = sel.get_visible_shift(request.user, request.POST.get("tour"))
        form = HandoverForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                services.handover_write(
                    actor=request.user, shift=shift, note=form.cleaned_data["handover_note"]
                )
            except DomainError as exc:
                status = _refuse(form, exc)
            else:
                messages.success(
                    request,
                    "Consignes de relève enregistrées : la personne qui prend la suite les "
                    "verra en ouvrant le planning.",
                )
                return redirect(f"{reverse('incidents:oncall_handover')}?crrc={shift.crrc_id}")
    mine = sel.handover_shifts(crrc, request.user, now)
    if shift is not None and (mine["shift"] is None or mine["shift"].pk != shift.pk):
        # A refused note on a shift that is not the user's current one: show that shift.
        mine = {"shift": sel.describe_shift(shift, now), "received": None, "upcoming": None}
    if form is None and mine["shift"] is not None:
        form = HandoverForm(initial={"handover_note": mine["shift"].handover_note})
    context = {
        "title": f"Consignes de relève — {crrc.name}",
        "crrc": crrc,
        "can_manage": crrc.can_manage,
        "tab": "handover",
        "form": form,
        **mine,
    }
    return render(request, "incidents/oncall_handover.html", context, status=status)


# --- Escalation policy ----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def oncall_policy(request):
    crrc = sel.get_rota_crrc(request.user, _crrc_param(request), manage=True)
    policy = sel.policy_of(crrc)
    status = 200
    if request.method == "POST":
        form = PolicyForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                policy = services.policy_save(actor=request.user, crrc=crrc, **form.cleaned_data)
            except DomainError as exc:
                status = _refuse(form, exc)
            else:
                messages.success(
                    request,
                    f"Politique d'escalade enregistrée : relance après "
                    f"{policy.ack_timeout_minutes} min sans prise en compte, {policy.rounds} "
                    f"tour(s), dédoublonnage sur {policy.dedup_window_minutes} min.",
                )
                return redirect(f"{reverse('incidents:oncall_policy')}?crrc={crrc.pk}")
    else:
        form = PolicyForm(
            initial={
                "ack_timeout_minutes": policy.ack_timeout_minutes,
                "rounds": policy.rounds,
                "dedup_window_minutes": policy.dedup_window_minutes,
            }
        )
    levels = sorted({s.level for s in sel.now_panel(crrc).chain})
    context = {
        "title": f"Politique d'escalade — {crrc.name}",
        "crrc": crrc,
        "can_manage": True,
        "tab": "policy",
        "policy": policy,
        "saved": policy.pk is not None,
        "form": form,
        "levels_now": len(levels),
        "longest_minutes": policy.ack_timeout_minutes * policy.rounds * max(len(levels), 1),
    }
    return render(request, "incidents/oncall_policy.html", context, status=status)


# --- Gateways -------------------------------------------------------------------------------------


def _secret_shown(request, crrc, result, *, created: bool):
    """The one page that shows a generated key: not cached, not kept anywhere."""
    for warning in result.warnings:
        messages.warning(request, warning)
    context = {
        "title": f"Clé de signature — {result.webhook.name}",
        "crrc": crrc,
        "can_manage": True,
        "tab": "webhooks",
        "webhook": result.webhook,
        "secret": result.generated_secret,
        "created": created,
    }
    response = render(request, "incidents/oncall_webhook_secret.html", context)
    add_never_cache_headers(response)
    return response


def _webhooks_url(crrc) -> str:
    return f"{reverse('incidents:oncall_webhooks')}?crrc={crrc.pk}"


@require_http_methods(["GET", "POST"])
def oncall_webhooks(request):
    crrc = sel.get_rota_crrc(request.user, _crrc_param(request), manage=True)
    status = 200
    form = WebhookCreateForm(auto_id="passerelle_%s")
    if request.method == "POST":
        form = WebhookCreateForm(request.POST, auto_id="passerelle_%s")
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                result = services.webhook_create(
                    actor=request.user,
                    crrc=crrc,
                    name=data["name"],
                    url=data["url"],
                    secret=data["secret"],
                )
            except DomainError as exc:
                status = _refuse(form, exc)
            else:
                if result.generated_secret:
                    messages.success(request, f"Passerelle « {result.webhook.name} » ajoutée.")
                    return _secret_shown(request, crrc, result, created=True)
                messages.success(
                    request,
                    f"Passerelle « {result.webhook.name} » ajoutée avec la clé que vous avez "
                    "saisie (elle ne sera plus affichée).",
                )
                for warning in result.warnings:
                    messages.warning(request, warning)
                return redirect(_webhooks_url(crrc))
    context = {
        "title": f"Passerelles d'alerte — {crrc.name}",
        "crrc": crrc,
        "can_manage": True,
        "tab": "webhooks",
        "webhooks": sel.webhooks_of(crrc),
        "form": form,
    }
    return render(request, "incidents/oncall_webhooks.html", context, status=status)


@require_http_methods(["GET", "POST"])
def oncall_webhook_edit(request, pk: int):
    webhook = sel.get_manageable_webhook(request.user, pk)
    crrc = webhook.crrc
    form = WebhookForm(initial={"name": webhook.name, "url": webhook.url}, auto_id="passerelle_%s")
    rotate_form = RotateForm(auto_id="cle_%s")
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "save":
                form = WebhookForm(request.POST, auto_id="passerelle_%s")
                status = 400
                if form.is_valid():
                    result = services.webhook_update(
                        actor=request.user, webhook=webhook, **form.cleaned_data
                    )
                    messages.success(request, f"Passerelle « {result.webhook.name} » modifiée.")
                    for warning in result.warnings:
                        messages.warning(request, warning)
                    return redirect(_webhooks_url(crrc))
            elif action == "rotate":
                rotate_form = RotateForm(request.POST, auto_id="cle_%s")
                status = 400
                if rotate_form.is_valid():
                    result = services.webhook_rotate_secret(
                        actor=request.user,
                        webhook=webhook,
                        secret=rotate_form.cleaned_data["secret"],
                    )
                    messages.success(
                        request,
                        f"Nouvelle clé enregistrée pour « {webhook.name} » : donnez-la à la "
                        "passerelle, l'ancienne ne signe plus les envois.",
                    )
                    if result.generated_secret:
                        return _secret_shown(request, crrc, result, created=False)
                    return redirect(_webhooks_url(crrc))
            elif action in ("deactivate", "activate"):
                services.webhook_set_active(
                    actor=request.user, webhook=webhook, active=action == "activate"
                )
                messages.success(
                    request,
                    f"Passerelle « {webhook.name} » désactivée : elle ne reçoit plus d'appels."
                    if action == "deactivate"
                    else f"Passerelle « {webhook.name} » réactivée.",
                )
                return redirect(_webhooks_url(crrc))
            else:
                messages.error(request, "Action inconnue : rechargez la page.")
                return redirect(reverse("incidents:oncall_webhook_edit", args=[webhook.pk]))
        except DomainError as exc:
            status = _refuse(rotate_form if action == "rotate" else form, exc)
    context = {
        "title": f"Passerelle « {webhook.name} » — {crrc.name}",
        "crrc": crrc,
        "can_manage": True,
        "tab": "webhooks",
        "webhook": webhook,
        "form": form,
        "rotate_form": rotate_form,
        "is_https": webhook.url.lower().startswith("https://"),
    }
    return render(request, "incidents/oncall_webhook_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
def oncall_webhook_delete(request, pk: int):
    webhook = sel.get_manageable_webhook(request.user, pk)
    crrc = webhook.crrc
    if request.method == "POST":
        try:
            services.webhook_delete(actor=request.user, webhook=webhook)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(reverse("incidents:oncall_webhook_edit", args=[webhook.pk]))
        messages.success(request, f"Passerelle « {webhook.name} » supprimée.")
        return redirect(_webhooks_url(crrc))
    context = {
        "title": f"Supprimer la passerelle « {webhook.name} »",
        "crrc": crrc,
        "can_manage": True,
        "tab": "webhooks",
        "webhook": webhook,
    }
    return render(request, "incidents/oncall_webhook_delete.html", context)
