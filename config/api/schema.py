"""The problem body in the OpenAPI document, and the statuses every operation can answer.

Views declare their own outcomes with
``extend_schema(responses={200: ..., **problem_responses({409: "Not enough stock"})})``.
``ProblemAutoSchema`` then adds, for each operation, the problems
the shared machinery can produce whatever the view does, unless the view described them itself:

- 401 everywhere (an unknown or revoked token is refused even on public endpoints);
- 403 on protected or unsafe operations (permissions, CSRF for a session);
- 400 everywhere: a query or a body to validate, or a repeated query parameter (ApiProblemMiddleware);
  413 and 415 where there is a body;
- 404 where the path names an object, or a paginated list is asked for a page that does not exist;
- 429 everywhere (throttling);
- 503 wherever a request authenticates (so reads the database), when the database cannot be reached.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions, serializers

from .errors import PROBLEM_CONTENT_TYPE


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, plus a stable ``code`` and per-field ``errors``."""

    type = serializers.CharField(help_text="A URI naming the kind of problem.")
    title = serializers.CharField(help_text="The HTTP status phrase.")
    status = serializers.IntegerField(help_text="The HTTP status code.")
    detail = serializers.CharField(help_text="What went wrong, for a human.")
    code = serializers.CharField(help_text="A stable machine-readable code; switch on this, not on detail.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per field path (e.g. lines.0.quantity); empty when no field is at fault.",
    )


def problem_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(ProblemSerializer, description=description)


def problem_responses(by_status: dict[int, str]) -> dict:
    """``problem_responses({404: "No such order"})``, to merge into ``extend_schema(responses=...)``.

    Every value becomes a problem body served as ``application/problem+json``.
    """
    return {
        (status_code, PROBLEM_CONTENT_TYPE): problem_response(description)
        for status_code, description in by_status.items()
    }


_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


# Database ids (bigint primary keys): what a path id or an id filter can be.
ID_BOUNDS = {"minimum": 1, "maximum": 2**63 - 1}


def _filter_bounds(filter_) -> dict:
    """The bounds a django-filter filter enforces, as JSON Schema keywords (django-filter's schema
    extension states the type only)."""
    import django_filters

    bounds = {}
    extra = getattr(filter_, "extra", {})
    if extra.get("min_value") is not None:
        bounds["minimum"] = extra["min_value"]
    if extra.get("max_value") is not None:
        bounds["maximum"] = extra["max_value"]
    if extra.get("max_length") is not None:
        bounds["maxLength"] = extra["max_length"]
    if isinstance(filter_, django_filters.ModelChoiceFilter):
        bounds.update(ID_BOUNDS)
    return bounds


class ProblemAutoSchema(AutoSchema):
    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation:
            self._state_bounds(operation.get("parameters", []))
        return operation

    def _state_bounds(self, parameters: list[dict]) -> None:
        """Every bound the API enforces on a parameter is in the document: filters' limits, and ids."""
        filterset = getattr(self.view, "filterset_class", None)
        filters = filterset.base_filters if filterset else {}
        for parameter in parameters:
            schema = parameter.get("schema", {})
            if parameter["in"] == "query" and parameter["name"] in filters:
                schema.update(_filter_bounds(filters[parameter["name"]]))
            elif parameter["in"] == "path" and schema.get("type") == "integer":
                schema.update(ID_BOUNDS)

    def _is_public(self) -> bool:
        classes = getattr(self.view, "permission_classes", [])
        return all(cls in (permissions.AllowAny,) for cls in classes)

    def _has_query(self) -> bool:
        if self._get_paginator() or getattr(self.view, "filterset_class", None):
            return True
        return bool(self.get_override_parameters())

    def _default_problems(self) -> dict[int, str]:
        problems = {429: "Too many requests; Retry-After says when to try again"}
        if getattr(self.view, "authentication_classes", None):
            problems[503] = "The database cannot be reached right now; Retry-After says when to try again"
            problems[401] = (
                "An unknown or revoked token was sent (anonymous calls are accepted)"
                if self._is_public()
                else "Missing, unknown or revoked credentials"
            )
        if not self._is_public() or self.method in _UNSAFE:
            problems[403] = "Not allowed for this user (or the session's CSRF token is missing)"
        if self.method in _UNSAFE:
            problems.update(
                {
                    400: "The body is malformed or invalid; errors names the fields",
                    413: "The body is larger than the configured limit",
                    415: "The body is not JSON",
                }
            )
        elif self._has_query():
            problems[400] = "A query parameter is invalid or repeated; errors names it"
        else:
            problems[400] = "A query parameter is repeated (each takes one value); errors names it"
        if "{" in self.path or (self.method == "GET" and self._get_paginator()):
            problems[404] = "No such object here, or no such page"
        return problems

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status_code, response in list(responses.items()):
            if status_code >= "400" and "content" not in response:
                # A view that described an error without a body (a description only) still answers
                # a problem document: say so.
                responses[status_code] = self._get_response_for_code(
                    problem_response(response.get("description", "")),
                    status_code,
                    [PROBLEM_CONTENT_TYPE],
                    direction,
                )
        for status_code, description in self._default_problems().items():
            if str(status_code) not in responses:
                responses[str(status_code)] = self._get_response_for_code(
                    problem_response(description), str(status_code), [PROBLEM_CONTENT_TYPE], direction
                )
        return dict(sorted(responses.items()))


class SessionScheme(OpenApiAuthenticationExtension):
    """Documents the session cookie (and its CSRF rule) for our SessionAuthentication subclass."""

    target_class = "config.api.authentication.SessionAuthentication"
    name = "sessionAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "Django session from POST /api/auth/session/; unsafe methods need X-CSRFToken.",
        }


class TokenScheme(OpenApiAuthenticationExtension):
    """Documents the per-device token (``Authorization: Token <key>`` or ``Bearer <key>``)."""

    target_class = "config.api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>` (or `Bearer <key>`), the key from POST /api/auth/token/ or "
            "/api/auth/signup/; one per device, revocable.",
        }
