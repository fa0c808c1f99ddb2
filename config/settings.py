"""Django settings for the SberCRM platform.

Every value comes from the environment with a default that works for local
development (SQLite + eager Celery). See .env.example for the full list.
"""

from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.required("SECRET_KEY", when=not DEBUG, fallback="django-insecure-local-development-only-key")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Benchmarks (bench/run.py, `make bench`): installs the bench app (its table) and mounts /bench/ping and
# /bench/floor (bench/urls.py). Only the benchmark sets it; never turn it on in production.
BENCH_ENDPOINTS = env.bool("BENCH_ENDPOINTS", default=False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "communications",
    "marketplace",
    "notifications",
    "bots",
    "axes",
    "config.apps.PlatformConfig",
    *(["bench"] if BENCH_ENDPOINTS else []),
]

# Declared once; the order matters (see each comment).
MIDDLEWARE = [
    # First: every response, even a refusal by a later middleware, carries X-Request-Id (docs/operations.md).
    "config.observability.request_id.RequestIdMiddleware",
    # HTTP metrics right after the request id, so refusals by later middleware are counted too.
    "config.observability.middleware.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The /internal/ network fence (INTERNAL_API_ALLOWED_NETWORKS), before any work is done for the request.
    "config.api.networks.InternalNetworkMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # No LocaleMiddleware: the admin and every user-facing text are Russian whatever the browser asks for.
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.api.lockout.LoginLockoutMiddleware",  # after authentication, as django-axes requires
    "config.api.utc.UtcOutsideAdminMiddleware",
    "config.api.paths.TrailingSlashMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

# --- Database -----------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# DB_CONN_MAX_AGE > 0 keeps connections open between requests/tasks (compose sets 60), checked before reuse.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env.int("DB_CONN_MAX_AGE", default=0),
                                              conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "config.postgresql"  # the health check without a round trip (config/postgresql)
# PostgreSQL plans a repeated statement once per connection (issue 19): server-side parameters and psycopg's prepared
# statements after DB_PREPARE_THRESHOLD runs of the same text (a `/send` cost its backend ~5 ms of CPU, ~2 ms so).
# DB_PREPARED_STATEMENTS=0 sends every statement with its values inlined, as before (e.g. behind a PgBouncer older
# than 1.21 in transaction mode, which cannot keep a connection's prepared statements).
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)  # read on every backend: checked at start
DB_PREPARE_THRESHOLD = env.int("DB_PREPARE_THRESHOLD", default=5)
if DATABASES["default"]["ENGINE"] == "config.postgresql" and DB_PREPARED_STATEMENTS:
    DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True,
                                                          prepare_threshold=DB_PREPARE_THRESHOLD)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- I18N: Russian only (admin, API messages), UTC storage -----------------------------------------
LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", "Русский")]  # the only language: no LocaleMiddleware, whatever the browser says
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Moscow")
USE_I18N = True
USE_TZ = True  # stored in UTC, shown in TIME_ZONE

# --- Static files ----------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Files (message attachments): the local filesystem under MEDIA_ROOT by default (`make run` needs nothing);
# an S3-compatible store when ATTACHMENTS_S3_BUCKET is set. Never public: downloads go through signed,
# expiring URLs (docs/public-api.md, «Вложения: файлы»).
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))
MEDIA_URL = "/media/"  # not served: files are read through signed URLs only
ATTACHMENTS_S3_BUCKET = env.str("ATTACHMENTS_S3_BUCKET", default="")
ATTACHMENTS_URL_TTL_SECONDS = env.int("ATTACHMENTS_URL_TTL_SECONDS", default=3600)
# links inside sendMessage outlive the delivery's retries (DELIVERY_RETRY_SCHEDULE, ~23 h)
ATTACHMENTS_PROVIDER_URL_TTL_SECONDS = env.int("ATTACHMENTS_PROVIDER_URL_TTL_SECONDS", default=48 * 3600)
_S3 = {  # read whatever the store: every variable the settings read is read at start (.env.example test)
    "endpoint_url": env.str("ATTACHMENTS_S3_ENDPOINT_URL", default="") or None,
    "access_key": env.str("ATTACHMENTS_S3_ACCESS_KEY", default=""),
    "secret_key": env.str("ATTACHMENTS_S3_SECRET_KEY", default=""),
    "region_name": env.str("ATTACHMENTS_S3_REGION", default="us-east-1"),
}
if ATTACHMENTS_S3_BUCKET:
    _FILES_STORAGE = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": ATTACHMENTS_S3_BUCKET, **_S3,
        "addressing_style": "path", "signature_version": "s3v4", "default_acl": None,
        "querystring_auth": True, "querystring_expire": ATTACHMENTS_URL_TTL_SECONDS, "file_overwrite": False,
    }}
