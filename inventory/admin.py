"""Staff screens: suppliers and terms, forecast runs, product forecasts with a chart, reorders, orders."""

from __future__ import annotations

import csv
from datetime import timedelta

import numpy as np
import pandas as pd
from django.contrib import admin, messages
from django.http import HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from shop.admin import ProductAdmin as ShopProductAdmin
from shop.models import Product

from . import selectors, services
from .charts import forecast_chart_svg
from .models import (
    CategoryServiceLevel,
    ForecastRun,
    ProductForecast,
    ProductSupply,
    PurchaseOrder,
    PurchaseOrderLine,
    ReorderSuggestion,
    Supplier,
)


def forecast_chart_html(obj: ProductForecast) -> str:
    """History, forecast, interval and reorder point of a stored forecast, as inline SVG."""
    matrix = selectors.demand_matrix(before=obj.run.as_of, product_ids=[obj.product_id])
    history = matrix.loc[obj.product_id] if obj.product_id in matrix.index else pd.Series(dtype=float)
    history = history[history.index >= pd.Timestamp(obj.run.as_of - timedelta(days=120))]
    plan, _ = services.reorder_plans_for(run=obj.run, forecasts=[obj])[obj.product_id]
    svg = forecast_chart_svg(
        history=history,
        forecast=np.asarray(obj.values, dtype=float),
        as_of=obj.run.as_of,
        lead_time_errors=np.asarray(obj.lead_time_errors, dtype=float),
        lead_time_days=obj.lead_time_days,
        reorder_point=plan.reorder_point,
        position=plan.inventory_position,
    )
    # The SVG is produced by matplotlib from numbers only; nothing user-typed reaches it.
    return mark_safe(svg)


@admin.register(Supplier)
class SupplierAdmin(admin.ModelAdmin):
    list_display = ["name", "lead_time_days", "email", "active"]
    list_filter = ["active"]
    search_fields = ["name"]


@admin.register(ProductSupply)
class ProductSupplyAdmin(admin.ModelAdmin):
    list_display = [
        "product",
        "supplier",
        "unit_cost",
        "minimum_order",
        "pack_size",
        "lead_time_days",
        "service_level",
        "forecast_link",
    ]
    list_filter = ["supplier"]
    search_fields = ["product__sku", "product__name"]
    raw_id_fields = ["product"]
    list_select_related = ["product", "supplier"]

    def get_queryset(self, request):
        return selectors.with_latest_forecast(super().get_queryset(request))

    @admin.display(description="latest forecast")
    def forecast_link(self, obj: ProductSupply) -> str:
        if obj.latest_forecast_id is None:
            return "-"
        url = reverse("admin:inventory_productforecast_change", args=[obj.latest_forecast_id])
        return format_html('<a href="{}">{}</a>', url, obj.latest_forecast_method)


@admin.register(CategoryServiceLevel)
class CategoryServiceLevelAdmin(admin.ModelAdmin):
    list_display = ["category", "service_level"]


@admin.register(ForecastRun)
class ForecastRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "as_of",
        "status",
        "products",
        "fallbacks",
        "median_backtest_error",
        "suggestions",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in ForecastRun._meta.fields]
    exclude = ["product_ids"]

    def _metric(self, obj: ForecastRun, name: str):
        return (obj.metrics or {}).get(name, "-")

    @admin.display(description="products")
    def products(self, obj):
        return self._metric(obj, "products")

    @admin.display(description="fallbacks")
    def fallbacks(self, obj):
        return self._metric(obj, "fallbacks")

    @admin.display(description="median backtest error")
    def median_backtest_error(self, obj):
        return self._metric(obj, "median_backtest_error")

    @admin.display(description="suggestions")
    def suggestions(self, obj):
        return self._metric(obj, "suggestions")

    def has_add_permission(self, request):
        return False


