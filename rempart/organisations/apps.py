from django.apps import AppConfig


class OrganisationsConfig(AppConfig):
    name = "rempart.organisations"
    label = "organisations"
    verbose_name = "Organisations"

    def ready(self) -> None:
        from . import audit  # noqa: F401  (registers models with the audit trail)
