"""StockRecord.updated_at moves with every stock write, bulk writes included (issue 13, item 10)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shop import services
from shop.models import StockRecord

from .factories import make_customer, make_product, pay

pytestmark = pytest.mark.django_db

LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)


def _age(product) -> None:
    StockRecord.objects.filter(product=product).update(updated_at=LONG_AGO)


def _updated(product) -> datetime:
    return StockRecord.objects.get(product=product).updated_at


def test_every_stock_write_sets_updated_at():
    product = make_product(stock=10)
    customer = make_customer()
    line = [services.LineRequest(product_id=product.pk, quantity=2)]

    _age(product)
    order = services.order_place(customer=customer, lines=line)
    assert _updated(product) > LONG_AGO

    _age(product)
    services.order_cancel(order=order)
    assert _updated(product) > LONG_AGO

    order = services.order_place(customer=customer, lines=line)
    pay(order)
    _age(product)
    services.order_fulfil(order=order)
    assert _updated(product) > LONG_AGO

    _age(product)
    services.stock_set_levels(levels={product.pk: 20})
    assert _updated(product) > LONG_AGO

    _age(product)
    services.stock_receive(product=product, quantity=1)
    assert _updated(product) > LONG_AGO
