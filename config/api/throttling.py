"""Scoped throttles; rates live in ``settings.API_THROTTLE_RATES`` and counters in the default cache.

Rates are looked up at request time (DRF reads its own setting once at import), so a deployment
changes them through the environment and a test through ``settings``. A rate of ``None`` turns a
scope off.

Counting is atomic: each request increments a counter in the cache (Redis ``INCR`` when
``CACHE_URL`` is set, a locked update in memory otherwise), so concurrent requests in any number of
worker processes cannot both read "4 of 5" and both pass, as DRF's read-then-write history can.
The window slides: the previous fixed window's count is weighted by the part of it still inside the
last ``duration`` seconds (the approximation Cloudflare and others use), so a burst at a window's
edge does not get twice the rate.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework import throttling


class _AtomicSlidingRate(throttling.SimpleRateThrottle):
    timer = time.time

    def __init__(self) -> None:  # DRF's reads the rate at import; ours per request (allow_request)
        pass

    def get_rate(self):
        return settings.API_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        current_key, previous_key = f"{self.key}:{window}", f"{self.key}:{window - 1}"
        current = _increment(current_key, self.duration * 2)
        previous = cache.get(previous_key) or 0
        self.elapsed = (now - window * self.duration) / self.duration  # share of this window gone
        self.previous, self.current = previous, current
        if previous * (1 - self.elapsed) + current <= self.num_requests:
            return True
        with contextlib.suppress(ValueError):  # the counter expired meanwhile
            cache.decr(current_key)  # a refused request is not counted against the next ones
        self.current = current - 1
        return False

    def wait(self) -> float:
        """Seconds until one more request fits: when this window's count is at the limit, its end;
        otherwise when enough of the previous window has slid out."""
        remaining = 1 - self.elapsed
        if self.current >= self.num_requests or self.previous <= 0:
            return max(remaining * self.duration, 1)
        # previous * (1 - f) + current + 1 <= limit  <=>  f >= 1 - (limit - current - 1) / previous
        needed = 1 - (self.num_requests - self.current - 1) / self.previous
        return max(math.ceil((needed - self.elapsed) * self.duration), 1)


def _increment(key: str, timeout: int) -> int:
    try:
        return cache.incr(key)
    except ValueError:  # no counter yet in this window
        if cache.add(key, 1, timeout):
            return 1
        return cache.incr(key)  # another process created it meanwhile


class AnonThrottle(_AtomicSlidingRate):
    """Anonymous callers, per IP."""

    scope = "anon"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None
        return f"throttle:{self.scope}:{self.get_ident(request)}"


class CustomerThrottle(_AtomicSlidingRate):
    """Signed-in callers (customers and staff), per user; anonymous ones are AnonThrottle's."""

    scope = "customer"

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return None
        return f"throttle:{self.scope}:{request.user.pk}"


class SignInIPThrottle(_AtomicSlidingRate):
    """Sign-in attempts (token, session login, sign-up, password reset) per client IP."""

    scope = "signin_ip"

    def get_cache_key(self, request, view):
        if request.method != "POST":
            return None  # fetching a CSRF token or signing out is not an attempt
        return f"throttle:{self.scope}:{self.get_ident(request)}"


class SignInUsernameThrottle(_AtomicSlidingRate):
    """Sign-in attempts per username (or, for a password reset, per email), whatever IPs they come
    from (credential stuffing)."""

    scope = "signin_username"

    def get_cache_key(self, request, view):
        if request.method != "POST":
            return None
        data = request.data if isinstance(request.data, dict) else {}
        name = data.get("username") or data.get("email")
        if not isinstance(name, str) or not name:
            return None
        # Hash so any string (long, odd characters) makes a valid cache key.
        ident = hashlib.sha256(name.strip().lower().encode("utf-8", "replace")).hexdigest()
        return f"throttle:{self.scope}:{ident}"


class OrderThrottle(_AtomicSlidingRate):
    """Order placements per user (reads are the customer scope's)."""

    scope = "orders"

    def get_cache_key(self, request, view):
        if request.method != "POST" or not request.user.is_authenticated:
            return None
        return f"throttle:{self.scope}:{request.user.pk}"


SIGN_IN_THROTTLES = [SignInIPThrottle, SignInUsernameThrottle]
