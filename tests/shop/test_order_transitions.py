"""Every order action from every status: allowed ones land where the table says, refused ones change nothing.

The expected table is written out here by hand, independently of ``shop.order_states``, and each
cell runs the real service on a real order in that status.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from shop import integrity, order_states, services
from shop.models import Cancellation, Order, Payment, Refund, Shipment, StockMovement, StockRecord
from shop.services import LineRequest

from .factories import make_customer, make_product, pay

pytestmark = pytest.mark.django_db

# The situations an order can be in. "cancelled_paid" is a paid order that was cancelled (refunded).
SITUATIONS = ["placed", "paid", "partly_shipped", "fulfilled", "cancelled_unpaid", "cancelled_paid"]
ACTIONS = ["pay", "ship", "cancel", "customer_cancel", "expire", "return", "refund"]
REFUSED = "refused"

# (situation, action) -> the status afterwards, or REFUSED (InvalidOrderState, nothing written).
EXPECTED = {
    ("placed", "pay"): "paid",
    ("placed", "ship"): REFUSED,
    ("placed", "cancel"): "cancelled",
    ("placed", "customer_cancel"): "cancelled",
    ("placed", "expire"): "cancelled",
    ("placed", "return"): REFUSED,
    ("placed", "refund"): REFUSED,
    ("paid", "pay"): REFUSED,
    ("paid", "ship"): "fulfilled",
    ("paid", "cancel"): "cancelled",
    ("paid", "customer_cancel"): REFUSED,
    ("paid", "expire"): REFUSED,
    ("paid", "return"): REFUSED,
    ("paid", "refund"): "paid",
    ("partly_shipped", "pay"): REFUSED,
    ("partly_shipped", "ship"): "fulfilled",
    ("partly_shipped", "cancel"): REFUSED,
    ("partly_shipped", "customer_cancel"): REFUSED,
    ("partly_shipped", "expire"): REFUSED,
    ("partly_shipped", "return"): "partly_shipped",
    ("partly_shipped", "refund"): "partly_shipped",
    ("fulfilled", "pay"): REFUSED,
    ("fulfilled", "ship"): REFUSED,
    ("fulfilled", "cancel"): REFUSED,
    ("fulfilled", "customer_cancel"): REFUSED,
    ("fulfilled", "expire"): REFUSED,
    ("fulfilled", "return"): "fulfilled",
    ("fulfilled", "refund"): "fulfilled",
    ("cancelled_unpaid", "pay"): REFUSED,
    ("cancelled_unpaid", "ship"): REFUSED,
    ("cancelled_unpaid", "cancel"): REFUSED,
    ("cancelled_unpaid", "customer_cancel"): REFUSED,
    ("cancelled_unpaid", "expire"): REFUSED,
    ("cancelled_unpaid", "return"): REFUSED,
    ("cancelled_unpaid", "refund"): REFUSED,  # allowed from cancelled, but nothing was paid
    ("cancelled_paid", "pay"): REFUSED,
    ("cancelled_paid", "ship"): REFUSED,
    ("cancelled_paid", "cancel"): REFUSED,
    ("cancelled_paid", "customer_cancel"): REFUSED,
    ("cancelled_paid", "expire"): REFUSED,
    ("cancelled_paid", "return"): REFUSED,
    ("cancelled_paid", "refund"): "cancelled",  # the provider confirms the cancellation's refund
}


def test_the_expected_table_covers_every_pair_and_agrees_with_order_states():
    assert set(EXPECTED) == {(s, a) for s in SITUATIONS for a in ACTIONS}
    assert {str(action) for action in order_states.Action} == set(ACTIONS)
    for (situation, action), outcome in EXPECTED.items():
        status = situation.split("_")[0] if situation.startswith("cancelled") else situation
        allowed = order_states.is_allowed(status, order_states.Action(action))
        if situation == "cancelled_unpaid" and action == "refund":
            continue  # the state allows it; the money check refuses it (see the table test)
        assert allowed == (outcome != REFUSED), (situation, action)


def order_in(situation: str) -> Order:
    """A two-line order (3 + 2 units at 2.50) in the given situation, its expiry already past."""
    a, b = make_product(stock=10), make_product(stock=10)
    order = services.order_place(customer=make_customer(), lines=[LineRequest(a.pk, 3), LineRequest(b.pk, 2)])
    if situation in ("paid", "partly_shipped", "fulfilled", "cancelled_paid"):
        pay(order)
    if situation == "partly_shipped":
        services.shipment_create(order=order, quantities={a.pk: 1})
    elif situation == "fulfilled":
        services.shipment_create(order=order)
    elif situation in ("cancelled_unpaid", "cancelled_paid"):
        services.order_cancel(order=order)
    # Past its deadline whatever its status, so "expire" tests the status rule, not the clock.
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    order.refresh_from_db()
    return order


def run(action: str, order: Order) -> None:
    if action == "pay":
        services.order_mark_paid(order=order, amount=Decimal("12.50"), currency="GBP", reference="t")
    elif action == "ship":
        services.shipment_create(order=order)
    elif action == "cancel":
        services.order_cancel(order=order)
    elif action == "customer_cancel":
        services.order_cancel(order=order, by_customer=True)
    elif action == "expire":
        if services.order_expire_stale() == 0:
            raise services.InvalidOrderState("the sweep left it")
    elif action == "return":
        line = order.lines.order_by("line_number").first()
        services.order_line_return(order_line=line, quantity=1, restock=True, reason="changed their mind")
    elif action == "refund":
        amount = Decimal("12.50") if order.refunds.exists() else Decimal("1.00")
        services.payment_refund_record(order=order, amount=amount, currency="GBP", reference="re_1")


def snapshot(order: Order) -> tuple:
    stock = sorted(StockRecord.objects.values_list("product_id", "on_hand", "reserved"))
    return (
        Order.objects.get(pk=order.pk).status,
        stock,
        StockMovement.objects.count(),
        Payment.objects.count(),
        Refund.objects.count(),
        Shipment.objects.count(),
        Cancellation.objects.count(),
        StockMovement.objects.aggregate(total=Sum("quantity"))["total"],
    )


@pytest.mark.parametrize(("situation", "action"), sorted(EXPECTED))
def test_every_transition_is_allowed_or_refused_as_the_table_says(situation, action):
    order = order_in(situation)
    before = snapshot(order)
    expected = EXPECTED[(situation, action)]
    if expected == REFUSED:
        with pytest.raises((services.InvalidOrderState, services.RefundExceedsPayments)):
            run(action, order)
        assert snapshot(order) == before, "a refused transition wrote something"
    else:
        run(action, order)
        assert Order.objects.get(pk=order.pk).status == expected
    # Whatever happened, reservations and on-hand still agree with the orders and the ledger.
    assert integrity.stock_discrepancies() == []
