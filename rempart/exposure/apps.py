from django.apps import AppConfig


class ExposureConfig(AppConfig):
    name = "rempart.exposure"
    label = "exposure"
    verbose_name = "Veille d'exposition"

    def ready(self) -> None:
        from . import audit  # noqa: F401  (registers models with the audit trail)
