"""ORM fixtures: the synthetic shop of ``synthetic.py`` written as products, customers and orders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal

import pytest

from shop import services as shop_services
from shop.models import Category, Customer, Order, OrderLine, Product

from .synthetic import synthetic_purchases


@dataclass
class Shop:
    products: dict[str, Product]
    customers: dict[str, Customer]


def build_shop(*, n_customers: int = 40, stock: int = 100, seed: int = 0) -> Shop:
    purchases = synthetic_purchases(n_customers=n_customers, seed=seed)
    categories = {group: Category.objects.create(name=f"Group {group}") for group in range(6)}
    products = {}
    for code in sorted(purchases["product"].unique()):
        group = int(code[1:]) // 20
        products[code] = Product.objects.create(
            sku=code.upper(),
            name=f"{['red', 'blue', 'green', 'wooden', 'glass', 'paper'][group]} item {code}",
            description=f"a {['red', 'blue', 'green', 'wooden', 'glass', 'paper'][group]} gift",
            category=categories[group],
            price=Decimal("2.00"),
        )
    shop_services.stock_set_levels(levels={p.pk: stock for p in products.values()})
    customers = {
        code: Customer.objects.create(external_id=code) for code in sorted(purchases["customer"].unique())
    }
    orders = {}
    for number, group in purchases.groupby("order"):
        first = group.iloc[0]
        orders[number] = Order(
            number=number,
            customer=customers[first.customer],
            placed_at=first.placed_at.tz_localize(UTC).to_pydatetime(),
            status=Order.Status.FULFILLED,
        )
    Order.objects.bulk_create(orders.values())
    lines = []
    for number, group in purchases.groupby("order"):
        for line_number, product in enumerate(group["product"], start=1):
            lines.append(
                OrderLine(
                    order=orders[number],
                    line_number=line_number,
                    product=products[product],
                    quantity=1,
                    unit_price=Decimal("2.00"),
                )
            )
    OrderLine.objects.bulk_create(lines)
    return Shop(products=products, customers=customers)


@pytest.fixture
def shop(db) -> Shop:
    return build_shop()
