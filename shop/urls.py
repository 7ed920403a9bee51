from django.urls import path

from . import api

urlpatterns = [
    path("products/", api.ProductListApi.as_view(), name="product-list"),
    path("products/<int:pk>/", api.ProductDetailApi.as_view(), name="product-detail"),
    path("orders/", api.OrderPlaceApi.as_view(), name="order-place"),
]
