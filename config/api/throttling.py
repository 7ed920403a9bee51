"""Scoped throttles; rates live in ``settings.API_THROTTLE_RATES`` and counters in the default cache.

Rates are looked up at request time (DRF reads its own setting once at import), so a deployment
changes them through the environment and a test through ``settings``. A rate of ``None`` turns a
scope off.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from rest_framework import throttling


class _SettingsRate:
    def get_rate(self):
        return settings.API_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        # The rate is re-read on every request; DRF parses it once in __init__.
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class AnonThrottle(_SettingsRate, throttling.AnonRateThrottle):
    """Anonymous callers, per IP."""

    scope = "anon"


class CustomerThrottle(_SettingsRate, throttling.UserRateThrottle):
    """Signed-in callers (customers and staff), per user; anonymous ones are AnonThrottle's."""

    scope = "customer"

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return None
        return super().get_cache_key(request, view)


class SignInIPThrottle(_SettingsRate, throttling.SimpleRateThrottle):
    """Sign-in attempts (token, session login, sign-up) per client IP."""

    scope = "signin_ip"

    def get_cache_key(self, request, view):
        if request.method != "POST":
            return None  # fetching a CSRF token or signing out is not an attempt
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class SignInUsernameThrottle(_SettingsRate, throttling.SimpleRateThrottle):
    """Sign-in attempts per username, whatever IPs they come from (credential stuffing)."""

    scope = "signin_username"

    def get_cache_key(self, request, view):
        if request.method != "POST":
            return None
        data = request.data if isinstance(request.data, dict) else {}
        username = data.get("username")
        if not isinstance(username, str) or not username:
            return None
        # Hash so any string (long, odd characters) makes a valid cache key.
        ident = hashlib.sha256(username.strip().lower().encode("utf-8", "replace")).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class OrderThrottle(_SettingsRate, throttling.SimpleRateThrottle):
    """Order placements per user (reads are the customer scope's)."""

    scope = "orders"

    def get_cache_key(self, request, view):
        if request.method != "POST" or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


SIGN_IN_THROTTLES = [SignInIPThrottle, SignInUsernameThrottle]
