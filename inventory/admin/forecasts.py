"""Forecast runs, per-product forecasts, category service levels, and a product page's forecast panels."""

from __future__ import annotations

from django.contrib import admin
from django.core.cache import cache
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from shop import formats
from shop.admin import ReadOnlyAdmin
from shop.admin_paginator import EstimatedCountPaginator
from shop.admin_panels import admin_panel_register
from shop.models import Product

from .. import selectors, services_worklist
from ..models import (
    CategoryServiceLevel,
    ForecastRun,
    ProductForecast,
    ReorderSuggestion,
)
from .common import RecentRunFilter, forecast_chart_html, format_day, format_moment, format_units

#: Runs a product's accuracy panel charts (newest last).
PRODUCT_ACCURACY_RUNS = 12


@admin.register(CategoryServiceLevel)
class CategoryServiceLevelAdmin(admin.ModelAdmin):
    list_display = ["category", "level", "what_if_link"]
    list_select_related = ["category"]

    def save_model(self, request, obj, form, change):
        # Through the service, like the what-if page's one-click buttons.
        services_worklist.category_service_level_set(category=obj.category, service_level=obj.service_level)

    @admin.display(description="service level", ordering="service_level")
    def level(self, obj: CategoryServiceLevel) -> str:
        return formats.percent(obj.service_level, 1)

    @admin.display(description="what if")
    def what_if_link(self, obj: CategoryServiceLevel) -> str:
        url = reverse("admin:inventory_reordersuggestion_category_what_if", args=[obj.category_id])
        return format_html('<a href="{}">Compare service levels</a>', url)


def _label(key: str) -> str:
    return key.replace("_", " ")


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return format_units(value)
    if isinstance(value, float):
        if abs(value) >= 100 or value.is_integer():
            return format_units(value)
        return formats.number(value, 3).rstrip("0").rstrip(".")
    if isinstance(value, list | tuple):
        return ", ".join(_scalar(v) for v in value) or "—"
    return "—" if value in (None, "") else str(value)


def _inline(value: dict) -> str:
    """A small mapping on one line: "sba 464, tsb 442"; a mapping of mappings one line per key."""
    if all(isinstance(v, dict) for v in value.values()):
        return format_html_join(
            format_html("<br>"), "{}: {}", ((_label(str(k)), _inline(v)) for k, v in value.items())
        )
    return ", ".join(f"{_label(str(k))} {_scalar(v)}" for k, v in value.items()) or "—"


def readable(value) -> str:
    """Metrics and settings as a buyer reads them: one row per figure, rounded, no Python syntax."""
    if not isinstance(value, dict):
        return _scalar(value)
    if not value:
        return "—"
    rows = format_html_join(
        "",
        '<tr><th scope="row">{}</th><td>{}</td></tr>',
        ((_label(str(k)), _inline(v) if isinstance(v, dict) else _scalar(v)) for k, v in value.items()),
    )
    return format_html('<table class="readable">{}</table>', rows)


def is_full_run(run: ForecastRun, products_in_full_runs: int | None = None) -> bool:
    """A run of every product sold before its date (not a few chosen SKUs); older runs by their size."""
    scope = (run.settings or {}).get("scope")
    if scope is not None:
        return scope == "all"
    products = (run.metrics or {}).get("products") or len(run.product_ids or [])
    return products_in_full_runs is None or products >= 0.5 * products_in_full_runs


@admin.register(ForecastRun)
class ForecastRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "as_of_display",
        "scope",
        "status",
        "products",
        "fallbacks",
        "accuracy",
        "suggestions_link",
        "finished_display",
    ]
    list_filter = ["status"]
    date_hierarchy = "created_at"
    fields = [
        "as_of_display",
        "horizon",
        "status",
        "scope",
        "created_display",
        "finished_display",
        "run_key",
        "summary",
        "settings_table",
    ]
    readonly_fields = fields
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def _metric(self, obj: ForecastRun, name: str) -> str:
        value = (obj.metrics or {}).get(name)
        return "—" if value is None else format_units(value)

    @admin.display(description="as of", ordering="as_of")
    def as_of_display(self, obj: ForecastRun) -> str:
        return format_day(obj.as_of)

    @admin.display(description="products")
    def scope(self, obj: ForecastRun) -> str:
        scope = (obj.settings or {}).get("scope")
        return {"all": "all sold", "selected": "chosen SKUs"}.get(scope, "—")

    @admin.display(description="created", ordering="created_at")
    def created_display(self, obj: ForecastRun) -> str:
        return format_moment(obj.created_at)

    @admin.display(description="finished", ordering="finished_at")
    def finished_display(self, obj: ForecastRun) -> str:
        return format_moment(obj.finished_at)

    @admin.display(description="forecast")
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
        return format_html('<a href="{}">{}</a>', url, format_units(count))

    @admin.display(description="summary")
    def summary(self, obj: ForecastRun) -> str:
        return readable(obj.metrics or {})

    @admin.display(description="settings")
    def settings_table(self, obj: ForecastRun) -> str:
        shown = {k: v for k, v in (obj.settings or {}).items() if k != "inputs"}
        inputs = (obj.settings or {}).get("inputs")
        if inputs:
            shown["data read"] = (
                f"{format_units(inputs.get('lines'))} order lines "
                f"({format_units(inputs.get('units'))} units), "
                f"{format_units(inputs.get('cancellations'))} cancellations"
            )
        return readable(shown)


