from django.apps import AppConfig


class ExercisesConfig(AppConfig):
    name = "rempart.exercises"
    label = "exercises"
    verbose_name = "Exercices de crise cyber"

    def ready(self) -> None:
        from . import audit  # noqa: F401  (registers models with the audit trail)
