"""Staff screens for the catalogue, customers, orders, ratings and stock.

Stock changes from the admin go through ``shop.services`` so the ledger stays whole:
stock records and ledger rows are read-only here, and adjustments are an action. Deleting a
placed order cancels it (releasing its reservation); deleting a product deactivates it.
Cancellations and ratings come from imports and the API, so they are read-only here.
Lists count with correlated subqueries, so a page costs its own rows and COUNT(*) stays plain.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from . import services, services_catalogue
from .admin_panels import PanelsAdminMixin
from .importing.admin import CategoryResource, KeyedImportAdminMixin, StockCountResource
from .models import (
    Cancellation,
    Category,
    Customer,
    Order,
    OrderLine,
    Product,
    Rating,
    StockMovement,
    StockRecord,
)
from .selectors import category_subtree_q


def per_row(model, *, outer: str, total: str | None = None) -> Coalesce:
    """COUNT (or SUM of ``total``) of ``model`` rows pointing at each row, as a correlated subquery."""
    rows = model.objects.filter(**{outer: OuterRef("pk")}).order_by().values(outer)
    value = rows.annotate(value=Sum(total) if total else Count("pk")).values("value")[:1]
    return Coalesce(Subquery(value, output_field=IntegerField()), 0)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written only by services: staff may look, never add, edit or delete."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Category)
class CategoryAdmin(KeyedImportAdminMixin, admin.ModelAdmin):
    """Categories are paths ("Home > Kitchen"); adding one adds its missing parents. A path is not
    renamed here (its sub-categories and filters hang on it): import categories with the new path."""

    list_display = ["name", "parent", "product_count"]
    search_fields = ["name"]
    resource_classes = [CategoryResource]
    fields = ["name", "parent"]
    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: Category | None = None):
        return ["parent"] if obj is None else ["name", "parent"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        return (
            super()
            .get_queryset(request)
            .select_related("parent")
            .annotate(product_count=per_row(Product, outer="category"))
        )

    @admin.display(ordering="product_count", description="products (this level)")
    def product_count(self, obj: Category) -> int:
        return obj.product_count

    def save_model(self, request: HttpRequest, obj: Category, form, change: bool) -> None:
        if not change:
            created = services_catalogue.category_create(name=form.cleaned_data["name"])
            obj.pk, obj.name, obj.parent_id = created.pk, created.name, created.parent_id


class CategoryTreeFilter(admin.SimpleListFilter):
    """A category and everything under it ("Home" lists "Home > Kitchen" products too)."""

    title = "category"
    parameter_name = "category"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in Category.objects.values_list("pk", "name")]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        name = Category.objects.filter(pk=self.value()).values_list("name", flat=True).first()
        return queryset.filter(category_subtree_q(name)) if name else queryset.none()


class StockStateFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock"

    def lookups(self, request, model_admin):
        return [("in", "Available"), ("out", "Out of stock"), ("none", "No stock record")]

    def queryset(self, request, queryset):
        if self.value() == "in":
            return queryset.in_stock()
        if self.value() == "out":
            return queryset.filter(stock__on_hand__lte=F("stock__reserved"))
        if self.value() == "none":
            return queryset.filter(stock__isnull=True)
        return queryset


class StockRecordInline(admin.StackedInline):
    model = StockRecord
    can_delete = False
    readonly_fields = ["on_hand", "reserved", "updated_at"]
    fields = ["on_hand", "reserved", "updated_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class StockAdjustmentForm(forms.Form):
    delta = forms.IntegerField(help_text="Signed change to units on hand, e.g. -3 for three damaged units.")
    note = forms.CharField(max_length=255, help_text="Why: it is kept in the stock ledger.")


@admin.register(Product)
class ProductAdmin(PanelsAdminMixin, admin.ModelAdmin):
    list_display = ["sku", "name", "category", "price", "active", "on_hand", "reserved"]
    list_filter = ["active", StockStateFilter, CategoryTreeFilter]
    search_fields = ["sku", "name", "description"]
    list_select_related = ["category", "stock"]
    # No list_editable "active": a form per row cost most of the list's time, and taking a product
    # off sale is the "Deactivate" action, through the service.
    autocomplete_fields = ["category"]
    inlines = [StockRecordInline]
    actions = ["adjust_stock", "deactivate"]
    show_full_result_count = False

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # "Deactivate" replaces it: sales and ledger keep their product
        return actions

    def delete_model(self, request: HttpRequest, obj: Product) -> None:
        services.product_deactivate(product=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        for product in queryset:
            services.product_deactivate(product=product)

    def get_deleted_objects(self, objs, request):
        # Nothing is deleted (the product is deactivated), so there is nothing to list or protect.
        return [format_html("{} (deactivated, not deleted)", obj) for obj in objs], {}, set(), []

    def response_delete(self, request, obj_display, obj_id):
        self.message_user(
            request, f"{obj_display} was deactivated: products are never deleted.", messages.SUCCESS
        )
        return HttpResponseRedirect(reverse("admin:shop_product_change", args=[obj_id]))

    @admin.action(description="Deactivate selected products (never sold nor recommended)")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        for product in queryset:
            services.product_deactivate(product=product)
        self.message_user(request, f"Deactivated {queryset.count()} product(s).", messages.SUCCESS)

    @admin.display(ordering="stock__on_hand")
    def on_hand(self, obj: Product) -> int | None:
        return getattr(getattr(obj, "stock", None), "on_hand", None)

    @admin.display(ordering="stock__reserved")
    def reserved(self, obj: Product) -> int | None:
        return getattr(getattr(obj, "stock", None), "reserved", None)

    @admin.action(description="Adjust stock of the selected products")
    def adjust_stock(self, request: HttpRequest, queryset: QuerySet[Product]) -> HttpResponse | None:
        if "apply" in request.POST:
            form = StockAdjustmentForm(request.POST)
            if form.is_valid():
                done = 0
                for product in queryset:
                    try:
                        services.stock_adjust(
                            product=product,
                            delta=form.cleaned_data["delta"],
                            note=form.cleaned_data["note"],
                            user=request.user,
                        )
                        done += 1
                    except services.ShopError as exc:
                        self.message_user(request, str(exc), messages.ERROR)
                self.message_user(request, f"Adjusted stock of {done} product(s).", messages.SUCCESS)
                return None
        else:
            form = StockAdjustmentForm()
        return render(
            request,
            "admin/shop/adjust_stock.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "products": queryset,
                "title": "Adjust stock",
            },
        )


@admin.register(Customer)
class CustomerAdmin(PanelsAdminMixin, admin.ModelAdmin):
    list_display = ["external_id", "country", "user", "order_count", "created_at"]
    list_filter = ["country"]
    search_fields = ["external_id", "user__username", "user__email"]
    raw_id_fields = ["user"]
    show_full_result_count = False
    readonly_fields = ["recent_purchases", "customer_ratings"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Customer]:
        return (
            super()
            .get_queryset(request)
            .select_related("user")
            .annotate(order_count=per_row(Order, outer="customer"))
        )

    @admin.display(description="last purchases")
    def recent_purchases(self, obj: Customer) -> str:
        if obj.pk is None:
            return "—"
        lines = (
            OrderLine.objects.filter(order__customer=obj)
            .select_related("order", "product")
            .order_by("-order__placed_at", "-order_id", "line_number")[:15]
        )
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td><a href="{}">{}</a></td><td><a href="{}">{} {}</a></td>'
            "<td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{line.order.placed_at:%Y-%m-%d}",
                    reverse("admin:shop_order_change", args=[line.order_id]),
                    line.order.number,
                    reverse("admin:shop_product_change", args=[line.product_id]),
                    line.product.sku,
                    line.product.name,
                    line.quantity,
                    line.unit_price,
                )
                for line in lines
            ),
        )
        if not rows:
            return "No purchases yet."
        return format_html(
            "<table><tr><th>date</th><th>order</th><th>product</th><th>qty</th><th>price</th></tr>{}</table>",
            rows,
        )

    @admin.display(description="ratings")
    def customer_ratings(self, obj: Customer) -> str:
        if obj.pk is None:
            return "—"
        ratings = obj.ratings.select_related("product").order_by("-rated_at")[:15]
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{} {}</a></td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:shop_product_change", args=[r.product_id]),
                    r.product.sku,
                    r.product.name,
                    r.stars,
                    f"{r.rated_at:%Y-%m-%d}",
                )
                for r in ratings
            ),
        )
        if not rows:
            return "No ratings."
        return format_html("<table><tr><th>product</th><th>stars</th><th>date</th></tr>{}</table>", rows)

    @admin.display(ordering="order_count", description="orders")
    def order_count(self, obj: Customer) -> int:
        return obj.order_count


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders are placed through the API or imports; staff cancel or fulfil them with actions."""

    list_display = ["number", "customer", "placed_at", "status", "line_count", "units"]
    list_filter = ["status", "placed_at", "country"]
    search_fields = ["number", "customer__external_id"]
    date_hierarchy = "placed_at"
    readonly_fields = ["number", "customer", "placed_at", "status", "country", "total", "lines_table"]
    # One table rendered in a single pass: an inline form per line took 26 s for a 704-line order.
    actions = ["fulfil_orders", "cancel_orders"]
    list_select_related = ["customer"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return (
            super()
            .get_queryset(request)
            .select_related("customer")
            .annotate(
                line_count=per_row(OrderLine, outer="order"),
                units=per_row(OrderLine, outer="order", total="quantity"),
            )
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return False  # every field is read-only; status changes are the actions, through the services

    def has_delete_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        # "Delete" of a placed order cancels it; fulfilled and cancelled orders are history.
        if obj is not None and obj.status != Order.Status.PLACED:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # "Cancel selected" does what a delete may do
        return actions

    def delete_model(self, request: HttpRequest, obj: Order) -> None:
        services.order_cancel(order=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        for order in queryset:
            services.order_cancel(order=order)

    def get_deleted_objects(self, objs, request):
        return [format_html("{} (cancelled, not deleted)", obj) for obj in objs], {}, set(), []

    def response_delete(self, request, obj_display, obj_id):
        self.message_user(
            request, f"Order {obj_display} was cancelled and its reservation released.", messages.SUCCESS
        )
        return HttpResponseRedirect(reverse("admin:shop_order_change", args=[obj_id]))

    @admin.display(description="total")
    def total(self, obj: Order) -> str:
        return f"{sum(line.quantity * line.unit_price for line in self._lines(obj)):,.2f}"

    @admin.display(description="lines")
    def lines_table(self, obj: Order) -> str:
        url = reverse("admin:shop_product_changelist")
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td><a href="{}{}/change/">{}</a></td><td>{}</td>'
            "<td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    line.line_number,
                    url,
                    line.product_id,
                    line.product.sku,
                    line.product.name,
                    line.quantity,
                    line.unit_price,
                    f"{line.quantity * line.unit_price:,.2f}",
                )
                for line in self._lines(obj)
            ),
        )
        return format_html(
            '<table class="order-lines"><tr><th>#</th><th>SKU</th><th>product</th><th>qty</th>'
            "<th>unit price</th><th>line total</th></tr>{}</table>",
            rows,
        )

    def _lines(self, obj: Order) -> list[OrderLine]:
        if not hasattr(obj, "_admin_lines"):
            obj._admin_lines = list(obj.lines.select_related("product").order_by("line_number"))
        return obj._admin_lines

    @admin.display(ordering="line_count", description="lines")
    def line_count(self, obj: Order) -> int:
        return obj.line_count

    @admin.display(ordering="units")
    def units(self, obj: Order) -> int:
        return obj.units or 0

    def _apply(self, request: HttpRequest, queryset: QuerySet[Order], service, verb: str) -> None:
        done = 0
        for order in queryset:
            try:
                service(order=order)
                done += 1
            except services.ShopError as exc:
                self.message_user(request, str(exc), messages.WARNING)
        self.message_user(request, f"{verb} {done} order(s).", messages.SUCCESS)

    @admin.action(description="Fulfil selected placed orders (ship the reserved stock)")
    def fulfil_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._apply(request, queryset, services.order_fulfil, "Fulfilled")

    @admin.action(description="Cancel selected placed orders (release the reservation)")
    def cancel_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._apply(request, queryset, services.order_cancel, "Cancelled")


