"""Staff screens for the catalogue, customers, orders, ratings and stock.

Stock changes from the admin go through ``shop.services`` so the ledger stays whole:
stock records and ledger rows are read-only here, and adjustments are an action. Deleting a
placed order cancels it (releasing its reservation); deleting a product deactivates it.
Cancellations and ratings come from imports and the API, so they are read-only here.
Lists count with correlated subqueries, so a page costs its own rows and COUNT(*) stays plain.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme

from . import formats, order_states, selectors, services, services_catalogue
from .admin_paginator import EstimatedCountPaginator
from .admin_panels import PanelsAdminMixin
from .importing.admin import CategoryResource, KeyedImportAdminMixin, StockCountResource
from .models import (
    Cancellation,
    Category,
    Customer,
    Order,
    OrderLine,
    OrderToShip,
    PaymentEvent,
    Product,
    Rating,
    ShipmentLine,
    StockMovement,
    StockRecord,
)
from .selectors import category_subtree_q


def per_row(model, *, outer: str, total: str | None = None) -> Coalesce:
    """COUNT (or SUM of ``total``) of ``model`` rows pointing at each row, as a correlated subquery."""
    rows = model.objects.filter(**{outer: OuterRef("pk")}).order_by().values(outer)
    value = rows.annotate(value=Sum(total) if total else Count("pk")).values("value")[:1]
    return Coalesce(Subquery(value, output_field=IntegerField()), 0)


#: Lines per page on an order's page.
ORDER_LINES_PER_PAGE = 100


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
    paginator = EstimatedCountPaginator

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
    list_display = ["sku", "name", "category", "price_display", "active", "on_hand", "reserved"]
    list_filter = ["active", StockStateFilter, CategoryTreeFilter]
    # Derived: units sold is refreshed from the orders, and the creation time is a record.
    readonly_fields = ["units_sold", "created_at"]
    search_fields = ["sku", "name", "description"]
    list_select_related = ["category", "stock"]
    # No list_editable "active": a form per row cost most of the list's time, and taking a product
    # off sale is the "Deactivate" action, through the service.
    autocomplete_fields = ["category"]
    inlines = [StockRecordInline]
    actions = ["adjust_stock", "deactivate"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

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

    @admin.display(description="price", ordering="price")
    def price_display(self, obj: Product) -> str:
        return formats.money(obj.price)

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
    search_fields = ["external_id", "email", "user__username", "user__email"]  # email: guests
    raw_id_fields = ["user"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    # The external id is the key other systems know the customer by; the creation time is a record.
    readonly_fields = ["external_id", "created_at", "recent_purchases", "customer_ratings"]

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
                    formats.day(line.order.placed_at),
                    reverse("admin:shop_order_change", args=[line.order_id]),
                    line.order.number,
                    reverse("admin:shop_product_change", args=[line.product_id]),
                    line.product.sku,
                    line.product.name,
                    formats.units(line.quantity),
                    formats.money(line.unit_price),
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
                    formats.day(r.rated_at),
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


class ShipForm(forms.Form):
    """One "units to ship" box per product still to ship; the service checks the numbers again."""

    def __init__(self, *args, rows: list[dict], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rows = rows
        for row in rows:
            product = row["product"]
            self.fields[f"units_{product.pk}"] = forms.IntegerField(
                min_value=0,
                max_value=row["to_ship"],
                initial=row["to_ship"],
                label=f"{product.sku} {product.name}",
            )
            row["field"] = f"units_{product.pk}"

    def bound_rows(self) -> list[dict]:
        return [{**row, "box": self[row["field"]]} for row in self.rows]

    def quantities(self) -> dict[int, int]:
        return {
            row["product"].pk: self.cleaned_data[row["field"]]
            for row in self.rows
            if self.cleaned_data[row["field"]]
        }


class ReturnForm(forms.Form):
    order_line = forms.TypedChoiceField(coerce=int, label="line")
    quantity = forms.IntegerField(min_value=1)
    disposition = forms.ChoiceField(
        choices=[("restock", "Back into stock"), ("write_off", "Write off (damaged, not resold)")],
        widget=forms.RadioSelect,
        initial="restock",
    )
    reason = forms.CharField(max_length=255, help_text="Why it came back: kept with the return.")

    def __init__(self, *args, rows: list[dict], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["order_line"].choices = [
            (
                row["line"].pk,
                f"#{row['line'].line_number} {row['line'].product.sku} {row['line'].product.name} "
                f"({row['returnable']} returnable)",
            )
            for row in rows
            if row["returnable"] > 0
        ]


class MarkPaidForm(forms.Form):
    reference = forms.CharField(
        max_length=200,
        required=False,
        help_text="Where the money came from (a bank transfer reference); kept with the payment.",
    )


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders are placed through the API or imports; staff take them through payment, shipping,
    cancellation and returns with the buttons on the order page, each one a service call."""

    list_display = ["number", "customer", "placed_at", "status", "paid_at", "line_count", "units"]
    list_filter = ["status", "placed_at", "country"]
    search_fields = ["number", "customer__external_id"]
    date_hierarchy = "placed_at"
    readonly_fields = [
        *("number", "customer", "guest_email", "placed_at", "status", "expires_at", "paid_at", "country"),
        *("amounts", "lines_table", "payments_table", "shipments_table", "returns_table", "refunds_table"),
    ]
    fieldsets = [
        (
            None,
            {"fields": ["number", "customer", "guest_email", "placed_at", "status", "expires_at", "paid_at"]},
        ),
        ("Money", {"fields": ["amounts", "payments_table", "refunds_table"]}),
        ("Lines", {"fields": ["lines_table"]}),
        ("Shipments and returns", {"fields": ["shipments_table", "returns_table"]}),
    ]
    # One table rendered in a single pass: an inline form per line took 26 s for a 704-line order.
    actions = ["mark_paid", "ship_in_full", "cancel_orders"]
    list_select_related = ["customer"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    change_form_template = "admin/shop/order/change_form.html"

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
        return False  # every field is read-only; status changes are the buttons, through the services

    def has_delete_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        # "Delete" of a placed order cancels it; other orders are history or need a refund decision.
        if obj is not None and obj.status != Order.Status.PLACED:
            return False
        return super().has_delete_permission(request, obj)

    def may_operate(self, request: HttpRequest) -> bool:
        """Taking orders through their states is an order change, whatever the read-only form says."""
        return request.user.has_perm("shop.change_order")

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # "Cancel selected" does what a delete may do
        if not self.may_operate(request):
            for name in ("mark_paid", "ship_in_full", "cancel_orders"):
                actions.pop(name, None)
        return actions

    def delete_model(self, request: HttpRequest, obj: Order) -> None:
        services.order_cancel(order=obj, user=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        for order in queryset:
            services.order_cancel(order=order, user=request.user)

    def get_deleted_objects(self, objs, request):
        return [format_html("{} (cancelled, not deleted)", obj) for obj in objs], {}, set(), []

    def response_delete(self, request, obj_display, obj_id):
        self.message_user(
            request, f"Order {obj_display} was cancelled and its reservation released.", messages.SUCCESS
        )
        return HttpResponseRedirect(reverse("admin:shop_order_change", args=[obj_id]))

    def get_object(self, request: HttpRequest, object_id, from_field=None):
        order = super().get_object(request, object_id, from_field)
        if order is not None:
            # The lines table pages itself; read-only fields see the object, not the request.
            page = request.GET.get("lines", "1")
            order._lines_page = int(page) if page.isdigit() and int(page) > 0 else 1
        return order

    # --- The order page ---------------------------------------------------------------------------

    def _detail(self, obj: Order) -> Order:
        """The order with lines, payments, refunds, shipments and returns, read once per page."""
        if not hasattr(obj, "_admin_detail"):
            obj._admin_detail = selectors.order_with_lines(order_id=obj.pk)
        return obj._admin_detail

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = self.get_object(request, object_id)
        extra = {**(extra_context or {})}
        if order is not None and self.may_operate(request):
            extra["order_actions"] = [str(action) for action in order_states.allowed_actions(order.status)]
        return super().change_view(request, object_id, form_url, extra_context=extra)

    @admin.display(description="guest email")
    def guest_email(self, obj: Order) -> str:
        customer = obj.customer
        return customer.email if customer is not None and customer.user_id is None and customer.email else "—"

    @admin.display(description="amounts")
    def amounts(self, obj: Order) -> str:
        order = self._detail(obj)
        total = services.order_total(order)
        paid, refunded = selectors.order_money(order)
        return format_html(
            '<table class="order-amounts"><tr><th scope="col">total</th><th scope="col">paid</th>'
            '<th scope="col">refunded</th></tr><tr><td class="num">{}</td><td class="num">{}</td>'
            '<td class="num">{}</td></tr></table>',
            formats.money(total),
            formats.money(paid),
            formats.money(refunded),
        )

    @admin.display(description="lines")
    def lines_table(self, obj: Order) -> str:
        """The order's lines, ``ORDER_LINES_PER_PAGE`` at a time: a 704-line order is 8 short pages."""
        progress = selectors.order_lines_progress(self._detail(obj))
        count = len(progress)
        pages = max((count + ORDER_LINES_PER_PAGE - 1) // ORDER_LINES_PER_PAGE, 1)
        page = min(getattr(obj, "_lines_page", 1), pages)
        start = (page - 1) * ORDER_LINES_PER_PAGE
        url = reverse("admin:shop_product_changelist")
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td><a href="{}{}/change/">{}</a></td><td>{}</td>'
            '<td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>'
            '<td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>',
            (
                (
                    row["line"].line_number,
                    url,
                    row["line"].product_id,
                    row["line"].product.sku,
                    row["line"].product.name,
                    formats.units(row["line"].quantity),
                    formats.money(row["line"].unit_price),
                    formats.money(row["line"].quantity * row["line"].unit_price),
                    formats.units(row["shipped"]),
                    formats.units(row["to_ship"]),
                    formats.units(row["returned"]),
                )
                for row in progress[start : start + ORDER_LINES_PER_PAGE]
            ),
        )
        links = format_html_join(
            " ",
            "{}",
            (
                (
                    format_html('<strong aria-current="page">{}</strong>', number)
                    if number == page
                    else format_html('<a href="?lines={}#order-lines">{}</a>', number, number),
                )
                for number in range(1, pages + 1)
            ),
        )
        pager = format_html('<nav class="lines-pages" aria-label="Pages of lines">Pages: {}</nav>', links)
        return format_html(
            '<p id="order-lines">Lines {} to {} of {}.</p>'
            '<table class="order-lines"><thead><tr><th scope="col">#</th><th scope="col">SKU</th>'
            '<th scope="col">product</th><th scope="col">qty</th><th scope="col">unit price</th>'
            '<th scope="col">line total</th><th scope="col">shipped</th><th scope="col">to ship</th>'
            '<th scope="col">returned</th></tr></thead><tbody>{}</tbody></table>{}',
            formats.units(min(start + 1, count)),
            formats.units(min(start + ORDER_LINES_PER_PAGE, count)),
            formats.units(count),
            rows,
            pager if pages > 1 else "",
        )

    @admin.display(description="payments")
    def payments_table(self, obj: Order) -> str:
        payments = list(self._detail(obj).payments.all())
        if not payments:
            return "No payment yet."
        return format_html(
            '<table class="order-payments"><tr><th>received</th><th>amount</th><th>reference</th></tr>'
            "{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                ((formats.moment(p.created_at), formats.money(p.amount), p.reference) for p in payments),
            ),
        )

    @admin.display(description="refunds")
    def refunds_table(self, obj: Order) -> str:
        refunds = list(self._detail(obj).refunds.all())
        if not refunds:
            return "No refund."
        return format_html(
            '<table class="order-refunds"><tr><th>recorded</th><th>amount</th><th>why</th>'
            "<th>provider</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        formats.moment(r.created_at),
                        formats.money(r.amount),
                        r.get_reason_display(),
                        f"confirmed ({r.provider_reference})" if r.confirmed_at else "not confirmed yet",
                    )
                    for r in refunds
                ),
            ),
        )

    @admin.display(description="shipments")
    def shipments_table(self, obj: Order) -> str:
        order = self._detail(obj)
        shipments = list(order.shipments.all())
        if not shipments:
            return (
                "Shipped before shipments were recorded."
                if order.status == Order.Status.FULFILLED
                else "None yet."
            )
        return format_html(
            '<table class="order-shipments"><tr><th>shipment</th><th>shipped</th><th>units</th></tr>'
            "{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        f"{order.number}/S{shipment.sequence}",
                        formats.moment(shipment.created_at),
                        ", ".join(
                            f"{line.quantity} x {line.order_line.product.sku}"
                            for line in shipment.lines.all()
                        ),
                    )
                    for shipment in shipments
                ),
            ),
        )

    @admin.display(description="returns")
    def returns_table(self, obj: Order) -> str:
        returns = [(line, item) for line in self._detail(obj).lines.all() for item in line.returns.all()]
        if not returns:
            return "None."
        return format_html(
            '<table class="order-returns"><tr><th>received</th><th>product</th><th>units</th>'
            "<th>stock</th><th>reason</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        formats.moment(item.created_at),
                        line.product.sku,
                        formats.units(item.quantity),
                        "restocked" if item.restock else "written off",
                        item.reason,
                    )
                    for line, item in sorted(returns, key=lambda pair: pair[1].created_at)
                ),
            ),
        )

    @admin.display(ordering="line_count", description="lines")
    def line_count(self, obj: Order) -> int:
        return obj.line_count

    @admin.display(ordering="units")
    def units(self, obj: Order) -> int:
        return obj.units or 0

    # --- Operations: each a service call -----------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/mark-paid/", wrap(self.mark_paid_view), name="shop_order_mark_paid"),
            path("<int:pk>/ship/", wrap(self.ship_view), name="shop_order_ship"),
            path("<int:pk>/return/", wrap(self.return_view), name="shop_order_return"),
            path("<int:pk>/cancel/", wrap(self.cancel_view), name="shop_order_cancel"),
            *super().get_urls(),
        ]

    def _operation_context(self, request: HttpRequest, order: Order, title: str, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "order": order,
            "opts": self.model._meta,
            "original": order,
            "next": self._next(request, order),
            **extra,
        }

    @staticmethod
    def _next(request: HttpRequest, order: Order) -> str:
        """Where to go afterwards: the page staff came from (the "to ship" queue) or the order."""
        wanted = request.POST.get("next") or request.GET.get("next") or ""
        if wanted and url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()}):
            return wanted
        return reverse("admin:shop_order_change", args=[order.pk])

    def _refuse(self, request: HttpRequest, order: Order, message: str) -> HttpResponseRedirect:
        self.message_user(request, message, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:shop_order_change", args=[order.pk]))

    def mark_paid_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = get_object_or_404(Order, pk=pk)
        if not self.may_operate(request):
            raise PermissionDenied
        if not order_states.is_allowed(order.status, order_states.Action.PAY):
            return self._refuse(request, order, f"Order {order.number} is {order.status}: it cannot be paid.")
        form = MarkPaidForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            reference = form.cleaned_data["reference"] or f"marked paid by {request.user.get_username()}"
            try:
                services.order_mark_paid(
                    order=order,
                    amount=services.order_total(order),
                    currency=settings.SHOP["CURRENCY"],
                    reference=reference,
                    user=request.user,
                )
            except services.ShopError as exc:
                return self._refuse(request, order, str(exc))
            self.message_user(
                request, f"Order {order.number} is paid; it is in the queue to ship.", messages.SUCCESS
            )
            return HttpResponseRedirect(self._next(request, order))
        total = services.order_total(order)
        return TemplateResponse(
            request,
            "admin/shop/order/mark_paid.html",
            self._operation_context(
                request,
                order,
                f"Mark order {order.number} paid",
                form=form,
                total=total,
                currency=settings.SHOP["CURRENCY"],
            ),
        )

    def ship_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = get_object_or_404(Order, pk=pk)
        if not self.may_operate(request):
            raise PermissionDenied
        if not order_states.is_allowed(order.status, order_states.Action.SHIP):
            return self._refuse(
                request,
                order,
                f"Order {order.number} is {order.get_status_display().lower()}: nothing to ship.",
            )
        rows = [row for row in selectors.order_outstanding_by_product(self._detail(order)) if row["to_ship"]]
        form = ShipForm(request.POST or None, rows=rows)
        if request.method == "POST":
            quantities = (
                None if "ship_all" in request.POST else (form.quantities() if form.is_valid() else False)
            )
            if quantities is not False:
                try:
                    shipment = services.shipment_create(order=order, quantities=quantities, user=request.user)
                except services.ShopError as exc:
                    self.message_user(request, str(exc), messages.ERROR)
                else:
                    units = sum(line.quantity for line in shipment.lines.all())
                    shipment.order.refresh_from_db()
                    self.message_user(
                        request,
                        f"Shipped {units} unit(s) as {shipment.reference}; order {order.number} is "
                        f"{shipment.order.get_status_display().lower()}.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(self._next(request, order))
        return TemplateResponse(
            request,
            "admin/shop/order/ship.html",
            self._operation_context(
                request, order, f"Ship order {order.number}", form=form, rows=form.bound_rows()
            ),
        )

    def return_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = get_object_or_404(Order, pk=pk)
        if not self.may_operate(request):
            raise PermissionDenied
        if not order_states.is_allowed(order.status, order_states.Action.RETURN):
            return self._refuse(
                request, order, f"Order {order.number} is {order.status}: nothing was shipped."
            )
        rows = selectors.order_lines_progress(self._detail(order))
        form = ReturnForm(request.POST or None, rows=rows)
        if request.method == "POST" and form.is_valid():
            line = next(row["line"] for row in rows if row["line"].pk == form.cleaned_data["order_line"])
            try:
                services.order_line_return(
                    order_line=line,
                    quantity=form.cleaned_data["quantity"],
                    restock=form.cleaned_data["disposition"] == "restock",
                    reason=form.cleaned_data["reason"],
                    user=request.user,
                )
            except services.ShopError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Return of {form.cleaned_data['quantity']} x {line.product.sku} recorded.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:shop_order_change", args=[order.pk]))
        return TemplateResponse(
            request,
            "admin/shop/order/return.html",
            self._operation_context(request, order, f"Return from order {order.number}", form=form),
        )

    def cancel_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = get_object_or_404(Order, pk=pk)
        if not self.may_operate(request):
            raise PermissionDenied
        if request.method != "POST":
            return self._refuse(request, order, "Cancel from the button on the order page.")
        try:
            services.order_cancel(order=order, user=request.user)
        except services.ShopError as exc:
            return self._refuse(request, order, str(exc))
        refunded = " and its payment refunded" if order.status == Order.Status.PAID else ""
        self.message_user(
            request, f"Order {order.number} was cancelled{refunded}; its stock is released.", messages.SUCCESS
        )
        return HttpResponseRedirect(reverse("admin:shop_order_change", args=[order.pk]))

    def _apply(self, request: HttpRequest, queryset: QuerySet[Order], service, verb: str) -> None:
        done = 0
        for order in queryset:
            try:
                service(order=order)
                done += 1
            except services.ShopError as exc:
                self.message_user(request, str(exc), messages.WARNING)
        self.message_user(request, f"{verb} {done} order(s).", messages.SUCCESS)

    @admin.action(description="Mark selected placed orders paid (their full total)")
    def mark_paid(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        def pay(*, order: Order) -> None:
            services.order_mark_paid(
                order=order,
                amount=services.order_total(order),
                currency=settings.SHOP["CURRENCY"],
                reference=f"marked paid by {request.user.get_username()}",
                user=request.user,
            )

        self._apply(request, queryset, pay, "Marked paid")

    @admin.action(description="Ship selected paid orders in full")
    def ship_in_full(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._apply(
            request,
            queryset,
            lambda *, order: services.shipment_create(order=order, user=request.user),
            "Shipped",
        )

    @admin.action(description="Cancel selected orders (release the stock; refund paid ones)")
    def cancel_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._apply(
            request,
            queryset,
            lambda *, order: services.order_cancel(order=order, user=request.user),
            "Cancelled",
        )


@admin.register(OrderToShip)
class OrderToShipAdmin(ReadOnlyAdmin):
    """The warehouse's queue: paid orders with units still to ship, the longest-waiting first."""

    list_display = [
        "order_number",
        "customer",
        "paid_at",
        "placed_at",
        "status",
        "units_to_ship",
        "ship_link",
    ]
    list_display_links = None
    list_select_related = ["customer"]
    search_fields = ["number", "customer__external_id"]
    ordering = ["paid_at", "placed_at", "pk"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ["ship_in_full"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return (
            OrderToShip.objects.to_ship()
            .select_related("customer")
            .annotate(
                ordered=per_row(OrderLine, outer="order", total="quantity"),
                shipped=per_row(ShipmentLine, outer="shipment__order", total="quantity"),
            )
        )

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if not request.user.has_perm("shop.change_order"):
            actions.pop("ship_in_full", None)
        return actions

    @admin.display(description="order", ordering="number")
    def order_number(self, obj: Order) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:shop_order_change", args=[obj.pk]), obj.number
        )

    @admin.display(description="units to ship")
    def units_to_ship(self, obj: Order) -> int:
        return (obj.ordered or 0) - (obj.shipped or 0)

    @admin.display(description="")
    def ship_link(self, obj: Order) -> str:
        url = reverse("admin:shop_order_ship", args=[obj.pk])
        queue = reverse("admin:shop_ordertoship_changelist")
        return format_html('<a class="button ship-order" href="{}?next={}">Ship…</a>', url, queue)

    @admin.action(description="Ship selected orders in full")
    def ship_in_full(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        done = 0
        for order in queryset:
            try:
                services.shipment_create(order=order, user=request.user)
                done += 1
            except services.ShopError as exc:
                self.message_user(request, str(exc), messages.WARNING)
        self.message_user(request, f"Shipped {done} order(s) in full.", messages.SUCCESS)


@admin.register(PaymentEvent)
class PaymentEventAdmin(ReadOnlyAdmin):
    """The payment provider's events that took effect (refused ones are in the log, not here)."""

    list_display = ["received_at", "event_id", "type", "order"]
    list_filter = ["type"]
    search_fields = ["event_id", "order__number"]
    list_select_related = ["order"]
    raw_id_fields = ["order"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator


@admin.register(Cancellation)
class CancellationAdmin(ReadOnlyAdmin):
    list_display = ["reference", "line_number", "kind", "product", "customer", "quantity", "created_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["reference", "product__sku", "customer__external_id"]
    list_select_related = ["product", "customer"]
    raw_id_fields = ["order_line", "product", "customer"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    paginator = EstimatedCountPaginator


@admin.register(Rating)
class RatingAdmin(ReadOnlyAdmin):
    list_display = ["customer", "product", "stars", "rated_at"]
    list_filter = ["stars"]
    search_fields = ["customer__external_id", "product__sku", "product__name"]
    list_select_related = ["customer", "product"]
    raw_id_fields = ["customer", "product"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator


@admin.register(StockRecord)
class StockRecordAdmin(KeyedImportAdminMixin, admin.ModelAdmin):
    """Stock changes through services only; "Import" loads a stock count (stocktake movements)."""

    resource_classes = [StockCountResource]
    list_display = ["product", "on_hand", "reserved", "available", "updated_at"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["product"]
    readonly_fields = ["product", "on_hand", "reserved", "updated_at"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

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
    paginator = EstimatedCountPaginator
