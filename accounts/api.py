"""Sign-in, sign-out, sign-up, email verification, passwords, and the account (edit, export, erase).

Two ways in: a token (``POST /api/auth/token/``, one per device, each revocable) for apps and
scripts, or the session (``POST /api/auth/session/``) for a same-site frontend, which then sends
``X-CSRFToken`` on unsafe requests. Every way in is throttled per client IP and per username, and
django-axes locks a username or an address out after repeated failures (``AXES_FAILURE_LIMIT``).
"""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.errors import ProblemError
from config.api.schema import problem_responses
from config.api.throttling import SIGN_IN_THROTTLES, AnonThrottle, CustomerThrottle

from . import lockout, selectors, services
from .serializers import (
    AcceptedSerializer,
    AccountExportSerializer,
    AccountSerializer,
    AccountUpdateSerializer,
    CredentialsSerializer,
    CsrfSerializer,
    LinkSerializer,
    PasswordChangeSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetSerializer,
    SignUpSerializer,
    TokenInfoSerializer,
    TokenObtainSerializer,
    TokenSerializer,
)

_BAD_CREDENTIALS = "invalid_credentials"
_SIGN_IN_THROTTLES = [AnonThrottle, CustomerThrottle, *SIGN_IN_THROTTLES]
_INVALID_LINK = "This link is invalid or has expired: ask for a new one."


def _check_credentials(request: Request, serializer_class=CredentialsSerializer):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    user = authenticate(request._request, username=data["username"], password=data["password"])
    if user is None:
        if getattr(request._request, "axes_locked_out", False):
            raise lockout.locked_out_problem(request._request)
        # One answer for an unknown name, a wrong password and a disabled account: nothing to enumerate.
        raise ProblemError(400, _BAD_CREDENTIALS, "Unable to sign in with these credentials.")
    return user, data


def _enforce_csrf(request: Request) -> None:
    """CSRF for the session sign-in, which DRF would skip because the caller is still anonymous."""

    def dummy_get_response(request):  # pragma: no cover - never called
        return None

    check = CsrfViewMiddleware(dummy_get_response)
    check.process_request(request._request)
    reason = check.process_view(request._request, None, (), {})
    if reason:
        raise ProblemError(
            403, "csrf_failed", "CSRF check failed: send the csrftoken cookie's value as X-CSRFToken."
        )


def _refused(exc: services.AccountRefused) -> ProblemError:
    return ProblemError(400, "invalid", str(exc), errors=exc.errors)


def _token_body(token, key: str, user) -> dict:
    return TokenSerializer({"token": key, "token_id": token.pk, "user": user}).data


def _session_key(request: Request) -> str | None:
    session = getattr(request._request, "session", None)
    return session.session_key if session is not None else None


# --- Tokens -------------------------------------------------------------------------------------


class TokenObtainApi(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []  # credentials are in the body; a stale header must not interfere
    throttle_classes = _SIGN_IN_THROTTLES

    @extend_schema(
        request=TokenObtainSerializer,
        responses={200: TokenSerializer, **problem_responses({400: "Invalid input or wrong credentials"})},
        summary="Sign in with a username and password; get a new token for this device",
        description="Each call creates a token of its own (one per device or app), listed by "
        "GET /api/auth/tokens/ and revoked alone. After AXES_FAILURE_LIMIT wrong passwords for one "
        "username, or from one address, sign-in is refused with a 429 `locked_out` until the lock lapses.",
    )
    def post(self, request: Request) -> Response:
        user, data = _check_credentials(request, TokenObtainSerializer)
        token, key = services.token_create(user=user, name=data.get("name", ""))
        return Response(_token_body(token, key, user))


class TokenRevokeApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None,
        responses={204: None},
        summary="Revoke the token this request is signed with (signs out this device only)",
    )
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, int):
            token = selectors.tokens_of(user=request.user).filter(pk=request.auth).first()
            if token is not None:
                services.token_revoke(token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenListApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        responses=TokenInfoSerializer(many=True),
        summary="My sign-ins: every token, newest first (never their keys)",
    )
    def get(self, request: Request) -> Response:
        current = request.auth if isinstance(request.auth, int) else None
        rows = [
            {
                "id": t.pk,
                "name": t.name,
                "created_at": t.created_at,
                "last_used_at": t.last_used_at,
                "current": t.pk == current,
            }
            for t in selectors.tokens_of(user=request.user)
        ]
        return Response(TokenInfoSerializer(rows, many=True).data)


class TokenDetailApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        responses={204: None, **problem_responses({404: "No such token of yours"})},
        summary="Revoke one of my tokens (sign that device out)",
    )
    def delete(self, request: Request, pk: int) -> Response:
        token = get_object_or_404(selectors.tokens_of(user=request.user), pk=pk)
        services.token_revoke(token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SignOutEverywhereApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None,
        responses={204: None},
        summary="Sign out everywhere: revoke every token and end every session, this one included",
    )
    def post(self, request: Request) -> Response:
        services.sign_out_everywhere(user=request.user)
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Session ------------------------------------------------------------------------------------


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
        responses={200: AccountSerializer, **problem_responses({400: "Invalid input or wrong credentials"})},
        summary="Sign in with a session cookie (needs the CSRF token from GET)",
    )
    def post(self, request: Request) -> Response:
        _enforce_csrf(request)
        user, _ = _check_credentials(request)
        login(request._request, user)
        return Response(AccountSerializer(user).data)

    @extend_schema(request=None, responses={204: None}, summary="Sign out of the session")
    def delete(self, request: Request) -> Response:
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Sign-up and email --------------------------------------------------------------------------


class SignUpApi(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes = _SIGN_IN_THROTTLES

    @extend_schema(
        request=SignUpSerializer,
        responses={
            201: TokenSerializer,
            **problem_responses({400: "Invalid input or weak password", 409: "The username is taken"}),
        },
        summary="Create a customer account; answers the new user's first token",
        description="With an email, a verification link is mailed to it (see POST /api/auth/email/verify/).",
    )
    def post(self, request: Request) -> Response:
        serializer = SignUpSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            customer = services.account_sign_up(**serializer.validated_data)
        except services.AccountRefused as exc:
            raise _refused(exc) from None
        except services.shop_services.UsernameTaken as exc:
            raise ProblemError(409, "username_taken", str(exc), errors={"username": [str(exc)]}) from None
        token, key = services.token_create(user=customer.user, name="sign-up")
        return Response(_token_body(token, key, customer.user), status=status.HTTP_201_CREATED)


class EmailVerifyApi(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes = [AnonThrottle, SIGN_IN_THROTTLES[0]]

    @extend_schema(
        request=LinkSerializer,
        responses={204: None, **problem_responses({400: "Invalid input, or `invalid_link`"})},
        summary="Confirm an email address with the uid and token of the mailed link",
    )
    def post(self, request: Request) -> Response:
        serializer = LinkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.email_verify(**serializer.validated_data)
        except services.InvalidLink:
            raise ProblemError(400, "invalid_link", _INVALID_LINK) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class EmailVerifyResendApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    throttle_classes = [CustomerThrottle, SIGN_IN_THROTTLES[0]]

    @extend_schema(
        request=None,
        responses={202: AcceptedSerializer},
        summary="Mail a new verification link to my email (nothing when it is verified or empty)",
    )
    def post(self, request: Request) -> Response:
        sent = services.email_verification_send(user=request.user)
        detail = "A verification link is on its way." if sent else "Nothing to verify."
        return Response({"detail": detail}, status=status.HTTP_202_ACCEPTED)


# --- Passwords ----------------------------------------------------------------------------------


class PasswordResetApi(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes = _SIGN_IN_THROTTLES

    @extend_schema(
        request=PasswordResetSerializer,
        responses={202: AcceptedSerializer},
        summary="Mail a password-reset link, if this is a verified email of an account",
        description="The answer is the same whether or not an account has this address, so it reveals "
        "none. Only a verified email receives a link.",
    )
    def post(self, request: Request) -> Response:
        serializer = PasswordResetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_request(email=serializer.validated_data["email"])
        detail = "If this is the verified email of an account, a reset link is on its way."
        return Response({"detail": detail}, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmApi(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes = [AnonThrottle, SIGN_IN_THROTTLES[0]]

    @extend_schema(
        request=PasswordResetConfirmSerializer,
        responses={
            204: None,
            **problem_responses({400: "Invalid input, a weak password, or `invalid_link`"}),
        },
        summary="Set a new password with the uid and token of the mailed link; signs out everywhere",
    )
    def post(self, request: Request) -> Response:
        serializer = PasswordResetConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.password_reset_confirm(**serializer.validated_data)
        except services.InvalidLink:
            raise ProblemError(400, "invalid_link", _INVALID_LINK) from None
        except services.AccountRefused as exc:
            raise _refused(exc) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    throttle_classes = [CustomerThrottle, SIGN_IN_THROTTLES[0]]

    @extend_schema(
        request=PasswordChangeSerializer,
        responses={
            204: None,
            **problem_responses({400: "Invalid input, a weak password, or a wrong current password"}),
        },
        summary="Change my password; every other token and session is signed out",
    )
    def post(self, request: Request) -> Response:
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        keep_token = request.auth if isinstance(request.auth, int) else None
        try:
            services.password_change(
                user=request.user,
                keep_token_id=keep_token,
                keep_session_key=_session_key(request) if keep_token is None else None,
                **serializer.validated_data,
            )
        except services.InvalidCredentials as exc:
            errors = {"current_password": [str(exc)]}
            raise ProblemError(400, _BAD_CREDENTIALS, str(exc), errors=errors) from None
        except services.AccountRefused as exc:
            raise _refused(exc) from None
        if keep_token is None and request.user.is_authenticated:
            # Session caller: keep this session signed in under the new password's hash.
            user = type(request.user).objects.get(pk=request.user.pk)
            update_session_auth_hash(request._request, user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- The account --------------------------------------------------------------------------------


class MeApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        responses=AccountSerializer, summary="Who am I: the signed-in user and their customer account"
    )
    def get(self, request: Request) -> Response:
        return Response(AccountSerializer(request.user).data)


class AccountApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=AccountSerializer, summary="My account")
    def get(self, request: Request) -> Response:
        return Response(AccountSerializer(request.user).data)

    @extend_schema(
        request=AccountUpdateSerializer,
        responses={200: AccountSerializer, **problem_responses({400: "Invalid input"})},
        summary="Edit my account (a new email must be verified again; a link is mailed to it)",
    )
    def patch(self, request: Request) -> Response:
        serializer = AccountUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = services.account_update(user=request.user, **serializer.validated_data)
        except services.AccountRefused as exc:
            raise _refused(exc) from None
        return Response(AccountSerializer(user).data)

    @extend_schema(
        request=None,
        responses={
            204: None,
            **problem_responses({403: "Staff logins are removed by an administrator, not erased here"}),
        },
        summary="Erase my account: orders are kept anonymised, everything else about me is deleted",
        description="Orders stay for accounting and demand, detached from any person; ratings, product "
        "events (with the anonymous events of the same browser sessions) and the stored recommendation "
        "lists are deleted; every token and session ends and the login is removed. Irreversible.",
    )
    def delete(self, request: Request) -> Response:
        if request.user.is_staff or request.user.is_superuser:
            raise ProblemError(
                403, "permission_denied", "Staff logins are removed by an administrator, not erased here."
            )
        services.account_erase(user=request.user, erased_by=request.user)
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccountExportApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        responses={200: OpenApiResponse(AccountExportSerializer, description="Everything stored about me")},
        summary="Export everything stored about me, as JSON",
    )
    def get(self, request: Request) -> Response:
        data = AccountExportSerializer(selectors.account_export(user=request.user)).data
        response = Response(data)
        response["Content-Disposition"] = 'attachment; filename="account-export.json"'
        response["Cache-Control"] = "private, no-store"
        return response
