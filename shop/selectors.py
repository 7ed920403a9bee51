"""Reads of the shop that more than one caller needs."""

from __future__ import annotations

from decimal import Decimal

from django.core import signing
from django.db.models import F, Func, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Concat

from .models import CATEGORY_SEPARATOR, Category, Customer, Order, OrderLine, Product, Shipment, ShipmentLine

# Guest order links: the order number signed with the SECRET_KEY under this salt (rotating the key
# invalidates every link). Unguessable without the key, and each names one order only.
GUEST_LINK_SALT = "shop.guest-order-link"


def product_list(*, include_inactive: bool = False) -> QuerySet[Product]:
    products = Product.objects.select_related("category", "stock")
    return products if include_inactive else products.active()


def customer_for_user(*, user) -> Customer | None:
    """The shop customer behind a login, or None for staff and other users without one."""
    if not user or not user.is_authenticated:
        return None
    return Customer.objects.filter(user=user).first()


def orders_visible_to(*, user) -> QuerySet[Order]:
    """Orders a login may see, newest first: staff every order, a customer their own, anyone else none.

    Lines, payments, refunds and shipments come in a fixed number of extra queries, whatever the
    page size.
    """
    orders = _with_lines(Order.objects.all()).order_by("-placed_at", "-id")
    if not user or not user.is_authenticated:
        return orders.none()
    if user.is_staff:
        return orders
    return orders.filter(customer__user=user)


def order_with_lines(*, order_id: int) -> Order:
    return _with_lines(Order.objects.all()).get(pk=order_id)


def _with_lines(orders: QuerySet[Order]) -> QuerySet[Order]:
    shipment_lines = ShipmentLine.objects.select_related("order_line__product").order_by("order_line_id")
    return orders.prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.select_related("product").order_by("line_number")),
        "lines__returns",
        "payments",
        "refunds",
        Prefetch(
            "shipments",
            queryset=Shipment.objects.order_by("sequence").prefetch_related(
                Prefetch("lines", queryset=shipment_lines)
            ),
        ),
    )


def order_shipped_by_line(order: Order) -> dict[int, int]:
    """Units shipped per order line, from prefetched shipments (``orders_visible_to``).

    A fulfilled order shipped every unit, with or without shipment rows (imported orders have none).
    """
    if order.status == Order.Status.FULFILLED:
        return {line.pk: line.quantity for line in order.lines.all()}
    shipped: dict[int, int] = {}
    for shipment in order.shipments.all():
        for line in shipment.lines.all():
            shipped[line.order_line_id] = shipped.get(line.order_line_id, 0) + line.quantity
    return shipped


def order_money(order: Order) -> tuple[Decimal, Decimal]:
    """(paid, refunded) on the order, from prefetched payments and refunds."""
    paid = sum((payment.amount for payment in order.payments.all()), Decimal("0"))
    refunded = sum((refund.amount for refund in order.refunds.all()), Decimal("0"))
    return paid, refunded


def guest_order_token(*, order: Order) -> str:
    """The secret part of a guest's lookup link: the order number and its signature."""
    return signing.Signer(salt=GUEST_LINK_SALT).sign(order.number)


def guest_order_for_token(*, token: str) -> Order | None:
    """The guest order a lookup token names, or None for a forged, altered or unknown token."""
    try:
        number = signing.Signer(salt=GUEST_LINK_SALT).unsign(token)
    except signing.BadSignature:
        return None
    # Only guests' orders have links: a customer with a login sees theirs through the API.
    guests = Order.objects.filter(number=number, customer__isnull=False, customer__user__isnull=True)
    return _with_lines(guests).first()


def order_lines_progress(order: Order) -> list[dict]:
    """Each line with its units shipped, returned and still to ship (from ``order_with_lines``)."""
    shipped = order_shipped_by_line(order)
    rows = []
    for line in order.lines.all():
        returned = sum(item.quantity for item in line.returns.all())
        done = shipped.get(line.pk, 0)
        rows.append(
            {
                "line": line,
                "shipped": done,
                "returned": returned,
                "to_ship": line.quantity - done if order.status in Order.RESERVING_STATUSES else 0,
                "returnable": done - returned,
            }
        )
    return rows


def order_outstanding_by_product(order: Order) -> list[dict]:
    """Units still to ship per product, in line order: what a shipment may take (``shipment_create``)."""
    by_product: dict[int, dict] = {}
    for row in order_lines_progress(order):
        line = row["line"]
        entry = by_product.setdefault(
            line.product_id, {"product": line.product, "ordered": 0, "shipped": 0, "to_ship": 0}
        )
        entry["ordered"] += line.quantity
        entry["shipped"] += row["shipped"]
        entry["to_ship"] += row["to_ship"]
    return list(by_product.values())


def category_subtree_q(name: str, *, field: str = "category__name") -> Q:
    """Rows in the named category or any of its sub-categories (names are paths: "Home" covers
    "Home > Kitchen"); the name is compared case-insensitively."""
    return Q(**{f"{field}__iexact": name}) | Q(**{f"{field}__istartswith": name + CATEGORY_SEPARATOR})


def categories_with_product_counts() -> QuerySet[Category]:
    """Categories by name, each annotated ``active_products``: its own and its sub-categories' active
    products (one correlated count per category; a shop has hundreds of categories, not millions)."""
    in_subtree = Product.objects.active().filter(
        Q(category__name=OuterRef("name"))
        | Q(category__name__startswith=Concat(OuterRef("name"), Value(CATEGORY_SEPARATOR)))
    )
    # COUNT(*) as a scalar subquery without a GROUP BY: Func, not the Count aggregate.
    count = in_subtree.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")[:1]
    return Category.objects.annotate(
        active_products=Coalesce(Subquery(count, output_field=IntegerField()), 0)
    ).order_by("name")
