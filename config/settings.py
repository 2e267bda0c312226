"""Rempart settings: one file, read from environment variables with safe defaults.

The embedded default (no variable set) runs on SQLite with no broker and local files.
Production sets REMPART_ENV=production plus DATABASE_URL, REDIS_URL and the secrets.
"""

import os
from pathlib import Path

import dj_database_url
import structlog
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


REMPART_ENV = env_str("REMPART_ENV", "development")
PRODUCTION = REMPART_ENV == "production"
DEBUG = env_bool("DJANGO_DEBUG", default=False)

_DEV_SECRET = "rempart-development-only-secret-key-change-me-in-production-0123456789"  # noqa: S105
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "" if PRODUCTION else _DEV_SECRET)
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY est obligatoire en production.")

# Keys for encrypted model fields (comma-separated Fernet keys, newest first: rotation-friendly).
FIELD_ENCRYPTION_KEYS = env_list("REMPART_FIELD_ENCRYPTION_KEYS")
if not FIELD_ENCRYPTION_KEYS:
    if PRODUCTION:
        raise ImproperlyConfigured("REMPART_FIELD_ENCRYPTION_KEYS est obligatoire en production.")
    FIELD_ENCRYPTION_KEYS = ["ZGV2LW9ubHktZmllbGQta2V5LW5vdC1mb3ItcHJvZC0="]  # dev only

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver"
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
SITE_URL = env_str("REMPART_SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "dsfr",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "auditlog",
    "django_structlog",
    "rempart.core",
    "rempart.organisations",
    "rempart.programme",
    "rempart.incidents",
    "rempart.awareness",
    "rempart.phishing",
    "rempart.events",
    "rempart.exercises",
    "rempart.exposure",
    "rempart.assessments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Public phishing tracking (/p/) answered here: no session, auth, audit or request log.
    "rempart.phishing.tracking_views.TrackingFastPathMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "rempart.core.middleware.MfaRequiredMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "rempart" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "rempart.core.context_processors.navigation",
            ],
            "string_if_invalid": env_str("DJANGO_TEMPLATE_STRING_IF_INVALID", ""),
        },
    }
]

# --- Database: SQLite by default, PostgreSQL via DATABASE_URL -----------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'rempart.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
else:
    # Server-side prepared statements (prepared the first time) for the statements run on a
    # server-binding cursor, and only those: the tracking event insert (phishing/tracking.py;
    # decision 0004). Django's own queries bind on the client and are never prepared. Set DATABASE_PREPARED_STATEMENTS=0 behind
    # a pooler that cannot keep them (PgBouncer in transaction mode before 1.21).
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        0 if env_bool("DATABASE_PREPARED_STATEMENTS", True) else None
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, broker, background work ------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
# Without a broker, tasks run inline: the embedded default needs nothing else.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "Europe/Paris"
# Periodic tasks, run by ONE `celery -A config beat` process (deploy/systemd/rempart-beat.service);
# crontab times are in CELERY_TIMEZONE (Europe/Paris).
CELERY_BEAT_SCHEDULE = {
    "programme-window-reminders": {
        "task": "programme.send_window_reminders",
        "schedule": crontab(hour=7, minute=0),
    },
    # On-call paging: run the escalation steps and deliveries a lost task left behind.
    "incidents-paging-sweep": {"task": "incidents.paging_sweep", "schedule": 30.0},
    # Simulated phishing: poll the reporting mailboxes (IMAP), deliver the webhooks.
    "phishing-poll-mailboxes": {"task": "phishing.poll_mailboxes", "schedule": 60.0},
    "phishing-webhooks-sweep": {"task": "phishing.webhooks_sweep", "schedule": 30.0},
    # Simulated phishing: plan, take back dead workers' claims, queue the senders, purge.
    "phishing-sending-sweep": {"task": "phishing.sending_sweep", "schedule": 30.0},
    # Trainings: the reminder (with its calendar invitation) the day before a session.
    "events-session-reminders": {
        "task": "events.send_session_reminders",
        "schedule": crontab(hour=8, minute=0),
    },
    # Crisis exercises: release the injects that fell due in the exercises in progress.
    "exercises-release-due-injects": {"task": "exercises.release_due_injects", "schedule": 30.0},
    # Exposure watch: queue the scans due (monthly, the second audit 45 days after the first).
    "exposure-schedule-scans": {
        "task": "exposure.schedule_due_scans",
        "schedule": crontab(minute="*/15"),
    },
    # Self-assessment campaigns: invitations on the opening day, reminders before the deadline.
    "assessments-campaign-reminders": {
        "task": "assessments.send_campaign_reminders",
        "schedule": crontab(hour=7, minute=30),
    },
    # Action plans: the assessors hear of the actions due within 7 days or overdue.
    "assessments-action-reminders": {
        "task": "assessments.send_action_reminders",
        "schedule": crontab(hour=7, minute=45),
    },
}
# The queue this deployment's workers consume: a worker pool sharing a Redis with others (tests,
# benchmarks) keeps to its own queue.
CELERY_TASK_DEFAULT_QUEUE = env_str("REMPART_CELERY_QUEUE", "celery")
# Exposure watch: days between two scheduled scans of an establishment; without a broker, scans
# run in a thread of the web process (off in tests: inline after the request's commit).
EXPOSURE_SCAN_INTERVAL_DAYS = env_int("REMPART_EXPOSURE_SCAN_INTERVAL_DAYS", 30)
EXPOSURE_SCAN_THREADS = env_str("REMPART_EXPOSURE_SCAN_THREADS", "1") == "1"
# Incidents: how long a paging e-mail's signed acknowledgement link is valid, and the largest
# evidence file accepted (a disk image or a memory dump is big; 200 MB by default).
PAGING_ACK_LINK_MAX_AGE_HOURS = env_int("REMPART_PAGING_ACK_LINK_HOURS", 24)
REMPART_EVIDENCE_MAX_BYTES = env_int("REMPART_EVIDENCE_MAX_BYTES", 200 * 1024 * 1024)
# Reminders are e-mailed this many days before a call's window closes (comma-separated list).
try:
    REMPART_REMINDER_DAYS = tuple(int(n) for n in env_list("REMPART_REMINDER_DAYS", "14,7,2"))
