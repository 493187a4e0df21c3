"""Settings shared by every environment.

All configuration comes from environment variables through one ``environ.Env``. The names in the
README's configuration table are a contract: other systems and deployments depend on them.
"""

from __future__ import annotations

import ipaddress
from decimal import Decimal
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import StrictEnv

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

# Numbers, booleans and URLs are parsed strictly: a malformed value stops start-up naming it.
env = StrictEnv()

# --- Core -------------------------------------------------------------------------------------
SECRET_KEY = env.nonempty_str("SECRET_KEY")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_standardized_errors",
    "contacts",
    "templates_app",
    "campaigns",
    "webhooks",
    "subscriptions",
    "operations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The admin shows date/times in the staff member's timezone (the browser's, by cookie).
    "config.timezones.StaffTimezoneMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Project-wide admin templates (the admin's base_site.html, shared panels).
        "DIRS": [BASE_DIR / "config" / "templates"],
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

# --- Database ---------------------------------------------------------------------------------
DATABASES = {
    "default": env.database("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'tidings.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default runs web, worker and beat as separate processes on one file: WAL lets
    # readers proceed during a write, IMMEDIATE transactions and a timeout queue writers instead
    # of failing them with "database is locked".
    _sqlite_name = Path(DATABASES["default"]["NAME"])
    if not _sqlite_name.is_absolute():
        DATABASES["default"]["NAME"] = str(BASE_DIR / _sqlite_name)
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"].setdefault(
        "CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60, minimum=0)
    )
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (personalisation data, locks, rate limits) -----------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured("REDIS_URL must start with redis://, rediss:// or unix://")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "tidings",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if "://" not in CELERY_BROKER_URL:
    raise ImproperlyConfigured(
        "CELERY_BROKER_URL must be a broker URL such as redis://host:6379/0 or filesystem://"
    )
if CELERY_BROKER_URL.startswith("filesystem://"):
    # A broker that needs no server, for the single-machine embedded default only.
    _queue_dir = VAR_DIR / "celery" / "queue"
    _processed_dir = VAR_DIR / "celery" / "processed"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "campaigns-tick": {"task": "campaigns.tasks.tick", "schedule": 5.0},
}

# --- Templates (templates_app): periodic sync with Meta ---------------------------------------
# Meta allows about 200 template-management requests per hour per WABA; a sync every 15 minutes
# stays well below that, and status webhooks carry changes in between.
CELERY_BEAT_SCHEDULE["templates-sync"] = {
    "task": "templates_app.tasks.sync_templates",
    "schedule": 15 * 60,
    "options": {"queue": "housekeeping"},
}
# What every sync entry point (this beat entry, the command, the API, the admin) runs: the
# campaigns app wraps the sync to stop campaigns whose template Meta paused, disabled or deleted
# (templates_app cannot import campaigns; see templates_app/services/sync.py).
TIDINGS_TEMPLATE_SYNC_SERVICE = (
    "campaigns.services.campaigns_sync_templates" if "campaigns" in INSTALLED_APPS else ""
)

# --- WhatsApp (Meta integration layer) --------------------------------------------------------
WHATSAPP_PROVIDER = env.str("WHATSAPP_PROVIDER", default="sandbox").strip()
if WHATSAPP_PROVIDER not in {"sandbox", "cloud"} and "." not in WHATSAPP_PROVIDER:
    raise ImproperlyConfigured(
        f"WHATSAPP_PROVIDER must be 'sandbox' or 'cloud' (or a dotted class path), "
        f"not {WHATSAPP_PROVIDER!r}"
    )
WHATSAPP_API_BASE_URL = env.web_url("WHATSAPP_API_BASE_URL", default="https://graph.facebook.com")
WHATSAPP_API_VERSION = env.str("WHATSAPP_API_VERSION", default="v23.0")
# The values the sandbox runs with when nothing is set. They are public (they are in this file),
# so nothing that talks to Meta or accepts Meta's webhooks may use them.
SANDBOX_ONLY_SECRETS = {
    "WHATSAPP_ACCESS_TOKEN": "sandbox-only-not-a-secret-token",
    "WHATSAPP_APP_SECRET": "sandbox-only-not-a-secret-app-secret",
    "WHATSAPP_VERIFY_TOKEN": "sandbox-only-not-a-secret-verify-token",
}


