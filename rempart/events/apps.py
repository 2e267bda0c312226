from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "rempart.events"
    label = "events"
    verbose_name = "Formations et webinaires"

    def ready(self) -> None:
        from . import audit  # noqa: F401  (registers models with the audit trail)