@admin.register(Cancellation)
class CancellationAdmin(ReadOnlyAdmin):
    list_display = ["reference", "line_number", "kind", "product", "customer", "quantity", "created_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["reference", "product__sku", "customer__external_id"]
    list_select_related = ["product", "customer"]
    raw_id_fields = ["order_line", "product", "customer"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(Rating)
class RatingAdmin(ReadOnlyAdmin):
    list_display = ["customer", "product", "stars", "rated_at"]
    list_filter = ["stars"]
    search_fields = ["customer__external_id", "product__sku", "product__name"]
    list_select_related = ["customer", "product"]
    raw_id_fields = ["customer", "product"]
    show_full_result_count = False


@admin.register(StockRecord)
class StockRecordAdmin(KeyedImportAdminMixin, admin.ModelAdmin):
    """Stock changes through services only; "Import" loads a stock count (stocktake movements)."""

    resource_classes = [StockCountResource]
    list_display = ["product", "on_hand", "reserved", "available", "updated_at"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["product"]
    readonly_fields = ["product", "on_hand", "reserved", "updated_at"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    """The ledger is append-only: rows come from services, never from hand edits."""

    list_display = ["created_at", "product", "quantity", "reason", "reference", "note", "created_by"]
    list_filter = ["reason", "created_at"]
    search_fields = ["product__sku", "reference", "note"]
    list_select_related = ["product", "created_by"]
    date_hierarchy = "created_at"
    show_full_result_count = False
