"""Shipping in parts, returns, refunds and cancellations: the ledger, reservations and money add up."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from shop import integrity, services
from shop.models import (
    Cancellation,
    Customer,
    Order,
    OrderLine,
    OrderReturn,
    Product,
    Refund,
    ShipmentLine,
    StockMovement,
    StockRecord,
)
from shop.services import LineRequest

from .factories import make_customer, make_product, pay

pytestmark = pytest.mark.django_db


def stock(product: Product) -> tuple[int, int]:
    record = StockRecord.objects.get(product=product)
    return record.on_hand, record.reserved


def ledger(product: Product) -> int:
    return StockMovement.objects.filter(product=product).aggregate(total=Sum("quantity"))["total"] or 0


def paid_order(*lines: tuple[Product, int]) -> Order:
    order = services.order_place(customer=make_customer(), lines=[LineRequest(p.pk, q) for p, q in lines])
    pay(order)
    return order


def test_partial_shipments_move_on_hand_through_the_ledger_and_release_only_what_shipped():
    mug, bag = make_product(stock=20), make_product(stock=10)
    order = paid_order((mug, 5), (bag, 3))
    assert stock(mug) == (20, 5) and stock(bag) == (10, 3)

    first = services.shipment_create(order=order, quantities={mug.pk: 2})
    order.refresh_from_db()
    assert order.status == Order.Status.PARTLY_SHIPPED
    assert stock(mug) == (18, 3) and stock(bag) == (10, 3)
    assert [(line.order_line.product_id, line.quantity) for line in first.lines.all()] == [(mug.pk, 2)]
    assert first.reference == f"{order.number}/S1"

    second = services.shipment_create(order=order, quantities={mug.pk: 3, bag.pk: 1})
    assert second.sequence == 2
    order.refresh_from_db()
    assert order.status == Order.Status.PARTLY_SHIPPED
    assert stock(mug) == (15, 0) and stock(bag) == (9, 2)

    services.shipment_create(order=order)  # the rest: 2 of bag
    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED
    assert stock(bag) == (7, 0)
    for product in (mug, bag):
        assert ledger(product) == stock(product)[0]
    fulfilment = StockMovement.objects.filter(reason=StockMovement.Reason.FULFILMENT)
    assert fulfilment.aggregate(total=Sum("quantity"))["total"] == -8
    assert integrity.stock_discrepancies() == []


@pytest.mark.parametrize(
    ("quantities", "message"),
    [
        ({}, "nothing to ship"),
        ({"mug": 0}, "nothing to ship"),
        ({"mug": 6}, "has 5 unit"),
        ({"other": 1}, "has 0 unit"),
        ({"mug": -1}, "at least 0"),
    ],
)
def test_a_shipment_of_nothing_or_of_more_than_is_left_is_refused_and_changes_nothing(quantities, message):
    mug, other = make_product(stock=20), make_product(stock=5)
    order = paid_order((mug, 5))
    ids = {"mug": mug.pk, "other": other.pk}
    with pytest.raises(services.NothingToShip, match=message):
        services.shipment_create(order=order, quantities={ids[k]: v for k, v in quantities.items()})
    assert stock(mug) == (20, 5) and ShipmentLine.objects.count() == 0
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID


def test_returns_restock_or_write_off_and_the_ledger_still_sums_to_on_hand():
    mug = make_product(stock=20, price="4.00")
    order = paid_order((mug, 6))
    services.shipment_create(order=order, quantities={mug.pk: 4})
    line = order.lines.get()

    back = services.order_line_return(order_line=line, quantity=2, restock=True, reason="wrong colour")
    assert stock(mug) == (18, 2)  # 20 - 4 shipped + 2 back; 2 still reserved to ship
    movement = StockMovement.objects.get(reason=StockMovement.Reason.RETURN)
    assert (movement.quantity, movement.note) == (2, "wrong colour")

    services.order_line_return(order_line=line, quantity=1, restock=False, reason="arrived broken")
    assert stock(mug) == (18, 2)  # written off: no ledger movement
    assert StockMovement.objects.filter(reason=StockMovement.Reason.RETURN).count() == 1

    with pytest.raises(services.ReturnRefused, match="1 shipped unit"):
        services.order_line_return(order_line=line, quantity=2, restock=True, reason="more")
    with pytest.raises(services.ReturnRefused, match="reason"):
        services.order_line_return(order_line=line, quantity=1, restock=True, reason="  ")

    # Each return leaves demand and is refunded at the line's price, up to what was paid.
    assert list(Refund.objects.order_by("pk").values_list("amount", "reason", "order_return")) == [
        (Decimal("8.00"), "return", back.pk),
        (Decimal("4.00"), "return", OrderReturn.objects.latest("pk").pk),
    ]
    assert sorted(Cancellation.objects.filter(kind="return").values_list("quantity", flat=True)) == [1, 2]
    assert ledger(mug) == stock(mug)[0]
    assert integrity.stock_discrepancies() == []
    out = call_command_output("check_stock")
    assert "Stock agrees" in out


def call_command_output(*args) -> str:
    from io import StringIO

    buffer = StringIO()
    call_command(*args, stdout=buffer)
    return buffer.getvalue()


def test_an_imported_fulfilled_order_without_shipments_takes_returns_but_refunds_nothing_unpaid():
    product = make_product(stock=0, price="3.00")
    order = Order.objects.create(
        number="536365", status=Order.Status.FULFILLED, placed_at=timezone.now(), paid_at=timezone.now()
    )
    line = OrderLine.objects.create(
        order=order, line_number=1, product=product, quantity=6, unit_price="3.00"
    )
    services.order_line_return(order_line=line, quantity=6, restock=True, reason="faulty batch")
    assert stock(product) == (6, 0) and ledger(product) == 6
    assert Refund.objects.count() == 0  # no payment was recorded for it: nothing to refund from
    with pytest.raises(services.ReturnRefused):
        services.order_line_return(order_line=line, quantity=1, restock=True, reason="again")


def test_cancelling_a_paid_order_refunds_releases_stock_and_nets_its_demand_out():
    mug = make_product(stock=10, price="2.50")
    order = paid_order((mug, 4))
    services.order_cancel(order=order)
    assert stock(mug) == (10, 0)
    refund = Refund.objects.get()
    assert (refund.amount, refund.reason, refund.confirmed_at) == (Decimal("10.00"), "cancellation", None)
    taken_back = Cancellation.objects.get()
    assert (taken_back.kind, taken_back.quantity, taken_back.order_line) == (
        "cancellation",
        4,
        order.lines.get(),
    )


def test_a_provider_refund_confirms_the_shops_recorded_refund_instead_of_adding_one():
    mug = make_product(stock=10, price="2.50")
    order = paid_order((mug, 4))
    services.order_cancel(order=order)
    confirmed = services.payment_refund_record(
        order=order, amount=Decimal("10.00"), currency="gbp", reference="re_9"
    )
    assert Refund.objects.count() == 1 and confirmed.provider_reference == "re_9"
    assert confirmed.confirmed_at is not None
    with pytest.raises(services.RefundExceedsPayments):
        services.payment_refund_record(order=order, amount=Decimal("0.01"), currency="GBP", reference="re_10")


def test_the_ledger_and_reservations_agree_after_a_random_life_of_many_orders():
    """Random payments, partial shipments, returns, cancellations and expiries on few products."""
    rng = random.Random(20111209)
    products = [make_product(stock=rng.randint(10, 40), price="1.50") for _ in range(4)]
    customers = [make_customer() for _ in range(3)]
    orders: list[Order] = []
    done: dict[str, int] = {}
    for _ in range(250):
        step = rng.choice(["place", "place", "pay", "ship", "ship", "return", "cancel", "expire", "receive"])
        try:
            if step == "place":
                chosen = rng.sample(products, rng.randint(1, 3))
                lines = [LineRequest(p.pk, rng.randint(1, 4)) for p in chosen]
                orders.append(services.order_place(customer=rng.choice(customers), lines=lines))
            elif step == "pay" and orders:
                pay(rng.choice(orders))
            elif step == "ship" and orders:
                order = rng.choice(orders)
                left = {
                    line.product_id: line.quantity
                    - (line.shipment_lines.aggregate(u=Sum("quantity"))["u"] or 0)
                    for line in order.lines.all()
                }
                part = {pid: rng.randint(0, units) for pid, units in left.items() if units}
                services.shipment_create(order=order, quantities=part if rng.random() < 0.6 else None)
            elif step == "return" and orders:
                line = rng.choice(list(OrderLine.objects.filter(order__in=orders)))
                services.order_line_return(
                    order_line=line, quantity=rng.randint(1, 3), restock=rng.random() < 0.7, reason="random"
                )
            elif step == "cancel" and orders:
                services.order_cancel(order=rng.choice(orders))
            elif step == "expire" and orders:
                Order.objects.filter(pk=rng.choice(orders).pk).update(
                    expires_at=timezone.now() - timedelta(1)
                )
                services.order_expire_stale()
            elif step == "receive":
                services.stock_receive(product=rng.choice(products), quantity=rng.randint(1, 10))
            done[step] = done.get(step, 0) + 1
        except services.ShopError:
            done["refused"] = done.get("refused", 0) + 1
        assert integrity.stock_discrepancies() == [], step

    assert all(done.get(step, 0) > 3 for step in ["place", "pay", "ship", "return", "cancel", "refused"]), (
        done
    )
    assert Order.objects.filter(status=Order.Status.PARTLY_SHIPPED).exists() or ShipmentLine.objects.exists()
    for product in products:
        record = StockRecord.objects.get(product=product)
        assert ledger(product) == record.on_hand and 0 <= record.reserved <= record.on_hand
    # Money: no order has refunded more than it was paid.
    for order in Order.objects.all():
        paid = order.payments.aggregate(t=Sum("amount"))["t"] or 0
        refunded = order.refunds.aggregate(t=Sum("amount"))["t"] or 0
        assert refunded <= paid
    assert Customer.objects.count() == 3
