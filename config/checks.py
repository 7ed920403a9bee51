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
