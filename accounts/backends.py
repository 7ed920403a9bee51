"""The lockout backend: django-axes', for every sign-in that comes with a request."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class AxesBackend(AxesStandaloneBackend):
    """Axes' lockout check for sign-ins through HTTP (the admin's login, the API's sign-ins).

    ``authenticate()`` without a request (a management command, a shell, a test) has no client
    address to count and nothing to throttle, so it goes straight to the password check instead of
    raising, as axes' own backend does.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
