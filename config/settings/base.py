"""Settings shared by every environment.

This package is the only place that reads the environment. With nothing set the
project runs on an embedded SQLite database and executes Celery tasks eagerly;
``DATABASE_URL`` and ``CELERY_BROKER_URL`` switch to PostgreSQL and Redis.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("SHOP_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEBUG = env_bool("DEBUG", False)
# True only in config.settings.production: load_demo refuses to run, the deploy check looks for demo logins.
IS_PRODUCTION = False
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")

INSTALLED_APPS = [
    "config.apps.ShopAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our own static files, not a CDN
    "django_celery_beat",
    "corsheaders",
    "axes",
    "accounts",
    "import_export",
    "shop",
    "recommender",
    "inventory",
    "pipeline",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outermost after security: whatever Django answers under /api/ leaves as problem JSON.
    "config.api.errors.ApiProblemMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",  # before CommonMiddleware, as django-cors-headers requires
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Innermost: a view whose database cannot be reached answers 503 with Retry-After (config/outage.py).
    "config.outage.DatabaseUnavailableMiddleware",
    # Last: turns a sign-in that django-axes locked out into the lockout answer (accounts.lockout).
    "axes.middleware.AxesMiddleware",
]

# django-axes first: it refuses a locked-out username or address before the password is checked.
AUTHENTICATION_BACKENDS = [
    "accounts.backends.AxesBackend",
    "django.contrib.auth.backends.ModelBackend",
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

SQLITE_PATH = BASE_DIR / "db.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{SQLITE_PATH}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serves concurrent requests: WAL lets readers run beside the one writer, IMMEDIATE takes
    # the write lock when a transaction starts (a deferred one that upgrades mid-way fails at once
    # with "database is locked" instead of waiting), and writers queue for up to the busy timeout.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": int(os.environ.get("SQLITE_BUSY_TIMEOUT_SECONDS", "30")),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL;",
        }
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Reused connections are checked before a request uses them (a restarted server closed them), and a
    # server that does not answer fails the request in seconds instead of hanging a worker.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "5"))
    )
# Seconds a client is told to wait (Retry-After) when the database cannot be reached (503, not 500).
DATABASE_UNAVAILABLE_RETRY_AFTER = int(os.environ.get("DATABASE_UNAVAILABLE_RETRY_AFTER", "10"))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# The house style (shop/formats.py): one date format with the year, thousands separators everywhere.
FORMAT_MODULE_PATH = ["config.formats"]
USE_THOUSAND_SEPARATOR = True

STATIC_URL = "static/"
# `manage.py collectstatic` writes here; production serves it from the application (WhiteNoise).
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))

# Model artifacts (factor matrices as .npz, with a sha256 recorded in the database).
ARTIFACTS_DIR = Path(os.environ.get("ARTIFACTS_DIR", VAR_DIR / "artifacts"))

# --- Storefront API (the contract lives in config/api/) ------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: DRF takes the WWW-Authenticate challenge (and so 401, not 403) from the first.
        "config.api.authentication.TokenAuthentication",
        "config.api.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "config.api.pagination.PageNumberPagination",
    "PAGE_SIZE": int(os.environ.get("API_PAGE_SIZE", "50")),
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "config.api.schema.ProblemAutoSchema",
    "EXCEPTION_HANDLER": "config.api.errors.exception_handler",
    # JSON in and out: no browsable HTML under /api/ (the docs are at /api/docs/).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": [
        "config.api.throttling.AnonThrottle",
        "config.api.throttling.CustomerThrottle",
    ],
}
API_MAX_PAGE_SIZE = int(os.environ.get("API_MAX_PAGE_SIZE", "100"))
# RFC 9457 "type" of every problem is this prefix + its stable code.
API_PROBLEM_TYPE_BASE = os.environ.get("API_PROBLEM_TYPE_BASE", "urn:shop:problem:")
# Bodies above this many bytes are refused with 413 (Django's own setting, also the admin's).
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", str(2_621_440)))


def env_rate(name: str, default: str) -> str | None:
    """A DRF rate such as "60/min"; "off" (or empty) disables the scope."""
    value = os.environ.get(name, default).strip()
    return None if value.lower() in {"", "off", "none"} else value


API_THROTTLE_RATES = {
    "anon": env_rate("API_THROTTLE_ANON", "300/min"),
    "customer": env_rate("API_THROTTLE_CUSTOMER", "600/min"),
    "signin_ip": env_rate("API_THROTTLE_SIGNIN_IP", "20/min"),
    "signin_username": env_rate("API_THROTTLE_SIGNIN_USERNAME", "5/min"),
    "orders": env_rate("API_THROTTLE_ORDERS", "30/min"),
}

# Throttle counters (and any other cache use) go to Redis when CACHE_URL is set, so every worker
# process and machine shares them; otherwise to this process's memory.
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "shop"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Served catalogue and recommendation answers (SHOP_SERVE_CACHE_SECONDS) stay in each worker's memory:
# a hit then costs no network round trip, and a few copies of short-lived answers cost little.
CACHES["serve"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "serve",
    "OPTIONS": {"MAX_ENTRIES": int(os.environ.get("SHOP_SERVE_CACHE_ENTRIES", "5000"))},
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Shop intelligence API",
    "DESCRIPTION": "Catalogue, orders, recommendations and stock for an online shop. Every error is an "
    "RFC 9457 problem document (application/problem+json) with a stable `code`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Separate request and response components, so read-only fields are not asked for in bodies and
    # request constraints (minLength of required strings...) are stated for clients and fuzzers.
    "COMPONENT_SPLIT_REQUEST": True,
    # config.api.converters.IdConverter: a bigint id in the path.
    "PATH_CONVERTER_OVERRIDES": {"id": int},
    # /api/docs/ and /api/redoc/ load their scripts from drf-spectacular-sidecar's static files, so they
    # work without internet; no validator badge (Swagger UI would fetch it from validator.swagger.io).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# --- Accounts -----------------------------------------------------------------
# Seconds the shared cache remembers which user a token key signs in (revocations overwrite the entry
# at once). Only with a cache shared by every process (CACHE_URL): a per-process memory cache could not
# be cleared in the other workers, so without one every request looks its token up in the database.
API_TOKEN_CACHE_SECONDS = int(os.environ.get("API_TOKEN_CACHE_SECONDS", "300" if CACHE_URL else "0"))
# Staff and storefront sign-in lockout (django-axes): after AXES_FAILURE_LIMIT failures for one
# username, or from one client address, sign-in is refused for AXES_COOLOFF_MINUTES; every refused try
# restarts the wait. The reason (username, address, user agent, path) is logged at WARNING.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own, not the pair
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # failures are kept (and erased with the person), successes are not
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# The log names the username and address of each failure and lockout (axes masks both by default).
AXES_SENSITIVE_PARAMETERS: list[str] = []
AXES_ENABLED = env_bool("AXES_ENABLED", True)
# Client address behind a reverse proxy: how many proxies append to X-Forwarded-For (0: REMOTE_ADDR).
AXES_IPWARE_PROXY_COUNT = int(os.environ.get("AXES_PROXY_COUNT", "0")) or None
# Links in account emails: the frontend's pages, which post uid and token back to the API.
ACCOUNT_EMAIL_VERIFY_URL = os.environ.get(
    "ACCOUNT_EMAIL_VERIFY_URL", "http://127.0.0.1:8000/account/verify-email?uid={uid}&token={token}"
)
ACCOUNT_PASSWORD_RESET_URL = os.environ.get(
    "ACCOUNT_PASSWORD_RESET_URL", "http://127.0.0.1:8000/account/reset-password?uid={uid}&token={token}"
)
# Verification and reset links expire after this many seconds (Django's setting; 3 days).
PASSWORD_RESET_TIMEOUT = int(os.environ.get("PASSWORD_RESET_TIMEOUT", str(3 * 24 * 3600)))
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "shop@localhost")

# --- Orders -------------------------------------------------------------------
SHOP = {
    # Lines per order: validation and placement take a constant number of queries, but bound the work.
    "ORDER_MAX_LINES": int(os.environ.get("SHOP_ORDER_MAX_LINES", "100")),
    # Units of one product a customer may hold reserved across their open orders.
    "MAX_RESERVED_PER_PRODUCT": int(os.environ.get("SHOP_MAX_RESERVED_PER_PRODUCT", "50")),
    # An order neither fulfilled nor cancelled this long after placement is cancelled, releasing stock.
    "RESERVATION_MINUTES": int(os.environ.get("SHOP_RESERVATION_MINUTES", "30")),
    # How long an Idempotency-Key is remembered per customer.
    "IDEMPOTENCY_KEY_HOURS": int(os.environ.get("SHOP_IDEMPOTENCY_KEY_HOURS", "24")),
    # Every price is in this currency (ISO 4217); the bundled data is a UK shop's.
    "CURRENCY": os.environ.get("SHOP_CURRENCY", "GBP"),
    # The payment provider's webhook signing secret; empty: POST /api/payments/webhook/ answers 503.
    "PAYMENT_WEBHOOK_SECRET": os.environ.get("SHOP_PAYMENT_WEBHOOK_SECRET", ""),
}

# --- Storefront catalogue ---------------------------------------------------
# Browser origins allowed to call the API, comma-separated (https://shop.example.com); none by default.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", "")
CORS_URLS_REGEX = r"^/api/.*$"
CORS_EXPOSE_HEADERS = ["ETag"]
CORS_ALLOW_HEADERS = [
    *("accept", "authorization", "content-type", "user-agent", "x-csrftoken", "x-requested-with"),
    *("idempotency-key", "if-none-match"),  # order retries and conditional catalogue reads
]
# Seconds a shared cache may keep an anonymous catalogue answer (products, categories, similar lists).
SHOP_CATALOGUE_MAX_AGE = int(os.environ.get("SHOP_CATALOGUE_MAX_AGE", "60"))
# Seconds a worker reuses a computed catalogue or recommendation answer from the cache (0: never), so
# a popular page costs no query; a product sold out or hidden meanwhile shows for at most this long.
SHOP_SERVE_CACHE_SECONDS = int(os.environ.get("SHOP_SERVE_CACHE_SECONDS", "30"))
# Events per POST /api/events/: a page's worth of views and cart changes, not a bulk loader.
SHOP_EVENTS_MAX_BATCH = int(os.environ.get("SHOP_EVENTS_MAX_BATCH", "50"))

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL or None)
# No broker configured: run tasks in-process so the embedded setup needs nothing else.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not CELERY_BROKER_URL)
# Eager runs behave like a worker: they retry transient errors and record failures on the run instead of
# raising into the caller (propagating would also turn every retry into an exception).
CELERY_TASK_EAGER_PROPAGATES = env_bool("CELERY_TASK_EAGER_PROPAGATES", False)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 7 * 24 * 3600
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "3300"))
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "3600"))
# Long jobs go to "training", bookkeeping to "default"; a worker serves one or both (-Q).
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "pipeline.tasks.recommender_retrain": {"queue": "training"},
    "pipeline.tasks.forecast_chunk": {"queue": "training"},
    "pipeline.tasks.forecast_finish": {"queue": "training"},
}
# One message at a time per process: a long training job must not hold queued work hostage.
CELERY_WORKER_PREFETCH_MULTIPLIER = int(os.environ.get("CELERY_WORKER_PREFETCH_MULTIPLIER", "1"))
# A message is acknowledged after its task ends, so a crashed worker's task is delivered again;
# only idempotent tasks may run twice, and every pipeline task is.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_TRACK_STARTED = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Transient errors (a database or broker that blips) are retried with exponential, capped, jittered
# delays (pipeline.tasks.retry_delay): retry n waits between half and all of min(MAX, BASE x 2^n) seconds,
# so the default 8 retries outlast an outage of at least 10 minutes (at most about 20).
PIPELINE_RETRY_BACKOFF_BASE = float(os.environ.get("PIPELINE_RETRY_BACKOFF_BASE", "5"))
PIPELINE_RETRY_BACKOFF_MAX = int(os.environ.get("PIPELINE_RETRY_BACKOFF_MAX", "600"))
PIPELINE_MAX_RETRIES = int(os.environ.get("PIPELINE_MAX_RETRIES", "8"))
# Redis redelivers an unacknowledged message after this many seconds, so it must outlast the
# longest task plus the longest retry delay (tests/pipeline/test_celery_settings.py checks it);
# otherwise a healthy long task would be delivered a second time while it still runs.
CELERY_VISIBILITY_TIMEOUT = int(
    os.environ.get(
        "CELERY_VISIBILITY_TIMEOUT", str(CELERY_TASK_TIME_LIMIT + PIPELINE_RETRY_BACKOFF_MAX + 3600)
    )
)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # How often a worker looks for messages whose consumer died (seconds x throttle).
    "unacked_restore_interval": int(os.environ.get("CELERY_UNACKED_RESTORE_INTERVAL", "10")),
    "unacked_restore_throttle": int(os.environ.get("CELERY_UNACKED_RESTORE_THROTTLE", "10")),
}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
# An unreachable broker must fail a send in seconds, with its own error: connect timeout per try.
CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("CELERY_BROKER_CONNECTION_TIMEOUT", "4"))
CELERY_BROKER_TRANSPORT_OPTIONS["socket_connect_timeout"] = CELERY_BROKER_CONNECTION_TIMEOUT
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = CELERY_BROKER_CONNECTION_TIMEOUT
PIPELINE = {
    # Products per forecast task: small enough to spread over workers, large enough to amortise a task.
    "FORECAST_CHUNK_SIZE": int(os.environ.get("PIPELINE_FORECAST_CHUNK_SIZE", "100")),
    # BLAS/OpenMP threads per worker process: run one process per core, each single-threaded.
    "THREADS_PER_PROCESS": int(os.environ.get("PIPELINE_THREADS_PER_PROCESS", "1")),
    # An active run silent this long has lost its message (see pipeline.services.run_reap_silent).
    "SILENT_RUN_SECONDS": int(
        os.environ.get("PIPELINE_SILENT_RUN_SECONDS", str(CELERY_VISIBILITY_TIMEOUT + CELERY_TASK_TIME_LIMIT))
    ),
    # A unit of work (a recommender training, a forecast chunk, a forecast's start or finish) holds a
    # lease in the database that its worker renews every LEASE_RENEW_SECONDS; the recovery task (every
    # minute) sends again a unit whose lease ran out. A SIGKILLed worker is so recovered within
    # LEASE_SECONDS + 60 s, whatever the visibility timeout. The lease tolerates a renewal thread
    # starved for LEASE_SECONDS - LEASE_RENEW_SECONDS (90 s) under load before work is duplicated.
    "LEASE_SECONDS": int(os.environ.get("PIPELINE_LEASE_SECONDS", "120")),
    "LEASE_RENEW_SECONDS": float(os.environ.get("PIPELINE_LEASE_RENEW_SECONDS", "30")),
    # Times one unit is sent again after its worker died before its run is failed (a poison chunk).
    "MAX_RECOVERIES": int(os.environ.get("PIPELINE_MAX_RECOVERIES", "3")),
    # A queued run not marked sent this long after it was created was never sent (its request died).
    "UNSENT_GRACE_SECONDS": int(os.environ.get("PIPELINE_UNSENT_GRACE_SECONDS", "120")),
    # Publishing a task: a few quick retries, then the run fails with the broker's error.
    "SEND_RETRY_POLICY": {
        "max_retries": int(os.environ.get("PIPELINE_SEND_RETRIES", "2")),
        "interval_start": 0,
        "interval_step": 0.5,
        "interval_max": 1,
    },
    # Test hook only: seconds to sleep at each progress step (of a retrain's first attempt, and of each
    # forecast chunk) so a test can kill a worker mid-run.
    "STAGE_DELAY_SECONDS": float(os.environ.get("PIPELINE_STAGE_DELAY_SECONDS", "0")),
}

# --- Recommender ------------------------------------------------------------
RECOMMENDER = {
    "TOP_N": 50,
    "SIMILAR_N": 20,
    # Blend weights are tuned on the last VALIDATION_DAYS of the training data; old versions beyond
    # the newest KEEP_VERSIONS (the active one always kept) are deleted with their lists.
    "VALIDATION_DAYS": int(os.environ.get("RECOMMENDER_VALIDATION_DAYS", "90")),
    "KEEP_VERSIONS": int(os.environ.get("RECOMMENDER_KEEP_VERSIONS", "3")),
    # Bounds for Surprise's randomized hyperparameter search over SVD.
    "SVD_SEARCH": {
        "n_iter": int(os.environ.get("RECOMMENDER_SVD_SEARCH_ITER", "6")),
        "cv": 3,
        "param_distributions": {
            "n_factors": [50, 100, 150],
            "n_epochs": [30, 40],
            "lr_all": [0.005, 0.01],
            "reg_all": [0.05, 0.1, 0.15],
        },
    },
}

# --- Inventory --------------------------------------------------------------
INVENTORY = {
    "DEFAULT_SERVICE_LEVEL": float(os.environ.get("INVENTORY_SERVICE_LEVEL", "0.95")),
    "DEFAULT_LEAD_TIME_DAYS": int(os.environ.get("INVENTORY_LEAD_TIME_DAYS", "7")),
    "FORECAST_HORIZON_DAYS": 28,
    "HOLDING_COST_RATE": float(os.environ.get("INVENTORY_HOLDING_COST_RATE", "0.25")),
    "ORDERING_COST": float(os.environ.get("INVENTORY_ORDERING_COST", "20")),
    # Order quantity in days of forecast demand when a product has no unit cost for EOQ.
    "ORDER_COVER_DAYS": int(os.environ.get("INVENTORY_ORDER_COVER_DAYS", "14")),
    # Bounds a buyer can sign: an order covers at most this many days of forecast demand (unless the
    # supplier's minimum order or pack size forces more), and safety stock is at most this multiple
    # of lead-time demand. Chosen on validation replays before the test window (docs/BENCHMARKS.md).
    "MAX_COVER_DAYS": float(os.environ.get("INVENTORY_MAX_COVER_DAYS", "120")),
    "MAX_SAFETY_STOCK_MULTIPLE": float(os.environ.get("INVENTORY_MAX_SAFETY_STOCK_MULTIPLE", "10")),
    # The admin flags a suggestion for a second look above these (display only; they change no quantity).
    # A suggestion is flagged for a second look (inventory/flags.py; display only, no quantity changes)
    # when it orders more than this many days of the last 8 weeks' sales, when the cover bound capped
    # an order the policy wanted for more than this many days, when its daily forecast moved more than
    # this many times since the product's previous run (and by this many units over 28 days), or when
    # the supplier's minimum order is more than this multiple of what was needed. Chosen on a
    # validation run before the reported one (bench/flag_thresholds.py; docs/BENCHMARKS.md, "Flags that
    # pick out"). The jump's unit floor (one a day over 28 days) only keeps slow sellers' noise out.
    "FLAG_ABOVE_SALES_DAYS": float(os.environ.get("INVENTORY_FLAG_ABOVE_SALES_DAYS", "420")),
    "FLAG_CAPPED_WANTED_DAYS": float(os.environ.get("INVENTORY_FLAG_CAPPED_WANTED_DAYS", "280")),
    "FLAG_FORECAST_JUMP_RATIO": float(os.environ.get("INVENTORY_FLAG_FORECAST_JUMP_RATIO", "2")),
    "FLAG_FORECAST_JUMP_MIN_UNITS": float(os.environ.get("INVENTORY_FLAG_FORECAST_JUMP_MIN_UNITS", "28")),
    "FLAG_MINIMUM_ORDER_RATIO": float(os.environ.get("INVENTORY_FLAG_MINIMUM_ORDER_RATIO", "2")),
    # Purchase orders are emailed from this address, signed with the shop's name.
    "PURCHASE_ORDER_FROM": os.environ.get("PURCHASE_ORDER_FROM_EMAIL", "") or DEFAULT_FROM_EMAIL,
    "SHOP_NAME": os.environ.get("SHOP_NAME", "Shop intelligence"),
}

# --- Imports ----------------------------------------------------------------
# Rows dated before this day, or later than now plus the tolerance, are rejected with a reason.
IMPORT_EARLIEST_DATE = os.environ.get("IMPORT_EARLIEST_DATE", "2000-01-01")
IMPORT_FUTURE_TOLERANCE_HOURS = float(os.environ.get("IMPORT_FUTURE_TOLERANCE_HOURS", "24"))
# A unit price above this is a typing error, not a sale (the real file's dearest product is 649.50).
IMPORT_MAX_UNIT_PRICE = float(os.environ.get("IMPORT_MAX_UNIT_PRICE", "10000"))
# Checked on disk before reading (a gzip or parquet file can expand ~10x in memory).
IMPORT_MAX_FILE_BYTES = int(os.environ.get("IMPORT_MAX_FILE_BYTES", str(512 * 1024 * 1024)))

# Tests that need PostgreSQL or Redis fail instead of skipping when this is set (CI).
REQUIRE_SERVICES = env_bool("REQUIRE_SERVICES", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # django-axes announces itself in every process at start-up; its failures and lockouts are WARNING.
    "loggers": {"axes.apps": {"level": "WARNING"}},
}
