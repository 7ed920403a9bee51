"""The buyer's worklist: open reorder suggestions, most urgent first, with overrides and purchase orders."""

from __future__ import annotations

import csv
from datetime import timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
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
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from .. import services
from ..models import (
    ForecastRun,
    ProductForecast,
    ReorderSuggestion,
)
from .common import flag_thresholds, forecast_chart_html, format_money, format_units, suggestion_flags


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
            return format_html('<strong class="out">{}</strong>', format_units(stock.on_hand))
        return format_units(stock.on_hand)

    @admin.display(description="position", ordering="inventory_position")
    def position(self, obj: ReorderSuggestion) -> str:
        return format_units(obj.inventory_position)

    @admin.display(description="cover (days)", ordering="days_of_cover")
    def cover(self, obj: ReorderSuggestion) -> str:
        return format_units(obj.days_of_cover)

    @admin.display(description="order qty", ordering="order_qty")
    def order_quantity(self, obj: ReorderSuggestion) -> str:
        if obj.quantity_override is not None:
            return format_html(
                '<strong title="suggested {}">{}</strong>',
                format_units(obj.quantity),
                format_units(obj.order_qty),
            )
        return format_units(obj.quantity)

    @admin.display(description="unit cost", ordering="unit_cost")
    def cost(self, obj: ReorderSuggestion) -> str:
        return format_money(obj.unit_cost)

    @admin.display(description="value", ordering="line_value")
    def value(self, obj: ReorderSuggestion) -> str:
        return format_html(
            '<span class="line-value" data-value="{}">{}</span>',
            obj.line_value or 0,
            format_money(obj.line_value),
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
        return format_units(obj.quantity)

    @admin.display(description="inventory position (on hand + on order - reserved)")
    def position_display(self, obj: ReorderSuggestion) -> str:
        return format_units(obj.inventory_position)

    @admin.display(description="reorder point")
    def reorder_point_display(self, obj: ReorderSuggestion) -> str:
        return format_units(obj.reorder_point)

    @admin.display(description="order up to")
    def order_up_to_display(self, obj: ReorderSuggestion) -> str:
        return format_units(obj.order_up_to)

    @admin.display(description="service level")
    def service_level_display(self, obj: ReorderSuggestion) -> str:
        return f"{obj.service_level:.0%} of orders in stock"

    @admin.display(description="unit cost")
    def unit_cost_display(self, obj: ReorderSuggestion) -> str:
        return format_money(obj.unit_cost)

    @admin.display(description="order value")
    def line_value_display(self, obj: ReorderSuggestion) -> str:
        return format_money(obj.line_value)

    @admin.display(description="stock now (on hand / reserved)")
    def stock_now(self, obj: ReorderSuggestion) -> str:
        stock = getattr(obj.product, "stock", None)
        return "—" if stock is None else f"{format_units(stock.on_hand)} / {format_units(stock.reserved)}"

    @admin.display(description="days of cover")
    def cover_display(self, obj: ReorderSuggestion) -> str:
        return format_units(obj.days_of_cover)

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
                "value": format_money(totals["value"] or 0),
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
                    "total": format_money(total),
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
