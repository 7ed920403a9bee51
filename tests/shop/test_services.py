import random

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Sum

from shop import services
from shop.models import Order, Product, StockMovement, StockRecord
from shop.services import LineRequest

from .factories import make_customer, make_product, pay

pytestmark = pytest.mark.django_db


def stock_of(product: Product) -> StockRecord:
    return StockRecord.objects.get(product=product)


def test_placing_an_order_reserves_stock_without_touching_on_hand():
    product = make_product(stock=10)
    order = services.order_place(customer=make_customer(), lines=[LineRequest(product.pk, 4)])
    assert order.status == Order.Status.PLACED
    assert (stock_of(product).on_hand, stock_of(product).reserved) == (10, 4)
    assert list(order.lines.values_list("product_id", "quantity")) == [(product.pk, 4)]


def test_an_order_short_of_stock_raises_naming_the_product_and_changes_nothing():
    plenty, scarce = make_product(stock=10), make_product(stock=2, name="Red teapot")
    with pytest.raises(services.InsufficientStock) as caught:
        services.order_place(
            customer=make_customer(), lines=[LineRequest(plenty.pk, 1), LineRequest(scarce.pk, 3)]
        )
    assert caught.value.product == scarce
    assert "Red teapot" in str(caught.value) and scarce.sku in str(caught.value)
    assert (caught.value.requested, caught.value.available) == (3, 2)
    assert Order.objects.count() == 0
    assert stock_of(plenty).reserved == 0


def test_lines_for_the_same_product_are_added_up_before_checking_stock():
    product = make_product(stock=5)
    with pytest.raises(services.InsufficientStock):
        services.order_place(customer=None, lines=[LineRequest(product.pk, 3), LineRequest(product.pk, 3)])


def test_reserved_units_are_not_available_to_the_next_order():
    product = make_product(stock=5)
    services.order_place(customer=None, lines=[LineRequest(product.pk, 4)])
    with pytest.raises(services.InsufficientStock) as caught:
        services.order_place(customer=None, lines=[LineRequest(product.pk, 2)])
    assert caught.value.available == 1


def test_inactive_products_cannot_be_ordered():
    product = make_product(stock=5, active=False)
    with pytest.raises(services.ProductUnavailable):
        services.order_place(customer=None, lines=[LineRequest(product.pk, 1)])


def test_cancel_releases_the_reservation_and_fulfil_consumes_it_with_a_ledger_row():
    product = make_product(stock=10)
    cancelled = services.order_place(customer=None, lines=[LineRequest(product.pk, 3)])
    shipped = services.order_place(customer=None, lines=[LineRequest(product.pk, 5)])
    services.order_cancel(order=cancelled)
    pay(shipped)
    services.order_fulfil(order=shipped)
    record = stock_of(product)
    assert (record.on_hand, record.reserved) == (5, 0)
    movement = StockMovement.objects.get(reference=f"{shipped.number}/S1")  # the first shipment
    assert (movement.quantity, movement.reason) == (-5, StockMovement.Reason.FULFILMENT)


def test_an_order_cannot_be_cancelled_after_it_was_fulfilled():
    product = make_product(stock=10)
    order = services.order_place(customer=None, lines=[LineRequest(product.pk, 3)])
    pay(order)
    services.order_fulfil(order=order)
    with pytest.raises(services.InvalidOrderState):
        services.order_cancel(order=order)


def test_an_adjustment_needs_a_note_and_cannot_take_stock_below_the_reserved_units():
    product = make_product(stock=10)
    services.order_place(customer=None, lines=[LineRequest(product.pk, 8)])
    with pytest.raises(ValueError, match="note"):
        services.stock_adjust(product=product, delta=-1)
    with pytest.raises(services.InsufficientStock):
        services.stock_adjust(product=product, delta=-3, note="broken in the warehouse")
    services.stock_adjust(product=product, delta=-2, note="broken in the warehouse")
    assert stock_of(product).on_hand == 8


def test_the_database_refuses_negative_stock_even_if_a_service_had_a_bug():
    product = make_product(stock=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        StockRecord.objects.filter(product=product).update(on_hand=-1)
    with pytest.raises(IntegrityError), transaction.atomic():
        StockRecord.objects.filter(product=product).update(reserved=2)


def test_the_ledger_sums_to_on_hand_after_a_random_sequence_of_stock_operations():
    rng = random.Random(20111201)
    products = [make_product(stock=rng.randint(0, 20)) for _ in range(5)]
    customers = [make_customer() for _ in range(3)]
    open_orders: list[Order] = []
    outcomes: dict[str, int] = {}
    for _ in range(300):
        operation = rng.choice(["place", "place", "cancel", "fulfil", "receive", "adjust"])
        try:
            if operation == "place":
                chosen = rng.sample(products, rng.randint(1, 3))
                lines = [LineRequest(p.pk, rng.randint(1, 6)) for p in chosen]
                open_orders.append(services.order_place(customer=rng.choice(customers), lines=lines))
            elif operation in ("cancel", "fulfil") and open_orders:
                order = open_orders.pop(rng.randrange(len(open_orders)))
                if operation == "fulfil":
                    pay(order)
                (services.order_cancel if operation == "cancel" else services.order_fulfil)(order=order)
            elif operation == "receive":
                services.stock_receive(product=rng.choice(products), quantity=rng.randint(1, 15))
            elif operation == "adjust":
                delta = rng.choice([-3, -2, -1, 1, 2, 5])
                services.stock_adjust(product=rng.choice(products), delta=delta, note="stocktake difference")
            outcomes[operation] = outcomes.get(operation, 0) + 1
        except services.InsufficientStock:
            outcomes["refused"] = outcomes.get("refused", 0) + 1

    assert (
        outcomes.get("refused", 0) > 0 and outcomes.get("fulfil", 0) > 0
    )  # the sequence exercised both paths
    open_reserved: dict[int, int] = {}
    for line in (
        Order.objects.filter(status=Order.Status.PLACED)
        .values("lines__product")
        .annotate(units=Sum("lines__quantity"))
    ):
        open_reserved[line["lines__product"]] = line["units"]
    for product in products:
        record = stock_of(product)
        ledger = StockMovement.objects.filter(product=product).aggregate(total=Sum("quantity"))["total"] or 0
        assert ledger == record.on_hand
        assert 0 <= record.reserved <= record.on_hand
        assert record.reserved == open_reserved.get(product.pk, 0)


def test_set_levels_records_the_difference_in_the_ledger():
    product = make_product(stock=4)
    services.stock_set_levels(levels={product.pk: 9}, note="demo")
    assert stock_of(product).on_hand == 9
    total = StockMovement.objects.filter(product=product).aggregate(total=Sum("quantity"))["total"]
    assert total == 9