except ValueError as exc:
    raise ImproperlyConfigured(
        "REMPART_REMINDER_DAYS : nombres de jours séparés par des virgules (ex. 14,7,2)."
    ) from exc

# Simulated phishing (docs/phishing.md): a click or an open sooner than this after delivery is a
# mail scanner's; a private certificate authority for the SMTP servers of the sending profiles;
# webhooks and reporting mailboxes on loopback addresses (development and tests only).
PHISHING_BOT_MIN_DELAY_SECONDS = env_int("REMPART_PHISHING_BOT_MIN_DELAY_SECONDS", 10)
PHISHING_SMTP_CA_FILE = env_str("REMPART_PHISHING_SMTP_CA_FILE") or None
PHISHING_INTEGRATIONS_ALLOW_LOOPBACK = env_bool(
    "REMPART_PHISHING_INTEGRATIONS_ALLOW_LOOPBACK", DEBUG
)

# --- Files: Django's storage API only (local folder by default, S3-compatible in production) --
MEDIA_ROOT = Path(env_str("REMPART_MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
MEDIA_URL = "/media/"  # never served directly: files go through authorised views
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
AWS_STORAGE_BUCKET_NAME = env_str("S3_BUCKET")
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
            "access_key": env_str("S3_ACCESS_KEY_ID"),
            "secret_key": env_str("S3_SECRET_ACCESS_KEY"),
            "region_name": env_str("S3_REGION") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(
        parents=True, exist_ok=True
    )  # WhiteNoise expects it, even when serving from finders
BACKUP_DIR = env_str("REMPART_BACKUP_DIR", str(BASE_DIR / "var" / "backups"))
# `manage.py backup` writes to STORAGES["backups"] when set (a bucket of its own, never the media
# bucket), else to a local folder at BACKUP_DIR.
if env_str("REMPART_BACKUP_S3_BUCKET"):
    STORAGES["backups"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("REMPART_BACKUP_S3_BUCKET"),
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
            "access_key": env_str("S3_ACCESS_KEY_ID"),
            "secret_key": env_str("S3_SECRET_ACCESS_KEY"),
            "region_name": env_str("S3_REGION") or None,
            "default_acl": "private",
            "file_overwrite": False,
        },
    }

# --- Authentication, MFA, sessions --------------------------------------------------------
AUTH_USER_MODEL = "organisations.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "account_login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

ACCOUNT_ADAPTER = "rempart.core.auth.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"  # addresses are proven by the signed invitation link
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Rempart] "
# Brute-force lockout: after 5 failures an account is locked for 15 minutes, an address after 20.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env_str("REMPART_LOGIN_FAILED_LIMIT", "20/15m/ip,5/15m/key"),
    "reset_password": "5/h/ip,3/h/key",
    "reset_password_from_key": "20/m/ip",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = False
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = not PRODUCTION
MFA_TOTP_ISSUER = "Rempart"
MFA_ADAPTER = "rempart.core.auth.MfaAdapter"
# Behind the reverse proxy every request comes from the proxy's address: the per-address login
# limit would lock everyone out at once. Count the proxies we run so allauth reads the client's
# address from X-Forwarded-For (the proxy overwrites that header: docs/deployment.md).
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("REMPART_TRUSTED_PROXY_COUNT", 1 if PRODUCTION else 0)

