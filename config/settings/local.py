"""Development and demo settings: debug on, a fixed insecure key unless one is given."""

from .base import *  # noqa: F403
from .base import SECRET_KEY, env_bool

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = SECRET_KEY or "django-insecure-local-development-key-not-for-production"
