"""A small, deterministic shop history for retraining tests: enough to train and forecast, fast to build."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from shop import services
from shop.models import Customer, Order, OrderLine, Product


def build_shop_history(
    *, products: int = 24, customers: int = 30, days: int = 120, seed: int = 7
) -> tuple[list[Product], list[Customer]]:
    """Customers who buy a few favourite products again and again, over ``days`` days ending yesterday."""
    rng = random.Random(seed)
    catalogue = Product.objects.bulk_create(
        Product(sku=f"P{index:04d}", name=f"Product {index}", price=Decimal("3.00"))
        for index in range(products)
    )
    buyers = Customer.objects.bulk_create(Customer(external_id=f"K{index:04d}") for index in range(customers))
    favourites = {customer.external_id: rng.sample(catalogue, 4) for customer in buyers}
    start = timezone.now().replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=days)

    orders: list[Order] = []
    baskets: list[list[tuple[Product, int]]] = []
    for day in range(days):
        for customer in rng.sample(buyers, k=max(1, customers // 4)):
            basket = rng.sample(favourites[customer.external_id], k=rng.randint(1, 3))
            if rng.random() < 0.3:
                basket.append(rng.choice(catalogue))
            unique = {product.pk: product for product in basket}
            baskets.append([(product, rng.randint(1, 6)) for product in unique.values()])
            orders.append(
                Order(
                    number=f"O{len(orders):06d}",
                    customer=customer,
                    placed_at=start + timedelta(days=day, minutes=len(orders) % 600),
                    status=Order.Status.FULFILLED,
                )
            )
    Order.objects.bulk_create(orders)
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order, line_number=number, product=product, quantity=quantity, unit_price=product.price
        )
        for order, basket in zip(orders, baskets, strict=True)
        for number, (product, quantity) in enumerate(basket, start=1)
    )
    services.stock_set_levels(levels={product.pk: rng.randint(0, 40) for product in catalogue})
    return catalogue, buyers
