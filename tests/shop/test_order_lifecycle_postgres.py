"""Order transitions racing each other on PostgreSQL's row locks: each lands once, never half."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from shop import integrity, services
from shop.models import Customer, Order, Payment, ShipmentLine
from shop.services import LineRequest

from .factories import make_customer, make_product, pay
from .test_concurrency import run_in_threads

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def test_ten_concurrent_one_unit_shipments_of_a_five_unit_order_ship_exactly_five(postgres):
    mug = make_product(stock=20)
    order = services.order_place(customer=make_customer(), lines=[LineRequest(mug.pk, 5)])
    pay(order)

    def ship(_: int) -> str:
        try:
            services.shipment_create(order=Order(pk=order.pk), quantities={mug.pk: 1})
            return "shipped"
        except (services.NothingToShip, services.InvalidOrderState):
            return "refused"

    assert Counter(run_in_threads(10, ship)) == {"shipped": 5, "refused": 5}
    assert sum(ShipmentLine.objects.values_list("quantity", flat=True)) == 5
    assert Order.objects.get(pk=order.pk).status == Order.Status.FULFILLED
    assert integrity.stock_discrepancies() == []


def test_a_payment_racing_the_expiry_sweep_either_pays_or_lapses_the_order_never_both(postgres):
    outcomes = Counter()
    for _ in range(6):
        mug = make_product(stock=5)
        order = services.order_place(customer=make_customer(), lines=[LineRequest(mug.pk, 2)])
        Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

        def act(index: int, order_pk=order.pk) -> str:
            if index == 0:
                try:
                    pay(Order.objects.get(pk=order_pk))
                    return "paid"
                except services.InvalidOrderState:
                    return "too late"
            return f"swept {services.order_expire_stale()}"

        results = run_in_threads(2, act)
        order.refresh_from_db()
        paid = Payment.objects.filter(order=order).exists()
        assert (order.status, paid) in {(Order.Status.PAID, True), (Order.Status.CANCELLED, False)}, results
        outcomes[order.status] += 1
    assert integrity.stock_discrepancies() == []
    assert sum(outcomes.values()) == 6


def test_concurrent_guest_orders_with_one_email_share_one_guest_customer(postgres):
    mug = make_product(stock=50)

    def order_as_guest(_: int) -> int:
        outcome = services.guest_order_place(
            email="twin@example.com", lines=[LineRequest(mug.pk, 1)], render=lambda order: {}
        )
        return outcome.order_id

    results = run_in_threads(8, order_as_guest)
    assert all(isinstance(result, int) for result in results), results
    assert Customer.objects.filter(email="twin@example.com").count() == 1
    assert Order.objects.filter(customer__email="twin@example.com").count() == 8
