import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fast_and_strict(settings, tmp_path_factory):
    """Fast hashing and inline tasks (pytest-django already routes mail to the in-memory outbox)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CELERY_TASK_ALWAYS_EAGER = True
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
