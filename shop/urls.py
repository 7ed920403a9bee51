from django.urls import path

from . import api, api_catalogue, api_payments

urlpatterns = [
    path("products/", api_catalogue.ProductListApi.as_view(), name="product-list"),
    path("products/<id:pk>/", api_catalogue.ProductDetailApi.as_view(), name="product-detail"),
    path("categories/", api_catalogue.CategoryListApi.as_view(), name="category-list"),
    path("me/ratings/", api_catalogue.MyRatingListApi.as_view(), name="my-rating-list"),
    path("me/ratings/<id:product_id>/", api_catalogue.MyRatingDetailApi.as_view(), name="my-rating-detail"),
    path("events/", api_catalogue.EventBatchApi.as_view(), name="event-batch"),
    path("orders/", api.OrderListCreateApi.as_view(), name="order-list"),
    path("orders/<id:pk>/", api.OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<id:pk>/cancel/", api.OrderCancelApi.as_view(), name="order-cancel"),
    path("orders/guest/", api.GuestOrderCreateApi.as_view(), name="guest-order-create"),
    path("orders/guest/<str:token>/", api.GuestOrderDetailApi.as_view(), name="guest-order-detail"),
    path("orders/guest/<str:token>/cancel/", api.GuestOrderCancelApi.as_view(), name="guest-order-cancel"),
    path("payments/webhook/", api_payments.PaymentWebhookApi.as_view(), name="payment-webhook"),
]
