from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "rempart.core"
    label = "core"
    verbose_name = "Socle"