def _whatsapp_secret(name: str, *, required: bool, alternative: str | None = None) -> str:
    """A WhatsApp secret from the environment: when `required`, set, non-empty and not the public
    sandbox value; otherwise the sandbox value when unset. `alternative` names another variable
    that satisfies the requirement instead (the token file)."""
    if not required:
        return env.str(name, default=SANDBOX_ONLY_SECRETS[name])
    either = f" (or {alternative})" if alternative else ""
    value = env.str(name, default="").strip()
    if not value:
        raise ImproperlyConfigured(f"Set the {name} environment variable{either}")
    if value == SANDBOX_ONLY_SECRETS[name]:
        raise ImproperlyConfigured(
            f"{name} is the public sandbox-only value; set a real secret from Meta"
        )
    return value


# A file holding the access token (e.g. a mounted secret); re-read whenever it changes, so the
# token can be rotated by rewriting the file without a restart. Takes precedence over the value.
WHATSAPP_ACCESS_TOKEN_FILE = env.str("WHATSAPP_ACCESS_TOKEN_FILE", default="").strip()
if WHATSAPP_ACCESS_TOKEN_FILE:
    try:
        _token_in_file = Path(WHATSAPP_ACCESS_TOKEN_FILE).read_text(encoding="utf-8").strip()
    except OSError as _error:
        raise ImproperlyConfigured(
            f"WHATSAPP_ACCESS_TOKEN_FILE cannot be read: {_error.strerror or _error}"
        ) from None
    if not _token_in_file:
        raise ImproperlyConfigured("WHATSAPP_ACCESS_TOKEN_FILE names an empty file")
    if _token_in_file == SANDBOX_ONLY_SECRETS["WHATSAPP_ACCESS_TOKEN"]:
        raise ImproperlyConfigured(
            "WHATSAPP_ACCESS_TOKEN_FILE holds the public sandbox-only value; "
            "put a real token from Meta in it"
        )
_cloud = WHATSAPP_PROVIDER == "cloud"
WHATSAPP_ACCESS_TOKEN = (
    env.str("WHATSAPP_ACCESS_TOKEN", default="").strip()
    if WHATSAPP_ACCESS_TOKEN_FILE
    else _whatsapp_secret(
        "WHATSAPP_ACCESS_TOKEN", required=_cloud, alternative="WHATSAPP_ACCESS_TOKEN_FILE"
    )
)
WHATSAPP_APP_SECRET = _whatsapp_secret("WHATSAPP_APP_SECRET", required=_cloud)
WHATSAPP_VERIFY_TOKEN = _whatsapp_secret("WHATSAPP_VERIFY_TOKEN", required=_cloud)
WHATSAPP_HTTP_CONCURRENCY = env.int("WHATSAPP_HTTP_CONCURRENCY", default=64, minimum=1)
WHATSAPP_HTTP_CONNECT_TIMEOUT = env.float(
    "WHATSAPP_HTTP_CONNECT_TIMEOUT", default=3.05, minimum=0.001
)
WHATSAPP_HTTP_READ_TIMEOUT = env.float("WHATSAPP_HTTP_READ_TIMEOUT", default=15.0, minimum=0.001)
# `make run` serves the web process on TIDINGS_PORT; the sandbox posts its webhooks there.
TIDINGS_PORT = env.int("TIDINGS_PORT", default=8000, minimum=1, maximum=65535)
WHATSAPP_SANDBOX_WEBHOOK_URL = env.web_url(
    "WHATSAPP_SANDBOX_WEBHOOK_URL",
    default=f"http://127.0.0.1:{TIDINGS_PORT}/webhooks/whatsapp/",
    allow_empty=True,
)
WHATSAPP_SANDBOX_STATUS_DELAY_SECONDS = env.float(
    "WHATSAPP_SANDBOX_STATUS_DELAY_SECONDS", default=2.0, minimum=0
)
WHATSAPP_SANDBOX_READ_RATE = env.rate("WHATSAPP_SANDBOX_READ_RATE", default=0.6)
WHATSAPP_SANDBOX_FAILURE_RATE = env.rate("WHATSAPP_SANDBOX_FAILURE_RATE", default=0.05)
WHATSAPP_SANDBOX_STATE_DIR = env.str("WHATSAPP_SANDBOX_STATE_DIR", default=str(VAR_DIR / "sandbox"))
WHATSAPP_SANDBOX_TEMPLATE_APPROVAL_SECONDS = env.float(
    "WHATSAPP_SANDBOX_TEMPLATE_APPROVAL_SECONDS", default=10.0, minimum=0
)

