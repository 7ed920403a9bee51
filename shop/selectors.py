"""Reads of the shop that more than one caller needs."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Customer, Product


def product_list(*, include_inactive: bool = False) -> QuerySet[Product]:
    products = Product.objects.select_related("category", "stock")
    return products if include_inactive else products.active()


def customer_for_user(*, user) -> Customer | None:
    """The shop customer behind a login, or None for staff and other users without one."""
    if not user or not user.is_authenticated:
        return None
    return Customer.objects.filter(user=user).first()
