from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "rempart.incidents"
    label = "incidents"
    verbose_name = "Assistance aux incidents"

    def ready(self) -> None:
        from . import audit  # noqa: F401  (registers models with the audit trail)
