"""WSGI entry of the public tracking server (`manage.py tracking_server`, decision 0005): the
platform's application, with the pixel, the link and « report this message » answered first
(rempart/phishing/tracking_wsgi.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

from rempart.phishing.tracking_wsgi import TrackingApplication  # noqa: E402 - after setup

application = TrackingApplication(django_application)
