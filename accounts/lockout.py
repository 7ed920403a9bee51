"""What a locked-out sign-in is told: when to retry, in ``Retry-After`` and in words.

django-axes (``AXES_*`` settings) counts failed sign-ins per username and per client address, for
the admin's login and the API's alike, and refuses both for ``AXES_COOLOFF_TIME`` after
``AXES_FAILURE_LIMIT`` failures (each refused try restarts the wait). Axes logs every failure and
the lockout with the username, address, user agent and path ("AXES: Locking out ...").
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from config.api.errors import ProblemError, problem_http_response


def cool_off() -> timedelta:
    from axes.helpers import get_cool_off

    return get_cool_off() or timedelta(0)


def _detail() -> tuple[int, str]:
    wait = cool_off()
    seconds = max(math.ceil(wait.total_seconds()), 1)
    until = timezone.now() + wait
    minutes = max(round(seconds / 60), 1)
    detail = (
        "Too many failed sign-ins for this username or from this address. Try again in "
        f"{minutes} minute{'s' if minutes != 1 else ''} (after {until:%H:%M} UTC); every try before "
        "then restarts the wait."
    )
    return seconds, detail


def locked_out_problem(request: HttpRequest) -> ProblemError:
    seconds, detail = _detail()
    error = ProblemError(429, "locked_out", detail)
    error.wait = seconds  # the exception handler turns it into Retry-After
    return error


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: a problem document under /api/, the admin's page elsewhere."""
    if request.path.startswith("/api/"):
        if original_response is not None and original_response.status_code == 429:
            return original_response  # the view already answered the lockout problem
        seconds, detail = _detail()
        return problem_http_response(
            status_code=429, code="locked_out", detail=detail, headers={"Retry-After": str(seconds)}
        )
    seconds, detail = _detail()
    # Rendered now: a middleware's response is not rendered later as a view's TemplateResponse is.
    response = render(
        request, "accounts/lockout.html", {"title": "Sign-in locked", "detail": detail}, status=429
    )
    response["Retry-After"] = str(seconds)
    return response
