"""Forecast runs, per-product forecasts, category service levels, and a product page's forecast panel."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from shop.admin import ReadOnlyAdmin
from shop.admin_panels import admin_panel_register
from shop.models import Product

from .. import selectors
from ..models import (
    CategoryServiceLevel,
    ForecastRun,
    ProductForecast,
    ReorderSuggestion,
)
from .common import forecast_chart_html


@admin.register(CategoryServiceLevel)
class CategoryServiceLevelAdmin(admin.ModelAdmin):
    list_display = ["category", "service_level"]
    list_select_related = ["category"]


@admin.register(ForecastRun)
class ForecastRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "as_of",
        "status",
        "products",
        "fallbacks",
        "accuracy",
        "suggestions_link",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status"]
    date_hierarchy = "created_at"
    fields = ["as_of", "horizon", "status", "created_at", "finished_at", "run_key", "summary", "settings"]
    readonly_fields = fields
    show_full_result_count = False

    def _metric(self, obj: ForecastRun, name: str):
        value = (obj.metrics or {}).get(name)
        return "—" if value is None else value

    @admin.display(description="products")
    def products(self, obj):
        return self._metric(obj, "products")

    @admin.display(description="fallbacks")
    def fallbacks(self, obj):
        return self._metric(obj, "fallbacks")

    @admin.display(description="median MASE (naive)")
    def accuracy(self, obj: ForecastRun) -> str:
        metrics = obj.metrics or {}
        model, naive = metrics.get("median_mase"), metrics.get("median_mase_naive")
        if model is None:
            return "—"
        return f"{model:.3f}" + (f" ({naive:.3f})" if naive is not None else "")

    @admin.display(description="suggestions")
    def suggestions_link(self, obj: ForecastRun) -> str:
        count = (obj.metrics or {}).get("suggestions")
        if count is None:
            return "—"
        url = reverse("admin:inventory_reordersuggestion_changelist") + f"?run__id__exact={obj.pk}&status=all"
        return format_html('<a href="{}">{}</a>', url, count)

    @admin.display(description="summary")
    def summary(self, obj: ForecastRun) -> str:
        rows = []
        for key, value in sorted((obj.metrics or {}).items()):
            if isinstance(value, dict):
                value = ", ".join(f"{k}: {v}" for k, v in value.items())
            elif isinstance(value, float):
                value = f"{value:,.3f}"
            rows.append((key.replace("_", " "), value))
        if not rows:
            return "—"
        body = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        return format_html("<table>{}</table>", body)


@admin.register(ProductForecast)
class ProductForecastAdmin(ReadOnlyAdmin):
    list_display = [
        "product",
        "run",
        "method",
        "demand_class",
        "error",
        "forecast_total",
        "fallback",
    ]
    list_filter = ["method", "demand_class", "run"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["product", "run"]
    show_full_result_count = False
    fields = [
        "product_link",
        "run",
        "method",
        "demand_class",
        "error",
        "lead_time_days",
        "forecast_total",
        "level_shrink",
        "candidate_table",
        "fallback_reason",
        "chart",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product", "run")

    @admin.display(description="backtest error")
    def error(self, obj: ProductForecast) -> str:
        return "—" if obj.backtest_error is None else f"{obj.backtest_error:.3f}"

    @admin.display(description="product")
    def product_link(self, obj: ProductForecast) -> str:
        url = reverse("admin:shop_product_change", args=[obj.product_id])
        return format_html('<a href="{}">{} {}</a>', url, obj.product.sku, obj.product.name)

    @admin.display(description="28-day total")
    def forecast_total(self, obj: ProductForecast) -> str:
        return f"{obj.total:,.0f}"

    @admin.display(boolean=True)
    def fallback(self, obj: ProductForecast) -> bool:
        return bool(obj.fallback_reason)

    @admin.display(description="candidates (backtest error, lower wins)")
    def candidate_table(self, obj: ProductForecast) -> str:
        if not obj.candidates:
            return "—"
        rows = sorted(obj.candidates.items(), key=lambda item: item[1])
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", ((n, f"{e:.3f}") for n, e in rows)),
        )

    @admin.display(description="history, forecast and reorder point")
    def chart(self, obj: ProductForecast) -> str:
        if obj.pk is None:
            return "—"
        suggestion = ReorderSuggestion.objects.filter(run_id=obj.run_id, product_id=obj.product_id).first()
        return forecast_chart_html(obj, suggestion=suggestion)


def product_demand_forecast(product: Product) -> str:
    forecast = selectors.latest_forecast_for(product=product)
    if forecast is None:
        return "No forecast yet: start a forecast run from the forecast runs page."
    suggestion = forecast.run.suggestions.filter(product=product).first()
    return forecast_chart_html(forecast, suggestion=suggestion)


admin_panel_register(Product, name="demand_forecast", title="Demand forecast", render=product_demand_forecast)
