"""The buyer's worklist: open reorder suggestions, most urgent first, edited in bulk, grouped by supplier.

Quantities are typed in the list and saved together (``suggestions_set_quantities``); snooze,
dismiss, reopen, purchase orders and exports are actions; "Group by supplier" shows the same
filtered rows per supplier with subtotals against each supplier's minimum order value.
"""

from __future__ import annotations

import csv
import re
from datetime import timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.db.models import (
    Case,
    CharField,
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
    Window,
)
from django.db.models.functions import Coalesce, RowNumber
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from shop import formats
from shop.admin import ReadOnlyAdmin
from shop.models import Category

from .. import selectors, services, services_worklist
from ..documents import table_xlsx
from ..flags import CAUSES, describe
from ..models import (
    ForecastRun,
    ProductForecast,
    ReorderSuggestion,
    SuggestionDecision,
)
from .common import RecentRunFilter, forecast_chart_html, format_day, format_money, format_units

MONEY = DecimalField(max_digits=14, decimal_places=2)
QTY_FIELD = re.compile(r"^qty-(\d+)$")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _today():
    return timezone.localdate()


class SuggestionStatusFilter(admin.SimpleListFilter):
    """Open, awake suggestions unless the buyer asks otherwise: old runs' rows would otherwise show twice."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [
            ("open", "Open"),
            ("snoozed", "Snoozed"),
            *[(v, label) for v, label in ReorderSuggestion.Status.choices if v != "open"],
            ("all", "All"),
        ]

    def choices(self, changelist):
        current = self.value() or "open"
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or "open"
        if value == "all":
            return queryset
        if value == "open":
            return queryset.to_review(today=_today())
        if value == "snoozed":
            return queryset.open().filter(snoozed_until__gt=_today())
        return queryset.filter(status=value)


class FlagFilter(admin.SimpleListFilter):
    title = "flag"
    parameter_name = "flag"

    def lookups(self, request, model_admin):
        return [("any", "any flag"), *CAUSES.items(), ("none", "not flagged")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "any":
            return queryset.flagged()
        if value == "none":
            return queryset.filter(flags=[])
        if value in CAUSES:
            return queryset.with_flag(value)
        return queryset


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
    run = ForecastRun.objects.filter(pk__in=queryset.values("run_id")).order_by("-as_of").first()
    start = run.as_of if run else _today()
    return start + timedelta(days=days)


class CategoryFilter(admin.SimpleListFilter):
    title = "category"
    parameter_name = "category"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in Category.objects.order_by("name").values_list("pk", "name")]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(product__category_id=int(self.value()))
        return queryset


def suggestions_with_value(queryset: QuerySet[ReorderSuggestion]) -> QuerySet[ReorderSuggestion]:
    """Annotate what the list needs in the same query: order quantity, unit cost, line value, urgency."""
    return queryset.annotate(
        order_qty=Coalesce("quantity_override", "quantity"),
        unit_cost=F("product__supply__unit_cost"),
        line_value=ExpressionWrapper(
            Coalesce("quantity_override", "quantity") * F("product__supply__unit_cost"), output_field=MONEY
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


class SnoozeForm(forms.Form):
    CHOICES = [("1", "1 day"), ("3", "3 days"), ("7", "1 week"), ("14", "2 weeks"), ("30", "30 days")]
    until = forms.ChoiceField(
        label="Snooze for",
        choices=[*CHOICES, ("next", "until the next forecast run")],
        initial="7",
        widget=forms.RadioSelect,
    )

    def days(self) -> int | None:
        value = self.cleaned_data["until"]
        return None if value == "next" else int(value)


class DismissForm(forms.Form):
    REASONS = [
        "Discontinued or being phased out",
        "Ordered outside this list",
        "Stock figure is wrong: recount first",
        "Seasonal: not needed now",
    ]
    reason = forms.ChoiceField(
        label="Why",
        choices=[(r, r) for r in REASONS] + [("other", "Other (say below)")],
        widget=forms.RadioSelect,
    )
    detail = forms.CharField(label="In your words", max_length=200, required=False)

    def clean(self):
        data = super().clean()
        if data.get("reason") == "other" and not data.get("detail", "").strip():
            raise forms.ValidationError("Say why in your own words.")
        return data

    def text(self) -> str:
        reason, detail = self.cleaned_data["reason"], self.cleaned_data["detail"].strip()
        if reason == "other":
            return detail
        return f"{reason}: {detail}" if detail else reason


@admin.register(ReorderSuggestion)
class ReorderSuggestionAdmin(admin.ModelAdmin):
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

    # --- extra views: group by supplier, category what-if ---------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("by-supplier/", wrap(self.by_supplier_view), name="inventory_reordersuggestion_by_supplier"),
            path(
                "what-if/category/<int:category_id>/",
                wrap(self.category_what_if_view),
                name="inventory_reordersuggestion_category_what_if",
            ),
            *super().get_urls(),
        ]

    #: lines shown under each supplier on the grouped page (the rest are a link to the filtered list)
    LINES_PER_SUPPLIER = 10

    def by_supplier_view(self, request: HttpRequest):
        """The filtered worklist per supplier: lines, units, subtotal against the minimum order value."""
        changelist = self.get_changelist_instance(request)
        queryset = changelist.queryset.order_by()
        groups = list(
            queryset.values("supplier_id")
            .annotate(
                supplier_label=Coalesce("supplier__name", Value("(no supplier)"), output_field=CharField()),
                minimum=F("supplier__minimum_order_value"),
                email=F("supplier__email"),
                lines=Count("pk"),
                units=Sum("order_qty"),
                subtotal=Sum("line_value"),
                flagged=Count("pk", filter=~Q(flags=[])),
                open_lines=Count(
                    "pk", filter=Q(status=ReorderSuggestion.Status.OPEN, supplier__isnull=False)
                ),
            )
            .order_by("supplier_label")
        )
        shown = self.LINES_PER_SUPPLIER
        # The most urgent lines of every supplier in one query (a window ranks them per supplier).
        ranked = queryset.annotate(
            supplier_rank=Window(RowNumber(), partition_by=[F("supplier_id")], order_by=self._urgency())
        ).filter(supplier_rank__lte=shown)
        rows_by_supplier: dict[int | None, list[ReorderSuggestion]] = {}
        for row in ranked.select_related("product__stock", "product__category").order_by("supplier_rank"):
            row.flag_labels = [describe(code) for code in row.flags]
            rows_by_supplier.setdefault(row.supplier_id, []).append(row)
        open_ids: dict[int | None, list[int]] = {}
        for supplier_id, pk in queryset.filter(status=ReorderSuggestion.Status.OPEN).values_list(
            "supplier_id", "pk"
        ):
            open_ids.setdefault(supplier_id, []).append(pk)
        for group in groups:
            group["rows"] = rows_by_supplier.get(group["supplier_id"], [])
            group["more"] = max(group["lines"] - shown, 0)
            group["ids"] = open_ids.get(group["supplier_id"], [])
            minimum = group["minimum"] or Decimal(0)
            subtotal = group["subtotal"] or Decimal(0)
            group["short_by"] = minimum - subtotal if group["supplier_id"] and subtotal < minimum else None
            params = request.GET.copy()
            if group["supplier_id"]:
                params["supplier__id__exact"] = str(group["supplier_id"])
            else:
                params["supplier__isnull"] = "True"
            group["list_url"] = (
                reverse("admin:inventory_reordersuggestion_changelist") + "?" + params.urlencode()
            )
        query = request.GET.urlencode()
        totals = queryset.aggregate(value=Sum("line_value"), rows=Count("pk"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Reorder suggestions by supplier",
            "opts": self.model._meta,
            "groups": groups,
            "totals": totals,
            "list_url": reverse("admin:inventory_reordersuggestion_changelist")
            + (f"?{query}" if query else ""),
            "changelist_url": reverse("admin:inventory_reordersuggestion_changelist"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "filters": [
                (spec.title, choice["display"])
                for spec in changelist.filter_specs
                for choice in spec.choices(changelist)
                if choice.get("selected") and spec.has_output() and str(choice["display"]) != "All"
            ],
        }
        return TemplateResponse(request, "admin/inventory/reordersuggestion/by_supplier.html", context)

    def category_what_if_view(self, request: HttpRequest, category_id: int):
        """A category's order quantity and stock value at each service level; one click sets the level."""
        category = get_object_or_404(Category, pk=category_id)
        back = reverse("admin:inventory_reordersuggestion_category_what_if", args=[category.pk])
        if request.method == "POST":
            if not request.user.has_perm(
                "inventory.change_categoryservicelevel"
            ) or not request.user.has_perm("inventory.add_categoryservicelevel"):
                self.message_user(request, "You may not change service levels.", messages.ERROR)
                return HttpResponseRedirect(back)
            try:
                level = float(request.POST.get("service_level", ""))
                services_worklist.category_service_level_set(category=category, service_level=level)
            except (ValueError, services_worklist.WorklistError) as exc:
                self.message_user(request, f"Not changed: {exc}", messages.ERROR)
            except Exception as exc:  # full_clean's ValidationError: a level outside the allowed range
                self.message_user(
                    request, f"Not changed: {'; '.join(getattr(exc, 'messages', [str(exc)]))}", messages.ERROR
                )
            else:
                self.message_user(
                    request,
                    f"{category} now aims to keep {level:.0%} of orders in stock; "
                    "the next forecast run uses it.",
                    messages.SUCCESS,
                )
            return HttpResponseRedirect(back)
        run = selectors.latest_complete_run()
        product_ids = list(category.products.values_list("pk", flat=True))
        rows = services_worklist.service_level_what_if(run=run, product_ids=product_ids) if run else []
        current = getattr(getattr(category, "service_level", None), "service_level", None)
        context = {
            **self.admin_site.each_context(request),
            "title": f"What if: service levels for {category}",
            "opts": self.model._meta,
            "category": category,
            "run": run,
            "rows": rows,
            "table": what_if_table(rows, current=current, buttons=True),
            "current": current,
            "products": len(product_ids),
            "can_set": request.user.has_perm("inventory.change_categoryservicelevel"),
        }
        return TemplateResponse(request, "admin/inventory/reordersuggestion/category_what_if.html", context)

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

    def _decide(self, request, queryset, *, form_class, title: str, verb: str, apply):
        """An action with a small form (snooze length, dismissal reason): ask, then apply it via a service."""
        form = form_class(request.POST if "decide" in request.POST else None)
        if "decide" in request.POST and form.is_valid():
            try:
                done = apply(form, list(queryset.values_list("pk", flat=True)))
            except services_worklist.WorklistError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"{verb} {done:,} suggestion(s).", messages.SUCCESS)
            return None
        rows = list(queryset.select_related("product").order_by("product__sku")[:200])
        return TemplateResponse(
            request,
            "admin/inventory/reordersuggestion/decide.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "form": form,
                "rows": rows,
                "count": queryset.count(),
                "ids": list(queryset.values_list("pk", flat=True)),
                "action": request.POST.get("action"),
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Snooze selected (hide for some days, or until the next run)")
    def snooze(self, request, queryset):
        return self._decide(
            request,
            queryset,
            form_class=SnoozeForm,
            title="Snooze suggestions",
            verb="Snoozed",
            apply=lambda form, ids: services_worklist.suggestions_snooze(
                suggestion_ids=ids, days=form.days(), user=request.user
            ),
        )

    @admin.action(description="Dismiss selected, with a reason")
    def dismiss(self, request, queryset):
        return self._decide(
            request,
            queryset,
            form_class=DismissForm,
            title="Dismiss suggestions",
            verb="Dismissed",
            apply=lambda form, ids: services_worklist.suggestions_dismiss(
                suggestion_ids=ids, reason=form.text(), user=request.user
            ),
        )

    @admin.action(description="Reopen selected (end a snooze or a dismissal)")
    def reopen(self, request, queryset):
        done = services_worklist.suggestions_reopen(
            suggestion_ids=list(queryset.values_list("pk", flat=True)), user=request.user
        )
        self.message_user(request, f"Reopened {done:,} suggestion(s).", messages.SUCCESS)

    EXPORT_HEADER = [
        "SKU",
        "product",
        "supplier",
        "category",
        "status",
        "suggested quantity",
        "order quantity",
        "unit cost",
        "value",
        "on hand",
        "inventory position",
        "reorder point",
        "order up to",
        "days of cover",
        "projected stock-out",
        "service level",
        "reason in short",
        "flags",
        "snoozed until",
        "reason",
    ]

    def _export_rows(self, queryset):
        rows = suggestions_with_value(queryset.order_by()).select_related(
            "product__stock", "product__category", "supplier"
        )
        for s in rows.order_by("supplier__name", "product__sku"):
            stock = getattr(s.product, "stock", None)
            yield [
                s.product.sku,
                s.product.name,
                s.supplier.name if s.supplier else "",
                s.product.category.name if s.product.category else "",
                s.status,
                s.quantity,
                s.order_qty,
                s.unit_cost,
                s.line_value,
                stock.on_hand if stock else None,
                round(s.inventory_position),
                round(s.reorder_point, 1),
                round(s.order_up_to, 1),
                s.days_of_cover,
                s.projected_stockout,
                s.service_level,
                s.headline,
                "; ".join(describe(code) for code in s.flags),
                None if s.snoozed_until in (None, services_worklist.UNTIL_NEXT_RUN) else s.snoozed_until,
                s.reason,
            ]

    @admin.action(description="Export selected as XLSX")
    def export_xlsx(self, request, queryset):
        cur = formats.currency()
        header = [f"{h} ({cur})" if h in {"unit cost", "value"} else h for h in self.EXPORT_HEADER]
        kinds = [
            None,
            None,
            None,
            None,
            None,
            "units",
            "units",
            "money",
            "money",
            "units",
            "units",
            "number",
            "number",
            "number",
            "date",
            "number",
        ]
        data = table_xlsx(
            title="Reorder suggestions", header=header, rows=self._export_rows(queryset), kinds=kinds
        )
        response = HttpResponse(data, content_type=XLSX)
        response["Content-Disposition"] = 'attachment; filename="reorder_suggestions.xlsx"'
        return response

    @admin.action(description="Export selected as CSV")
    def export_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="reorder_suggestions.csv"'
        writer = csv.writer(response)
        cur = formats.currency()
        writer.writerow([f"{h} ({cur})" if h in {"unit cost", "value"} else h for h in self.EXPORT_HEADER])
        for row in self._export_rows(queryset):
            writer.writerow(["" if v is None else v for v in row])
        return response


def what_if_table(
    rows: list[services_worklist.WhatIfRow], *, current: float | None, buttons: bool = False
) -> str:
    """The what-if rows as a table, the level in use marked; ``buttons`` adds a "Use" button per level."""
    if not rows:
        return "No stored forecast to compute from: run a forecast first."
    shown = [
        {
            "row": row,
            "now": current is not None and abs(row.service_level - current) < 1e-9,
            "level": f"{row.service_level:.0%}",
        }
        for row in rows
    ]
    return render_to_string(
        "admin/inventory/reordersuggestion/what_if_table.html", {"rows": shown, "buttons": buttons}
    )


@admin.register(SuggestionDecision)
class SuggestionDecisionAdmin(ReadOnlyAdmin):
    """The record of snoozes and dismissals: who, when, why, and when each ended."""

    list_display = [
        "product",
        "kind",
        "until_display",
        "reason",
        "decided_by",
        "created_display",
        "ended_display",
    ]
    list_filter = ["kind"]
    search_fields = ["product__sku", "product__name", "reason"]
    list_select_related = ["product", "decided_by"]
    show_full_result_count = False

    @admin.display(description="until")
    def until_display(self, obj: SuggestionDecision) -> str:
        if obj.kind == SuggestionDecision.Kind.DISMISS:
            return "reopened by the buyer"
        return "the next run" if obj.until_next_run else format_day(obj.until)

    @admin.display(description="decided", ordering="created_at")
    def created_display(self, obj: SuggestionDecision) -> str:
        return formats.moment(obj.created_at)

    @admin.display(description="ended", ordering="ended_at")
    def ended_display(self, obj: SuggestionDecision) -> str:
        return "—" if obj.ended_at is None else f"{formats.moment(obj.ended_at)} ({obj.ended_because})"


__all__ = ["ReorderSuggestionAdmin", "suggestions_with_value", "what_if_table"]