# --- Contacts ---------------------------------------------------------------------------------
TIDINGS_DEFAULT_PHONE_REGION = env.str("TIDINGS_DEFAULT_PHONE_REGION", default="GB")
# HMAC key for the hash that replaces an erased contact's phone; empty derives one from SECRET_KEY
# (set it in production so erased numbers stay recognisable across SECRET_KEY rotations).
TIDINGS_ERASURE_KEY = env.str("TIDINGS_ERASURE_KEY", default="")
# CSV imports: rows per database batch (progress is updated per batch) and the largest upload.
TIDINGS_IMPORT_BATCH_SIZE = env.int("TIDINGS_IMPORT_BATCH_SIZE", default=2000)
TIDINGS_IMPORT_MAX_FILE_BYTES = env.int("TIDINGS_IMPORT_MAX_FILE_BYTES", default=200 * 1024 * 1024)

# --- Campaigns and dispatch --------------------------------------------------------------------
# Timezone for contacts without one (recipient-local scheduling and quiet hours).
TIDINGS_DEFAULT_CONTACT_TIMEZONE = env.str("TIDINGS_DEFAULT_CONTACT_TIMEZONE", default="UTC")
# Regions where Meta does not deliver marketing templates (currently US +1 numbers).
TIDINGS_MARKETING_UNDELIVERABLE_REGIONS = env.list(
    "TIDINGS_MARKETING_UNDELIVERABLE_REGIONS", default=["US"]
)

# --- Personalisation data sources (campaigns.personalisation) ---------------------------------
# A source that fails this many calls in a row is not called for the cool-off, then gets one trial
# call; the state is kept in the cache so every worker sees it.
TIDINGS_DATASOURCE_BREAKER_FAILURES = env.int("TIDINGS_DATASOURCE_BREAKER_FAILURES", default=5)
TIDINGS_DATASOURCE_BREAKER_COOLOFF_SECONDS = env.float(
    "TIDINGS_DATASOURCE_BREAKER_COOLOFF_SECONDS", default=30.0
)
# A 404 ("no such customer") is cached this long (at most the source's TTL) so an unknown key is
# not asked for again on every message, yet a customer created since shows up soon.
TIDINGS_DATASOURCE_NOT_FOUND_TTL_SECONDS = env.int(
    "TIDINGS_DATASOURCE_NOT_FOUND_TTL_SECONDS", default=60
)
# Shared secret for POST /webhooks/crm/invalidate/ (HMAC-SHA256 of the body); unset refuses all.
TIDINGS_CRM_WEBHOOK_SECRET = env.str("TIDINGS_CRM_WEBHOOK_SECRET", default="")

