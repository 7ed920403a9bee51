"""API authentication: tokens for apps and scripts, the session for a same-site frontend.

HTTP Basic is deliberately absent: it runs the password hasher on every request and sends the
password each time. Token comes first in DEFAULT_AUTHENTICATION_CLASSES because DRF takes the
``WWW-Authenticate`` challenge from the first class, and a challenge is what makes an anonymous
caller's answer a 401 rather than a 403.
"""

from __future__ import annotations

from rest_framework import authentication


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's authtoken, accepting ``Authorization: Token <key>`` and ``Authorization: Bearer <key>``.

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
            raise self._failed("Invalid token header: give exactly one token after the keyword.")
        try:
            key = auth[1].decode()
        except UnicodeError:
            raise self._failed("Invalid token header: the token must be ASCII.") from None
        return self.authenticate_credentials(key)

    @staticmethod
    def _failed(message: str):
        from rest_framework.exceptions import AuthenticationFailed

        return AuthenticationFailed(message)

    def authenticate_header(self, request) -> str:
        return 'Token realm="api"'


class SessionAuthentication(authentication.SessionAuthentication):
    """Django's session cookie, with CSRF enforced on unsafe methods (DRF's behaviour).

    It also offers a challenge, so a view that lists it alone still answers anonymous callers 401.
    """

    def authenticate_header(self, request) -> str:
        return 'Session realm="api"'
