"""Pages of the phishing integrations (under /hameconnage/): the reporting mailbox polled over
IMAP (establishments and CRRCs) and the HMAC-signed webhooks (establishments).

Thin views: reads through `mailbox` / `webhooks` scoped reads (a foreign object is a 403 with
the reason, a missing one a 404), writes through their services (POST only), errors shown in
French. A webhook's secret is shown once, in the answer to its creation or rotation (never
stored anywhere else in clear, never in a redirect, never cached)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rempart.core import webflow
from rempart.core.errors import DomainError

from . import mailbox, selectors, webhooks
from .integrations_forms import MailboxForm, WebhookForm
from .models import WebhookEvent

# --- Reporting mailboxes --------------------------------------------------------------------------


@require_GET
def mailbox_list(request):
    selectors.require_phishing_user(request.user)
    boxes = mailbox.mailboxes_visible_to(request.user)
    return render(
        request,
        "phishing/integrations/mailbox_list.html",
        {
            "title": "Boîtes de signalement",
            "rows": [(box, mailbox.outcome_counts(box)) for box in boxes],
            "may_create": mailbox.manageable_organisations(request.user).exists(),
        },
    )


def _mailbox_form_page(request, form, title, status, box=None):
    return render(
        request,
        "phishing/integrations/mailbox_form.html",
        {"title": title, "form": form, "box": box},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def mailbox_new(request):
    selectors.require_phishing_user(request.user)
    organisations = mailbox.manageable_organisations(request.user)
    form = MailboxForm(webflow.posted(request), organisations=organisations)

    def create():
        data = dict(form.cleaned_data)
        return mailbox.mailbox_create(
            actor=request.user, organisation=data.pop("organisation"), **data
        )

    done, status = webflow.submit(
        request,
        form,
        create,
        success="Boîte de signalement enregistrée : testez la connexion.",
        then=lambda _box: ("phishing:mailbox_list",),
    )
    return done or _mailbox_form_page(request, form, "Nouvelle boîte de signalement", status)


@require_http_methods(["GET", "POST"])
def mailbox_edit(request, pk: int):
    box = mailbox.get_mailbox(request.user, pk)
    form = MailboxForm(webflow.posted(request), instance=box, editing=True)
    done, status = webflow.submit(
        request,
        form,
        lambda: mailbox.mailbox_update(actor=request.user, mailbox=box, **form.cleaned_data),
        success="Boîte de signalement enregistrée.",
        then=lambda _box: ("phishing:mailbox_list",),
    )
    return done or _mailbox_form_page(request, form, f"Modifier « {box.name} »", status, box)


@require_POST
def mailbox_test(request, pk: int):
    box = mailbox.get_mailbox(request.user, pk)
    try:
        result = mailbox.mailbox_test(actor=request.user, mailbox=box)
    except DomainError as exc:
        webflow.refuse_forbidden(exc)
        raise
    (messages.success if result.ok else messages.error)(request, result.message)
    return redirect("phishing:mailbox_list")


@require_POST
def mailbox_poll(request, pk: int):
    """Relever maintenant: the same poll as the periodic job."""
    box = mailbox.get_mailbox(request.user, pk)
    try:
        result = mailbox.poll_now(actor=request.user, mailbox=box)
    except DomainError as exc:
        webflow.refuse_forbidden(exc)
        messages.error(request, exc.message)
        return redirect("phishing:mailbox_list")
    if result.skipped:
        messages.info(request, "Un relevé est déjà en cours : réessayez dans quelques minutes.")
    elif result.error:
        messages.error(request, result.error)
    else:
        messages.success(
            request,
            f"{result.fetched} message(s) relevé(s) : {result.reports} signalement(s) "
            f"enregistré(s), {result.no_token} sans jeton de campagne, "
            f"{result.duplicates} déjà traité(s).",
        )
    return redirect("phishing:mailbox_list")


@require_http_methods(["GET", "POST"])
def mailbox_delete(request, pk: int):
    box = mailbox.get_mailbox(request.user, pk)
    if request.method == "POST":
        try:
            mailbox.mailbox_delete(actor=request.user, mailbox=box)
        except DomainError as exc:
            webflow.refuse_forbidden(exc)
            raise
        messages.success(request, "Boîte de signalement supprimée.")
        return redirect("phishing:mailbox_list")
    return render(
        request,
        "phishing/integrations/confirm_delete.html",
        {
            "title": f"Supprimer « {box.name} » ?",
            "text": "Rempart cessera de relever cette boîte. Les signalements déjà "
            "enregistrés restent dans les résultats des campagnes.",
            "back_url": reverse("phishing:mailbox_list"),
        },
    )


# --- Webhooks -------------------------------------------------------------------------------------


@require_GET
def webhook_list(request):
    selectors.require_phishing_user(request.user)
    return render(
        request,
        "phishing/integrations/webhook_list.html",
        {
            "title": "Webhooks",
            "endpoints": webhooks.endpoints_visible_to(request.user),
            "may_create": webhooks.manageable_organisations(request.user).exists(),
            "event_labels": dict(WebhookEvent.choices),
        },
    )


def _webhook_form_page(request, form, title, status, endpoint=None):
    return render(
        request,
        "phishing/integrations/webhook_form.html",
        {"title": title, "form": form, "endpoint": endpoint},
        status=status,
    )


def _secret_page(request, endpoint, secret, created):
    response = render(
        request,
        "phishing/integrations/webhook_secret.html",
        {
            "title": f"Clé de signature de « {endpoint.name} »",
            "endpoint": endpoint,
            "secret": secret,
            "created": created,
        },
    )
    add_never_cache_headers(response)
    return response


@require_http_methods(["GET", "POST"])
def webhook_new(request):
    selectors.require_phishing_user(request.user)
    organisations = webhooks.manageable_organisations(request.user)
    if not organisations.exists():
        raise PermissionDenied(webhooks.FORBIDDEN)
    form = WebhookForm(webflow.posted(request), organisations=organisations)

    def create():
        data = dict(form.cleaned_data)
        return webhooks.endpoint_create(
            actor=request.user, organisation=data.pop("organisation"), **data
        )

    done, status = webflow.submit(
        request,
        form,
        create,
        respond=lambda made: _secret_page(request, *made, created=True),
    )
    return done or _webhook_form_page(request, form, "Nouveau webhook", status)


@require_GET
def webhook_detail(request, pk: int):
    endpoint = webhooks.get_endpoint(request.user, pk)
    return render(
        request,
        "phishing/integrations/webhook_detail.html",
        {
            "title": f"Webhook « {endpoint.name} »",
            "endpoint": endpoint,
            "deliveries": webhooks.delivery_log(endpoint),
            "counts": webhooks.delivery_counts(endpoint),
            "event_labels": dict(WebhookEvent.choices),
            "max_attempts": webhooks.MAX_ATTEMPTS,
        },
    )


@require_http_methods(["GET", "POST"])
def webhook_edit(request, pk: int):
    endpoint = webhooks.get_endpoint(request.user, pk)
    initial = {
        "name": endpoint.name,
        "url": endpoint.url,
        "events": endpoint.events,
        "active": endpoint.active,
    }
    form = WebhookForm(webflow.posted(request), initial=initial)
    done, status = webflow.submit(
        request,
        form,
        lambda: webhooks.endpoint_update(
            actor=request.user, endpoint=endpoint, **form.cleaned_data
        ),
        success="Webhook enregistré.",
        then=lambda _saved: ("phishing:webhook_detail", endpoint.pk),
    )
    return done or _webhook_form_page(
        request, form, f"Modifier « {endpoint.name} »", status, endpoint
    )


@require_POST
def webhook_rotate(request, pk: int):
    endpoint = webhooks.get_endpoint(request.user, pk)
    try:
        secret = webhooks.endpoint_rotate_secret(actor=request.user, endpoint=endpoint)
    except DomainError as exc:
        webflow.refuse_forbidden(exc)
        raise
    return _secret_page(request, endpoint, secret, created=False)


@require_POST
def webhook_test(request, pk: int):
    endpoint = webhooks.get_endpoint(request.user, pk)
    try:
        delivery = webhooks.send_test(actor=request.user, endpoint=endpoint)
    except DomainError as exc:
        webflow.refuse_forbidden(exc)
        raise
    if delivery.status == "delivered":
        messages.success(
            request, f"Événement de test remis (réponse HTTP {delivery.response_code})."
        )
    else:
        messages.error(request, f"Événement de test non remis : {delivery.error}")
    return redirect("phishing:webhook_detail", endpoint.pk)


@require_http_methods(["GET", "POST"])
def webhook_delete(request, pk: int):
    endpoint = webhooks.get_endpoint(request.user, pk)
    if request.method == "POST":
        try:
            webhooks.endpoint_delete(actor=request.user, endpoint=endpoint)
        except DomainError as exc:
            webflow.refuse_forbidden(exc)
            raise
        messages.success(request, "Webhook supprimé.")
        return redirect("phishing:webhook_list")
    return render(
        request,
        "phishing/integrations/confirm_delete.html",
        {
            "title": f"Supprimer « {endpoint.name} » ?",
            "text": "Plus rien ne sera envoyé à cette adresse ; son journal d'envois est effacé.",
            "back_url": reverse("phishing:webhook_detail", args=[endpoint.pk]),
        },
    )
