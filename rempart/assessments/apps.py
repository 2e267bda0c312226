from django.apps import AppConfig


class AssessmentsConfig(AppConfig):
    name = "rempart.assessments"
    label = "assessments"
    verbose_name = "Autoévaluation et plans d'action"

    def ready(self) -> None:
        from . import (
            audit,  # noqa: F401  (registers models with the audit trail)
            plan_tasks,  # noqa: F401  (the action plan's Celery task, beside tasks.py)
        )