else:
    _FILES_STORAGE = {"BACKEND": "django.core.files.storage.FileSystemStorage",
                      "OPTIONS": {"location": MEDIA_ROOT, "base_url": MEDIA_URL}}
STORAGES = {
    "default": _FILES_STORAGE,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG
# Said explicitly: whitenoise's own default reads DEBUG when each middleware instance is built, which under the
# test runner is False, and it then indexes every static file for every test client.
WHITENOISE_AUTOREFRESH = DEBUG

# --- Redis / cache --------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # short socket timeouts: a Redis outage must cost a request milliseconds, not minutes
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ---------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
# Empty broker means eager mode: tasks run inline (make run, unit tests).
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL)
# The broker re-delivers an unacked task after this many seconds. Every countdown
# must stay below it; longer waits are scheduled from the database (see outbox).
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 60 * 60)
CELERY_MAX_COUNTDOWN = min(env.int("CELERY_MAX_COUNTDOWN", default=60 * 60), CELERY_VISIBILITY_TIMEOUT // 2)
CELERY_BEAT_SCHEDULE: dict = {}
# Redis restarts (docs/reliability-and-security.md "Redis restarts"): reconnect forever, never give up.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CHANNEL_ERROR_RETRY = True
CELERY_REDIS_SOCKET_KEEPALIVE = True
CELERY_REDIS_BACKEND_HEALTH_CHECK_INTERVAL = 25
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_MAX_RETRIES = 10

# --- DRF ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.api.parsers.SafeJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.auth.VersionedJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "config.api.pagination.DefaultPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "config.api.throttling.PrincipalRateThrottle",
        "config.api.throttling.ClientRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "principal": env.str("THROTTLE_RATE_PRINCIPAL", default="6000/min"),
        "anon": env.str("THROTTLE_RATE_ANON", default="120/min"),
        # Developer sign-up (marketplace/api/throttling.py): per client address and per email address.
        "signup": env.str("THROTTLE_RATE_SIGNUP", default="10/hour"),
        "signup_email": env.str("THROTTLE_RATE_SIGNUP_EMAIL", default="3/hour"),
    },
    "EXCEPTION_HANDLER": "config.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "config.api.schema.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# While the cache (Redis) fails, the throttles count in process memory and retry Redis after this long.
THROTTLE_FALLBACK_SECONDS = env.float("THROTTLE_FALLBACK_SECONDS", default=5.0)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "ALGORITHM": "HS256",
    "UPDATE_LAST_LOGIN": False,
    # Tokens carry the user's token version (config/auth.py): a password change etc. revokes them.
    "TOKEN_OBTAIN_SERIALIZER": "config.auth.VersionedTokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "config.auth.VersionedTokenRefreshSerializer",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "SberCRM platform API",
    "DESCRIPTION": "Модуль коммуникаций, маркетплейс и сервис уведомлений SberCRM.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
}

# --- Security -------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
APPEND_SLASH = False
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000

# The admin's lists of tables that grow with every message count at most this many rows (config/admin.py,
# CappedCountPaginator): an exact count reads every row of a month of deliveries; past it the page says «более N».
ADMIN_LIST_COUNT_CAP = env.int("ADMIN_LIST_COUNT_CAP", default=10_000)

