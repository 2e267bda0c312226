"""The PDF certificate of a passed module (the shared certificate page).

A pure builder: the view checks who may download it. The document states the holder, their
organisation, the module and its version, the score, the date and the verification code with
the address of the public verification page. Its metadata (title, subject) carry the holder's
name and the code too, so that a mail client or an archive shows them.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from django.utils import timezone

from rempart.core.pdf import CertificatePage

from .models import Certificate


def filename(certificate: Certificate) -> str:
    return f"attestation-sensibilisation-{certificate.pk}.pdf"


def render_pdf(certificate: Certificate, verify_url: str) -> bytes:
    issued = timezone.localtime(certificate.issued_at)

    page = CertificatePage()
    page.line("Attestation de sensibilisation à la sécurité numérique", page.title)
    if not certificate.is_valid:
        page.line("ATTESTATION RÉVOQUÉE", page.big)
    page.line("Nous attestons que", space=1)
    page.line(escape(certificate.holder_name), page.big, space=0.3)
    page.line(escape(certificate.organisation_name), space=0.2)
    page.line("a suivi avec succès le module", space=0.6)
    page.line(f"« {escape(certificate.module_title)} »", page.big, space=0.3)
    page.line(
        f"avec un score de <b>{certificate.score} %</b> au quiz "
        f"(version {certificate.module_version} du module), le {issued:%d/%m/%Y}.",
        space=0.3,
    )
    page.line(f"Code de vérification : <b>{escape(certificate.code)}</b>", page.small, space=1.2)
    page.line(f"Vérifiez cette attestation sur {escape(verify_url)}", page.small)
    return page.render(
        title=f"Attestation de sensibilisation — {certificate.holder_name}",
        subject=f"{certificate.module_title} — code {certificate.code}",
    )