# Messages claimed per dispatch chunk, and how long a claim (lease) lasts before the reconciler
# decides what happened to a message whose worker died.
TIDINGS_DISPATCH_CHUNK_SIZE = env.int("TIDINGS_DISPATCH_CHUNK_SIZE", default=200)
TIDINGS_DISPATCH_LEASE_SECONDS = env.int("TIDINGS_DISPATCH_LEASE_SECONDS", default=120)
# How long one dispatch task keeps claiming chunks before handing over to a fresh task.
TIDINGS_DISPATCH_TASK_SECONDS = env.int("TIDINGS_DISPATCH_TASK_SECONDS", default=60)
# Dispatch tasks allowed to work on one campaign at once (across all workers).
TIDINGS_DISPATCH_PARALLEL_TASKS = env.int("TIDINGS_DISPATCH_PARALLEL_TASKS", default=2)
# A chunk holds at most this many seconds of sends at the campaign's rate, so it ends well
# within its lease (which the sending worker also renews as it goes).
TIDINGS_DISPATCH_CHUNK_SECONDS = env.float("TIDINGS_DISPATCH_CHUNK_SECONDS", default=10.0)
# The reconciler waits this long past a lease's end, on top of Meta's connect and read timeouts
# (a request that left just before the end is answered or has timed out by then).
TIDINGS_DISPATCH_LEASE_MARGIN_SECONDS = env.float(
    "TIDINGS_DISPATCH_LEASE_MARGIN_SECONDS", default=5.0
)
# An attempt whose outcome is unknown (timeout, 5xx) is resent, where policy allows, only after
# Meta had this long to prove by status webhook that it arrived.
TIDINGS_UNCONFIRMED_PROOF_WINDOW_SECONDS = env.int(
    "TIDINGS_UNCONFIRMED_PROOF_WINDOW_SECONDS", default=60
)
# API (transactional) messages: what to do when a send's outcome stays unknown ("resend" or
# "at_most_once"), and how long one may still go out (the request's valid_for_seconds wins).
TIDINGS_TRANSACTIONAL_UNKNOWN_OUTCOME_POLICY = env.str(
    "TIDINGS_TRANSACTIONAL_UNKNOWN_OUTCOME_POLICY", default="resend"
)
TIDINGS_TRANSACTIONAL_VALIDITY_SECONDS = env.int(
    "TIDINGS_TRANSACTIONAL_VALIDITY_SECONDS", default=24 * 3600
)
# A conversion is attributed to the contact's latest campaign message sent within this many hours
# before it (separate from TIDINGS_REPLY_ATTRIBUTION_HOURS: buying takes longer than replying).
TIDINGS_CONVERSION_ATTRIBUTION_HOURS = env.int(
    "TIDINGS_CONVERSION_ATTRIBUTION_HOURS", default=7 * 24, minimum=1
)
# What a delivered, billable template message costs, by the pricing category Meta reports on it,
# in one currency: JSON such as {"currency": "USD", "marketing": 0.025, "utility": 0.004}. Meta's
# rates depend on the recipient's country; put your own rate card's figures here.
TIDINGS_MESSAGE_RATES = env.message_rates(
    "TIDINGS_MESSAGE_RATES",
    default={
        "currency": "USD",
        "marketing": Decimal("0.025"),
        "utility": Decimal("0.004"),
        "authentication": Decimal("0.004"),
        "service": Decimal("0"),
    },
)
# Progress counters (PostgreSQL) are recounted from the messages this often, to catch a change
# that bypassed them; between checks a progress page reads only the counters.
CELERY_BEAT_SCHEDULE["campaigns-progress-check"] = {
    "task": "campaigns.tasks.check_progress_counts",
    "schedule": 15 * 60,
    "options": {"queue": "housekeeping"},
}

