"""Settings shared by every environment.

This package is the only place that reads the environment. With nothing set the
project runs on an embedded SQLite database and executes Celery tasks eagerly;
``DATABASE_URL`` and ``CELERY_BROKER_URL`` switch to PostgreSQL and Redis.
"""

import os
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
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "django_celery_beat",
    "corsheaders",
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

STATIC_URL = "static/"
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
}

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
# Transient errors (a database or broker that blips) are retried with capped, jittered backoff.
PIPELINE_RETRY_BACKOFF_MAX = int(os.environ.get("PIPELINE_RETRY_BACKOFF_MAX", "600"))
PIPELINE_MAX_RETRIES = int(os.environ.get("PIPELINE_MAX_RETRIES", "5"))
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
    # Test hook only: seconds to sleep at each progress step so a test can kill a worker mid-run.
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
    "FLAG_COVER_DAYS": float(os.environ.get("INVENTORY_FLAG_COVER_DAYS", "90")),
    "FLAG_SAFETY_MULTIPLE": float(os.environ.get("INVENTORY_FLAG_SAFETY_MULTIPLE", "3")),
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
}
