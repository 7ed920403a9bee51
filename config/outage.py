"""A database that cannot be reached is an outage, not a bug: 503 with ``Retry-After``, never 500.

Two ways an outage reaches a response, and both end here:

- a view (every API view, every admin page) raises while it queries: ``DatabaseUnavailableMiddleware``
  answers from ``process_exception``, whatever ``DEBUG`` says;
- a middleware raises (a session saved after the view): Django calls ``handler500``, which is
  ``server_error`` below, still inside the ``except`` block, so it can tell an outage from a bug.

Under ``/api/`` the answer is a problem document (``code: service_unavailable``); elsewhere a plain
page that needs no template, database or session to render.
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views import defaults

from config.api.errors import problem_http_response

logger = logging.getLogger(__name__)

# SQLite reports some programming errors as OperationalError too; those are bugs, not outages.
SQLITE_BUGS = ("no such table", "no such column", "has no column named", "syntax error")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Service unavailable</title></head>
<body><h1>Service unavailable</h1>
<p>The shop's database cannot be reached right now. Please try again in a few seconds.</p></body></html>
"""


def database_unavailable(exc: BaseException | None) -> bool:
    """True for a database that is down, unreachable, restarting or overloaded (DB-API OperationalError)."""
    if isinstance(exc, InterfaceError):  # the connection was closed under us
        return True
    if not isinstance(exc, OperationalError):
        return False
    message = str(exc).lower()
    return not any(bug in message for bug in SQLITE_BUGS)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") and not request.path.startswith(("/api/docs/", "/api/redoc/"))


def unavailable_response(request: HttpRequest, exc: BaseException) -> HttpResponse:
    retry_after = str(settings.DATABASE_UNAVAILABLE_RETRY_AFTER)
    logger.warning("Database unavailable on %s %s: %s", request.method, request.path, exc)
    if _is_api(request):
        return problem_http_response(
            status_code=503,
            code="service_unavailable",
            detail="The database cannot be reached right now; try again after Retry-After seconds.",
            headers={"Retry-After": retry_after},
        )
    response = HttpResponse(PAGE, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = retry_after
    return response


class DatabaseUnavailableMiddleware:
    """Turns a database outage raised by a view into a 503; last in MIDDLEWARE, so it sees it first."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if database_unavailable(exc):
            return unavailable_response(request, exc)
        return None


def server_error(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """``handler500``: an outage outside any view is still a 503; anything else is Django's own 500."""
    exc = sys.exc_info()[1]
    if database_unavailable(exc):
        return unavailable_response(request, exc)
    return defaults.server_error(request, *args, **kwargs)