# --- Login lockout (django-axes): admin and /api/auth/token/ ---------------------------------
# A username, or a client address, with AXES_FAILURE_LIMIT failures within the cool-off period is
# refused (429) until the period passes or an administrator unlocks it (admin: «Попытки доступа»).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "config.api.lockout.lockout_client_ip"
AXES_USERNAME_CALLABLE = "config.api.lockout.lockout_username"
AXES_LOCKOUT_CALLABLE = "config.api.lockout.lockout_response"
SILENCED_SYSTEM_CHECKS = ["axes.W002"]  # the check wants the exact class; LoginLockoutMiddleware subclasses it

# --- Email ----------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="SberCRM <noreply@sbercrm.local>")
# Developer self-service sign-up (docs/developer-portal.md): how long the emailed confirmation link works.
SIGNUP_CONFIRMATION_HOURS = env.int("SIGNUP_CONFIRMATION_HOURS", default=24)
# Limits of a developer company's sandbox tenant (docs/developer-portal.md): over them 409 / 429.
SANDBOX_MAX_CHATS = env.int("SANDBOX_MAX_CHATS", default=50)
SANDBOX_MAX_MESSAGES_PER_DAY = env.int("SANDBOX_MAX_MESSAGES_PER_DAY", default=200)
SANDBOX_MAX_TOKENS_PER_DAY = env.int("SANDBOX_MAX_TOKENS_PER_DAY", default=20)

