"""The worklist's own views (grouped by supplier, a category's what-if) and its exports."""

from __future__ import annotations

import csv
import hashlib
from decimal import Decimal

from django.contrib import admin, messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import (
    CharField,
    Count,
    F,
    Q,
    Sum,
    Value,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import mark_safe

from shop import formats
from shop.models import Category

from .. import selectors, services_worklist
from ..documents import table_xlsx
from ..flags import describe
from ..models import (
    ReorderSuggestion,
)
from .worklist_filters import suggestions_with_value

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class WorklistViewsMixin:
    """ "Group by supplier" over the list's filters, and a category's service levels side by side."""

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
        # The most urgent lines of every supplier: a window ranks ids alone (ranking whole rows sorted
        # every open line's columns on disk at ten times the shared file), then those rows are read.
        rank = dict(
            queryset.annotate(
                supplier_rank=Window(RowNumber(), partition_by=[F("supplier_id")], order_by=self._urgency())
            )
            .filter(supplier_rank__lte=shown)
            .values_list("pk", "supplier_rank")
        )
        rows_by_supplier: dict[int | None, list[ReorderSuggestion]] = {}
        shown_rows = queryset.filter(pk__in=list(rank)).select_related("product__stock", "product__category")
        for row in sorted(shown_rows, key=lambda row: rank[row.pk]):
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
            # One string, not a template loop: a large supplier has thousands of open lines.
            group["ids_inputs"] = mark_safe(  # noqa: S308 - integer primary keys and a constant name
                "".join(
                    f'<input type="hidden" name="{admin.helpers.ACTION_CHECKBOX_NAME}" value="{int(pk)}">'
                    for pk in group["ids"]
                )
            )
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

    #: a category's what-if is reused this long (a large category takes seconds to compute)
    WHAT_IF_CACHE_SECONDS = 600

    def _category_what_if(self, run, category, product_ids) -> list:
        """The what-if rows, cached per run, category and its products for a few minutes."""
        finished = run.finished_at.timestamp() if run.finished_at else 0
        digest = hashlib.sha256(",".join(map(str, sorted(product_ids))).encode()).hexdigest()[:16]
        key = f"what-if:v1:{run.pk}:{finished:.0f}:{category.pk}:{digest}"
        rows = cache.get(key)
        if rows is None:
            rows = services_worklist.service_level_what_if(run=run, product_ids=product_ids)
            cache.set(key, rows, self.WHAT_IF_CACHE_SECONDS)
        return rows

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
            except ValidationError as exc:  # a level outside the allowed range
                self.message_user(request, f"Not changed: {'; '.join(exc.messages)}", messages.ERROR)
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
        current = getattr(getattr(category, "service_level", None), "service_level", None)
        rows = self._category_what_if(run, category, product_ids) if run else []
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


class WorklistExportMixin:
    """The selection as XLSX or CSV, one row per suggestion with what a buyer checks."""

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
