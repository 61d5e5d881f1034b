"""ReserveX settings, read from the environment only (see README "Configuration").

RESERVEX_ENV selects the profile: ``dev`` (default), ``staging`` or ``prod``. The prod profile is
what ``manage.py check --deploy`` is run against: no debug, secure cookies, HSTS, TLS redirect.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from reservex.env import envbool, envint, envlist, envstr

BASE_DIR = Path(__file__).resolve().parent.parent

RESERVEX_ENV = envstr("RESERVEX_ENV", "dev")
if RESERVEX_ENV not in {"dev", "staging", "prod"}:
    raise ImproperlyConfigured(f"RESERVEX_ENV must be dev, staging or prod, got {RESERVEX_ENV!r}")
IS_PROD = RESERVEX_ENV == "prod"

DEBUG = envbool("DEBUG", default=RESERVEX_ENV == "dev")
SECRET_KEY = envstr("SECRET_KEY")
if not SECRET_KEY:
    if IS_PROD:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set in prod")
    SECRET_KEY = "reservex-dev-only-secret-key-not-for-production-use-0123456789"
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "observability",
    "flags",
    "bookings",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "reservex.api.DatabaseUnavailableMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "reservex.urls"
WSGI_APPLICATION = "reservex.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: PostgreSQL through psycopg 3 with Django's native connection pool -------------
DATABASE_URL = envstr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/reservex")
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
if not _db["ENGINE"].endswith("postgresql"):
    raise ImproperlyConfigured("ReserveX runs on PostgreSQL only; DATABASE_URL must be postgres://")
DATABASE_POOL_MAX_SIZE = envint("DATABASE_POOL_MAX_SIZE", 20)
if DATABASE_POOL_MAX_SIZE > 0:
    # The pool hands each thread its own connection; CONN_MAX_AGE must stay 0 with it.
    _db["OPTIONS"] = {
        "pool": {
            "min_size": 1,
            "max_size": DATABASE_POOL_MAX_SIZE,
            "timeout": envint("DATABASE_POOL_TIMEOUT_SECONDS", 10),
        }
    }
    # Django's backend, with the pool checking each connection as it is handed out by polling its
    # socket (reservex/postgresql/base.py): after a restart or failover the dead ones are replaced
    # instead of failing a request, without CONN_HEALTH_CHECKS' empty query on every request.
    _db["ENGINE"] = "reservex.postgresql"
_db["TEST"] = {"NAME": envstr("DATABASE_TEST_NAME", "test_reservex")}
# Behind PgBouncer in transaction mode (docs/decisions/0014-pgbouncer-transaction-mode.md) each
# transaction may run on another server connection: no named prepared statements (Debian's
# PgBouncer 1.18 cannot route them) and no server-side cursors (they outlive a transaction).
DATABASE_PGBOUNCER = envbool("DATABASE_PGBOUNCER", False)
if DATABASE_PGBOUNCER:
    _db.setdefault("OPTIONS", {})["prepare_threshold"] = None
    _db["DISABLE_SERVER_SIDE_CURSORS"] = True
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker, Django cache (throttling, flag cache) -------------------------------
REDIS_URL = envstr("REDIS_URL", "redis://127.0.0.1:6379/0")
# Short socket timeouts: when Redis is down, requests degrade instead of hanging.
REDIS_SOCKET_TIMEOUT_SECONDS = float(envstr("REDIS_SOCKET_TIMEOUT_SECONDS", "0.5"))
CACHES = {
    "default": {
        # Django's Redis cache, one client object per pool instead of one per call (reservex/cache.py).
        "BACKEND": "reservex.cache.SharedClientRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": envstr("CACHE_KEY_PREFIX", "reservex"),
        "OPTIONS": {
            "socket_connect_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
            "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
        },
    }
}

# --- Celery: at-least-once delivery that is safe to repeat ------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True  # a task is acknowledged after it ran, so a dead worker's task returns
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # tasks are short; do not let one worker hoard them
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", 60)
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 90)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Longer than any task may run (90 s hard limit + 60 s longest retry countdown), so Redis does
    # not redeliver a task that is still running; a dead worker's task returns after it.
    "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 300),
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
    "socket_timeout": 1,  # bounds a publish from a request when Redis hangs
    # A publish from a request retries the connection once, quickly, instead of kombu's default
    # 2 s pause: with Redis down the booking stays pending and the sweeper enqueues it later.
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# Publishing a task must not hang a request when Redis is down (the sweeper enqueues later).
CELERY_BROKER_CONNECTION_TIMEOUT = 1.0
# Queues by kind of work, each drained by workers of its own, so a backlog of one never delays another
# (docs/decisions/0015-queues-by-kind-of-work.md). "reservex", the one queue before the split, stays
# the default: unrouted tasks and messages queued before an upgrade land there; allocation workers
# drain it. A worker started without --queues consumes all of them (the devstack's one worker).
CELERY_TASK_DEFAULT_QUEUE = "reservex"
# Each queue bound by its own routing key: with the default key shared, one publish to the default
# exchange would be copied into every queue.
CELERY_TASK_QUEUES = tuple(
    Queue(name, routing_key=name) for name in ("allocation", "notifications", "maintenance", "reservex")
)
CELERY_TASK_ROUTES = {
    "allocator.tasks.allocate_booking": {"queue": "allocation"},
    "bookings.tasks.tidy_service_day": {"queue": "allocation"},
    "allocator.tasks.offer_waitlist": {"queue": "allocation"},
    # Guest messages and alerts leave on their own queue: a slow mail server or retention purge
    # must not hold back an allocation or a P0 webhook.
    "bookings.tasks.send_guest_message": {"queue": "notifications"},
    "observability.tasks.check_p0_conditions": {"queue": "notifications"},
    "allocator.tasks.requeue_stale_pending": {"queue": "maintenance"},
    "allocator.tasks.purge_expired_holds": {"queue": "maintenance"},
    "allocator.tasks.run_integrity_check": {"queue": "maintenance"},
    "bookings.tasks.purge_expired_idempotency_keys": {"queue": "maintenance"},
    "observability.tasks.purge_old_telemetry": {"queue": "maintenance"},
    "allocator.tasks.sweep_waitlist": {"queue": "maintenance"},
    "bookings.tasks.queue_booking_reminders": {"queue": "maintenance"},
    "bookings.tasks.queue_booking_confirmations": {"queue": "maintenance"},
}
# Background allocation: retries with backoff, then rejection; the sweeper re-enqueues pending
# bookings whose job has not run for this long (Redis was down, a worker died).
ALLOCATION_MAX_RETRIES = envint("ALLOCATION_MAX_RETRIES", 6)
ALLOCATION_STALE_SECONDS = envint("ALLOCATION_STALE_SECONDS", 60)
# Inline allocations running at once per web process; past this, bookings go to the queue (202)
# instead of piling up in the request threads.
INLINE_MAX_CONCURRENT = envint("INLINE_MAX_CONCURRENT", 8)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "allocator.requeue_stale_pending": {
        "task": "allocator.tasks.requeue_stale_pending",
        "schedule": float(envint("ALLOCATION_SWEEP_SECONDS", 30)),
    },
    "allocator.purge_expired_holds": {"task": "allocator.tasks.purge_expired_holds", "schedule": 60.0},
    "allocator.run_integrity_check": {"task": "allocator.tasks.run_integrity_check", "schedule": 300.0},
    "bookings.purge_expired_idempotency_keys": {
        "task": "bookings.tasks.purge_expired_idempotency_keys",
        "schedule": 3600.0,
    },
}
CELERY_TIMEZONE = "UTC"

# --- Waitlist and guest messages (issue 17) -------------------------------------------------------
# Expire overdue offers and offer freed capacity to waiting guests (what a missed trigger left).
CELERY_BEAT_SCHEDULE["allocator.sweep_waitlist"] = {
    "task": "allocator.tasks.sweep_waitlist",
    "schedule": float(envint("WAITLIST_SWEEP_SECONDS", 30)),
}
# Confirmations of new bookings, queued by a sweep rather than on the booking path.
CELERY_BEAT_SCHEDULE["bookings.queue_booking_confirmations"] = {
    "task": "bookings.tasks.queue_booking_confirmations",
    "schedule": float(envint("CONFIRMATION_SWEEP_SECONDS", 30)),
}
# Reminders with confirm and cancel links, reminders.hours before each booking (a flag).
CELERY_BEAT_SCHEDULE["bookings.queue_booking_reminders"] = {
    "task": "bookings.tasks.queue_booking_reminders",
    "schedule": float(envint("REMINDER_SWEEP_SECONDS", 300)),
}
# Links in guest messages (offers, confirmations) start with this.
PUBLIC_BASE_URL = envstr("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
# Email through Django's framework; the console backend prints until a mail server is configured.
EMAIL_BACKEND = envstr("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "ReserveX <bookings@reservex.invalid>")
# A class with send(*, to, body); the console one prints (bookings.messages).
SMS_BACKEND = envstr("SMS_BACKEND", "bookings.messages.ConsoleSMSBackend")

# --- Auth, i18n, static -------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve app static files without a collectstatic step in dev

# --- API -----------------------------------------------------------------------------------------
# Proxies in front of the web processes that append to X-Forwarded-For (one load balancer: 1). The
# throttles count the N-th address from the right; with 0 they ignore the header, which anyone can
# send. NUM_PROXIES, the variable's earlier name, is still read when this one is unset.
THROTTLE_TRUSTED_PROXIES = envint("THROTTLE_TRUSTED_PROXIES", envint("NUM_PROXIES", 0))
if THROTTLE_TRUSTED_PROXIES < 0:
    raise ImproperlyConfigured(f"THROTTLE_TRUSTED_PROXIES must be 0 or more, got {THROTTLE_TRUSTED_PROXIES}")
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "reservex.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        # Anonymous endpoints, counted in Redis per client IP and per restaurant.
        "anon_ip": envstr("THROTTLE_RATE_IP", "300/min"),
        "anon_restaurant": envstr("THROTTLE_RATE_RESTAURANT", "6000/min"),
    },
    # Our throttles read THROTTLE_TRUSTED_PROXIES; DRF's own get_ident (any stock throttle) agrees.
    "NUM_PROXIES": THROTTLE_TRUSTED_PROXIES,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ReserveX API",
    "DESCRIPTION": "Restaurant table reservations: availability, holds, bookings and staff tools.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "BookingStatusEnum": "bookings.models.Booking.Status",
        "StaffStatusEnum": ["seated", "completed", "no_show", "cancelled"],
        "DayReasonEnum": "bookings.refusals.DAY_REASONS",
    },
}

# --- Operations ----------------------------------------------------------------------------------
METRICS_TOKEN = envstr("METRICS_TOKEN")
PROMETHEUS_METRIC_NAMESPACE = ""

# Observability (observability/): retention, alert webhook, the in-app P0 detector.
TELEMETRY_RETENTION_DAYS = envint("TELEMETRY_RETENTION_DAYS", 90)
# Capacity refusals are stored in batches at most this many seconds late (0: each at once).
TELEMETRY_BUFFER_SECONDS = float(envstr("TELEMETRY_BUFFER_SECONDS", "1.0"))
ALERT_WEBHOOK_URL = envstr("ALERT_WEBHOOK_URL")  # Slack-compatible incoming webhook; unset = no alerts
ALERT_WEBHOOK_TIMEOUT_SECONDS = float(envstr("ALERT_WEBHOOK_TIMEOUT_SECONDS", "3"))
ALERTS_CHECK_INTERVAL_SECONDS = envint("ALERTS_CHECK_INTERVAL_SECONDS", 300)
ALERTS_INTEGRITY_LOOKBACK_SECONDS = envint("ALERTS_INTEGRITY_LOOKBACK_SECONDS", 900)
ALERTS_ERROR_RATE_THRESHOLD = float(envstr("ALERTS_ERROR_RATE_THRESHOLD", "0.05"))
ALERTS_ERROR_RATE_MIN_ATTEMPTS = envint("ALERTS_ERROR_RATE_MIN_ATTEMPTS", 20)
ALERTS_CONSECUTIVE_CHECKS = envint("ALERTS_CONSECUTIVE_CHECKS", 2)
# ISO 8601 datetime (naive means UTC): until then the in-app detector sends nothing.
ALERTS_MAINTENANCE_UNTIL: datetime | None = None
if _maintenance_until := envstr("ALERTS_MAINTENANCE_UNTIL").strip():
    try:
        ALERTS_MAINTENANCE_UNTIL = datetime.fromisoformat(_maintenance_until)
    except ValueError:
        raise ImproperlyConfigured(f"ALERTS_MAINTENANCE_UNTIL: bad ISO 8601 {_maintenance_until!r}") from None
    if ALERTS_MAINTENANCE_UNTIL.tzinfo is None:
        ALERTS_MAINTENANCE_UNTIL = ALERTS_MAINTENANCE_UNTIL.replace(tzinfo=UTC)
CELERY_BEAT_SCHEDULE["observability.purge_old_telemetry"] = {
    "task": "observability.tasks.purge_old_telemetry",
    "schedule": crontab(hour=3, minute=17),  # quiet hours, off the hour
}
CELERY_BEAT_SCHEDULE["observability.check_p0_conditions"] = {
    "task": "observability.tasks.check_p0_conditions",
    "schedule": float(ALERTS_CHECK_INTERVAL_SECONDS),
}


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django logs a 4xx answer as a WARNING and a 5xx as an ERROR: keep only the latter, without
        # building a record per refusal (a refused burst answers thousands of 409s).
        "django.request": {"level": "ERROR"},
    },
}

if IS_PROD:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # /healthz and /readyz are probed over plain HTTP inside the cluster.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
