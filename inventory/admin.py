"""Staff screens: the buyer's reorder worklist, purchase orders, suppliers and terms, forecasts.

Every write goes through ``inventory.services`` (overrides, dismissals, purchase order
send/receive/cancel); forecast runs, forecasts and suggestions are otherwise read-only.
Charts are plain SVG strings (see ``charts``), cached per forecast; numpy is imported only when
one is drawn.
"""

from __future__ import annotations

import csv
from datetime import timedelta
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.cache import cache
from django.db.models import (
    Case,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from shop.admin import ProductAdmin as ShopProductAdmin
from shop.admin import ReadOnlyAdmin
from shop.models import Product

from . import selectors, services
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

CHART_CACHE_SECONDS = 24 * 3600


def _units(value: float | int | None) -> str:
    """Quantities as a buyer reads them: whole units with thousands separators."""
    return "—" if value is None else f"{round(value):,}"


def _money(value: Decimal | float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def flag_thresholds() -> tuple[float, float]:
    return (
        float(settings.INVENTORY["FLAG_COVER_DAYS"]),
        float(settings.INVENTORY["FLAG_SAFETY_MULTIPLE"]),
    )


def suggestion_flags(suggestion: ReorderSuggestion) -> list[str]:
    """Why a buyer should look twice before signing this quantity (empty when nothing stands out)."""
    cover_limit, safety_limit = flag_thresholds()
    flags = []
    if suggestion.days_of_cover is not None and suggestion.days_of_cover > cover_limit:
        flags.append(
            f"covers {suggestion.days_of_cover:.0f} days of forecast demand (flagged above {cover_limit:.0f})"
        )
    if suggestion.safety_stock_multiple is not None and suggestion.safety_stock_multiple > safety_limit:
        flags.append(
            f"safety stock is {suggestion.safety_stock_multiple:.1f}x the lead-time demand "
            f"(flagged above {safety_limit:g}x)"
        )
    return flags


def forecast_chart_html(forecast: ProductForecast, *, suggestion: ReorderSuggestion | None = None) -> str:
    """History, forecast, band, reorder point and the suggested order of a stored forecast, as inline SVG.

    Cached per forecast (a forecast belongs to one run) and suggested quantity, so a product
    page does not redraw it on every view.
    """
    quantity = suggestion.order_quantity if suggestion is not None else None
    finished = forecast.run.finished_at.timestamp() if forecast.run.finished_at else 0
    key = f"inventory-chart-v3-{forecast.pk}-{finished:.0f}-{quantity}"
    svg = cache.get(key)
    if svg is None:
        svg = _draw_forecast_chart(forecast, quantity)
        cache.set(key, svg, CHART_CACHE_SECONDS)
    # The SVG is built from numbers and escaped labels only; nothing user-typed reaches it unescaped.
    return mark_safe(f'<div class="forecast-chart" style="width:900px;max-width:100%">{svg}</div>')


def _draw_forecast_chart(forecast: ProductForecast, quantity: int | None) -> str:
    import numpy as np

    from .charts import forecast_chart_svg

    run = forecast.run
    matrix = selectors.demand_matrix(before=run.as_of, product_ids=[forecast.product_id])
    start = run.as_of - timedelta(days=120)
    if forecast.product_id in matrix.index:
        row = matrix.loc[forecast.product_id]
        pairs = [(day.date(), float(value)) for day, value in row.items() if day.date() >= start]
    else:
        pairs = []
    plan, _ = services.reorder_plans_for(run=run, forecasts=[forecast])[forecast.product_id]
    return forecast_chart_svg(
        history_days=[day for day, _ in pairs],
        history=[value for _, value in pairs],
        forecast=np.asarray(forecast.values, dtype=float),
        as_of=run.as_of,
        lead_time_errors=np.asarray(forecast.lead_time_errors, dtype=float),
        lead_time_days=forecast.lead_time_days,
        reorder_point=plan.reorder_point,
        position=plan.inventory_position,
        order_quantity=quantity,
    )


@admin.register(Supplier)
class SupplierAdmin(admin.ModelAdmin):
    list_display = ["name", "lead_time_days", "email", "active"]
    list_filter = ["active"]
    search_fields = ["name"]
    show_full_result_count = False


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
    show_full_result_count = False

    def get_queryset(self, request):
        return selectors.with_latest_forecast(super().get_queryset(request))

    @admin.display(description="latest forecast")
    def forecast_link(self, obj: ProductSupply) -> str:
        if obj.latest_forecast_id is None:
            return "—"
        url = reverse("admin:inventory_productforecast_change", args=[obj.latest_forecast_id])
        return format_html('<a href="{}">{}</a>', url, obj.latest_forecast_method)


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


class SuggestionStatusFilter(admin.SimpleListFilter):
    """Open suggestions unless the buyer asks otherwise: old runs' rows would otherwise show twice."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [*ReorderSuggestion.Status.choices, ("all", "All")]

    def choices(self, changelist):
        current = self.value() or ReorderSuggestion.Status.OPEN
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or ReorderSuggestion.Status.OPEN
        return queryset if value == "all" else queryset.filter(status=value)


class ProjectedStockoutFilter(admin.SimpleListFilter):
    title = "projected stock-out"
    parameter_name = "stockout"

    def lookups(self, request, model_admin):
        return [
            ("out", "out of stock now"),
            ("7", "within 7 days"),
            ("14", "within 14 days"),
            ("none", "not within the horizon"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "out":
            return queryset.filter(out_of_stock=0)
        if self.value() == "none":
            return queryset.filter(projected_stockout__isnull=True)
        if self.value() in {"7", "14"}:
            return queryset.filter(projected_stockout__lte=_latest_as_of_plus(queryset, int(self.value())))
        return queryset


def _latest_as_of_plus(queryset, days: int):
    """``days`` after the as-of date of the newest run in the list: stock-outs are projected from it."""
    from django.utils import timezone

    run = ForecastRun.objects.filter(pk__in=queryset.values("run_id")).order_by("-as_of").first()
    start = run.as_of if run else timezone.localdate()
    return start + timedelta(days=days)


class FlaggedFilter(admin.SimpleListFilter):
    title = "needs a second look"
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [("yes", "flagged"), ("no", "not flagged")]

    def queryset(self, request, queryset):
        cover, safety = flag_thresholds()
        flagged = Q(days_of_cover__gt=cover) | Q(safety_stock_multiple__gt=safety)
        if self.value() == "yes":
            return queryset.filter(flagged)
        if self.value() == "no":
            return queryset.exclude(flagged)
        return queryset


def suggestions_with_value(queryset: QuerySet[ReorderSuggestion]) -> QuerySet[ReorderSuggestion]:
    """Annotate what the list needs in the same query: order quantity, unit cost, line value, urgency."""
    money = DecimalField(max_digits=14, decimal_places=2)
    return queryset.annotate(
        order_qty=Coalesce("quantity_override", "quantity"),
        unit_cost=F("product__supply__unit_cost"),
        line_value=ExpressionWrapper(
            Coalesce("quantity_override", "quantity") * F("product__supply__unit_cost"), output_field=money
        ),
        # Out of stock first: nothing left to sell after the reservations.
        out_of_stock=Case(
            When(product__stock__on_hand__lte=F("product__stock__reserved"), then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        ),
    )


class SuggestionOverrideForm(forms.ModelForm):
    class Meta:
        model = ReorderSuggestion
        fields = ["quantity_override"]
        labels = {"quantity_override": "Order quantity (your override)"}
        help_texts = {
            "quantity_override": "Leave empty to order the suggested quantity. "
            "The purchase order uses this number when it is set."
        }


@admin.register(ReorderSuggestion)
class ReorderSuggestionAdmin(admin.ModelAdmin):
    change_list_template = "admin/inventory/reordersuggestion/change_list.html"
    form = SuggestionOverrideForm
    list_display = [
        "sku",
        "name",
        "on_hand",
        "position",
        "cover",
        "order_quantity",
        "cost",
        "value",
        "stockout",
        "flag",
    ]
    list_display_links = ["sku"]
    list_filter = [SuggestionStatusFilter, ProjectedStockoutFilter, FlaggedFilter, "supplier", "run"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["product__stock", "product__supply", "supplier", "run"]
    list_per_page = 50
    show_full_result_count = False
    actions = ["create_purchase_orders", "export_csv", "dismiss"]
    fieldsets = [
        (None, {"fields": ["product_link", "plain_reason", "flags", "quantity_override", "forecast_link"]}),
        ("Chart", {"fields": ["chart"]}),
        (
            "Numbers",
            {
                "fields": [
                    "suggested",
                    "supplier",
                    "unit_cost_display",
                    "line_value_display",
                    "stock_now",
                    "position_display",
                    "reorder_point_display",
                    "order_up_to_display",
                    "cover_display",
                    "safety_display",
                    "service_level_display",
                    "projected_stockout",
                    "status",
                    "purchase_order_link",
                ]
            },
        ),
    ]
    # Everything on the page is read-only but the buyer's quantity.
    readonly_fields = [
        field for _, options in fieldsets for field in options["fields"] if field != "quantity_override"
    ]

    def get_queryset(self, request):
        # Annotate before ordering: the urgency order sorts on the annotations.
        queryset = suggestions_with_value(self.model._default_manager.get_queryset())
        return queryset.order_by(*self.get_ordering(request))

    def get_ordering(self, request):
        return ["out_of_stock", F("projected_stockout").asc(nulls_last=True), "-line_value", "pk"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # Only the buyer's quantity of an open suggestion is editable; everything else is a record.
        if obj is not None and obj.status != ReorderSuggestion.Status.OPEN:
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        try:
            services.suggestion_set_quantity(
                suggestion=obj, quantity=form.cleaned_data["quantity_override"], user=request.user
            )
        except services.InventoryError as exc:
            self.message_user(request, str(exc), messages.ERROR)

    # --- list columns ---------------------------------------------------------------------------

    @admin.display(description="SKU", ordering="product__sku")
    def sku(self, obj: ReorderSuggestion) -> str:
        return obj.product.sku

    @admin.display(description="product", ordering="product__name")
    def name(self, obj: ReorderSuggestion) -> str:
        return format_html('<span title="{}">{}</span>', obj.product.name, obj.product.name[:32])

    @admin.display(description="on hand", ordering="product__stock__on_hand")
    def on_hand(self, obj: ReorderSuggestion) -> str:
        stock = getattr(obj.product, "stock", None)
        if stock is None:
            return "—"
        if obj.out_of_stock == 0:
            return format_html('<strong class="out">{}</strong>', _units(stock.on_hand))
        return _units(stock.on_hand)

    @admin.display(description="position", ordering="inventory_position")
    def position(self, obj: ReorderSuggestion) -> str:
        return _units(obj.inventory_position)

    @admin.display(description="cover (days)", ordering="days_of_cover")
    def cover(self, obj: ReorderSuggestion) -> str:
        return _units(obj.days_of_cover)

    @admin.display(description="order qty", ordering="order_qty")
    def order_quantity(self, obj: ReorderSuggestion) -> str:
        if obj.quantity_override is not None:
            return format_html(
                '<strong title="suggested {}">{}</strong>', _units(obj.quantity), _units(obj.order_qty)
            )
        return _units(obj.quantity)

    @admin.display(description="unit cost", ordering="unit_cost")
    def cost(self, obj: ReorderSuggestion) -> str:
        return _money(obj.unit_cost)

    @admin.display(description="value", ordering="line_value")
    def value(self, obj: ReorderSuggestion) -> str:
        return format_html(
            '<span class="line-value" data-value="{}">{}</span>', obj.line_value or 0, _money(obj.line_value)
        )

    @admin.display(description="stock-out", ordering="projected_stockout")
    def stockout(self, obj: ReorderSuggestion) -> str:
        return obj.projected_stockout.strftime("%d %b") if obj.projected_stockout else "—"

    @admin.display(description="check")
    def flag(self, obj: ReorderSuggestion) -> str:
        flags = suggestion_flags(obj)
        if not flags:
            return ""
        return format_html('<span class="flag" title="{}">&#9873; check</span>', "; ".join(flags))

    # --- change page fields ---------------------------------------------------------------------

    @admin.display(description="product")
    def product_link(self, obj: ReorderSuggestion) -> str:
        url = reverse("admin:shop_product_change", args=[obj.product_id])
        return format_html('<a href="{}">{} {}</a>', url, obj.product.sku, obj.product.name)

    @admin.display(description="why")
    def plain_reason(self, obj: ReorderSuggestion) -> str:
        return obj.reason

    @admin.display(description="check before signing")
    def flags(self, obj: ReorderSuggestion) -> str:
        flags = suggestion_flags(obj)
        if not flags:
            return "Nothing unusual: cover and safety stock are within the flag limits."
        return format_html_join("", '<p class="flag">⚑ This order {}.</p>', ((f,) for f in flags))

    @admin.display(description="suggested quantity")
    def suggested(self, obj: ReorderSuggestion) -> str:
        return _units(obj.quantity)

    @admin.display(description="inventory position (on hand + on order - reserved)")
    def position_display(self, obj: ReorderSuggestion) -> str:
        return _units(obj.inventory_position)

    @admin.display(description="reorder point")
    def reorder_point_display(self, obj: ReorderSuggestion) -> str:
        return _units(obj.reorder_point)

    @admin.display(description="order up to")
    def order_up_to_display(self, obj: ReorderSuggestion) -> str:
        return _units(obj.order_up_to)

    @admin.display(description="service level")
    def service_level_display(self, obj: ReorderSuggestion) -> str:
        return f"{obj.service_level:.0%} of orders in stock"

    @admin.display(description="unit cost")
    def unit_cost_display(self, obj: ReorderSuggestion) -> str:
        return _money(obj.unit_cost)

    @admin.display(description="order value")
    def line_value_display(self, obj: ReorderSuggestion) -> str:
        return _money(obj.line_value)

    @admin.display(description="stock now (on hand / reserved)")
    def stock_now(self, obj: ReorderSuggestion) -> str:
        stock = getattr(obj.product, "stock", None)
        return "—" if stock is None else f"{_units(stock.on_hand)} / {_units(stock.reserved)}"

    @admin.display(description="days of cover")
    def cover_display(self, obj: ReorderSuggestion) -> str:
        return _units(obj.days_of_cover)

    @admin.display(description="safety stock / lead-time demand")
    def safety_display(self, obj: ReorderSuggestion) -> str:
        return "—" if obj.safety_stock_multiple is None else f"{obj.safety_stock_multiple:.1f}x"

    @admin.display(description="purchase order")
    def purchase_order_link(self, obj: ReorderSuggestion) -> str:
        if obj.purchase_order_id is None:
            return "—"
        url = reverse("admin:inventory_purchaseorder_change", args=[obj.purchase_order_id])
        return format_html('<a href="{}">PO-{}</a>', url, obj.purchase_order_id)

    @admin.display(description="forecast")
    def forecast_link(self, obj: ReorderSuggestion) -> str:
        forecast = self._forecast(obj)
        if forecast is None:
            return "—"
        url = reverse("admin:inventory_productforecast_change", args=[forecast.pk])
        return format_html('<a href="{}">{} (run {})</a>', url, forecast.method, forecast.run_id)

    @admin.display(description="history, forecast and the suggested order")
    def chart(self, obj: ReorderSuggestion) -> str:
        forecast = self._forecast(obj)
        return "—" if forecast is None else forecast_chart_html(forecast, suggestion=obj)

    def _forecast(self, obj: ReorderSuggestion) -> ProductForecast | None:
        if not hasattr(obj, "_forecast"):
            obj._forecast = (
                ProductForecast.objects.filter(run_id=obj.run_id, product_id=obj.product_id)
                .select_related("run")
                .first()
            )
        return obj._forecast

    # --- list totals ----------------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context=extra_context)
        changelist = (
            getattr(response, "context_data", {}).get("cl") if hasattr(response, "context_data") else None
        )
        if changelist is not None:
            totals = changelist.queryset.order_by().aggregate(
                value=Sum("line_value"), rows=Count("pk"), flagged=Count("pk", filter=self._flagged_q())
            )
            response.context_data["totals"] = {
                "value": _money(totals["value"] or 0),
                "rows": totals["rows"],
                "flagged": totals["flagged"],
            }
            cover, safety = flag_thresholds()
            response.context_data["flag_limits"] = {"cover": f"{cover:.0f}", "safety": f"{safety:g}"}
        return response

    @staticmethod
    def _flagged_q() -> Q:
        cover, safety = flag_thresholds()
        return Q(days_of_cover__gt=cover) | Q(safety_stock_multiple__gt=safety)

    # --- actions --------------------------------------------------------------------------------

    @admin.action(description="Create draft purchase orders (one per supplier)")
    def create_purchase_orders(self, request, queryset):
        selected = suggestions_with_value(queryset.order_by()).select_related("product", "supplier")
        if "confirm" not in request.POST:
            rows = list(selected.order_by("supplier__name", "product__sku"))
            total = sum((row.line_value or Decimal(0) for row in rows), Decimal(0))
            return TemplateResponse(
                request,
                "admin/inventory/reordersuggestion/confirm_purchase_orders.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Create purchase orders",
                    "rows": rows,
                    "total": _money(total),
                    "suppliers": len({row.supplier_id for row in rows if row.supplier_id}),
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                    "opts": self.model._meta,
                    "media": self.media,
                },
            )
        ids = list(queryset.values_list("pk", flat=True))
        skipped = queryset.filter(pk__in=ids, supplier__isnull=True).count()
        orders = services.purchase_orders_from_suggestions(suggestion_ids=ids)
        links = format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:inventory_purchaseorder_change", args=[o.pk]), o.reference) for o in orders),
        )
        self.message_user(
            request,
            format_html("Created {} draft purchase order(s): {}.", len(orders), links),
            messages.SUCCESS,
        )
        if skipped:
            self.message_user(
                request, f"{skipped} suggestions have no supplier and were skipped.", messages.WARNING
            )
        return None

    @admin.action(description="Export selected as CSV")
    def export_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="reorder_suggestions.csv"'
        writer = csv.writer(response)
        writer.writerow(
            [
                "product_sku",
                "quantity",
                "quantity_override",
                "supplier",
                "projected_stockout",
                "inventory_position",
                "reorder_point",
                "order_up_to",
                "days_of_cover",
                "safety_stock_multiple",
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
                    s.quantity_override or "",
                    s.supplier.name if s.supplier else "",
                    s.projected_stockout or "",
                    s.inventory_position,
                    s.reorder_point,
                    s.order_up_to,
                    s.days_of_cover if s.days_of_cover is not None else "",
                    s.safety_stock_multiple if s.safety_stock_multiple is not None else "",
                    s.service_level,
                    s.status,
                    s.reason,
                ]
            )
        return response

    @admin.action(description="Dismiss selected")
    def dismiss(self, request, queryset):
        dismissed = services.suggestions_dismiss(suggestion_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Dismissed {dismissed} suggestions.")


class PurchaseOrderLineInline(admin.TabularInline):
    model = PurchaseOrderLine
    extra = 0
    can_delete = False
    fields = ["sku", "name", "quantity", "received", "unit_cost", "line_total"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="SKU")
    def sku(self, line: PurchaseOrderLine) -> str:
        return line.product.sku

    @admin.display(description="product")
    def name(self, line: PurchaseOrderLine) -> str:
        url = reverse("admin:shop_product_change", args=[line.product_id])
        return format_html('<a href="{}">{}</a>', url, line.product.name)

    @admin.display(description="line total")
    def line_total(self, line: PurchaseOrderLine) -> str:
        return _money(line.line_value)


class ReceiveForm(forms.Form):
    """One number per outstanding line: the units that arrived today."""

    def __init__(self, *args, lines: list[PurchaseOrderLine], **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = lines
        for line in lines:
            self.fields[f"line_{line.pk}"] = forms.IntegerField(
                min_value=0,
                max_value=line.outstanding,
                initial=line.outstanding,
                label=f"{line.product.sku} {line.product.name}",
                help_text=f"{line.outstanding} of {line.quantity} outstanding",
            )

    def quantities(self) -> dict[int, int]:
        return {line.pk: self.cleaned_data[f"line_{line.pk}"] for line in self.lines}


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(admin.ModelAdmin):
    """Orders come from suggestions; Send, Receive and Cancel are buttons on the order, through services."""

    change_form_template = "admin/inventory/purchaseorder/change_form.html"
    list_display = [
        "reference_display",
        "supplier",
        "status",
        "lines",
        "total",
        "created_at",
        "sent_at",
        "late",
    ]
    list_filter = ["status", "supplier"]
    list_select_related = ["supplier"]
    search_fields = ["id", "supplier__name", "note"]
    show_full_result_count = False
    inlines = [PurchaseOrderLineInline]
    fields = [
        "supplier",
        "status",
        "receipt",
        "note",
        "total",
        "created_at",
        "sent_at",
        "received_at",
        "late",
    ]
    readonly_fields = [
        "supplier",
        "status",
        "receipt",
        "total",
        "created_at",
        "sent_at",
        "received_at",
        "late",
    ]
    actions = ["send", "cancel"]

    def get_queryset(self, request):
        money = DecimalField(max_digits=14, decimal_places=2)
        return (
            super()
            .get_queryset(request)
            .select_related("supplier")
            .annotate(
                line_count=Count("lines"),
                value=Sum(
                    ExpressionWrapper(F("lines__quantity") * F("lines__unit_cost"), output_field=money)
                ),
            )
        )

    def has_add_permission(self, request):
        return False  # drafted from reorder suggestions (or purchase_order_create in code)

    def has_delete_permission(self, request, obj=None):
        return False  # cancel instead: the suggestions and the ledger point at the order

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status not in PurchaseOrder.OPEN_STATUSES:
            return False  # received or cancelled: locked, as the service enforces
        return super().has_change_permission(request, obj)

    @admin.display(description="order", ordering="id")
    def reference_display(self, obj: PurchaseOrder) -> str:
        return obj.reference

    @admin.display(description="lines", ordering="line_count")
    def lines(self, obj: PurchaseOrder) -> int:
        return obj.line_count

    @admin.display(description="total", ordering="value")
    def total(self, obj: PurchaseOrder) -> str:
        return _money(obj.value)

    @admin.display(description="received so far")
    def receipt(self, obj: PurchaseOrder) -> str:
        totals = obj.lines.aggregate(ordered=Sum("quantity"), received=Sum("received"))
        return f"{_units(totals['received'] or 0)} of {_units(totals['ordered'] or 0)} units"

    @admin.display(description="late")
    def late(self, obj: PurchaseOrder) -> str:
        """Days past the supplier's lead time for a sent order not yet received."""
        if obj.status != PurchaseOrder.Status.SENT or obj.sent_at is None:
            return "—"
        from django.utils import timezone

        due = obj.sent_at + timedelta(days=obj.supplier.lead_time_days)
        days = (timezone.now() - due).days
        return f"{days} days late" if days > 0 else f"due {due:%d %b}"

    # Only the note is editable, and only while the order is open.
    def save_model(self, request, obj, form, change):
        if change and form.changed_data:
            services.purchase_order_set_note(order=obj, note=form.cleaned_data["note"])

    def save_related(self, request, form, formsets, change):
        pass  # lines are read-only here; quantities are set through the suggestion's override

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/send/", wrap(self.send_view), name="inventory_purchaseorder_send"),
            path("<int:pk>/receive/", wrap(self.receive_view), name="inventory_purchaseorder_receive"),
            path("<int:pk>/cancel/", wrap(self.cancel_view), name="inventory_purchaseorder_cancel"),
            *super().get_urls(),
        ]

    def _post_only(self, request, pk, service, verb: str):
        order = get_object_or_404(PurchaseOrder, pk=pk)
        back = reverse("admin:inventory_purchaseorder_change", args=[pk])
        if request.method != "POST" or not self.has_change_permission(request, order):
            self.message_user(request, f"{order.reference} cannot be {verb.lower()} now.", messages.ERROR)
            return HttpResponseRedirect(back)
        try:
            service(order=order)
        except services.InventoryError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, f"{verb} {order.reference}.", messages.SUCCESS)
        return HttpResponseRedirect(back)

    def send_view(self, request, pk):
        return self._post_only(request, pk, services.purchase_order_send, "Sent")

    def cancel_view(self, request, pk):
        return self._post_only(request, pk, services.purchase_order_cancel, "Cancelled")

    def receive_view(self, request, pk):
        order = get_object_or_404(PurchaseOrder.objects.select_related("supplier"), pk=pk)
        back = reverse("admin:inventory_purchaseorder_change", args=[pk])
        if order.status not in PurchaseOrder.OPEN_STATUSES or not self.has_change_permission(request, order):
            self.message_user(
                request, f"{order.reference} is {order.status}; nothing to receive.", messages.ERROR
            )
            return HttpResponseRedirect(back)
        lines = [
            line
            for line in order.lines.select_related("product").order_by("product__sku")
            if line.outstanding
        ]
        form = ReceiveForm(request.POST or None, lines=lines)
        if request.method == "POST" and form.is_valid():
            try:
                services.purchase_order_receive(order=order, user=request.user, quantities=form.quantities())
            except services.InventoryError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                order.refresh_from_db()
                self.message_user(
                    request,
                    f"Received into stock on {order.reference} (now {order.status}).",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(back)
        return TemplateResponse(
            request,
            "admin/inventory/purchaseorder/receive.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Receive {order.reference}",
                "order": order,
                "form": form,
                "opts": self.model._meta,
                "original": order,
            },
        )

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
        suggestion = forecast.run.suggestions.filter(product=obj).first()
        return forecast_chart_html(forecast, suggestion=suggestion)
