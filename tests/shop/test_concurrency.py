"""Real row locks need a real database server: these run on PostgreSQL (required in CI)."""

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from shop import services
from shop.models import Order, StockRecord
from shop.services import LineRequest

from .factories import make_product

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def run_in_threads(count: int, target) -> list:
    """Start `count` threads at once (behind a barrier) and collect what each returned or raised."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = target(index)
        except Exception as exc:  # noqa: BLE001 - the test inspects every outcome
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung: lock wait or deadlock"
    return results


def test_fifty_racing_orders_for_ten_units_sell_exactly_ten_and_never_oversell(postgres):
    product = make_product(stock=10)
    lowest_available: list[int] = []

    def place(_: int):
        order = services.order_place(customer=None, lines=[LineRequest(product.pk, 1)])
        lowest_available.append(StockRecord.objects.get(product=product).available)
        return order

    results = run_in_threads(50, place)
    outcomes = Counter(type(result).__name__ for result in results)
    assert outcomes == {"Order": 10, "InsufficientStock": 40}
    record = StockRecord.objects.get(product=product)
    assert (record.on_hand, record.reserved) == (10, 10)
    assert min(lowest_available) >= 0
    assert Order.objects.count() == 10


def test_orders_locking_the_same_products_in_opposite_order_both_complete_without_deadlock(postgres):
    assert connection.vendor == "postgresql"
    first, second = make_product(stock=1000), make_product(stock=1000)
    rounds = 15
    for _ in range(rounds):
        results = run_in_threads(
            2,
            lambda i: services.order_place(
                customer=None,
                lines=[LineRequest(first.pk, 1), LineRequest(second.pk, 1)]
                if i == 0
                else [LineRequest(second.pk, 1), LineRequest(first.pk, 1)],
            ),
        )
        assert all(isinstance(result, Order) for result in results), results
    assert StockRecord.objects.get(product=first).reserved == 2 * rounds
    assert StockRecord.objects.get(product=second).reserved == 2 * rounds
