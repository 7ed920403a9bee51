"""The buyer's worklist: open reorder suggestions, most urgent first, edited in bulk, grouped by supplier.

Quantities are typed in the list and saved together (``suggestions_set_quantities``); snooze,
dismiss and reopen (``worklist_decisions``), purchase orders and exports (``worklist_views``) are
actions; "Group by supplier" and the category what-if are views of their own (``worklist_views``).
"""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.db.models import (
    Count,
    F,
    Q,
    Sum,
)
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from shop import formats
from shop.admin_paginator import EstimatedCountPaginator
from shop.models import Category

from .. import services, services_worklist
from ..flags import describe
from ..models import (
    ProductForecast,
    ReorderSuggestion,
    SuggestionDecision,
)
from .common import RecentRunFilter, forecast_chart_html, format_day, format_money, format_units
from .worklist_decisions import DecisionActionsMixin
from .worklist_filters import (
    CategoryFilter,
    FlagFilter,
    ProjectedStockoutFilter,
    SuggestionStatusFilter,
    suggestions_with_value,
)
from .worklist_views import WorklistExportMixin, WorklistViewsMixin, what_if_table

QTY_FIELD = re.compile(r"^qty-(\d+)$")


def _today():
    return timezone.localdate()


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
class ReorderSuggestionAdmin(WorklistViewsMixin, WorklistExportMixin, DecisionActionsMixin, admin.ModelAdmin):
    change_list_template = "admin/inventory/reordersuggestion/change_list.html"
    change_form_template = "admin/inventory/reordersuggestion/change_form.html"
    form = SuggestionOverrideForm
    list_display = [
        "sku",
        "name",
        "supplier_name",
        "category_name",
        "on_hand",
        "cover",
        "quantity_input",
        "value",
        "stockout",
        "headline_display",
        "flag_list",
    ]
    list_display_links = ["sku"]
    list_filter = [
        SuggestionStatusFilter,
        FlagFilter,
        ProjectedStockoutFilter,
        "supplier",
        CategoryFilter,
        RecentRunFilter,
    ]
    search_fields = ["product__sku", "product__name"]
    # Not the run: its product list is a JSON array of every product id, fetched again per row.
    list_select_related = ["product__stock", "product__supply", "product__category", "supplier"]
    list_per_page = 50
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = [
        "create_purchase_orders",
        "snooze",
        "dismiss",
        "reopen",
        "export_xlsx",
        "export_csv",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "product_link",
                    "headline_display",
                    "flag_sentences",
                    "plain_reason",
                    "quantity_override",
                    "decision_display",
                    "forecast_link",
                ]
            },
        ),
        ("Chart", {"fields": ["chart"]}),
        ("What if the service level were different", {"fields": ["what_if"]}),
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
                    "stockout_display",
                    "status",
                    "purchase_order_link",
                    "created_display",
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

    @staticmethod
    def _urgency() -> list:
        """The list's order as expressions (a window function takes no field names with a minus)."""
        return [
            F("out_of_stock").asc(),
            F("projected_stockout").asc(nulls_last=True),
            F("line_value").desc(nulls_last=True),
            F("pk").asc(),
        ]

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
        return format_html('<span title="{}">{}</span>', obj.product.name, obj.product.name[:40])

    @admin.display(description="supplier", ordering="supplier__name")
    def supplier_name(self, obj: ReorderSuggestion) -> str:
        if obj.supplier is None:
            return format_html('<span class="missing">{}</span>', "none")
        return obj.supplier.name

    @admin.display(description="category", ordering="product__category__name")
    def category_name(self, obj: ReorderSuggestion) -> str:
        category = obj.product.category
        return "—" if category is None else category.name

    @admin.display(description="on hand", ordering="product__stock__on_hand")
    def on_hand(self, obj: ReorderSuggestion) -> str:
        stock = getattr(obj.product, "stock", None)
        if stock is None:
            return "—"
        if obj.out_of_stock == 0:
            # Said in words and weight, not colour alone.
            return format_html('<strong class="out">{} out</strong>', format_units(stock.on_hand))
        return format_units(stock.on_hand)

    @admin.display(description="cover (days)", ordering="days_of_cover")
    def cover(self, obj: ReorderSuggestion) -> str:
        return format_units(obj.days_of_cover)

    @admin.display(description="order qty", ordering="order_qty")
    def quantity_input(self, obj: ReorderSuggestion) -> str:
        """The quantity as an input: type in many rows, then "Save quantities" (or run an action)."""
        label = f"Order quantity for {obj.product.sku}"
        if obj.status != ReorderSuggestion.Status.OPEN:
            return format_units(obj.order_qty)
        return format_html(
            '<input type="number" class="qty" name="qty-{}" value="{}" min="1" step="1" '
            'data-suggested="{}" data-cost="{}" aria-label="{}" title="suggested {}">',
            obj.pk,
            obj.order_qty,
            obj.quantity,
            obj.unit_cost or 0,
            label,
            format_units(obj.quantity),
        )

    @admin.display(description="value", ordering="line_value")
    def value(self, obj: ReorderSuggestion) -> str:
        return format_html(
            '<span class="line-value" data-value="{}">{}</span>',
            obj.line_value or 0,
            format_money(obj.line_value),
        )

    @admin.display(description="stock-out", ordering="projected_stockout")
    def stockout(self, obj: ReorderSuggestion) -> str:
        return format_day(obj.projected_stockout)

    @admin.display(description="reason")
    def headline_display(self, obj: ReorderSuggestion) -> str:
        text = obj.headline or "—"
        if obj.snoozed_until and obj.snoozed_until > _today():
            until = "the next run" if obj.snoozed_until == services_worklist.UNTIL_NEXT_RUN else None
            text += f" (snoozed until {until or format_day(obj.snoozed_until)})"
        return text

    @admin.display(description="flags")
    def flag_list(self, obj: ReorderSuggestion) -> str:
        if not obj.flags:
            return ""
        return format_html_join(
            " ",
            '<span class="flag" data-flag="{}">⚑ {}</span>',
            ((code, describe(code)) for code in obj.flags),
        )

    # --- change page fields ---------------------------------------------------------------------

    @admin.display(description="product")
    def product_link(self, obj: ReorderSuggestion) -> str:
        url = reverse("admin:shop_product_change", args=[obj.product_id])
        return format_html('<a href="{}">{} {}</a>', url, obj.product.sku, obj.product.name)

    @admin.display(description="why")
    def plain_reason(self, obj: ReorderSuggestion) -> str:
        return obj.reason

    @admin.display(description="check before signing")
    def flag_sentences(self, obj: ReorderSuggestion) -> str:
        if not obj.flags:
            return "Nothing stands out: no flag applies."
        return format_html_join(
            "", '<p class="flag">⚑ {}</p>', ((self._flag_sentence(obj, code),) for code in obj.flags)
        )

    def _flag_sentence(self, obj: ReorderSuggestion, code: str) -> str:
        limits = services_worklist.flag_thresholds()
        cover = "" if obj.days_of_cover is None else f" ({format_units(obj.days_of_cover)} days of forecast)"
        sentences = {
            "above_sales": f"The quantity is more than {limits.above_sales_days:,.0f} days of the last "
            f"8 weeks' sales{cover}.",
            "cover_capped": "The policy wanted more; the order was capped at the longest cover allowed.",
            "forecast_jump": f"The forecast moved more than {limits.jump_ratio:g} times since the "
            "product's previous run.",
            "no_recent_sales": "Nothing sold in the last 8 weeks, yet the policy orders.",
            "minimum_order": f"The supplier's minimum order is more than {limits.minimum_order_ratio:g} "
            "times what was needed.",
        }
        return sentences.get(code, describe(code))

    @admin.display(description="your decision")
    def decision_display(self, obj: ReorderSuggestion) -> str:
        decision = (
            SuggestionDecision.objects.filter(product_id=obj.product_id)
            .select_related("decided_by")
            .order_by("-created_at", "-id")
            .first()
        )
        if decision is None:
            return "—"
        if decision.kind == SuggestionDecision.Kind.DISMISS:
            what = f"Dismissed: {decision.reason}"
        elif decision.until_next_run:
            what = "Snoozed until the next forecast run"
        else:
            what = f"Snoozed until {format_day(decision.until)}"
        who = f" by {decision.decided_by}" if decision.decided_by else ""
        ended = (
            f"; ended {formats.moment(decision.ended_at)} ({decision.ended_because})"
            if decision.ended_at
            else ""
        )
        return f"{what} ({formats.moment(decision.created_at)}{who}){ended}"

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

    @admin.display(description="projected stock-out")
    def stockout_display(self, obj: ReorderSuggestion) -> str:
        return format_day(obj.projected_stockout)

    @admin.display(description="suggested on")
    def created_display(self, obj: ReorderSuggestion) -> str:
        run = f"forecast run {obj.run_id} as of {format_day(obj.run.as_of)}"
        return f"{formats.moment(obj.created_at)}, by {run}"

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
        return format_html(
            '<a href="{}">{} (run {} as of {})</a>',
            url,
            forecast.method,
            forecast.run_id,
            format_day(obj.run.as_of),
        )

    @admin.display(description="history, forecast and the suggested order")
    def chart(self, obj: ReorderSuggestion) -> str:
        forecast = self._forecast(obj)
        return "—" if forecast is None else forecast_chart_html(forecast, suggestion=obj)

    @admin.display(description="at other service levels (from the stored forecast)")
    def what_if(self, obj: ReorderSuggestion) -> str:
        rows = services_worklist.service_level_what_if(run=obj.run, product_ids=[obj.product_id])
        table = what_if_table(rows, current=obj.service_level)
        category = obj.product.category_id
        if category is None:
            return table
        url = reverse("admin:inventory_reordersuggestion_category_what_if", args=[category])
        return format_html(
            '{}<p><a href="{}">The same for the whole category {}</a></p>', table, url, obj.product.category
        )

    def _forecast(self, obj: ReorderSuggestion) -> ProductForecast | None:
        if not hasattr(obj, "_forecast"):
            obj._forecast = (
                ProductForecast.objects.filter(run_id=obj.run_id, product_id=obj.product_id)
                .select_related("run")
                .first()
            )
        return obj._forecast

    # --- the list: totals, typed quantities -----------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        if request.method == "POST" and any(QTY_FIELD.match(key) for key in request.POST):
            saved = self._save_quantities(request)
            if saved is None or "_save_quantities" in request.POST:
                return HttpResponseRedirect(request.get_full_path())
        response = super().changelist_view(request, extra_context=extra_context)
        changelist = (
            getattr(response, "context_data", {}).get("cl") if hasattr(response, "context_data") else None
        )
        if changelist is not None:
            totals = changelist.queryset.order_by().aggregate(
                value=Sum("line_value"),
                rows=Count("pk"),
                flagged=Count("pk", filter=~Q(flags=[])),
            )
            response.context_data["totals"] = {
                "value": format_money(totals["value"] or 0),
                "rows": totals["rows"],
                "flagged": totals["flagged"],
                "flagged_share": f"{totals['flagged'] / totals['rows']:.0%}" if totals["rows"] else "0%",
            }
            query = request.GET.urlencode()
            response.context_data["group_url"] = reverse("admin:inventory_reordersuggestion_by_supplier") + (
                f"?{query}" if query else ""
            )
            response.context_data["currency"] = formats.currency()
            category = request.GET.get("category", "")
            if category.isdigit():
                response.context_data["category_what_if"] = (
                    reverse("admin:inventory_reordersuggestion_category_what_if", args=[int(category)]),
                    Category.objects.filter(pk=int(category)).values_list("name", flat=True).first(),
                )
        return response

    def _save_quantities(self, request) -> int | None:
        """Save the typed quantities that differ from the stored ones; None when the batch is refused."""
        typed: dict[int, str] = {}
        for key, value in request.POST.items():
            match = QTY_FIELD.match(key)
            if match:
                typed[int(match.group(1))] = value.strip()
        current = dict(
            ReorderSuggestion.objects.filter(pk__in=list(typed))
            .annotate(order_qty=Coalesce("quantity_override", "quantity"))
            .values_list("pk", "order_qty")
        )
        changes: dict[int, int | None] = {}
        for pk, text in typed.items():
            if pk not in current:
                continue
            if text == "":
                continue
            try:
                quantity = int(text.replace(",", ""))
            except ValueError:
                self.message_user(
                    request, f"Nothing was saved: {text!r} is not a whole number.", messages.ERROR
                )
                return None
            if quantity != current[pk]:
                changes[pk] = quantity
        if not changes:
            if "_save_quantities" in request.POST:
                self.message_user(request, "No quantity had changed.", messages.INFO)
            return 0
        try:
            saved = services_worklist.suggestions_set_quantities(quantities=changes, user=request.user)
        except services_worklist.WorklistError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return None
        self.message_user(
            request, f"Saved {saved:,} quantit{'y' if saved == 1 else 'ies'}.", messages.SUCCESS
        )
        return saved

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


__all__ = ["ReorderSuggestionAdmin", "suggestions_with_value"]
