"""Thin staff-only read endpoints over reorder suggestions and stored forecasts."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, permissions
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shop.models import Product
from shop.selectors import category_subtree_q

from . import selectors
from .models import ReorderSuggestion, Supplier
from .serializers import ProductForecastSerializer, ReorderSuggestionSerializer

_NOT_STAFF = OpenApiResponse(description="Not logged in, or the user is not staff")


class ReorderSuggestionFilter(django_filters.FilterSet):
    supplier = django_filters.ModelChoiceFilter(queryset=Supplier.objects.all(), label="Supplier id")
    # By name, case-insensitive, like the category filter of /api/products/: sub-categories included.
    category = django_filters.CharFilter(
        method="filter_category",
        max_length=120,
        label="Product category name (a path such as 'Home > Kitchen'; sub-categories included)",
    )

    class Meta:
        model = ReorderSuggestion
        fields = ["supplier", "category"]

    def filter_category(self, queryset, name, value):
        return queryset.filter(category_subtree_q(value, field="product__category__name"))


@extend_schema_view(
    get=extend_schema(
        summary="Open reorder suggestions, most urgent first (staff only)",
        description="Soonest projected stock-out first; suggestions with no stock-out in the horizon last, "
        "larger quantities first among equals.",
        responses={200: ReorderSuggestionSerializer(many=True), 403: _NOT_STAFF},
    )
)
class ReorderSuggestionListApi(generics.ListAPIView):
    # A generic list view so the project's default paginator and filter backend apply unchanged.
    serializer_class = ReorderSuggestionSerializer
    filterset_class = ReorderSuggestionFilter
    permission_classes = [permissions.IsAdminUser]

    def get_queryset(self) -> QuerySet[ReorderSuggestion]:
        return (
            ReorderSuggestion.objects.open()
            .by_urgency()
            .select_related("product__category", "supplier", "run")
        )


class ProductForecastApi(APIView):
    permission_classes = [permissions.IsAdminUser]

    @extend_schema(
        responses={
            200: ProductForecastSerializer,
            403: _NOT_STAFF,
            404: OpenApiResponse(description="No such product, or no complete forecast run covers it"),
        },
        summary="A product's latest forecast from a complete forecast run (staff only)",
    )
    def get(self, request: Request, pk: int) -> Response:
        product = get_object_or_404(Product, pk=pk)
        forecast = selectors.latest_forecast_for(product=product)
        if forecast is None:
            raise NotFound(f"Product {product.sku} has no forecast from a complete forecast run.")
        return Response(ProductForecastSerializer(forecast).data)
