"""Test settings: fast hashing, eager Celery unless a test starts a real worker."""

from .base import *  # noqa: F403
from .base import SECRET_KEY

SECRET_KEY = SECRET_KEY or "django-insecure-test-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests run tasks in-process; the tests that exercise a real worker switch this off themselves.
CELERY_TASK_ALWAYS_EAGER = True
ARTIFACTS_DIR = BASE_DIR / "var" / "test-artifacts"  # noqa: F405

# Throttling is off in tests so a long run from one address never trips it; throttle tests switch
# their scope on with the settings fixture.
API_THROTTLE_RATES = dict.fromkeys(API_THROTTLE_RATES)  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not the shared in-memory database: a retrain the admin starts runs in a thread with its
    # own connection while the live server answers, and shared-cache memory databases refuse such
    # concurrent use ("database table is locked") where a WAL file serves it, as in production.
    (BASE_DIR / "var").mkdir(exist_ok=True)  # noqa: F405  (a fresh clone has no var/ yet)
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test-db.sqlite3")}  # noqa: F405

# Every test sees its own database: answers cached by an earlier test would leak into it.
SHOP_SERVE_CACHE_SECONDS = 0
