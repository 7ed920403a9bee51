"""Project system checks, registered by ``pipeline.apps`` (``manage.py check --deploy`` runs them)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Info, Tags, register
from django.db import DatabaseError


@register(Tags.security, deploy=True)
def no_demo_accounts_in_production(app_configs=None, **kwargs) -> list:
    """A demo login (``load_demo``'s, or one using a published demo password) has no place in production."""
    if not settings.IS_PRODUCTION:
        return []
    from pipeline.demo import demo_accounts

    try:
        names = sorted(user.get_username() for user in demo_accounts())
    except DatabaseError as exc:  # no database yet (a fresh deployment checks before migrating)
        return [Info(f"Could not look for demo accounts: {exc}", id="shop.I001")]
    if not names:
        return []
    return [
        Error(
            f"Demo account(s) exist in the production database: {', '.join(names)}.",
            hint="Delete them (or load_demo ran against this database by mistake: check DATABASE_URL).",
            id="shop.E001",
        )
    ]


# Caches that live in one process (or nowhere): throttles and token revocation would not hold across workers.
_PER_PROCESS_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}


@register(Tags.caches, deploy=True)
def shared_cache_in_production(app_configs=None, **kwargs) -> list:
    """Throttles, sign-in limits and the token cache need the default cache shared by every worker."""
    if not settings.IS_PRODUCTION:
        return []
    backend = settings.CACHES["default"]["BACKEND"]
    if backend not in _PER_PROCESS_CACHES:
        return []
    return [
        Error(
            f"The default cache ({backend}) is not shared between worker processes.",
            hint="Set CACHE_URL=redis://host:6379/1: throttles, sign-in limits and token revocation "
            "must hold across every worker.",
            id="shop.E002",
        )
    ]
