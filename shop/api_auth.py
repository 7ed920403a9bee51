"""Sign-in, sign-out, sign-up and "who am I" for the storefront.

Two ways in: a token (``POST /api/auth/token/``) for apps and scripts, or the session
(``POST /api/auth/session/``) for a same-site frontend, which then sends ``X-CSRFToken`` on unsafe
requests. Every way in is throttled per client IP and per username.
"""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout
from django.middleware.csrf import CsrfViewMiddleware, get_token
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.errors import ProblemError
from config.api.schema import problem_responses
from config.api.throttling import SIGN_IN_THROTTLES, AnonThrottle, CustomerThrottle

from . import services
from .serializers import (
    CredentialsSerializer,
    CsrfSerializer,
    MeSerializer,
    SignUpSerializer,
    TokenSerializer,
)

_BAD_CREDENTIALS = "invalid_credentials"


def _check_credentials(request: Request):
    serializer = CredentialsSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    user = authenticate(request._request, **serializer.validated_data)
    if user is None:
        # One answer for an unknown name, a wrong password and a disabled account: nothing to enumerate.
        raise ProblemError(400, _BAD_CREDENTIALS, "Unable to sign in with these credentials.")
    return user


def _enforce_csrf(request: Request) -> None:
    """CSRF for the session sign-in, which DRF would skip because the caller is still anonymous."""

    def dummy_get_response(request):  # pragma: no cover - never called
        return None

    check = CsrfViewMiddleware(dummy_get_response)
    check.process_request(request._request)
    reason = check.process_view(request._request, None, (), {})
    if reason:
        raise ProblemError(
            403, "csrf_failed", "CSRF check failed: send the csrftoken cookie and X-CSRFToken."
        )


_SIGN_IN_THROTTLES = [AnonThrottle, CustomerThrottle, *SIGN_IN_THROTTLES]


class TokenObtainApi(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []  # credentials are in the body; a stale header must not interfere
    throttle_classes = _SIGN_IN_THROTTLES

    @extend_schema(
        request=CredentialsSerializer,
        responses={200: TokenSerializer, **problem_responses({400: "Invalid input or wrong credentials"})},
        summary="Sign in with a username and password; get the user's token",
    )
    def post(self, request: Request) -> Response:
        user = _check_credentials(request)
        token, _ = Token.objects.get_or_create(user=user)
        return Response(TokenSerializer({"token": token.key, "user": user}).data)


class TokenRevokeApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None, responses={204: None}, summary="Revoke the caller's token (signs out every app)"
    )
    def post(self, request: Request) -> Response:
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=MeSerializer, summary="Who am I: the signed-in user and their customer account")
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)


class SessionApi(APIView):
    """GET: a CSRF token (and cookie); POST: sign in; DELETE: sign out."""

    permission_classes = [permissions.AllowAny]
    throttle_classes = _SIGN_IN_THROTTLES

    @extend_schema(responses=CsrfSerializer, summary="Get a CSRF token (and cookie) for session requests")
    def get(self, request: Request) -> Response:
        user = request.user if request.user.is_authenticated else None
        return Response(CsrfSerializer({"csrf_token": get_token(request._request), "user": user}).data)

    @extend_schema(
        request=CredentialsSerializer,
        responses={200: MeSerializer, **problem_responses({400: "Invalid input or wrong credentials"})},
        summary="Sign in with a session cookie (needs the CSRF token from GET)",
    )
    def post(self, request: Request) -> Response:
        _enforce_csrf(request)
        user = _check_credentials(request)
        login(request._request, user)
        return Response(MeSerializer(user).data)

    @extend_schema(request=None, responses={204: None}, summary="Sign out of the session")
    def delete(self, request: Request) -> Response:
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SignUpApi(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes = _SIGN_IN_THROTTLES

    @extend_schema(
        request=SignUpSerializer,
        responses={
            201: TokenSerializer,
            **problem_responses({400: "Invalid input, weak password, or taken name"}),
        },
        summary="Create a customer account; answers the new user's token",
    )
    def post(self, request: Request) -> Response:
        serializer = SignUpSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            customer = services.customer_sign_up(**serializer.validated_data)
        except services.SignUpRefused as exc:
            raise ProblemError(400, "invalid", str(exc), errors=exc.errors) from None
        except services.UsernameTaken as exc:
            raise ProblemError(409, "username_taken", str(exc), errors={"username": [str(exc)]}) from None
        token = Token.objects.create(user=customer.user)
        return Response(
            TokenSerializer({"token": token.key, "user": customer.user}).data, status=status.HTTP_201_CREATED
        )
