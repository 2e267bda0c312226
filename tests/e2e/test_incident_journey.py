"""Issue 5, an incident from the first alert to the closed case, in the browser.

At night a nurse of the Centre hospitalier de Rivebelle sees a ransom note: she files the
qualification-and-alert form. The CRRC's on-call expert is paged at once by e-mail; he opens
the signed link from the message, acknowledges (the escalation stops), logs in and opens a
case from the alert (a missing title is refused, nothing typed is lost). He records what he
did in the timeline, assigns a task to the hospital's RSSI and adds an indicator of
compromise (a malformed address is refused first). The RSSI prepares the mandatory CERT Santé
declaration from the case, completes it, downloads the document and the structured export,
then records its filing on the national portal. The expert sets the outcome and closes the
case (closing without an outcome is refused first).

Paging runs as Celery tasks, eager in tests: the e-mail is in `mail.outbox` as soon as the
alert is saved."""

import datetime
import json
import re

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from rempart.incidents.models import (
    Alert,
    AlertStatus,
    Case,
    CaseOutcome,
    CaseState,
    CertSanteDeclaration,
    EventKind,
    Indicator,
)
from rempart.incidents.tests.factories import incident_world
from rempart.organisations.tests.factories import TEST_TOTP_SECRET

from .helpers import fresh_totp_code, log_in, pass_totp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "mot-de-passe-de-test-solide"  # the factories' password
ACK_LINK = re.compile(r"https?://\S+/prise-en-compte/\S+/")


def _file_alert(nurse) -> Alert:
    nurse.get_by_role("link", name="Signaler un incident").first.click()
    expect(nurse.locator("h1")).to_contain_text("Signaler un incident de sécurité")
    form = nurse.locator("main form").filter(has=nurse.locator("[name=description]"))
    form.locator("label[for=type-rancongiciel]").click()
    expect(nurse.locator("#alert-guidance")).to_contain_text("Rançongiciel")
    form.locator("[name=reporter_name]").fill("Sam Soignant")
    form.locator("[name=reporter_function]").fill("Infirmier de nuit, urgences")
    form.locator("[name=callback_phone]").fill("06 12 34 56 78")
    form.locator("[name=description]").fill(
        "Un message de rançon s'affiche sur trois postes des urgences ; les fichiers du "
        "partage commun ont l'extension .lockbit."
    )
    form.locator("[name=observed_at_text]").fill("vers 2 h 30 cette nuit")
    form.locator("label[for=affects_care-oui]").click()
    form.locator("label[for=affects_systems-oui]").click()
    form.locator("label[for=affects_health_data-inconnu]").click()
    form.locator("[name=actions_taken]").fill(
        "Postes débranchés du réseau, cadre de garde prévenu."
    )
    form.get_by_role("button", name="Envoyer l'alerte").click()
    nurse.wait_for_load_state()
    # The database is read once the page says so (the request may still be running before).
    expect(nurse.locator("main")).to_contain_text("est enregistrée")
    alert = Alert.objects.get()
    expect(nurse.locator("main")).to_contain_text(f"Votre alerte n° {alert.pk} est enregistrée")
    expect(nurse.locator("main")).to_contain_text("Centre hospitalier de Rivebelle")
    return alert


def _ack_link_for(person) -> str:
    """The signed acknowledgement link of the page e-mailed to `person`."""
    messages = [message for message in mail.outbox if person.email in message.to]
    assert messages, f"aucun appel d'astreinte envoyé à {person.email}"
    found = ACK_LINK.search(messages[-1].body)
    assert found, messages[-1].body
    return found.group(0)


def _acknowledge_and_log_in(expert, ack_url: str, alert: Alert, email: str) -> None:
    expert.goto(ack_url)
    expect(expert.locator("main")).to_contain_text(f"Alerte n° {alert.pk}")
    expert.get_by_role("button", name="Je prends en compte cette alerte").click()
    expert.wait_for_load_state()
    expect(expert.locator("main")).to_contain_text("les relances sont arrêtées")
    expert.get_by_role("link", name="Se connecter pour voir l'alerte").click()
    form = expert.locator("main form").filter(has=expert.locator("input[name=password]"))
    form.get_by_label("Courriel").fill(email)
    form.locator("input[name=password]").fill(PASSWORD)
    form.get_by_role("button", name="Se connecter").click()
    expert.wait_for_load_state()
    pass_totp(expert, fresh_totp_code(TEST_TOTP_SECRET))
    expect(expert.locator("h1")).to_contain_text(f"Alerte n° {alert.pk}")


