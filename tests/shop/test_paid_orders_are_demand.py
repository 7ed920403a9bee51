"""Demand for forecasting and purchases for training are the orders that were paid (issue 17).

Imported orders count as paid and fulfilled; a placed order awaiting payment, a lapsed one and an
unpaid cancelled one are not demand; a paid order cancelled later is netted out like a return.
"""

from __future__ import annotations

import io
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from inventory import selectors as inventory_selectors
from recommender import selectors as recommender_selectors
from shop import services
from shop.models import Order, OrderLine, Product
from shop.services import LineRequest
from shop.services_catalogue import product_popularity_refresh

from .factories import make_customer, make_product, pay

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TOMORROW = timezone.now().date() + timedelta(days=1)


def net_units(product: Product) -> float:
    events = inventory_selectors.demand_events(before=TOMORROW, product_ids=[product.pk])
    return float(events["quantity"].sum())


@pytest.mark.django_db
def test_only_orders_that_were_paid_are_demand_and_training_data():
    mug = make_product(stock=100)
    buyer, browser, lapsing, regretful, fickle = (make_customer() for _ in range(5))

    def place(customer, units):
        return services.order_place(customer=customer, lines=[LineRequest(mug.pk, units)])

    pay(place(buyer, 2))  # paid: demand
    shipped = place(buyer, 3)  # paid and shipped in part: demand
    pay(shipped)
    services.shipment_create(order=shipped, quantities={mug.pk: 1})
    place(browser, 5)  # placed, awaiting payment: not demand (yet)
    lapsed = place(lapsing, 7)
    Order.objects.filter(pk=lapsed.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert services.order_expire_stale() == 1  # lapsed unpaid: never demand
    services.order_cancel(order=place(regretful, 11))  # cancelled unpaid: never demand
    cancelled_paid = place(fickle, 13)
    pay(cancelled_paid)
    services.order_cancel(order=cancelled_paid)  # paid, then cancelled: +13 then -13

    assert net_units(mug) == 2 + 3
    frame = recommender_selectors.purchases_frame()
    assert sorted(frame["customer"].unique()) == sorted([buyer.pk, fickle.pk])
    assert inventory_selectors.products_with_sales(before=TOMORROW) == [mug.pk]
    product_popularity_refresh()
    mug.refresh_from_db()
    assert mug.units_sold == 5


@pytest.mark.django_db
def test_a_return_takes_units_out_of_demand_on_the_day_it_comes_back():
    mug = make_product(stock=10)
    order = services.order_place(customer=make_customer(), lines=[LineRequest(mug.pk, 4)])
    pay(order)
    services.shipment_create(order=order)
    services.order_line_return(order_line=order.lines.get(), quantity=1, restock=False, reason="broken")
    assert net_units(mug) == 3


@pytest.mark.django_db
def test_imported_orders_are_paid_and_fulfilled(tmp_path):
    source = Path(shutil.copy(FIXTURES / "online_retail_quirks.csv", tmp_path / "quirks.csv"))
    call_command("import_transactions", str(source), stdout=io.StringIO(), verbosity=0)
    orders = Order.objects.all()
    assert orders.exists()
    assert set(orders.values_list("status", flat=True)) == {Order.Status.FULFILLED}
    assert not orders.filter(paid_at__isnull=True).exists()
    assert all(order.paid_at == order.placed_at for order in orders)
    assert OrderLine.objects.of_paid_orders().count() == OrderLine.objects.count()


@pytest.mark.django_db(transaction=True)
def test_the_data_migration_marks_existing_fulfilled_orders_paid_and_leaves_the_rest_unpaid():
    before, after = (
        [("shop", "0007_order_payments_shipments_returns_guest_email")],
        [("shop", "0008_existing_fulfilled_orders_were_paid")],
    )
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    old_order = apps.get_model("shop", "Order")
    placed_at = datetime(2011, 3, 1, 9, 30, tzinfo=UTC)
    for number, status in [("1", "fulfilled"), ("2", "placed"), ("3", "cancelled")]:
        old_order.objects.create(number=number, status=status, placed_at=placed_at)
    try:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(after)
        migrated = executor.loader.project_state(after).apps.get_model("shop", "Order")
        assert dict(migrated.objects.values_list("number", "paid_at")) == {
            "1": placed_at,
            "2": None,
            "3": None,
        }
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db
def test_the_forecast_input_fingerprint_counts_the_same_paid_lines_as_the_demand_series():
    mug = make_product(stock=10, price="1.00")
    pay(services.order_place(customer=make_customer(), lines=[LineRequest(mug.pk, 2)]))
    services.order_place(customer=make_customer(), lines=[LineRequest(mug.pk, 3)])  # unpaid
    fingerprint = inventory_selectors.demand_inputs_fingerprint(before=TOMORROW)
    assert (fingerprint["lines"], fingerprint["units"]) == (1, 2)
    assert net_units(mug) == 2
