"""Django settings for the SberCRM platform.

Every value comes from the environment with a default that works for local
development (SQLite + eager Celery). See .env.example for the full list.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_required, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_required(
    "SECRET_KEY", when=not DEBUG, fallback="django-insecure-local-development-only-key"
)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

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
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.api.lockout.LoginLockoutMiddleware",  # last, as django-axes requires
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
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# DB_CONN_MAX_AGE > 0 keeps connections open between requests/tasks (compose sets 60), checked before reuse.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
                                              conn_health_checks=True)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- I18N: Russian admin, UTC storage -----------------------------------------
LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", "Русский"), ("en", "English")]
TIME_ZONE = env_str("TIME_ZONE", "Europe/Moscow")
USE_I18N = True
USE_TZ = True  # stored in UTC, shown in TIME_ZONE

# --- Static files ----------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Files (message attachments): the local filesystem under MEDIA_ROOT by default (`make run` needs nothing);
# an S3-compatible store when ATTACHMENTS_S3_BUCKET is set. Never public: downloads go through signed,
# expiring URLs (docs/public-api.md, «Вложения: файлы»).
MEDIA_ROOT = env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media"))
MEDIA_URL = "/media/"  # not served: files are read through signed URLs only
ATTACHMENTS_S3_BUCKET = env_str("ATTACHMENTS_S3_BUCKET", "")
ATTACHMENTS_URL_TTL_SECONDS = env_int("ATTACHMENTS_URL_TTL_SECONDS", 3600)
# links inside sendMessage outlive the delivery's retries (DELIVERY_RETRY_SCHEDULE, ~23 h)
ATTACHMENTS_PROVIDER_URL_TTL_SECONDS = env_int("ATTACHMENTS_PROVIDER_URL_TTL_SECONDS", 48 * 3600)
if ATTACHMENTS_S3_BUCKET:
    _FILES_STORAGE = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": ATTACHMENTS_S3_BUCKET,
        "endpoint_url": env_str("ATTACHMENTS_S3_ENDPOINT_URL", "") or None,
        "access_key": env_str("ATTACHMENTS_S3_ACCESS_KEY", ""),
        "secret_key": env_str("ATTACHMENTS_S3_SECRET_KEY", ""),
        "region_name": env_str("ATTACHMENTS_S3_REGION", "us-east-1"),
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

# --- Redis / cache --------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    # short socket timeouts: a Redis outage must cost a request milliseconds, not minutes
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ---------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
# Empty broker means eager mode: tasks run inline (make run, unit tests).
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
# The broker re-delivers an unacked task after this many seconds. Every countdown
# must stay below it; longer waits are scheduled from the database (see outbox).
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 2 * 60 * 60)
CELERY_MAX_COUNTDOWN = min(env_int("CELERY_MAX_COUNTDOWN", 60 * 60), CELERY_VISIBILITY_TIMEOUT // 2)
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
        "principal": env_str("THROTTLE_RATE_PRINCIPAL", "6000/min"),
        "anon": env_str("THROTTLE_RATE_ANON", "120/min"),
        # Developer sign-up (marketplace/api/throttling.py): per client address and per email address.
        "signup": env_str("THROTTLE_RATE_SIGNUP", "10/hour"),
        "signup_email": env_str("THROTTLE_RATE_SIGNUP_EMAIL", "3/hour"),
    },
    "EXCEPTION_HANDLER": "config.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "config.api.schema.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# While the cache (Redis) fails, the throttles count in process memory and retry Redis after this long.
THROTTLE_FALLBACK_SECONDS = float(env_str("THROTTLE_FALLBACK_SECONDS", "5"))

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7)),
    "SIGNING_KEY": env_str("JWT_SIGNING_KEY", SECRET_KEY),
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
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
APPEND_SLASH = False
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000

# --- Login lockout (django-axes): admin and /api/auth/token/ ---------------------------------
# A username, or a client address, with AXES_FAILURE_LIMIT failures within the cool-off period is
# refused (429) until the period passes or an administrator unlocks it (admin: «Попытки доступа»).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "config.api.lockout.lockout_client_ip"
AXES_USERNAME_CALLABLE = "config.api.lockout.lockout_username"
AXES_LOCKOUT_CALLABLE = "config.api.lockout.lockout_response"
SILENCED_SYSTEM_CHECKS = ["axes.W002"]  # the check wants the exact class; LoginLockoutMiddleware subclasses it

# --- Email ----------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "SberCRM <noreply@sbercrm.local>")
# Developer self-service sign-up (docs/developer-portal.md): how long the emailed confirmation link works.
SIGNUP_CONFIRMATION_HOURS = env_int("SIGNUP_CONFIRMATION_HOURS", 24)
# Limits of a developer company's sandbox tenant (docs/developer-portal.md): over them 409 / 429.
SANDBOX_MAX_CHATS = env_int("SANDBOX_MAX_CHATS", 50)
SANDBOX_MAX_MESSAGES_PER_DAY = env_int("SANDBOX_MAX_MESSAGES_PER_DAY", 200)
SANDBOX_MAX_TOKENS_PER_DAY = env_int("SANDBOX_MAX_TOKENS_PER_DAY", 20)

# --- Logging --------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
# Every line carries the request id (config/observability/request_id.py); LOG_FORMAT=json: one JSON object a line.
LOG_FORMAT = env_str("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT: {LOG_FORMAT!r} is neither 'plain' nor 'json'")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "config.observability.request_id.JsonFormatter"},
    },
    "filters": {"request_id": {"()": "config.observability.request_id.RequestIdFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # Django's own DEBUG console handler would print every django.* line a second time, without the request id.
    "loggers": {"django": {"handlers": [], "level": LOG_LEVEL}, "django.db.backends": {"level": "WARNING"}},
}

# --- Notifications (notification service, Telegram/VK bots) -----------------------
# Bots and channels are off while their token is empty; `make run` needs none of them.
TELEGRAM_BOT_TOKEN = env_str("TELEGRAM_BOT_TOKEN")
TELEGRAM_BOT_NAME = env_str("TELEGRAM_BOT_NAME", "SberCRMNotifyBot")
TELEGRAM_API_BASE_URL = env_str("TELEGRAM_API_BASE_URL", "https://api.telegram.org")
TELEGRAM_WEBHOOK_SECRET = env_str("TELEGRAM_WEBHOOK_SECRET")
VK_GROUP_TOKEN = env_str("VK_GROUP_TOKEN")
VK_GROUP_ID = env_str("VK_GROUP_ID")
VK_BOT_NAME = env_str("VK_BOT_NAME", "sbercrm_notify")
VK_API_BASE_URL = env_str("VK_API_BASE_URL", "https://api.vk.ru")
VK_API_VERSION = env_str("VK_API_VERSION", "5.199")
VK_CALLBACK_SECRET = env_str("VK_CALLBACK_SECRET")
VK_CONFIRMATION_CODE = env_str("VK_CONFIRMATION_CODE")
ONESIGNAL_API_BASE_URL = env_str("ONESIGNAL_API_BASE_URL", "https://api.onesignal.com")
ONESIGNAL_APP_ID = env_str("ONESIGNAL_APP_ID")
ONESIGNAL_API_KEY = env_str("ONESIGNAL_API_KEY")
NOTIFICATIONS_BINDING_TOKEN_TTL_MINUTES = env_int("NOTIFICATIONS_BINDING_TOKEN_TTL_MINUTES", 60)
NOTIFICATIONS_USER_TOKEN_MINUTES = env_int("NOTIFICATIONS_USER_TOKEN_MINUTES", 30 * 24 * 60)
NOTIFICATIONS_CHANNEL_TIMEOUT = env_int("NOTIFICATIONS_CHANNEL_TIMEOUT", 10)  # seconds per remote call
NOTIFICATIONS_SYNC_DEADLINE = env_int("NOTIFICATIONS_SYNC_DEADLINE", 15)  # seconds a sync send may take
NOTIFICATIONS_MAX_ATTEMPTS = env_int("NOTIFICATIONS_MAX_ATTEMPTS", 8)  # async attempts before FAILED
# Waits after failed async attempts 1, 2, … (delivery/policy.py: one retry policy, a schedule per kind).
NOTIFICATIONS_RETRY_SCHEDULE = [float(x) for x in env_list("NOTIFICATIONS_RETRY_SCHEDULE", "2,4,8,16,32,64,128")]
NOTIFICATIONS_SWEEP_GRACE_SECONDS = env_int("NOTIFICATIONS_SWEEP_GRACE_SECONDS", 120)
# Issue 18: absolute base of the links put into emails (one-click unsubscribe), no trailing slash.
NOTIFICATIONS_PUBLIC_URL = env_str("NOTIFICATIONS_PUBLIC_URL", "http://localhost:8000").rstrip("/")
# `notify`: channel order tried for a user, and the per-type policy (first_success | all).
NOTIFICATIONS_FALLBACK_ORDER = env_str("NOTIFICATIONS_FALLBACK_ORDER", "telegram,vk,push,email").split(",")
NOTIFICATIONS_TYPE_POLICY = {"notification": "first_success", "deadline": "first_success", "service": "first_success",
                             "error": "all", "critical": "all"}
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update({"NotificationServiceEnum": "notifications.models.Service",
                                                    "NotifyStatusEnum": "notifications.api.serializers.NOTIFY_STATUSES"})
CELERY_BEAT_SCHEDULE["notifications-notify-due"] = {"task": "notifications.notify_due", "schedule": 60.0}
# Per-second limits shared by all workers through the cache (Redis).
TELEGRAM_RATE_LIMIT_GLOBAL = env_int("TELEGRAM_RATE_LIMIT_GLOBAL", 30)
TELEGRAM_RATE_LIMIT_PER_CHAT = env_int("TELEGRAM_RATE_LIMIT_PER_CHAT", 1)
VK_RATE_LIMIT_GLOBAL = env_int("VK_RATE_LIMIT_GLOBAL", 20)
ONESIGNAL_RATE_LIMIT = env_int("ONESIGNAL_RATE_LIMIT", 150)
NOTIFICATIONS_SWEEP_INTERVAL = env_int("NOTIFICATIONS_SWEEP_INTERVAL", 60)  # seconds between outbox sweeps
CELERY_BEAT_SCHEDULE["notifications-sweep"] = {"task": "notifications.sweep", "schedule": float(NOTIFICATIONS_SWEEP_INTERVAL)}

# --- Communications public API: integration tokens ---
# Tenant integration tokens (JWT, HS256) are signed with their own key, so rotating it
# never touches service JWTs. Every request still checks the token id against the DB.
COMMUNICATIONS_TOKEN_SIGNING_KEY = env_str("COMMUNICATIONS_TOKEN_SIGNING_KEY", SECRET_KEY)
COMMUNICATIONS_TOKEN_LIFETIME_DAYS = env_int("COMMUNICATIONS_TOKEN_LIFETIME_DAYS", 365)
# Attachments: direct uploads (POST /api/v1/uploads) and fetches by URL; per-type caps (bytes) under the total.
ATTACHMENTS_MAX_UPLOAD_BYTES = env_int("ATTACHMENTS_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
ATTACHMENTS_MAX_BYTES_BY_TYPE = {"image": 10 * 1024 * 1024, "sticker": 1024 * 1024, "voice": 10 * 1024 * 1024}
ATTACHMENTS_UPLOAD_TTL_SECONDS = env_int("ATTACHMENTS_UPLOAD_TTL_SECONDS", 24 * 3600)
# Fetch by URL: a Celery task per attachment and a sweeper (communications/services/attachment_fetch.py).
ATTACHMENTS_FETCH_TIMEOUT = env_int("ATTACHMENTS_FETCH_TIMEOUT", 60)  # read timeout and whole-download budget
ATTACHMENTS_FETCH_RETRY_SCHEDULE = [30, 120, 600, 3600]  # waits after failed attempts 1..4; then failed
ATTACHMENTS_FETCH_SWEEP_GRACE = env_int("ATTACHMENTS_FETCH_SWEEP_GRACE", 60)  # the normal task gets this long first
CELERY_BEAT_SCHEDULE["communications-attachment-fetches-sweep"] = {
    "task": "communications.attachment_fetches_sweep", "schedule": 60.0}
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
PROVIDER_ALLOW_LOOPBACK = env_bool("PROVIDER_ALLOW_LOOPBACK", DEBUG)
PROVIDER_CONNECT_TIMEOUT = float(env_str("PROVIDER_CONNECT_TIMEOUT", "5"))
PROVIDER_READ_TIMEOUT = float(env_str("PROVIDER_READ_TIMEOUT", "20"))
# Waits (seconds) after failed attempts 1..9: 10 attempts over about 23 hours, ±20% jitter.
DELIVERY_RETRY_SCHEDULE = [
    float(x) for x in env_list("DELIVERY_RETRY_SCHEDULE", "5,30,120,600,1800,3600,10800,21600,43200")
]
DELIVERY_RETRY_JITTER = float(env_str("DELIVERY_RETRY_JITTER", "0.2"))
DELIVERY_RETRY_AFTER_MAX = env_int("DELIVERY_RETRY_AFTER_MAX", 12 * 60 * 60)
DELIVERY_LEASE_MARGIN = env_int("DELIVERY_LEASE_MARGIN", 30)  # added to connect+read timeouts
DELIVERY_SWEEP_INTERVAL = env_int("DELIVERY_SWEEP_INTERVAL", 30)
DELIVERY_SWEEP_GRACE = env_int("DELIVERY_SWEEP_GRACE", 60)  # the normal task gets this long first
DELIVERY_BLOCKED_RECHECK = env_int("DELIVERY_BLOCKED_RECHECK", 300)
DELIVERY_QUEUE = env_str("DELIVERY_QUEUE", "celery")
CELERY_BEAT_SCHEDULE["communications-deliveries-sweep"] = {
    "task": "communications.deliveries_sweep",
    "schedule": float(DELIVERY_SWEEP_INTERVAL),
}

# --- Test stand: provider conformance runs (docs/test-stand.md) ---
# Each call uses the provider timeouts above; the whole run stops calling after this budget.
TESTSTAND_RUN_BUDGET = float(env_str("TESTSTAND_RUN_BUDGET", "120"))
# A queued/running run older than budget + timeouts + this margin is considered lost.
TESTSTAND_STALE_MARGIN = env_int("TESTSTAND_STALE_MARGIN", 60)
TESTSTAND_QUEUE = env_str("TESTSTAND_QUEUE", "celery")
# A queued run older than this without a worker on it is dispatched again by the sweeper.
TESTSTAND_SWEEP_GRACE = env_int("TESTSTAND_SWEEP_GRACE", 60)
CELERY_BEAT_SCHEDULE["communications-conformance-runs-sweep"] = {
    "task": "communications.conformance_runs_sweep", "schedule": 60.0}
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update({
    "TestRunStatusEnum": "marketplace.api.serializers.RUN_STATUSES",
    "TestCheckVerdictEnum": "marketplace.api.serializers.VERDICTS",
})

# --- Bots: Telegram/VK binding dialogues (docs/bots.md) ---
# Public URL of /bots/telegram/webhook for `manage.py set_telegram_webhook`; polling needs none.
TELEGRAM_WEBHOOK_URL = env_str("TELEGRAM_WEBHOOK_URL")
CELERY_BEAT_SCHEDULE["bots-prune"] = {"task": "bots.prune", "schedule": 24 * 60 * 60.0}

# --- Provider callbacks: operator API, initial sync, webhook events (docs/provider-calls.md) ---
# Base URL of our public API, passed to the provider's setWebhook.
COMMUNICATIONS_PUBLIC_API_URL = env_str("COMMUNICATIONS_PUBLIC_API_URL", "http://localhost:8000/api/v1/")
INITIAL_SYNC_PAGE_SIZE = env_int("INITIAL_SYNC_PAGE_SIZE", 200)  # `limit` sent to getMessageHistory
INITIAL_SYNC_MAX_ATTEMPTS = env_int("INITIAL_SYNC_MAX_ATTEMPTS", 8)  # consecutive failures of one page
INITIAL_SYNC_RETRY_DELAY = float(env_str("INITIAL_SYNC_RETRY_DELAY", "10"))  # doubles per failure
INITIAL_SYNC_SWEEP_GRACE = env_int("INITIAL_SYNC_SWEEP_GRACE", 300)
CELERY_BEAT_SCHEDULE["communications-initial-syncs-sweep"] = {
    "task": "communications.initial_syncs_sweep",
    "schedule": 60.0,
}
# An operator write's Idempotency-Key replays its answer for at least this long (then it is pruned hourly).
OPERATOR_IDEMPOTENCY_KEY_HOURS = env_int("OPERATOR_IDEMPOTENCY_KEY_HOURS", 24)
CELERY_BEAT_SCHEDULE["communications-operator-requests-prune"] = {
    "task": "communications.operator_requests_prune",
    "schedule": 60 * 60.0,
}

# --- Reliability and security: internal API network allow-list (config/api/networks.py) ---
from ipaddress import ip_network  # noqa: E402

from django.core.exceptions import ImproperlyConfigured  # noqa: E402

# Comma-separated CIDRs allowed to call /internal/...; empty = any network (auth still applies).
INTERNAL_API_ALLOWED_NETWORKS = env_list("INTERNAL_API_ALLOWED_NETWORKS")
# Addresses (CIDRs) of our own reverse proxy (nginx); X-Forwarded-For is read only from them
# (config.api.networks.client_address: the fence, the anonymous throttle, the login lockout).
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
for _name in ("INTERNAL_API_ALLOWED_NETWORKS", "TRUSTED_PROXIES"):
    for _cidr in globals()[_name]:  # a typo must stop the start, not open or close anything silently
        try:
            ip_network(_cidr, strict=False)
        except ValueError as _exc:
            raise ImproperlyConfigured(f"{_name}: {_cidr!r} is not a CIDR") from _exc
if env_str("INTERNAL_API_TRUSTED_PROXY_COUNT") not in ("", "0"):  # a count trusts whoever connects: refuse it
    raise ImproperlyConfigured("INTERNAL_API_TRUSTED_PROXY_COUNT is replaced by TRUSTED_PROXIES "
                               "(the proxy's own addresses)")
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "config.api.networks.InternalNetworkMiddleware")
MIDDLEWARE += ["config.api.utc.UtcOutsideAdminMiddleware", "config.api.paths.TrailingSlashMiddleware"]

# --- Reliability and security: no credentials in logs (config/log_redaction.py) ---
# HTTP client libraries log request lines at DEBUG; the Telegram bot token is part of the URL.
LOGGING.setdefault("filters", {})["redact_secrets"] = {"()": "config.log_redaction.RedactSecretsFilter"}
for _logger in ("urllib3.connectionpool", "TeleBot", "vk_api", "requests"):
    LOGGING["loggers"].setdefault(_logger, {})["filters"] = ["redact_secrets"]

# --- Benchmarks (bench/run.py, `make bench`) ---
# Mounts /bench/ping and /bench/floor (communications/api/bench.py). Only the benchmark sets it;
# never turn it on in production.
BENCH_ENDPOINTS = env_bool("BENCH_ENDPOINTS", False)

# --- Operations: request id, metrics, health, heartbeats, Sentry (docs/operations.md) ---
# First middleware: every response, even a refusal by a later middleware, carries X-Request-Id.
MIDDLEWARE.insert(0, "config.observability.request_id.RequestIdMiddleware")
# Beat touches its heartbeat on every tick and sends only while it holds a Redis lease (one active beat).
CELERY_BEAT_SCHEDULER = "config.observability.beat:LeaderScheduler"
BEAT_LEASE_SECONDS = env_int("BEAT_LEASE_SECONDS", 30)  # a standby beat takes over this long after the active one died
# Readiness answers 503 when a beat sweeper has not succeeded for 3 of its intervals (0: only report it).
HEALTH_BEAT_STALE_FAILS_READY = env_bool("HEALTH_BEAT_STALE_FAILS_READY", True)
# Probes and Prometheus talk plain HTTP inside the network: no redirect to HTTPS for them.
SECURE_REDIRECT_EXEMPT = [*SECURE_REDIRECT_EXEMPT, r"^healthz/(live|ready)$", r"^metrics$"]
# HTTP metrics right after the request id, so refusals by later middleware are counted too.
MIDDLEWARE.insert(1, "config.observability.middleware.MetricsMiddleware")
# /metrics: INTERNAL_API_ALLOWED_NETWORKS (loopback only when empty) and, if set, this bearer token.
METRICS_BEARER_TOKEN = env_str("METRICS_BEARER_TOKEN")
# Multiprocess metrics: the directory must exist before the first observation of any process (one-off commands too).
if _multiproc_dir := env_str("PROMETHEUS_MULTIPROC_DIR"):
    Path(_multiproc_dir).mkdir(parents=True, exist_ok=True)

# --- Errors: optional Sentry (config/observability/sentry.py); off while SENTRY_DSN is empty ---
SENTRY_DSN = env_str("SENTRY_DSN")
from config.observability.sentry import sentry_init  # noqa: E402

sentry_init(dsn=SENTRY_DSN, environment=env_str("SENTRY_ENVIRONMENT"), release=env_str("SENTRY_RELEASE"),
            traces_sample_rate=float(env_str("SENTRY_TRACES_SAMPLE_RATE", "0")))
