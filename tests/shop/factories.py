"""Small builders for shop rows, so tests say what matters and nothing else."""

from __future__ import annotations

import itertools
from decimal import Decimal

from shop import services
from shop.models import Category, Customer, Order, Payment, Product

_sequence = itertools.count(1)


def make_product(
    *, stock: int = 0, price: str = "2.50", active: bool = True, category: str | None = None, name: str = ""
) -> Product:
    n = next(_sequence)
    product = Product.objects.create(
        sku=f"T{n:05d}",
        name=name or f"Test product {n}",
        price=Decimal(price),
        active=active,
        category=Category.objects.get_or_create(name=category)[0] if category else None,
    )
    if stock:
        services.stock_receive(product=product, quantity=stock, reference="test")
    return product


def make_customer(*, user=None, country: str = "United Kingdom") -> Customer:
    return Customer.objects.create(external_id=f"C{next(_sequence)}", user=user, country=country)


def pay(order: Order) -> Payment:
    """Pay the order's exact total, as the provider's webhook or staff would."""
    return services.order_mark_paid(
        order=order, amount=services.order_total(order), currency="GBP", reference="test payment"
    )