def _open_case(expert) -> Case:
    expert.get_by_role("link", name="Ouvrir un dossier d'incident").click()
    form = expert.locator("main form").filter(has=expert.locator("[name=title]"))
    form.locator("[name=title]").fill("")
    form.locator("[name=summary]").fill("Rançongiciel LockBit sur les postes des urgences.")
    form.locator("[name=severity]").select_option("critique")
    form.get_by_role("button", name="Ouvrir le dossier").click()
    expert.wait_for_load_state()
    # Refused with the reason; what was typed is still there.
    form = expert.locator("main form").filter(has=expert.locator("[name=title]"))
    expect(form).to_contain_text("Ce champ est obligatoire")
    expect(form.locator("[name=summary]")).to_have_value(
        "Rançongiciel LockBit sur les postes des urgences."
    )
    assert not Case.objects.exists()
    form.locator("[name=title]").fill("Rançongiciel aux urgences")
    form.get_by_role("button", name="Ouvrir le dossier").click()
    expert.wait_for_load_state()
    expect(expert.locator("main")).to_contain_text("CYB-")
    case = Case.objects.get()
    expect(expert.locator("main")).to_contain_text(case.reference)
    return case


def _work_the_case(expert, case: Case, rssi_name: str) -> None:
    timeline = expert.locator("#case-timeline")
    timeline.locator("[name=text]").fill("Rappel du déclarant : 3 postes isolés, AD sain à 3 h 10.")
    timeline.get_by_role("button", name="Ajouter à la chronologie").click()
    expect(expert.locator("#case-timeline")).to_contain_text("3 postes isolés, AD sain")

    # The ransomware template already put its tasks and checklist in the case.
    expect(expert.locator("#taches")).to_contain_text("Vérifier les sauvegardes")
    add_task = expert.locator("#taches form").filter(has=expert.locator("[name=title]"))
    add_task.locator("[name=title]").fill("Préserver les journaux du pare-feu")
    assignee = add_task.locator("[name=assignee] option").filter(has_text=rssi_name).first
    add_task.locator("[name=assignee]").select_option(assignee.get_attribute("value"))
    add_task.get_by_role("button", name="Ajouter la tâche").click()
    expert.wait_for_load_state()
    expect(expert.locator("#taches")).to_contain_text("Préserver les journaux du pare-feu")

    expert.get_by_role("link", name="Indicateurs", exact=True).click()
    form = expert.locator("#ajout-indicateur")
    form.locator("[name=kind]").select_option("ipv4")
    form.locator("[name=value]").fill("185.220.101.999")
    form.locator("[name=description]").fill("Serveur de commande vu dans les journaux")
    form.get_by_role("button", name="Ajouter l'indicateur").click()
    expert.wait_for_load_state()
    form = expert.locator("#ajout-indicateur")
    expect(form).to_contain_text("IPv4")
    expect(form.locator("[name=description]")).to_have_value(
        "Serveur de commande vu dans les journaux"
    )
    assert not Indicator.objects.exists()
    form.locator("[name=value]").fill("185.220.101.7")
    form.get_by_role("button", name="Ajouter l'indicateur").click()
    expert.wait_for_load_state()
    expect(expert.locator("main table")).to_contain_text("185.220.101.7")


def _paris(*, hours_ago: int) -> str:
    """A moment of today, as a datetime-local input wants it (Paris time)."""
    moment = timezone.localtime() - datetime.timedelta(hours=hours_ago)
    return moment.strftime("%Y-%m-%dT%H:%M")


