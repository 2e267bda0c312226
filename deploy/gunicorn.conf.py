"""Gunicorn settings for a Rempart web machine (`gunicorn -c deploy/gunicorn.conf.py`).

Bind on the private address the reverse proxy reaches; logs go to stdout (journald).
"""

import multiprocessing
import os

wsgi_app = "config.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = 60
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then: bounded memory, and a rolling restart costs nothing.
max_requests = 2000
max_requests_jitter = 200
# Heartbeat files in memory, not on disk.
worker_tmp_dir = "/dev/shm"  # noqa: S108 - gunicorn's documented tmpfs location
# Only the proxies may set X-Forwarded-* for gunicorn (Django reads them itself, see settings).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
