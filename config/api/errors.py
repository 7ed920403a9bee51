"""RFC 9457 problem details: one JSON error shape for the whole API.

Every error body is ``{"type", "title", "status", "detail", "code", "errors"}`` served as
``application/problem+json``: ``code`` is stable (clients switch on it, never on ``detail``) and
``errors`` maps a field path (``lines.0.quantity``) to its messages, empty when no field is at fault.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent
from django.http import Http404, HttpRequest, HttpResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

# Stable codes for plain HTTP statuses; DRF's own codes (not_authenticated, throttled...) are kept as is.
STATUS_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "throttled",
    500: "server_error",
    503: "service_unavailable",
}


def problem_type(code: str) -> str:
    return f"{settings.API_PROBLEM_TYPE_BASE}{code}"


def problem_body(
    *, status_code: int, code: str | None = None, detail: str = "", errors: dict | None = None, **extra: Any
) -> dict[str, Any]:
    code = code or STATUS_CODES.get(status_code, "error")
    title = HTTPStatus(status_code).phrase if status_code in HTTPStatus._value2member_map_ else "Error"
    body = {
        "type": problem_type(code),
        "title": title,
        "status": status_code,
        "detail": detail or title,
        "code": code,
        "errors": errors or {},
    }
    body.update(extra)
    return body


def problem(
    *,
    status_code: int,
    code: str | None = None,
    detail: str = "",
    errors: dict | None = None,
    headers: dict | None = None,
    **extra: Any,
) -> Response:
    """A DRF response carrying a problem document."""
    return Response(
        problem_body(status_code=status_code, code=code, detail=detail, errors=errors, **extra),
        status=status_code,
        headers=headers,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def problem_http_response(
    *,
    status_code: int,
    code: str | None = None,
    detail: str = "",
    headers: dict | None = None,
    errors: dict | None = None,
) -> HttpResponse:
    """The same document as a plain Django response, for answers produced outside DRF."""
    response = HttpResponse(
        json.dumps(problem_body(status_code=status_code, code=code, detail=detail, errors=errors)),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class ProblemError(exceptions.APIException):
    """Raise from a view for a domain error: ``ProblemError(409, "insufficient_stock", "...")``.

    ``extra`` members are added to the body (RFC 9457 extension members), e.g. ``available=3``.
    """

    def __init__(
        self, status_code: int, code: str, detail: str, errors: dict | None = None, **extra: Any
    ) -> None:
        self.status_code = status_code
        self.problem_code = code
        self.errors = errors or {}
        self.extra = extra
        super().__init__(detail=detail, code=code)


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested ``{"lines": [{"quantity": [...]}]}`` as ``{"lines.0.quantity": [...]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = prefix if key == "non_field_errors" and prefix else (f"{prefix}.{key}" if prefix else key)
            for path, messages in flatten_errors(value, name).items():
                flat.setdefault(path, []).extend(messages)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            flat[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                if item:
                    flat.update(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "non_field_errors"] = [str(detail)]
    return flat


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error a view raises becomes a problem document."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
        set_rollback()
        return problem(status_code=413, code="request_too_large", detail="The request body is too large.")
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: Django answers 500, which ApiProblemMiddleware turns into a problem

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    set_rollback()

    if isinstance(exc, ProblemError):
        return problem(
            status_code=exc.status_code,
            code=exc.problem_code,
            detail=str(exc.detail),
            errors=exc.errors,
            headers=headers,
            **exc.extra,
        )
    if isinstance(exc, exceptions.ValidationError):
        # Always "invalid": the field-level reasons are in ``errors``, the code stays one thing to match.
        errors = flatten_errors(exc.detail)
        detail = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items())
        if set(errors) == {"non_field_errors"}:
            errors = {}
        return problem(status_code=400, code="invalid", detail=detail, errors=errors, headers=headers)
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    code = exc.get_codes() if isinstance(exc.get_codes(), str) else None
    return problem(status_code=exc.status_code, code=code, detail=str(detail), headers=headers)


class ApiProblemMiddleware:
    """Under ``/api/``, anything Django itself answers with an error page becomes a problem document.

    DRF views already answer problems (their content type is JSON and left alone); this catches
    unknown URLs (404 from the resolver, HTML even with DEBUG on), 405 from plain Django views,
    bodies over DATA_UPLOAD_MAX_MEMORY_SIZE (413, checked on Content-Length before any view reads
    the stream, since DRF's parsers read it without Django's limit) and unhandled exceptions (500).
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    @staticmethod
    def _is_api(request: HttpRequest) -> bool:
        return request.path.startswith("/api/") and not request.path.startswith(("/api/docs/", "/api/redoc/"))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self._is_api(request):
            return self.get_response(request)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return problem_http_response(status_code=400, detail="Content-Length is not a number.")
        if limit is not None and length > limit:
            return problem_http_response(
                status_code=413,
                code="request_too_large",
                detail=f"The request body is larger than {limit} bytes.",
            )
        repeated = sorted(name for name, values in request.GET.lists() if len(values) > 1)
        if repeated:
            # Every parameter of the API takes one value (lists are comma-separated, e.g.
            # ordering=price,-name): a repeat is refused rather than silently keeping the last one.
            return problem_http_response(
                status_code=400,
                code="invalid",
                detail=f"Give each query parameter once (lists are comma-separated): {', '.join(repeated)}.",
                errors={
                    name: ["Give this parameter once; separate several values with commas."]
                    for name in repeated
                },
            )
        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        if response.status_code >= 400 and "json" not in content_type:
            headers = {
                name: response[name]
                for name in ("Allow", "WWW-Authenticate", "Retry-After")
                if name in response
            }
            return problem_http_response(status_code=response.status_code, headers=headers)
        return response

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not self._is_api(request):
            return None
        if isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
            return problem_http_response(
                status_code=413, code="request_too_large", detail="The request body is too large."
            )
        if isinstance(exc, Http404):
            return problem_http_response(status_code=404)
        logger.exception("Unhandled error on %s %s", request.method, request.path, exc_info=exc)
        return problem_http_response(status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)
