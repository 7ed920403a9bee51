"""Sign-ins of the storefront's users: one API token per device, the sessions, verified emails.

A token's key is shown once, when it is created; only its SHA-256 is stored, so a copy of the
database signs nobody in. Every write goes through ``accounts.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """One device's (or app's, or script's) sign-in: revoking it signs out that device only."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the key, hex.")
    name = models.CharField(
        max_length=100, blank=True, help_text="What the client called this sign-in (e.g. 'iPhone')."
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Sign-in, then updated at most every few minutes, not on every request.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name or 'token'} #{self.pk}"


class UserSession(models.Model):
    """A session-cookie sign-in (the storefront's or the admin's), so "sign out everywhere" can end it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"session of user #{self.user_id} from {self.created_at:%Y-%m-%d %H:%M}"


class VerifiedEmail(models.Model):
    """The address a user proved they read. The user's email is verified while it equals this one."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    email = models.EmailField()
    verified_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"verified email of user #{self.user_id}"