# --- Webhooks (Meta's deliveries: stored raw, processed in Celery) ----------------------------
# Raw deliveries (and the event records made from them) are kept this long, then purged; Meta
# redelivers for up to 7 days, so keep at least that.
TIDINGS_WEBHOOK_RETENTION_DAYS = env.int("TIDINGS_WEBHOOK_RETENTION_DAYS", default=30)
# The web server answers Meta's POSTs on a WSGI fast path in front of Django (webhooks/wsgi.py),
# which acknowledges about twice as many webhooks per second; off sends them through Django.
TIDINGS_WEBHOOK_FAST_PATH = env.bool("TIDINGS_WEBHOOK_FAST_PATH", default=True)
# Deliveries claimed for processing longer ago than this were left by a dead worker: the sweep
# (every minute) queues them again.
TIDINGS_WEBHOOK_PROCESSING_TIMEOUT_SECONDS = env.int(
    "TIDINGS_WEBHOOK_PROCESSING_TIMEOUT_SECONDS", default=120
)
# Messages users sent us are personal data: kept this long.
TIDINGS_INBOUND_MESSAGE_RETENTION_DAYS = env.int(
    "TIDINGS_INBOUND_MESSAGE_RETENTION_DAYS", default=30
)
# A status for a message we cannot find yet (it beat our send result) is retried with backoff for
# this long, then kept as unmatched for an operator.
TIDINGS_WEBHOOK_UNMATCHED_RETRY_SECONDS = env.int(
    "TIDINGS_WEBHOOK_UNMATCHED_RETRY_SECONDS", default=600
)
# A reply within this many hours after a campaign message counts as a reply to that campaign.
TIDINGS_REPLY_ATTRIBUTION_HOURS = env.int("TIDINGS_REPLY_ATTRIBUTION_HOURS", default=72)
# Whole-message keywords (case, accents, surrounding spaces and punctuation ignored) that opt a
# contact out of (or back in to) all messages; nothing is sent back unless
# TIDINGS_CONSENT_KEYWORD_REPLY is set.
TIDINGS_OPT_OUT_KEYWORDS = env.list(
    "TIDINGS_OPT_OUT_KEYWORDS",
    default=[
        "STOP", "STOP ALL", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPT OUT", "OPTOUT",
        "BAJA", "DAR DE BAJA", "PARAR", "DETENER", "CANCELAR",  # Spanish
        "SAIR", "DESCADASTRAR", "PARE",  # Portuguese
        "ARRET", "ARRÊT", "ARRETER", "DESABONNER", "DÉSABONNER", "DESINSCRIRE",  # French
        "STOPP", "ABMELDEN", "ABBESTELLEN", "BEENDEN",  # German
    ],
)  # fmt: skip
TIDINGS_OPT_IN_KEYWORDS = env.list(
    "TIDINGS_OPT_IN_KEYWORDS", default=["START", "UNSTOP", "SUBSCRIBE", "ALTA", "ANMELDEN"]
)
# Quick-reply buttons (payload or label) that opt a contact out of marketing messages: Meta's
# marketing opt-out button arrives with its localised label.
TIDINGS_OPT_OUT_BUTTONS = env.list(
    "TIDINGS_OPT_OUT_BUTTONS",
    default=[
        "Stop promotions", "Parar promoções", "Detener promociones", "Arrêter les promotions",
        "Werbung stoppen",
    ],
)  # fmt: skip
# Text sent back, once, after an opt-out or opt-in keyword (or opt-out button) was recorded: a
# free-form message, allowed because the user has just written. Empty: nothing is sent.
TIDINGS_CONSENT_KEYWORD_REPLY = env.str("TIDINGS_CONSENT_KEYWORD_REPLY", default="")
CELERY_BEAT_SCHEDULE["webhooks-sweep"] = {
    "task": "webhooks.tasks.sweep_webhooks",
    "schedule": 60.0,
    "options": {"queue": "webhooks"},
}
CELERY_BEAT_SCHEDULE["webhooks-purge"] = {
    "task": "webhooks.tasks.purge_webhooks",
    "schedule": 60 * 60,
    "options": {"queue": "housekeeping"},
}

# Rendered parameters of sent messages are cleared after this many days (metadata stays).
TIDINGS_MESSAGE_CONTENT_RETENTION_DAYS = env.int(
    "TIDINGS_MESSAGE_CONTENT_RETENTION_DAYS", default=90
)
# Scheduled campaigns warm their personalisation cache this many minutes before they start.
TIDINGS_PREWARM_MINUTES = env.int("TIDINGS_PREWARM_MINUTES", default=10)
CELERY_BEAT_SCHEDULE["campaigns-purge-contents"] = {
    "task": "campaigns.tasks.purge_message_contents",
    "schedule": 6 * 3600,
    "options": {"queue": "housekeeping"},
}

