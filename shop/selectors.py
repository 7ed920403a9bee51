"""Reads of the shop that more than one caller needs."""

from __future__ import annotations

from django.db.models import F, Func, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Concat

from .models import CATEGORY_SEPARATOR, Category, Customer, Order, OrderLine, Product


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

    Lines and their products come in one extra query, whatever the page size.
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
    return orders.prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.select_related("product").order_by("line_number"))
    )


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
