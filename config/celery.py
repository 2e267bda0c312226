"""Celery app. Production: Redis broker (CELERY_BROKER_URL or REDIS_URL). Embedded default:
no broker, tasks run inline (CELERY_TASK_ALWAYS_EAGER)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("rempart")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
