from django.contrib import admin
from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView

from config.api.converters import IdConverter
from config.api.docs import RedocView, SwaggerView
from config.health import HealthApi

register_converter(IdConverter, "id")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/health/", HealthApi.as_view(), name="health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", RedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/", include("accounts.urls")),
    path("api/", include("shop.urls")),
    path("api/", include("recommender.urls")),
    path("api/", include("inventory.urls")),
]

# A database outage raised outside any view is a 503 with Retry-After; anything else is Django's 500.
handler500 = "config.outage.server_error"