SESSION_COOKIE_AGE = env_int("REMPART_SESSION_IDLE_SECONDS", 60 * 60)  # idle expiry
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
INVITATION_MAX_AGE_DAYS = env_int("REMPART_INVITATION_MAX_AGE_DAYS", 7)

# --- Transport security (production) ------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"

# Strict Content-Security-Policy: no inline script or style, scripts carry a per-request nonce.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# --- Internationalisation -----------------------------------------------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français")]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- E-mail ---------------------------------------------------------------------------------
_MAIL_BACKEND = env_str(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
_MAIL_OPTIONS = (
    {
        "host": env_str("SMTP_HOST", "localhost"),
        "port": env_int("SMTP_PORT", 25),
        "username": env_str("SMTP_USER"),
        "password": env_str("SMTP_PASSWORD"),
        "use_tls": env_bool("SMTP_STARTTLS", False),
        "timeout": 20,
    }
    if _MAIL_BACKEND.endswith("smtp.EmailBackend")
    else {}
)
MAILERS = {"default": {"BACKEND": _MAIL_BACKEND, "OPTIONS": _MAIL_OPTIONS}}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Rempart <ne-pas-repondre@rempart.localhost>")

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rempart.core.api_auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rempart.core.api_auth.HasApiAccess"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "rempart.core.api_errors.structured_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_RATES": {"user": "1000/hour", "anon": "60/hour", "alerts": "20000/hour"},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "API Rempart",
    "DESCRIPTION": "API REST de la plateforme Rempart (programme CaRE). Authentification par jeton : "
    "en-tête « Authorization: Token <jeton> ».",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ApplicationStatusEnum": "rempart.programme.models.ApplicationStatus",
        "CampaignStatusEnum": "rempart.phishing.models.CampaignStatus",
        # Trainings and crisis exercises (their `status` and `kind` fields meet others').
        "TrainingSessionStatusEnum": "rempart.events.models.SessionStatus",
        "TrainingSessionKindEnum": "rempart.events.models.SessionKind",
        "RegistrationStatusEnum": "rempart.events.models.RegistrationStatus",
        "ExerciseRunStatusEnum": "rempart.exercises.models.RunStatus",
        "ExerciseRunKindEnum": "rempart.exercises.models.RunKind",
        # (The organisations' kind keeps the name it had before those arrived.)
        "KindEnum": "rempart.core.roles.ORG_KIND_CHOICES",
    },
}

# --- Audit trail --------------------------------------------------------------------------------
AUDITLOG_LOGENTRY_MODEL = "core.AuditEntry"
AUDITLOG_INCLUDE_ALL_MODELS = False
AUDITLOG_DISABLE_REMOTE_ADDR = False
# auditlog's own migrations create the table of its swapped-out LogEntry model, with a foreign
# key to users that `flush` (restore --force, transactional tests) cannot truncate on PostgreSQL.
# The app has no other model: skip its migrations so that table is never created.
MIGRATION_MODULES = {"auditlog": None}

# --- Logs: structured (JSON lines on stdout) ----------------------------------------------------
LOG_LEVEL = env_str("REMPART_LOG_LEVEL", "INFO")
_STRUCTLOG_PRE_CHAIN = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.TimeStamper(fmt="iso"),
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": structlog.stdlib.ProcessorFormatter,
            "processor": structlog.processors.JSONRenderer(ensure_ascii=False),
            "foreign_pre_chain": _STRUCTLOG_PRE_CHAIN,
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.server": {"level": "WARNING"}},
}
structlog.configure(
    processors=[
        structlog.stdlib.filter_by_level,
        *_STRUCTLOG_PRE_CHAIN,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ],
    logger_factory=structlog.stdlib.LoggerFactory(),
    cache_logger_on_first_use=True,
)
DJANGO_STRUCTLOG_CELERY_ENABLED = False

# --- DSFR -------------------------------------------------------------------------------------------
DSFR_USE_INTEGRITY_CHECKSUMS = True