# --- Logging --------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# Every line carries the request id (config/observability/request_id.py); LOG_FORMAT=json: one JSON object a line.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain", choices=("plain", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "config.observability.request_id.JsonFormatter"},
    },
    "filters": {
        "request_id": {"()": "config.observability.request_id.RequestIdFilter"},
        "redact_secrets": {"()": "config.log_redaction.RedactSecretsFilter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # Django's own DEBUG console handler would print every django.* line a second time, without the request id.
    "loggers": {
        "django": {"handlers": [], "level": LOG_LEVEL},
        "django.db.backends": {"level": "WARNING"},
        # HTTP client libraries log request lines at DEBUG and the Telegram bot token is part of the URL:
        # their lines pass through the redaction filter (config/log_redaction.py).
        **{name: {"filters": ["redact_secrets"]} for name in ("urllib3.connectionpool", "TeleBot", "vk_api", "requests")},
    },
}

# --- Notifications (notification service, Telegram/VK bots) -----------------------
# Bots and channels are off while their token is empty; `make run` needs none of them.
TELEGRAM_BOT_TOKEN = env.str("TELEGRAM_BOT_TOKEN", default="")
TELEGRAM_BOT_NAME = env.str("TELEGRAM_BOT_NAME", default="SberCRMNotifyBot")
TELEGRAM_API_BASE_URL = env.str("TELEGRAM_API_BASE_URL", default="https://api.telegram.org")
TELEGRAM_WEBHOOK_SECRET = env.str("TELEGRAM_WEBHOOK_SECRET", default="")
VK_GROUP_TOKEN = env.str("VK_GROUP_TOKEN", default="")
VK_GROUP_ID = env.str("VK_GROUP_ID", default="")
VK_BOT_NAME = env.str("VK_BOT_NAME", default="sbercrm_notify")
VK_API_BASE_URL = env.str("VK_API_BASE_URL", default="https://api.vk.ru")
VK_API_VERSION = env.str("VK_API_VERSION", default="5.199")
VK_CALLBACK_SECRET = env.str("VK_CALLBACK_SECRET", default="")
VK_CONFIRMATION_CODE = env.str("VK_CONFIRMATION_CODE", default="")
ONESIGNAL_API_BASE_URL = env.str("ONESIGNAL_API_BASE_URL", default="https://api.onesignal.com")
ONESIGNAL_APP_ID = env.str("ONESIGNAL_APP_ID", default="")
ONESIGNAL_API_KEY = env.str("ONESIGNAL_API_KEY", default="")
NOTIFICATIONS_BINDING_TOKEN_TTL_MINUTES = env.int("NOTIFICATIONS_BINDING_TOKEN_TTL_MINUTES", default=60)
NOTIFICATIONS_USER_TOKEN_MINUTES = env.int("NOTIFICATIONS_USER_TOKEN_MINUTES", default=30 * 24 * 60)
NOTIFICATIONS_CHANNEL_TIMEOUT = env.int("NOTIFICATIONS_CHANNEL_TIMEOUT", default=10)  # seconds per remote call
NOTIFICATIONS_SYNC_DEADLINE = env.int("NOTIFICATIONS_SYNC_DEADLINE", default=15)  # seconds a sync send may take
NOTIFICATIONS_MAX_ATTEMPTS = env.int("NOTIFICATIONS_MAX_ATTEMPTS", default=8)  # async attempts before FAILED
# Waits after failed async attempts 1, 2, … (delivery/policy.py: one retry policy; a kind picks its schedule in Kind.retry_schedule).
NOTIFICATIONS_RETRY_SCHEDULE = env.list("NOTIFICATIONS_RETRY_SCHEDULE", cast=float, default=[2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0])
# Issue 18: absolute base of the links put into emails (one-click unsubscribe), no trailing slash.
NOTIFICATIONS_PUBLIC_URL = env.str("NOTIFICATIONS_PUBLIC_URL", default="http://localhost:8000").rstrip("/")
# `notify`: channel order tried for a user, and the per-type policy (first_success | all).
NOTIFICATIONS_FALLBACK_ORDER = env.list("NOTIFICATIONS_FALLBACK_ORDER", default=["telegram", "vk", "push", "email"])
NOTIFICATIONS_TYPE_POLICY = {"notification": "first_success", "deadline": "first_success", "service": "first_success",
                             "error": "all", "critical": "all"}
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update({"NotificationServiceEnum": "notifications.models.Service",
                                                    "NotifyStatusEnum": "notifications.api.serializers.NOTIFY_STATUSES"})
CELERY_BEAT_SCHEDULE["notifications-notify-due"] = {"task": "notifications.notify_due", "schedule": 60.0}
# Per-second limits shared by all workers through the cache (Redis).
TELEGRAM_RATE_LIMIT_GLOBAL = env.int("TELEGRAM_RATE_LIMIT_GLOBAL", default=30)
TELEGRAM_RATE_LIMIT_PER_CHAT = env.int("TELEGRAM_RATE_LIMIT_PER_CHAT", default=1)
VK_RATE_LIMIT_GLOBAL = env.int("VK_RATE_LIMIT_GLOBAL", default=20)
ONESIGNAL_RATE_LIMIT = env.int("ONESIGNAL_RATE_LIMIT", default=150)

# --- Communications public API: integration tokens ---
# Tenant integration tokens (JWT, HS256) are signed with their own key, so rotating it
# never touches service JWTs. Every request still checks the token id against the DB.
COMMUNICATIONS_TOKEN_SIGNING_KEY = env.str("COMMUNICATIONS_TOKEN_SIGNING_KEY", default=SECRET_KEY)
COMMUNICATIONS_TOKEN_LIFETIME_DAYS = env.int("COMMUNICATIONS_TOKEN_LIFETIME_DAYS", default=365)
# Attachments: direct uploads (POST /api/v1/uploads) and fetches by URL; per-type caps (bytes) under the total.
ATTACHMENTS_MAX_UPLOAD_BYTES = env.int("ATTACHMENTS_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024)
ATTACHMENTS_MAX_BYTES_BY_TYPE = {"image": 10 * 1024 * 1024, "sticker": 1024 * 1024, "voice": 10 * 1024 * 1024}
ATTACHMENTS_UPLOAD_TTL_SECONDS = env.int("ATTACHMENTS_UPLOAD_TTL_SECONDS", default=24 * 3600)
# Fetch by URL: a row of the delivery engine per attachment (communications/services/attachment_fetch.py).
ATTACHMENTS_FETCH_TIMEOUT = env.int("ATTACHMENTS_FETCH_TIMEOUT", default=60)  # read timeout and whole-download budget
ATTACHMENTS_FETCH_RETRY_SCHEDULE = [30, 120, 600, 3600]  # waits after failed attempts 1..4; then failed
CELERY_BEAT_SCHEDULE["communications-uploads-expired-delete"] = {
    "task": "communications.uploads_expired_delete", "schedule": 3600.0}
# two choice sets are named "type": both named explicitly (TypeEnum keeps its published name)
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update({
    "AttachmentTypeEnum": "communications.models.attachments.Attachment.Type",
    "AttachmentMediaTypeEnum": "communications.models.attachments.MEDIA_TYPE_CHOICES",
    "TypeEnum": "notifications.models.NotificationType"})
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update({
    "MessageStatusEnum": "communications.models.conversations.Message.Status",
    "IntegrationTokenStatusEnum": "communications.models.conversations.IntegrationToken.Status",
})

# --- Provider calls: outbox, retries, hardened client (docs/provider-calls.md) ---
# Loopback targets are allowed only for tests/local development; private,
# link-local, reserved and multicast addresses are always refused.
PROVIDER_ALLOW_LOOPBACK = env.bool("PROVIDER_ALLOW_LOOPBACK", default=DEBUG)
PROVIDER_CONNECT_TIMEOUT = env.float("PROVIDER_CONNECT_TIMEOUT", default=5.0)
PROVIDER_READ_TIMEOUT = env.float("PROVIDER_READ_TIMEOUT", default=20.0)
PROVIDER_DNS_CACHE_SECONDS = env.float("PROVIDER_DNS_CACHE_SECONDS", default=30.0)
PROVIDER_DNS_NEGATIVE_CACHE_SECONDS = env.float("PROVIDER_DNS_NEGATIVE_CACHE_SECONDS", default=5.0)
# Waits (seconds) after failed attempts 1..9: 10 attempts over about 23 hours, ±20% jitter.
DELIVERY_RETRY_SCHEDULE = env.list("DELIVERY_RETRY_SCHEDULE", cast=float,
                                   default=[5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 10800.0, 21600.0, 43200.0])
DELIVERY_RETRY_JITTER = env.float("DELIVERY_RETRY_JITTER", default=0.2)
DELIVERY_RETRY_AFTER_MAX = env.int("DELIVERY_RETRY_AFTER_MAX", default=12 * 60 * 60)
DELIVERY_LEASE_MARGIN = env.int("DELIVERY_LEASE_MARGIN", default=30)  # added to connect+read timeouts
DELIVERY_SWEEP_INTERVAL = env.int("DELIVERY_SWEEP_INTERVAL", default=30)
DELIVERY_SWEEP_GRACE = env.int("DELIVERY_SWEEP_GRACE", default=60)  # the normal task gets this long first
DELIVERY_BLOCKED_RECHECK = env.int("DELIVERY_BLOCKED_RECHECK", default=300)
# One task sends the rows of a chain it releases (up to this many rows in all, while this many seconds have not
# passed) instead of a Celery message each (issue 19); the rest go out as messages.
DELIVERY_DRAIN_MAX = env.int("DELIVERY_DRAIN_MAX", default=20)
DELIVERY_DRAIN_SECONDS = env.float("DELIVERY_DRAIN_SECONDS", default=2.0)
DELIVERY_QUEUE = env.str("DELIVERY_QUEUE", default="celery")
# The feed (delivery/feed.py): rows due now go through a Redis list to a few long-lived drainer tasks instead of
# a Celery message each (Redis broker only).
DELIVERY_FEED = env.bool("DELIVERY_FEED", default=True)
DELIVERY_FEED_DRAINERS = env.int("DELIVERY_FEED_DRAINERS", default=4)  # per queue; at most its worker processes
DELIVERY_FEED_SECONDS = env.float("DELIVERY_FEED_SECONDS", default=10.0)  # a drainer's lifetime, then a successor
DELIVERY_FEED_LINGER = env.float("DELIVERY_FEED_LINGER", default=1.0)  # an idle drainer waits this long, then ends
DELIVERY_FEED_TOKEN_TTL = env.int("DELIVERY_FEED_TOKEN_TTL", default=300)  # a dead drainer's slot is free after
CELERY_BEAT_SCHEDULE["communications-deliveries-sweep"] = {
    "task": "communications.deliveries_sweep",
    "schedule": float(DELIVERY_SWEEP_INTERVAL),
}
# Retention (issue 19): final deliveries and their attempts older than this are deleted hourly, in batches.
DELIVERY_RETENTION_DAYS = env.int("DELIVERY_RETENTION_DAYS", default=30)
DELIVERY_RETENTION_BATCH = env.int("DELIVERY_RETENTION_BATCH", default=1000)  # rows per short transaction
CELERY_BEAT_SCHEDULE["communications-deliveries-prune"] = {
    "task": "communications.deliveries_prune",
    "schedule": 60 * 60.0,
}
# A reply and its quote stored at the same moment by two transactions are linked by this beat (every minute, the
# replies of the last REPLIES_RELINK_MINUTES).
REPLIES_RELINK_MINUTES = env.float("REPLIES_RELINK_MINUTES", default=10.0)
CELERY_BEAT_SCHEDULE["communications-replies-relink"] = {"task": "communications.replies_relink", "schedule": 60.0}

# --- Test stand: provider conformance runs (docs/test-stand.md) ---
# Each call uses the provider timeouts above; the whole run stops calling after this budget.
TESTSTAND_RUN_BUDGET = env.float("TESTSTAND_RUN_BUDGET", default=120.0)
# A queued/running run older than budget + timeouts + this margin is considered lost.
TESTSTAND_STALE_MARGIN = env.int("TESTSTAND_STALE_MARGIN", default=60)
# Runs are rows of the delivery engine (kind `teststand_run`): its sweeper restarts a run whose worker died.
TESTSTAND_QUEUE = env.str("TESTSTAND_QUEUE", default="celery")
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update({
    "TestRunStatusEnum": "marketplace.api.serializers.RUN_STATUSES",
    "TestCheckVerdictEnum": "marketplace.api.serializers.VERDICTS",
})

# --- Bots: Telegram/VK binding dialogues (docs/bots.md) ---
# Public URL of /bots/telegram/webhook for `manage.py set_telegram_webhook`; polling needs none.
TELEGRAM_WEBHOOK_URL = env.str("TELEGRAM_WEBHOOK_URL", default="")
CELERY_BEAT_SCHEDULE["bots-prune"] = {"task": "bots.prune", "schedule": 24 * 60 * 60.0}

# --- Provider callbacks: operator API, initial sync, webhook events (docs/provider-calls.md) ---
# Base URL of our public API, passed to the provider's setWebhook.
COMMUNICATIONS_PUBLIC_API_URL = env.str("COMMUNICATIONS_PUBLIC_API_URL", default="http://localhost:8000/api/v1/")
# `limit` sent to getMessageHistory (issue 19: 1000, was 500). An answer over INITIAL_SYNC_MAX_ANSWER_BYTES (the
# history's own cap; every other provider call keeps the client's 1 MiB) asks the same cursor again with half the
# limit, and later pages keep it; under INITIAL_SYNC_MIN_PAGE_SIZE the sync fails instead.
INITIAL_SYNC_PAGE_SIZE = env.int("INITIAL_SYNC_PAGE_SIZE", default=1000)
INITIAL_SYNC_MIN_PAGE_SIZE = env.int("INITIAL_SYNC_MIN_PAGE_SIZE", default=50)
INITIAL_SYNC_MAX_ANSWER_BYTES = env.int("INITIAL_SYNC_MAX_ANSWER_BYTES", default=8 * 1024 * 1024)
# Pages fetched and kept (InitialSyncPage) but not yet imported before the next fetch waits: the imports of one sync
# run in parallel on the workers, and this bounds what a sync keeps in PostgreSQL (at most this × the answer cap).
INITIAL_SYNC_PAGES_AHEAD = env.int("INITIAL_SYNC_PAGES_AHEAD", default=4)
# The Celery queue of the sync's fetches and imports (default: DELIVERY_QUEUE). A big history keeps up to
# INITIAL_SYNC_PAGES_AHEAD + 1 workers busy: a queue with workers of its own keeps operator calls' latency
# (docs/scaling.md).
INITIAL_SYNC_QUEUE = env.str("INITIAL_SYNC_QUEUE", default="")
# Pages are rows of the delivery engine (kind `sync_page`); these two are its retry schedule for them.
INITIAL_SYNC_MAX_ATTEMPTS = env.int("INITIAL_SYNC_MAX_ATTEMPTS", default=8)  # attempts of one page
INITIAL_SYNC_RETRY_DELAY = env.float("INITIAL_SYNC_RETRY_DELAY", default=10.0)  # doubles per failure
# An operator write's Idempotency-Key replays its answer for at least this long (then it is pruned hourly).
OPERATOR_IDEMPOTENCY_KEY_HOURS = env.int("OPERATOR_IDEMPOTENCY_KEY_HOURS", default=24)
CELERY_BEAT_SCHEDULE["communications-operator-requests-prune"] = {
    "task": "communications.operator_requests_prune",
    "schedule": 60 * 60.0,
}

# --- Reliability and security: internal API network allow-list (config/api/networks.py) ---
# Comma-separated CIDRs allowed to call /internal/...; empty = any network (auth still applies).
INTERNAL_API_ALLOWED_NETWORKS = env.list("INTERNAL_API_ALLOWED_NETWORKS", default=[])
# Addresses (CIDRs) of our own reverse proxy (nginx); X-Forwarded-For is read only from them
# (config.api.networks.client_address: the fence, the anonymous throttle, the login lockout).
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
for _name in ("INTERNAL_API_ALLOWED_NETWORKS", "TRUSTED_PROXIES"):
    for _cidr in globals()[_name]:  # a typo must stop the start, not open or close anything silently
        try:
            ip_network(_cidr, strict=False)
        except ValueError as _exc:
            raise ImproperlyConfigured(f"{_name}: {_cidr!r} is not a CIDR") from _exc
if env.str("INTERNAL_API_TRUSTED_PROXY_COUNT", default="") not in ("", "0"):  # a count trusts whoever connects: refuse it
    raise ImproperlyConfigured("INTERNAL_API_TRUSTED_PROXY_COUNT is replaced by TRUSTED_PROXIES "
                               "(the proxy's own addresses)")


# --- Operations: request id, metrics, health, heartbeats, Sentry (docs/operations.md) ---
# Beat touches its heartbeat on every tick and sends only while it holds a Redis lease (one active beat).
CELERY_BEAT_SCHEDULER = "config.observability.beat:LeaderScheduler"
BEAT_LEASE_SECONDS = env.int("BEAT_LEASE_SECONDS", default=30)  # a standby beat takes over this long after the active one died
# Readiness answers 503 when a beat sweeper has not succeeded for 3 of its intervals (0: only report it).
HEALTH_BEAT_STALE_FAILS_READY = env.bool("HEALTH_BEAT_STALE_FAILS_READY", default=True)
# Probes and Prometheus talk plain HTTP inside the network: no redirect to HTTPS for them.
SECURE_REDIRECT_EXEMPT = [*SECURE_REDIRECT_EXEMPT, r"^healthz/(live|ready)$", r"^metrics$"]
# /metrics: INTERNAL_API_ALLOWED_NETWORKS (loopback only when empty) and, if set, this bearer token.
METRICS_BEARER_TOKEN = env.str("METRICS_BEARER_TOKEN", default="")
# Multiprocess metrics: the directory must exist before the first observation of any process (one-off commands too).
if _multiproc_dir := env.str("PROMETHEUS_MULTIPROC_DIR", default=""):
    Path(_multiproc_dir).mkdir(parents=True, exist_ok=True)

# --- Errors: optional Sentry (config/observability/sentry.py); off while SENTRY_DSN is empty ---
SENTRY_DSN = env.str("SENTRY_DSN", default="")
from config.observability.sentry import sentry_init  # noqa: E402

sentry_init(dsn=SENTRY_DSN, environment=env.str("SENTRY_ENVIRONMENT", default=""), release=env.str("SENTRY_RELEASE", default=""),
            traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0))
