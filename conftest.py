import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fast_and_strict(settings, tmp_path_factory):
    """Fast hashing and inline tasks (pytest-django already routes mail to the in-memory outbox)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # Exposure scans without a broker: inline after commit, not in a thread (a second writer on
    # the in-memory SQLite database of browser tests would meet a locked table).
    settings.EXPOSURE_SCAN_THREADS = False
    # WhiteNoise would re-index every static file for each test client; tests (and the live
    # server of browser tests) serve static files through Django's finders instead.
    settings.WHITENOISE_USE_FINDERS = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Rate-limit and throttle counters live in the cache and are keyed by ids that the
    # database reuses between tests: start every test from a clean slate.
    cache.clear()
    # Uploaded files of the tests never land in var/media.
    settings.MEDIA_ROOT = str(tmp_path_factory.getbasetemp() / "media")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """PostgreSQL test sessions never wait forever. A session left idle inside a transaction
    (a browser test's live-server thread, say) is ended after 2 minutes, releasing its locks;
    a statement waiting for a lock gives up after 5 minutes with an error that names it,
    instead of hanging the whole run (a CI run once waited 80 minutes for one)."""
    from django.db import connections

    for alias in connections:
        database = connections[alias].settings_dict
        if database["ENGINE"].endswith("postgresql"):
            options = database.setdefault("OPTIONS", {})
            options["options"] = (
                f"{options.get('options', '')} -c lock_timeout=300s "
                "-c idle_in_transaction_session_timeout=120s"
            ).strip()
