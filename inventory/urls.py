from django.urls import path

from . import api

urlpatterns = [
    path("reorders/", api.ReorderSuggestionListApi.as_view(), name="reorder-list"),
    path("products/<id:pk>/forecast/", api.ProductForecastApi.as_view(), name="product-forecast"),
]
