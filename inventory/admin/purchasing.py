"""Suppliers, their supply terms and purchase orders (send, receive, cancel, all through the services)."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db.models import (
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    Sum,
)
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from shop.importing.admin import KeyedImportAdminMixin

from .. import selectors, services
from ..importing_admin import SupplierResource, SupplyTermsResource
from ..models import (
    ProductSupply,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
)
from .common import format_money, format_units


@admin.register(Supplier)
class SupplierAdmin(KeyedImportAdminMixin, admin.ModelAdmin):
    resource_classes = [SupplierResource]
    list_display = ["name", "lead_time_days", "email", "active"]
    list_filter = ["active"]
    search_fields = ["name"]
    show_full_result_count = False


@admin.register(ProductSupply)
class ProductSupplyAdmin(KeyedImportAdminMixin, admin.ModelAdmin):
    resource_classes = [SupplyTermsResource]
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
    autocomplete_fields = ["product", "supplier"]  # by SKU or name, never a database id
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
        return format_money(line.line_value)


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
        return format_money(obj.value)

    @admin.display(description="received so far")
    def receipt(self, obj: PurchaseOrder) -> str:
        totals = obj.lines.aggregate(ordered=Sum("quantity"), received=Sum("received"))
        return f"{format_units(totals['received'] or 0)} of {format_units(totals['ordered'] or 0)} units"

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