@admin.register(ProductForecast)
class ProductForecastAdmin(ReadOnlyAdmin):
    list_display = [
        "product",
        "run_display",
        "method",
        "demand_class",
        "error",
        "forecast_total",
        "fallback",
    ]
    list_filter = ["method", "demand_class", RecentRunFilter]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["product", "run"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fields = [
        "product_link",
        "run_display",
        "method",
        "demand_class",
        "error",
        "mase",
        "lead_time_days",
        "forecast_total",
        "level_shrink",
        "candidate_table",
        "fallback_reason",
        "chart",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        # The run's product list and the forecast's backtest errors are large JSON nobody lists.
        return (
            super()
            .get_queryset(request)
            .select_related("product", "run")
            .defer("run__product_ids", "run__settings", "run__metrics", "lead_time_errors", "candidates")
        )

    @admin.display(description="run", ordering="run")
    def run_display(self, obj: ProductForecast) -> str:
        return f"Forecast run {obj.run_id} as of {format_day(obj.run.as_of)}"

    @admin.display(description="backtest error")
    def error(self, obj: ProductForecast) -> str:
        return "—" if obj.backtest_error is None else f"{obj.backtest_error:.3f}"

    @admin.display(description="daily MASE (naive)")
    def mase(self, obj: ProductForecast) -> str:
        if obj.backtest_mase is None:
            return "—"
        naive = "" if obj.naive_mase is None else f" ({obj.naive_mase:.3f})"
        return f"{obj.backtest_mase:.3f}{naive}"

    @admin.display(description="product")
    def product_link(self, obj: ProductForecast) -> str:
        url = reverse("admin:shop_product_change", args=[obj.product_id])
        return format_html('<a href="{}">{} {}</a>', url, obj.product.sku, obj.product.name)

    @admin.display(description="28-day total")
    def forecast_total(self, obj: ProductForecast) -> str:
        return format_units(obj.total)

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


def product_forecast_accuracy(product: Product) -> str:
    """MASE of this product's forecast in each complete run (oldest first) and the last backtest's error."""
    forecasts = list(
        ProductForecast.objects.filter(product=product, run__status=ForecastRun.Status.COMPLETE)
        .select_related("run")
        .order_by(*[f"-run__{f}" for f in ("as_of", "finished_at", "created_at")], "-run_id")[
            :PRODUCT_ACCURACY_RUNS
        ]
    )
    if not forecasts:
        return "No forecast yet."
    latest = forecasts[0]
    forecasts.reverse()
    scored = [f for f in forecasts if f.backtest_mase is not None]
    last = (
        f"Last backtest (run {latest.run_id} as of {format_day(latest.run.as_of)}, {latest.method}): "
        + (
            f"daily MASE {latest.backtest_mase:.3f}"
            + (f" against {latest.naive_mase:.3f} for a seasonal naive forecast" if latest.naive_mase else "")
            if latest.backtest_mase is not None
            else "no daily MASE recorded"
        )
        + (
            f"; error of the 28-day total {latest.backtest_error:.3f}."
            if latest.backtest_error is not None
            else "."
        )
    )
    if not scored:
        return format_html('<p id="accuracy-last">{}</p>', last)
    key = "product-accuracy-v1-" + "-".join(
        f"{f.pk}:{f.run.finished_at.timestamp():.0f}" for f in scored if f.run.finished_at
    )
    svg = cache.get(key)
    if svg is None:
        from ..charts import accuracy_chart_svg

        svg = accuracy_chart_svg(
            labels=[format_day(f.run.as_of) for f in scored],
            model=[f.backtest_mase for f in scored],
            naive=[f.naive_mase for f in scored],
            title=f"forecast accuracy of {product.sku} by run",
            model_label="this product's forecast, daily MASE",
        )
        cache.set(key, svg, 24 * 3600)
    table = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                format_day(f.run.as_of),
                f.method,
                f"{f.backtest_mase:.3f}",
                "—" if f.naive_mase is None else f"{f.naive_mase:.3f}",
            )
            for f in reversed(scored)
        ),
    )
    return format_html(
        '<p id="accuracy-last">{}</p><div class="accuracy-chart" style="max-width:900px">{}</div>'
        '<details><summary>As a table</summary><table><thead><tr><th scope="col">as of</th>'
        '<th scope="col">method</th><th scope="col">MASE</th><th scope="col">naive MASE</th></tr></thead>'
        "<tbody>{}</tbody></table></details>",
        last,
        mark_safe(svg),  # numbers and escaped labels only
        table,
    )


admin_panel_register(Product, name="demand_forecast", title="Demand forecast", render=product_demand_forecast)
admin_panel_register(
    Product,
    name="forecast_accuracy",
    title="Forecast accuracy by run",
    render=product_forecast_accuracy,
    order=110,
)