@admin.register(ProductForecast)
class ProductForecastAdmin(admin.ModelAdmin):
    list_display = [
        "product",
        "run",
        "method",
        "demand_class",
        "backtest_error",
        "level_shrink",
        "forecast_total",
        "fallback",
    ]
    list_filter = ["method", "demand_class", "run"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["product", "run"]
    readonly_fields = ["chart", *[f.name for f in ProductForecast._meta.fields]]

    @admin.display(description="28-day total")
    def forecast_total(self, obj: ProductForecast) -> str:
        return f"{obj.total:.0f}"

    @admin.display(boolean=True)
    def fallback(self, obj: ProductForecast) -> bool:
        return bool(obj.fallback_reason)

    @admin.display(description="history, forecast and reorder point")
    def chart(self, obj: ProductForecast) -> str:
        return forecast_chart_html(obj) if obj.pk is not None else "-"

    def has_add_permission(self, request):
        return False


class ProjectedStockoutFilter(admin.SimpleListFilter):
    title = "projected stock-out"
    parameter_name = "stockout"

    def lookups(self, request, model_admin):
        return [("7", "within 7 days"), ("14", "within 14 days"), ("none", "not within the horizon")]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(projected_stockout__isnull=True)
        if self.value() in {"7", "14"}:
            return queryset.filter(
                projected_stockout__lte=_latest_as_of_plus(queryset, int(self.value())),
            )
        return queryset


def _latest_as_of_plus(queryset, days: int):
    """``days`` after the as-of date of the newest run in the list: stock-outs are projected from it."""
    run = ForecastRun.objects.filter(pk__in=queryset.values("run_id")).order_by("-as_of").first()
    start = run.as_of if run else pd.Timestamp.today().date()
    return start + timedelta(days=days)


@admin.register(ReorderSuggestion)
class ReorderSuggestionAdmin(admin.ModelAdmin):
    list_display = [
        "product",
        "quantity",
        "supplier",
        "projected_stockout",
        "inventory_position",
        "reorder_point",
        "order_up_to",
        "service_level",
        "status",
        "run",
    ]
    list_filter = ["status", "supplier", ProjectedStockoutFilter, "run"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["product", "supplier", "run"]
    readonly_fields = [f.name for f in ReorderSuggestion._meta.fields]
    actions = ["create_purchase_orders", "export_csv", "dismiss"]

    def get_queryset(self, request):
        return super().get_queryset(request).by_urgency()

    def get_ordering(self, request):
        return []  # by_urgency() already orders; an admin ordering would override it

    @admin.action(description="Create draft purchase orders (one per supplier)")
    def create_purchase_orders(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        orders = services.purchase_orders_from_suggestions(suggestion_ids=ids)
        skipped = queryset.filter(pk__in=ids, supplier__isnull=True).count()
        self.message_user(request, f"Created {len(orders)} draft purchase orders.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} suggestions have no supplier and were skipped.", messages.WARNING
            )

    @admin.action(description="Export selected as CSV")
    def export_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="reorder_suggestions.csv"'
        writer = csv.writer(response)
        writer.writerow(
            [
                "product_sku",
                "quantity",
                "supplier",
                "projected_stockout",
                "inventory_position",
                "reorder_point",
                "order_up_to",
                "service_level",
                "status",
                "reason",
            ]
        )
        for s in queryset.select_related("product", "supplier"):
            writer.writerow(
                [
                    s.product.sku,
                    s.quantity,
                    s.supplier.name if s.supplier else "",
                    s.projected_stockout or "",
                    s.inventory_position,
                    s.reorder_point,
                    s.order_up_to,
                    s.service_level,
                    s.status,
                    s.reason,
                ]
            )
        return response

    @admin.action(description="Dismiss selected")
    def dismiss(self, request, queryset):
        updated = queryset.filter(status=ReorderSuggestion.Status.OPEN).update(
            status=ReorderSuggestion.Status.DISMISSED
        )
        self.message_user(request, f"Dismissed {updated} suggestions.")

    def has_add_permission(self, request):
        return False


class PurchaseOrderLineInline(admin.TabularInline):
    model = PurchaseOrderLine
    extra = 0
    raw_id_fields = ["product"]


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(admin.ModelAdmin):
    list_display = ["__str__", "supplier", "status", "created_at", "sent_at", "received_at"]
    list_filter = ["status", "supplier"]
    inlines = [PurchaseOrderLineInline]
    readonly_fields = ["status", "sent_at", "received_at"]
    actions = ["send", "receive", "cancel"]

    def _apply(self, request, queryset, service, verb: str) -> None:
        done = 0
        for order in queryset:
            try:
                service(order=order)
                done += 1
            except services.InventoryError as exc:
                self.message_user(request, str(exc), messages.ERROR)
        self.message_user(request, f"{verb} {done} purchase orders.")

    @admin.action(description="Mark as sent")
    def send(self, request, queryset):
        self._apply(request, queryset, services.purchase_order_send, "Sent")

    @admin.action(description="Receive into stock")
    def receive(self, request, queryset):
        self._apply(
            request,
            queryset,
            lambda order: services.purchase_order_receive(order=order, user=request.user),
            "Received",
        )

    @admin.action(description="Cancel")
    def cancel(self, request, queryset):
        self._apply(request, queryset, services.purchase_order_cancel, "Cancelled")


# The shop's Product page gains the forecast chart here, because shop must not import inventory.
admin.site.unregister(Product)


@admin.register(Product)
class ProductWithForecastAdmin(ShopProductAdmin):
    readonly_fields = [*ShopProductAdmin.readonly_fields, "demand_forecast"]

    @admin.display(description="demand forecast")
    def demand_forecast(self, obj: Product) -> str:
        forecast = selectors.latest_forecast_for(product=obj) if obj.pk else None
        if forecast is None:
            return "No forecast yet: start a forecast run from the forecast runs page."
        return forecast_chart_html(forecast)
