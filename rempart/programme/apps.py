from django.apps import AppConfig


class ProgrammeConfig(AppConfig):
    name = "rempart.programme"
    label = "programme"
    verbose_name = "Programme CaRE"

    def ready(self) -> None:
        from . import audit  # noqa: F401  (registers models with the audit trail)