# --- Outbound event subscriptions (subscriptions app) ---------------------------------------
# The master key every subscription's signing secret is derived from (with its public id), so no
# secret is stored. Production refuses the public development value below.
SUBSCRIPTION_SIGNING_KEY_DEVELOPMENT = "local-development-only-subscription-signing-key"
TIDINGS_SUBSCRIPTION_SIGNING_KEY = env.nonempty_str(
    "TIDINGS_SUBSCRIPTION_SIGNING_KEY", default=SUBSCRIPTION_SIGNING_KEY_DEVELOPMENT
)
# Off: target URLs must resolve to public addresses only (no loopback, private or metadata
# addresses: SSRF). The local settings turn it on for receivers on the developer's machine.
TIDINGS_SUBSCRIPTION_ALLOW_PRIVATE_URLS = env.bool(
    "TIDINGS_SUBSCRIPTION_ALLOW_PRIVATE_URLS", default=False
)
TIDINGS_SUBSCRIPTION_CONNECT_TIMEOUT = env.float(
    "TIDINGS_SUBSCRIPTION_CONNECT_TIMEOUT", default=3.05, minimum=0.001
)
TIDINGS_SUBSCRIPTION_READ_TIMEOUT = env.float(
    "TIDINGS_SUBSCRIPTION_READ_TIMEOUT", default=10.0, minimum=0.001
)
# Attempts per delivery, and the backoff between them: base * 2^(n-1) seconds, at most the max,
# jittered to between half and all of it.
TIDINGS_SUBSCRIPTION_MAX_ATTEMPTS = env.int(
    "TIDINGS_SUBSCRIPTION_MAX_ATTEMPTS", default=10, minimum=1, maximum=100
)
TIDINGS_SUBSCRIPTION_RETRY_BASE_SECONDS = env.float(
    "TIDINGS_SUBSCRIPTION_RETRY_BASE_SECONDS", default=10.0, minimum=0
)
TIDINGS_SUBSCRIPTION_RETRY_MAX_SECONDS = env.float(
    "TIDINGS_SUBSCRIPTION_RETRY_MAX_SECONDS", default=3600.0, minimum=0
)
# A subscription whose attempts failed this many times in a row is disabled (admin warning).
TIDINGS_SUBSCRIPTION_DISABLE_AFTER_FAILURES = env.int(
    "TIDINGS_SUBSCRIPTION_DISABLE_AFTER_FAILURES", default=20, minimum=1
)
# After a secret rotation the previous secret signs too, for this long.
TIDINGS_SUBSCRIPTION_SECRET_ROTATION_HOURS = env.float(
    "TIDINGS_SUBSCRIPTION_SECRET_ROTATION_HOURS", default=24.0, minimum=0
)
# Events and their delivery logs are deleted after this many days (they may hold replies).
TIDINGS_SUBSCRIPTION_EVENT_RETENTION_DAYS = env.int(
    "TIDINGS_SUBSCRIPTION_EVENT_RETENTION_DAYS", default=30, minimum=1
)
# The change feed: rows per source per batch, how long one run may go on, and how long an id
# skipped over (a transaction still open when it was read) is waited for.
TIDINGS_SUBSCRIPTION_FEED_BATCH = 500
TIDINGS_SUBSCRIPTION_FEED_SECONDS = 10.0
TIDINGS_SUBSCRIPTION_FEED_HOLE_SECONDS = 300
CELERY_BEAT_SCHEDULE["subscriptions-feed"] = {
    "task": "subscriptions.tasks.run_feed",
    "schedule": 2.0,
    "options": {"queue": "subscriptions", "expires": 10},
}
CELERY_BEAT_SCHEDULE["subscriptions-due"] = {
    "task": "subscriptions.tasks.enqueue_due_deliveries",
    "schedule": 5.0,
    "options": {"queue": "subscriptions", "expires": 30},
}
CELERY_BEAT_SCHEDULE["subscriptions-purge"] = {
    "task": "subscriptions.tasks.purge_events",
    "schedule": 60 * 60,
    "options": {"queue": "housekeeping"},
}
# --- Operations: /metrics and the admin dashboard (operations) -------------------------------
# /metrics is off until one of these is set: a bearer token (`Authorization: Bearer <token>`)
# and/or the client networks allowed (comma-separated addresses or CIDRs); both set, both apply.
TIDINGS_METRICS_TOKEN = env.str("TIDINGS_METRICS_TOKEN", default="").strip()
TIDINGS_METRICS_ALLOWED_IPS = env.list("TIDINGS_METRICS_ALLOWED_IPS", default=[])
for _network in TIDINGS_METRICS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_network.strip(), strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"TIDINGS_METRICS_ALLOWED_IPS must list IP addresses or networks, not {_network!r}"
        ) from None
# A scrape is computed at most this often per web process (several Prometheus servers cost one).
TIDINGS_METRICS_CACHE_SECONDS = env.float("TIDINGS_METRICS_CACHE_SECONDS", default=5.0, minimum=0)
# Celery queues whose length is reported when the broker is Redis.
TIDINGS_METRICS_BROKER_QUEUES = env.list(
    "TIDINGS_METRICS_BROKER_QUEUES", default=["dispatch", "webhooks", "housekeeping", "celery"]
)
# Dashboard warnings: a running campaign whose last N send results failed more than this share,
# and webhook processing whose oldest unprocessed delivery is older than this.
TIDINGS_DASHBOARD_FAILURE_SPIKE_RATE = env.rate("TIDINGS_DASHBOARD_FAILURE_SPIKE_RATE", default=0.2)
TIDINGS_DASHBOARD_FAILURE_SPIKE_RESULTS = env.int(
    "TIDINGS_DASHBOARD_FAILURE_SPIKE_RESULTS", default=200, minimum=1
)
TIDINGS_DASHBOARD_WEBHOOK_LAG_SECONDS = env.int(
    "TIDINGS_DASHBOARD_WEBHOOK_LAG_SECONDS", default=120, minimum=1
)

