"""Read-only shapes of reorder suggestions and product forecasts for the staff API."""

from __future__ import annotations

from datetime import timedelta

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import ProductForecast, ReorderSuggestion


class ReorderSuggestionSerializer(serializers.ModelSerializer):
    """One open suggestion, flattened with the product and supplier a buyer needs to act on it."""

    product_id = serializers.IntegerField(read_only=True)
    sku = serializers.CharField(source="product.sku", read_only=True)
    name = serializers.CharField(source="product.name", read_only=True)
    category = serializers.CharField(
        source="product.category.name", default=None, allow_null=True, read_only=True
    )
    supplier_id = serializers.IntegerField(allow_null=True, read_only=True)
    supplier = serializers.CharField(source="supplier.name", default=None, allow_null=True, read_only=True)
    run_id = serializers.IntegerField(read_only=True)
    as_of = serializers.DateField(source="run.as_of", read_only=True)

    class Meta:
        model = ReorderSuggestion
        fields = [
            "id",
            "product_id",
            "sku",
            "name",
            "category",
            "supplier_id",
            "supplier",
            "quantity",
            "reorder_point",
            "order_up_to",
            "inventory_position",
            "service_level",
            "projected_stockout",
            "reason",
            "run_id",
            "as_of",
            "created_at",
        ]
        read_only_fields = fields


class ForecastDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    value = serializers.FloatField()


class ProductForecastSerializer(serializers.ModelSerializer):
    """A product's stored forecast; the daily values are dated from the run's as-of day."""

    product_id = serializers.IntegerField(read_only=True)
    sku = serializers.CharField(source="product.sku", read_only=True)
    name = serializers.CharField(source="product.name", read_only=True)
    run_id = serializers.IntegerField(read_only=True)
    as_of = serializers.DateField(source="run.as_of", read_only=True)
    horizon = serializers.IntegerField(source="run.horizon", read_only=True)
    candidates = serializers.DictField(
        child=serializers.FloatField(),
        read_only=True,
        help_text="Scaled backtest error of every method tried (lower is better).",
    )
    lead_time_errors = serializers.ListField(
        child=serializers.FloatField(),
        read_only=True,
        help_text="Backtest errors of the lead-time total (actual minus forecast, units).",
    )
    total = serializers.FloatField(read_only=True, help_text="Sum of the daily values.")
    values = serializers.SerializerMethodField()

    class Meta:
        model = ProductForecast
        fields = [
            "product_id",
            "sku",
            "name",
            "run_id",
            "as_of",
            "horizon",
            "method",
            "demand_class",
            "backtest_error",
            "candidates",
            "lead_time_days",
            "lead_time_errors",
            "fallback_reason",
            "total",
            "values",
        ]
        read_only_fields = fields

    @extend_schema_field(ForecastDaySerializer(many=True))
    def get_values(self, forecast: ProductForecast) -> list:
        # The model stores bare numbers; day i is as_of + i (as in the CSV export).
        as_of = forecast.run.as_of
        days = [
            {"date": as_of + timedelta(days=offset), "value": float(value)}
            for offset, value in enumerate(forecast.values)
        ]
        return ForecastDaySerializer(days, many=True).data
