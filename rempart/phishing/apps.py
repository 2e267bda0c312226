from django.apps import AppConfig


class PhishingConfig(AppConfig):
    name = "rempart.phishing"
    label = "phishing"
    verbose_name = "Hameçonnage simulé"

    def ready(self) -> None:
        from . import audit  # noqa: F401  (registers models with the audit trail)
