"""Suppliers, their supply terms and purchase orders (send, receive, cancel, all through the services)."""

from __future__ import annotations

import csv
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import (
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    Sum,
)
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from shop import formats
from shop.admin_paginator import EstimatedCountPaginator
from shop.importing.admin import KeyedImportAdminMixin

from .. import selectors, services
from ..documents import purchase_order_document, purchase_order_xlsx, table_xlsx
from ..importing_admin import SupplierResource, SupplyTermsResource
from ..models import (
    ProductSupply,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
)
from .common import format_day, format_moment, format_money, format_units

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@admin.register(Supplier)
class SupplierAdmin(KeyedImportAdminMixin, admin.ModelAdmin):
    resource_classes = [SupplierResource]
    list_display = ["name", "email", "lead_time_days", "minimum_order", "active"]
    list_filter = ["active"]
    search_fields = ["name", "email"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    @admin.display(description="minimum order", ordering="minimum_order_value")
    def minimum_order(self, obj: Supplier) -> str:
        return format_money(obj.minimum_order_value) if obj.minimum_order_value else "none"


@admin.register(ProductSupply)
class ProductSupplyAdmin(KeyedImportAdminMixin, admin.ModelAdmin):
    resource_classes = [SupplyTermsResource]
    list_display = [
        "product",
        "supplier",
        "cost",
        "minimum_order",
        "pack_size",
        "lead_time_days",
        "service_level",
        "forecast_link",
    ]
    list_filter = ["supplier"]
    search_fields = ["product__sku", "product__name"]
    autocomplete_fields = ["product", "supplier"]  # by SKU or name, never a database id
    list_select_related = ["product", "supplier"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_queryset(self, request):
        return selectors.with_latest_forecast(super().get_queryset(request))

    @admin.display(description="unit cost", ordering="unit_cost")
    def cost(self, obj: ProductSupply) -> str:
        return format_money(obj.unit_cost)

    @admin.display(description="latest forecast")
    def forecast_link(self, obj: ProductSupply) -> str:
        if obj.latest_forecast_id is None:
            return "—"
        url = reverse("admin:inventory_productforecast_change", args=[obj.latest_forecast_id])
        return format_html('<a href="{}">{}</a>', url, obj.latest_forecast_method)


#: lines per page on a purchase order's page (a whole worklist's order can hold thousands)
LINES_PER_PAGE = 100


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
                help_text=f"{line.outstanding:,} of {line.quantity:,} outstanding",
            )

    def quantities(self) -> dict[int, int]:
        return {line.pk: self.cleaned_data[f"line_{line.pk}"] for line in self.lines}


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(admin.ModelAdmin):
    """Orders come from suggestions; Send (by email), Receive and Cancel are buttons, through services."""

    change_form_template = "admin/inventory/purchaseorder/change_form.html"
    list_display = [
        "reference_display",
        "supplier",
        "status",
        "lines",
        "total",
        "created_display",
        "sent_display",
        "late",
    ]
    list_filter = ["status", "supplier"]
    list_select_related = ["supplier"]
    search_fields = ["id", "supplier__name", "note"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fields = [
        "supplier",
        "status",
        "receipt",
        "note",
        "total",
        "created_display",
        "sent_record",
        "received_display",
        "late",
        "lines_table",
    ]
    readonly_fields = [
        "supplier",
        "status",
        "receipt",
        "total",
        "created_display",
        "sent_record",
        "received_display",
        "late",
        "lines_table",
    ]
    actions = ["email_to_suppliers", "cancel", "export_xlsx", "export_csv"]

    def get_queryset(self, request):
        money = DecimalField(max_digits=14, decimal_places=2)
        return (
            super()
            .get_queryset(request)
            .select_related("supplier", "sent_by")
            .annotate(
                line_count=Count("lines"),
                value=Sum(
                    ExpressionWrapper(F("lines__quantity") * F("lines__unit_cost"), output_field=money)
                ),
            )
        )

    def get_object(self, request, object_id, from_field=None):
        order = super().get_object(request, object_id, from_field)
        if order is not None:
            # The lines table pages itself; read-only fields see the object, not the request.
            page = request.GET.get("lines", "1")
            order._lines_page = int(page) if page.isdigit() and int(page) > 0 else 1
        return order

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
    def lines(self, obj: PurchaseOrder) -> str:
        return format_units(obj.line_count)

    @admin.display(description="total", ordering="value")
    def total(self, obj: PurchaseOrder) -> str:
        return format_money(obj.value)

    @admin.display(description="created", ordering="created_at")
    def created_display(self, obj: PurchaseOrder) -> str:
        return format_moment(obj.created_at)

    @admin.display(description="sent", ordering="sent_at")
    def sent_display(self, obj: PurchaseOrder) -> str:
        return format_day(obj.sent_at)

    @admin.display(description="sent")
    def sent_record(self, obj: PurchaseOrder) -> str:
        if obj.sent_at is None:
            return "Not yet"
        to = f" to {obj.sent_to}" if obj.sent_to else " (marked sent, no email)"
        by = f" by {obj.sent_by}" if obj.sent_by else ""
        return f"{format_moment(obj.sent_at)}{to}{by}"

    @admin.display(description="received")
    def received_display(self, obj: PurchaseOrder) -> str:
        return format_moment(obj.received_at)

    @admin.display(description="received so far")
    def receipt(self, obj: PurchaseOrder) -> str:
        totals = obj.lines.aggregate(ordered=Sum("quantity"), received=Sum("received"))
        return f"{format_units(totals['received'] or 0)} of {format_units(totals['ordered'] or 0)} units"

    @admin.display(description="late")
    def late(self, obj: PurchaseOrder) -> str:
        """Days past the supplier's lead time for a sent order not yet received."""
        if obj.status != PurchaseOrder.Status.SENT or obj.sent_at is None:
            return "—"
        due = obj.sent_at + timedelta(days=obj.supplier.lead_time_days)
        days = (timezone.now() - due).days
        return f"{days:,} days late" if days > 0 else f"due {format_day(due)}"

    @admin.display(description="lines")
    def lines_table(self, obj: PurchaseOrder) -> str:
        """The order's lines by SKU, a page at a time, with links to the other pages."""
        if obj.pk is None:
            return "—"
        lines = obj.lines.select_related("product").order_by("product__sku")
        count = obj.line_count if hasattr(obj, "line_count") else lines.count()
        pages = max((count + LINES_PER_PAGE - 1) // LINES_PER_PAGE, 1)
        page = min(getattr(obj, "_lines_page", 1), pages)
        start = (page - 1) * LINES_PER_PAGE
        return render_to_string(
            "admin/inventory/purchaseorder/lines_table.html",
            {
                "lines": lines[start : start + LINES_PER_PAGE],
                "first": start + 1,
                "last": min(start + LINES_PER_PAGE, count),
                "count": count,
                "page": page,
                "pages": range(1, pages + 1) if pages > 1 else [],
            },
        )

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
            path("<int:pk>/document/", wrap(self.document_view), name="inventory_purchaseorder_document"),
            path(
                "<int:pk>/document.xlsx",
                wrap(self.document_xlsx_view),
                name="inventory_purchaseorder_document_xlsx",
            ),
            *super().get_urls(),
        ]

    def _post_only(self, request, pk, service, verb: str, **kwargs):
        order = get_object_or_404(PurchaseOrder, pk=pk)
        back = reverse("admin:inventory_purchaseorder_change", args=[pk])
        if request.method != "POST" or not self.has_change_permission(request, order):
            self.message_user(request, f"{order.reference} cannot be {verb.lower()} now.", messages.ERROR)
            return HttpResponseRedirect(back)
        try:
            order = service(order=order, **kwargs)
        except services.InventoryError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            to = f" to {order.sent_to}" if getattr(order, "sent_to", "") and verb == "Emailed" else ""
            self.message_user(request, f"{verb} {order.reference}{to}.", messages.SUCCESS)
        return HttpResponseRedirect(back)

    def send_view(self, request, pk):
        return self._post_only(request, pk, services.purchase_order_email, "Emailed", user=request.user)

    def cancel_view(self, request, pk):
        return self._post_only(request, pk, services.purchase_order_cancel, "Cancelled")

    def _viewable(self, request, pk) -> PurchaseOrder:
        order = get_object_or_404(PurchaseOrder, pk=pk)
        if not self.has_view_or_change_permission(request, order):
            raise PermissionDenied
        return order

    def document_view(self, request, pk):
        """The printable purchase order (print it, or save it as PDF, from the browser)."""
        document = purchase_order_document(order=self._viewable(request, pk))
        html = render_to_string(
            "inventory/purchase_order_document.html",
            {
                "doc": document,
                "standalone": True,
                "xlsx_url": reverse("admin:inventory_purchaseorder_document_xlsx", args=[pk]),
                "back_url": reverse("admin:inventory_purchaseorder_change", args=[pk]),
            },
        )
        return HttpResponse(html)

    def document_xlsx_view(self, request, pk):
        document = purchase_order_document(order=self._viewable(request, pk))
        response = HttpResponse(purchase_order_xlsx(document), content_type=XLSX)
        response["Content-Disposition"] = f'attachment; filename="{document.filename}"'
        return response

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

    def _apply(self, request, queryset, service, verb: str, **kwargs) -> None:
        done = 0
        for order in queryset:
            try:
                service(order=order, **kwargs)
                done += 1
            except services.InventoryError as exc:
                self.message_user(request, str(exc), messages.ERROR)
        self.message_user(request, f"{verb} {done:,} purchase order(s).")

    @admin.action(description="Email selected draft orders to their suppliers")
    def email_to_suppliers(self, request, queryset):
        self._apply(request, queryset, services.purchase_order_email, "Emailed", user=request.user)

    @admin.action(description="Cancel")
    def cancel(self, request, queryset):
        self._apply(request, queryset, services.purchase_order_cancel, "Cancelled")

    EXPORT_HEADER = [
        "order",
        "supplier",
        "status",
        "created",
        "sent",
        "SKU",
        "product",
        "quantity",
        "received",
    ]

    def _export_rows(self, queryset):
        lines = (
            PurchaseOrderLine.objects.filter(order__in=queryset.order_by().values("pk"))
            .select_related("order__supplier", "product")
            .order_by("order_id", "product__sku")
        )
        for line in lines:
            order = line.order
            yield [
                order.reference,
                order.supplier.name,
                order.status,
                timezone.localtime(order.created_at).date(),
                timezone.localtime(order.sent_at).date() if order.sent_at else None,
                line.product.sku,
                line.product.name,
                line.quantity,
                line.received,
                line.unit_cost,
                line.line_value,
            ]

    def _header(self) -> list[str]:
        cur = formats.currency()
        return [*self.EXPORT_HEADER, f"unit cost ({cur})", f"value ({cur})"]

    @admin.action(description="Export selected orders' lines as XLSX")
    def export_xlsx(self, request, queryset):
        data = table_xlsx(
            title="Purchase orders",
            header=self._header(),
            rows=self._export_rows(queryset),
            kinds=[None, None, None, "date", "date", None, None, "units", "units", "money", "money"],
        )
        response = HttpResponse(data, content_type=XLSX)
        response["Content-Disposition"] = 'attachment; filename="purchase_orders.xlsx"'
        return response

    @admin.action(description="Export selected orders' lines as CSV")
    def export_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="purchase_orders.csv"'
        writer = csv.writer(response)
        writer.writerow(self._header())
        for row in self._export_rows(queryset):
            writer.writerow(["" if value is None else value for value in row])
        return response
