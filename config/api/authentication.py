"""API authentication: tokens for apps and scripts, the session for a same-site frontend.

HTTP Basic is deliberately absent: it runs the password hasher on every request and sends the
password each time. Token comes first in DEFAULT_AUTHENTICATION_CLASSES because DRF takes the
``WWW-Authenticate`` challenge from the first class, and a challenge is what makes an anonymous
caller's answer a 401 rather than a 403.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts import tokens
from accounts.models import ApiToken

INVALID_TOKEN = "Invalid token."
# last_used_at is written at most this often per token: a read must not become a write.
TOUCH_SECONDS = 300


class TokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token <key>`` (or ``Bearer <key>``): one of the user's per-device tokens.

    Only the key's SHA-256 is stored. The key-to-user answer is kept in the shared cache
    (``accounts.tokens``), so a request usually costs no query for authentication; revoking a token,
    signing out everywhere, erasure or deactivating the user overwrite the entry for every process.

    An unknown or revoked token is a 401 problem even on a public endpoint: the client believes it
    is signed in, and silently serving it as anonymous would hide that. Any other scheme (e.g. a
    stale Basic header) is ignored, so it never turns the public catalogue into an error.
    """

    keywords = ("token", "bearer")

    def authenticate(self, request):
        auth = authentication.get_authorization_header(request).split()
        if not auth or auth[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(auth) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid token header: give exactly one token after the keyword."
            )
        try:
            key = auth[1].decode("ascii")
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token header: the token must be ASCII.") from None
        return self.authenticate_credentials(key)

    def authenticate_credentials(self, key: str):
        hashed = tokens.key_hash(key)
        entry = tokens.cache_get(hashed)
        if entry is None:
            entry = self._look_up(hashed)
            tokens.cache_fill(hashed, entry)
        if entry == tokens.REFUSED:
            raise exceptions.AuthenticationFailed(INVALID_TOKEN)
        user, token_id = tokens.user_from_entry(entry)
        return user, token_id

    @staticmethod
    def _look_up(hashed: str) -> tuple | str:
        token = ApiToken.objects.select_related("user").filter(key_hash=hashed).first()
        if token is None or not token.user.is_active:
            return tokens.REFUSED
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > TOUCH_SECONDS:
            stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(seconds=TOUCH_SECONDS))
            ApiToken.objects.filter(stale, pk=token.pk).update(last_used_at=now)
        return tokens.cache_entry(token_id=token.pk, user=token.user)

    def authenticate_header(self, request) -> str:
        return 'Token realm="api"'


class CsrfFailed(exceptions.PermissionDenied):
    default_code = "csrf_failed"


class SessionAuthentication(authentication.SessionAuthentication):
    """Django's session cookie, with CSRF enforced on unsafe methods (DRF's behaviour).

    A CSRF failure is its own problem code, ``csrf_failed``, not ``permission_denied``: the client
    must fetch a token, not ask for a right. It also offers a challenge, so a view that lists it
    alone still answers anonymous callers 401.
    """

    def enforce_csrf(self, request) -> None:
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as exc:
            raise CsrfFailed(
                f"{exc.detail} Send the csrftoken cookie's value as X-CSRFToken.", code="csrf_failed"
            ) from None

    def authenticate_header(self, request) -> str:
        return 'Session realm="api"'