# --- API --------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Every endpoint needs a login and the model permission matching its verb (view for reads),
    # so roles are enforced the same way in the API as in the admin.
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "config.api.permissions.ModelPermissionsIncludingView",
    ],
    # One error format for every 4xx: {"type": ..., "errors": [{"code", "detail", "attr"}]}.
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "config.api.schema.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "config.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # One request budget per API token (per user for session logins), one per address for
    # anonymous requests; over it: 429 with Retry-After. Rates are read per request from the
    # two settings below.
    "DEFAULT_THROTTLE_CLASSES": [
        "config.api.throttling.TokenRateThrottle",
        "config.api.throttling.AnonymousRateThrottle",
    ],
}
DRF_STANDARDIZED_ERRORS = {
    "EXCEPTION_HANDLER_CLASS": "config.api.errors.ApiExceptionHandler",
    "ERROR_SCHEMAS": {
        "400": "config.api.schema.ErrorResponse400Serializer",
        "413": "config.api.schema.ErrorResponse413Serializer",
    },
    "ALLOWED_ERROR_STATUS_CODES": [
        *("400", "401", "403", "404", "405", "406", "413", "415", "429", "500")
    ],
}
# Requests per API token, and per client address without credentials ("off" disables).
TIDINGS_API_THROTTLE_RATE = env.request_rate("TIDINGS_API_THROTTLE_RATE", default="1200/minute")
TIDINGS_API_ANON_THROTTLE_RATE = env.request_rate(
    "TIDINGS_API_ANON_THROTTLE_RATE", default="60/minute"
)
_ERROR_ENUMS = "drf_standardized_errors.openapi_serializers"
SPECTACULAR_SETTINGS = {
    "TITLE": "Tidings API",
    "DESCRIPTION": (
        "Consented WhatsApp Business template messaging: contacts and consent, templates, "
        "campaigns, messages and delivery tracking."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ValidationErrorEnum": f"{_ERROR_ENUMS}.ValidationErrorEnum.choices",
        "ClientErrorEnum": f"{_ERROR_ENUMS}.ClientErrorEnum.choices",
        "ServerErrorEnum": f"{_ERROR_ENUMS}.ServerErrorEnum.choices",
        "ErrorCode401Enum": f"{_ERROR_ENUMS}.ErrorCode401Enum.choices",
        "ErrorCode403Enum": f"{_ERROR_ENUMS}.ErrorCode403Enum.choices",
        "ErrorCode404Enum": f"{_ERROR_ENUMS}.ErrorCode404Enum.choices",
        "ErrorCode405Enum": f"{_ERROR_ENUMS}.ErrorCode405Enum.choices",
        "ErrorCode406Enum": f"{_ERROR_ENUMS}.ErrorCode406Enum.choices",
        "ErrorCode415Enum": f"{_ERROR_ENUMS}.ErrorCode415Enum.choices",
        "ErrorCode429Enum": f"{_ERROR_ENUMS}.ErrorCode429Enum.choices",
        "ErrorCode500Enum": f"{_ERROR_ENUMS}.ErrorCode500Enum.choices",
        "Error400TypeEnum": "config.api.schema.ERROR_400_TYPES",
        # Contacts: names for choice sets whose field names other apps use too.
        "ConsentSourceEnum": "contacts.models.ConsentSource.choices",
        "ContactImportStatusEnum": "contacts.models.ContactImportStatus.choices",
        # Every app has a `status`: one name per choice set.
        "TemplateStatusEnum": "templates_app.models.TemplateStatus.choices",
        "CampaignStatusEnum": "campaigns.models.CampaignStatus.choices",
        "MessageStatusEnum": "campaigns.models.MessageStatus.choices",
    },
    "POSTPROCESSING_HOOKS": ["drf_standardized_errors.openapi_hooks.postprocess_schema_enums"],
}

# --- Auth, i18n, static -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "config" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
