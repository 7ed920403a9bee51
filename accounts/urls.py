from django.urls import path

from . import api

urlpatterns = [
    path("auth/token/", api.TokenObtainApi.as_view(), name="auth-token"),
    path("auth/token/revoke/", api.TokenRevokeApi.as_view(), name="auth-token-revoke"),
    path("auth/tokens/", api.TokenListApi.as_view(), name="auth-token-list"),
    path("auth/tokens/<id:pk>/", api.TokenDetailApi.as_view(), name="auth-token-detail"),
    path("auth/sign-out-everywhere/", api.SignOutEverywhereApi.as_view(), name="auth-sign-out-everywhere"),
    path("auth/session/", api.SessionApi.as_view(), name="auth-session"),
    path("auth/signup/", api.SignUpApi.as_view(), name="auth-signup"),
    path("auth/me/", api.MeApi.as_view(), name="auth-me"),
    path("auth/email/verify/", api.EmailVerifyApi.as_view(), name="auth-email-verify"),
    path("auth/email/verify/resend/", api.EmailVerifyResendApi.as_view(), name="auth-email-verify-resend"),
    path("auth/password/reset/", api.PasswordResetApi.as_view(), name="auth-password-reset"),
    path(
        "auth/password/reset/confirm/",
        api.PasswordResetConfirmApi.as_view(),
        name="auth-password-reset-confirm",
    ),
    path("me/", api.AccountApi.as_view(), name="account"),
    path("me/password/", api.PasswordChangeApi.as_view(), name="account-password"),
    path("me/export/", api.AccountExportApi.as_view(), name="account-export"),
]
