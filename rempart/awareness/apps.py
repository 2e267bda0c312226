from django.apps import AppConfig


class AwarenessConfig(AppConfig):
    name = "rempart.awareness"
    label = "awareness"
    verbose_name = "Sensibilisation"

    def ready(self) -> None:
        from . import audit  # noqa: F401  (registers models with the audit trail)
