from django.urls import path

from . import api, api_auth

urlpatterns = [
    path("auth/token/", api_auth.TokenObtainApi.as_view(), name="auth-token"),
    path("auth/token/revoke/", api_auth.TokenRevokeApi.as_view(), name="auth-token-revoke"),
    path("auth/session/", api_auth.SessionApi.as_view(), name="auth-session"),
    path("auth/signup/", api_auth.SignUpApi.as_view(), name="auth-signup"),
    path("auth/me/", api_auth.MeApi.as_view(), name="auth-me"),
    path("products/", api.ProductListApi.as_view(), name="product-list"),
    path("products/<int:pk>/", api.ProductDetailApi.as_view(), name="product-detail"),
    path("orders/", api.OrderListCreateApi.as_view(), name="order-list"),
    path("orders/<int:pk>/", api.OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<int:pk>/cancel/", api.OrderCancelApi.as_view(), name="order-cancel"),
]