def _declare(rssi, case: Case) -> None:
    rssi.get_by_role("button", name="Incidents").click()
    rssi.get_by_role("link", name="Dossiers d'incident").click()
    rssi.get_by_role("link", name=re.compile(case.reference)).first.click()
    expect(rssi.locator("#taches")).to_contain_text("Préserver les journaux du pare-feu")
    rssi.get_by_role("link", name="Déclaration CERT Santé").click()
    rssi.get_by_role("button", name="Préparer la déclaration à partir du dossier").click()
    rssi.wait_for_load_state()
    expect(rssi.locator("main")).to_contain_text("Enregistrer la déclaration")
    declaration = CertSanteDeclaration.objects.get(case=case)
    # Prepared from the case: the structure and what was reported are already there.
    form = rssi.locator("main form").filter(has=rssi.locator("[name=causes]"))
    expect(form.locator("[name=structure_name]")).to_have_value("Centre hospitalier de Rivebelle")
    expect(form.locator("[name=scope]")).to_contain_text("message de rançon")
    # What the case could not know: the RSSI's phone, when the note was first seen.
    expect(rssi.locator("main")).to_contain_text("Le portail exigera encore 2 éléments")
    form.locator("[name=declarant_phone]").fill("04 73 00 00 00")
    form.locator("[name=observed_at]").fill(_paris(hours_ago=3))
    form.locator("[name=causes]").fill("Hameçonnage probable d'un compte de messagerie.")
    form.get_by_role("button", name="Enregistrer la déclaration").click()
    rssi.wait_for_load_state()
    expect(rssi.locator("main")).not_to_contain_text("Le portail exigera encore")
    declaration.refresh_from_db()
    assert declaration.causes == "Hameçonnage probable d'un compte de messagerie."

    with rssi.expect_download() as download:
        rssi.get_by_role("link", name="Télécharger le document (PDF)").click()
    with open(download.value.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"
    exported = rssi.request.get(f"/incidents/dossiers/{case.pk}/declaration/declaration.json")
    assert exported.ok, exported.status
    assert "Hameçonnage probable" in json.dumps(exported.json(), ensure_ascii=False)

    filing = rssi.locator("#declaration-filing")
    filing.locator("[name=filed_at]").fill(_paris(hours_ago=0))
    filing.get_by_role("button", name="Enregistrer le dépôt").click()
    rssi.wait_for_load_state()
    expect(rssi.locator("#declaration-filing")).to_contain_text("Indiquez la référence")
    declaration.refresh_from_db()
    assert declaration.filed_at is None
    filing = rssi.locator("#declaration-filing")
    filing.locator("[name=reference]").fill("SIG-2026-004217")
    filing.get_by_role("button", name="Enregistrer le dépôt").click()
    rssi.wait_for_load_state()
    expect(rssi.locator("main")).to_contain_text("sous la référence SIG-2026-004217")


def _close(expert, case: Case) -> None:
    expert.get_by_role("link", name="Suivi du dossier", exact=True).click()
    steering = expert.locator("#pilotage")
    state_form = steering.locator("form").filter(has=expert.locator("[name=state]"))
    state_form.locator("[name=state]").select_option(CaseState.CLOSED)
    state_form.get_by_role("button", name="Changer l'état").click()
    expert.wait_for_load_state()
    expect(expert.locator("#pilotage")).to_contain_text("Qualifiez l'issue du dossier")
    case.refresh_from_db()
    assert case.state != CaseState.CLOSED

    steering = expert.locator("#pilotage")
    outcome_form = steering.locator("form").filter(has=expert.locator("[name=outcome]"))
    outcome_form.locator("[name=outcome]").select_option(CaseOutcome.TRUE_POSITIVE_IMPACT)
    outcome_form.get_by_role("button", name="Enregistrer l'issue").click()
    expert.wait_for_load_state()
    state_form = expert.locator("#pilotage form").filter(has=expert.locator("[name=state]"))
    state_form.locator("[name=state]").select_option(CaseState.CLOSED)
    state_form.locator("[name=note]").fill("Postes réinstallés, comptes réinitialisés.")
    state_form.get_by_role("button", name="Changer l'état").click()
    expert.wait_for_load_state()
    expect(expert.locator("main")).to_contain_text("Le dossier est clos")


def test_alert_to_closed_case(browsing, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    world = incident_world()

    nurse = browsing()
    log_in(nurse, world.staff.email, PASSWORD)
    alert = _file_alert(nurse)

    # Paged at once: the level-1 on-call expert, by e-mail, with a personal signed link.
    expert = browsing()
    _acknowledge_and_log_in(expert, _ack_link_for(world.oncall), alert, world.oncall.email)
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None
    assert alert.acknowledged_by == world.oncall
    assert not any(world.backup.email in message.to for message in mail.outbox)

    case = _open_case(expert)
    _work_the_case(expert, case, world.rssi.last_name)

    rssi = browsing()
    log_in(rssi, world.rssi.email, PASSWORD)
    pass_totp(rssi, fresh_totp_code(TEST_TOTP_SECRET))
    _declare(rssi, case)

    _close(expert, case)

    case.refresh_from_db()
    alert.refresh_from_db()
    assert case.state == CaseState.CLOSED
    assert case.closed_at is not None
    assert case.outcome == CaseOutcome.TRUE_POSITIVE_IMPACT
    assert alert.case == case
    assert alert.status == AlertStatus.QUALIFIED
    assert case.tasks.filter(
        title="Préserver les journaux du pare-feu", assignee=world.rssi
    ).exists()
    assert case.indicators.get().value == "185.220.101.7"
    declaration = case.declaration
    assert declaration.filed_reference == "SIG-2026-004217"
    kinds = set(case.events.values_list("kind", flat=True))
    assert {EventKind.STATE, EventKind.NOTE} <= kinds, kinds

    # The nurse, who filed the alert, sees it but not the case's inner workings.
    nurse.reload()
    expect(nurse.locator("main")).to_contain_text(case.reference)
