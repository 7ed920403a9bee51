"""Token keys, their hashes, the token-to-user cache and the one-time link tokens sent by email.

The cache lives in Django's ``default`` cache (Redis when ``CACHE_URL`` is set), shared by every
worker process: a read finds the user there without a database query, and a revocation replaces the
entry at once for every process. It is only used when that cache is shared
(``API_TOKEN_CACHE_SECONDS`` defaults to 0 otherwise), because a per-process memory cache could not
be cleared in the other workers.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.cache import cache

# What a cached entry says about a key that signs nobody in (revoked, unknown, inactive user).
REFUSED = "-"
# The user fields a cached entry carries; the rest of the user loads lazily if a view reads it.
CACHED_USER_FIELDS = ("id", "username", "is_active", "is_staff", "is_superuser")


def key_generate() -> str:
    """A new token key: 40 hex characters (160 bits), the shape DRF's tokens had."""
    return secrets.token_hex(20)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def cache_seconds() -> int:
    return max(int(settings.API_TOKEN_CACHE_SECONDS), 0)


def cache_key(hashed: str) -> str:
    return f"auth:token:{hashed}"


def cache_entry(*, token_id: int, user) -> tuple | str:
    if not user.is_active:
        return REFUSED
    return (token_id, *(getattr(user, name) for name in CACHED_USER_FIELDS))


def cache_get(hashed: str) -> Any:
    if not cache_seconds():
        return None
    return cache.get(cache_key(hashed))


def cache_fill(hashed: str, entry: tuple | str) -> None:
    """Store a looked-up entry unless one is there: ``add`` never overwrites a revocation written
    meanwhile, so a request that read the database just before a revoke cannot bring the key back."""
    if cache_seconds():
        cache.add(cache_key(hashed), entry, cache_seconds())


def cache_replace(entries: dict[str, tuple | str]) -> None:
    """Overwrite entries (after a revocation or a change of the user), in every process at once."""
    if cache_seconds() and entries:
        cache.set_many({cache_key(hashed): entry for hashed, entry in entries.items()}, cache_seconds())


def user_from_entry(entry: tuple):
    """The user of a cached entry, built without a query (other fields load on first access)."""
    user_model = get_user_model()
    concrete = [field.attname for field in user_model._meta.concrete_fields]
    values = dict(zip(("token_id", *CACHED_USER_FIELDS), entry, strict=True))
    names = [name for name in concrete if name in values]
    return user_model.from_db("default", names, [values[name] for name in names]), values["token_id"]


class EmailVerificationTokenGenerator(PasswordResetTokenGenerator):
    """A link token proving the user reads ``user.email``. It dies once that address is verified or
    the address changes, and after ``PASSWORD_RESET_TIMEOUT`` like Django's reset links."""

    key_salt = "accounts.tokens.EmailVerificationTokenGenerator"

    def _make_hash_value(self, user, timestamp: int) -> str:
        from .models import VerifiedEmail

        verified = VerifiedEmail.objects.filter(user_id=user.pk).values_list("email", flat=True).first()
        return f"{user.pk}{user.email}{verified or ''}{timestamp}"


email_verification_token = EmailVerificationTokenGenerator()
