"""Forecast runs, reorder suggestions, purchase orders and service levels on ORM rows made here."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
import pytest

from inventory import selectors, services
from inventory.forecasting import selection
from inventory.models import (
    CategoryServiceLevel,
    ForecastRun,
    ProductForecast,
    ProductSupply,
    PurchaseOrder,
    ReorderSuggestion,
    Supplier,
)
from shop.models import Cancellation, Category, Order, OrderLine, StockMovement, StockRecord
from tests.shop.factories import make_product

pytestmark = pytest.mark.django_db

START = date(2024, 1, 1)
_numbers = itertools.count(1)


def record_sales(product, quantities, *, start: date = START, status=Order.Status.FULFILLED) -> None:
    """One order per day with a non-zero quantity, at noon UTC."""
    days = [(start + timedelta(days=i), q) for i, q in enumerate(quantities) if q > 0]
    orders = Order.objects.bulk_create(
        Order(
            number=f"T{next(_numbers):07d}",
            placed_at=datetime.combine(day, time(12), tzinfo=UTC),
            status=status,
        )
        for day, _ in days
    )
    OrderLine.objects.bulk_create(
        OrderLine(order=order, line_number=1, product=product, quantity=int(q), unit_price=Decimal("1"))
        for order, (_, q) in zip(orders, days, strict=True)
    )


def weekly_sales(weeks: int, scale: int = 1) -> list[int]:
    return [q * scale for q in [8, 9, 10, 11, 12, 0, 4] * weeks]


def test_demand_nets_cancellations_by_day_floors_at_zero_and_ignores_cancelled_orders():
    product = make_product()
    record_sales(product, [10, 5, 0, 3])
    record_sales(product, [50], status=Order.Status.CANCELLED)
    Cancellation.objects.create(
        reference="C1",
        line_number=1,
        product=product,
        quantity=4,
        created_at=datetime(2024, 1, 1, 15, tzinfo=UTC),
    )
    Cancellation.objects.create(
        reference="C2",
        line_number=1,
        product=product,
        quantity=9,
        created_at=datetime(2024, 1, 2, 15, tzinfo=UTC),
    )

    matrix = selectors.demand_matrix(before=date(2024, 1, 5), product_ids=[product.pk])

    assert matrix.loc[product.pk].tolist() == [6.0, 0.0, 0.0, 3.0]


def test_service_level_falls_back_from_product_to_category_to_global(settings):
    settings.INVENTORY = {**settings.INVENTORY, "DEFAULT_SERVICE_LEVEL": 0.9}
    own = make_product(category="Mugs")
    by_category = make_product(category="Mugs")
    by_default = make_product(category="Candles")
    CategoryServiceLevel.objects.create(category=Category.objects.get(name="Mugs"), service_level=0.97)
    ProductSupply.objects.create(product=own, service_level=0.99)
    ProductSupply.objects.create(product=by_category)  # terms without an override

    levels = selectors.service_levels_for(product_ids=[own.pk, by_category.pk, by_default.pk])

    assert levels == {own.pk: 0.99, by_category.pk: 0.97, by_default.pk: 0.9}


def test_lead_time_falls_back_from_product_to_supplier_to_global(settings):
    settings.INVENTORY = {**settings.INVENTORY, "DEFAULT_LEAD_TIME_DAYS": 5}
    supplier = Supplier.objects.create(name="Acme", lead_time_days=12)
    own, by_supplier, by_default = make_product(), make_product(), make_product()
    ProductSupply.objects.create(product=own, supplier=supplier, lead_time_days=3)
    ProductSupply.objects.create(product=by_supplier, supplier=supplier)

    lead_times = selectors.lead_times_for(product_ids=[own.pk, by_supplier.pk, by_default.pk])

    assert lead_times == {own.pk: 3, by_supplier.pk: 12, by_default.pk: 5}


def test_receiving_a_purchase_order_adds_stock_through_the_ledger_and_closes_it():
    supplier = Supplier.objects.create(name="Acme")
    mug, candle = make_product(stock=5), make_product()
    order = services.purchase_order_create(supplier=supplier, lines=[(mug, 20), (candle, 7), (mug, 4)])

    services.purchase_order_send(order=order)
    services.purchase_order_receive(order=order)

    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.RECEIVED and order.received_at is not None
    assert StockRecord.objects.get(product=mug).on_hand == 29
    assert StockRecord.objects.get(product=candle).on_hand == 7
    receipts = StockMovement.objects.filter(reason=StockMovement.Reason.RECEIPT, reference=order.reference)
    assert sorted(receipts.values_list("quantity", flat=True)) == [7, 24]
    with pytest.raises(services.InventoryError):
        services.purchase_order_receive(order=order)


def test_open_purchase_orders_count_in_the_inventory_position_until_received_or_cancelled():
    supplier = Supplier.objects.create(name="Acme")
    product = make_product(stock=10)
    StockRecord.objects.filter(product=product).update(reserved=3)
    draft = services.purchase_order_create(supplier=supplier, lines=[(product, 40)])
    sent = services.purchase_order_send(
        order=services.purchase_order_create(supplier=supplier, lines=[(product, 15)])
    )

    def position() -> float:
        inputs = selectors.policy_inputs_for(product_ids=[product.pk])[product.pk]
        return inputs.on_hand + inputs.on_order - inputs.reserved

    assert position() == 10 + 40 + 15 - 3

    services.purchase_order_cancel(order=draft)
    assert position() == 10 + 15 - 3

    services.purchase_order_receive(order=sent)
    assert position() == 25 - 3


def test_a_forecast_run_forecasts_every_product_and_suggests_reorders_for_those_below_s():
    supplier = Supplier.objects.create(name="Acme", lead_time_days=7)
    busy, quiet = make_product(stock=10), make_product(stock=10_000)
    for product in (busy, quiet):
        ProductSupply.objects.create(product=product, supplier=supplier, pack_size=6)
        record_sales(product, weekly_sales(20, scale=3))
    as_of = START + timedelta(days=140)

    run = services.forecast_retrain(as_of=as_of)

    assert run.status == ForecastRun.Status.COMPLETE
    assert sorted(run.product_ids) == sorted([busy.pk, quiet.pk])
    forecast = ProductForecast.objects.get(run=run, product=busy)
    assert len(forecast.values) == run.horizon and forecast.lead_time_errors
    # A perfect backtest (this planted weekly pattern) needs no pull towards the long-run level.
    assert forecast.level_shrink == 0 and forecast.backtest_error == pytest.approx(0, abs=1e-6)
    assert forecast.backtest_mase is not None and forecast.naive_mase is not None
    assert sum(forecast.values) == pytest.approx(sum(weekly_sales(4, scale=3)), rel=0.15)
    suggestion = ReorderSuggestion.objects.get(run=run)
    assert suggestion.product == busy and suggestion.supplier == supplier
    assert suggestion.quantity % 6 == 0 and suggestion.quantity >= suggestion.order_up_to - 10
    assert suggestion.projected_stockout is not None and suggestion.projected_stockout < as_of + timedelta(
        days=7
    )
    assert run.metrics["products"] == 2 and run.metrics["suggestions"] == 1


def test_only_the_newest_run_leaves_a_products_suggestion_open():
    supplier = Supplier.objects.create(name="Acme", lead_time_days=7)
    busy = make_product(stock=10)
    ProductSupply.objects.create(product=busy, supplier=supplier)
    record_sales(busy, weekly_sales(20, scale=3))
    as_of = START + timedelta(days=140)
    Status = ReorderSuggestion.Status

    first = services.forecast_retrain(as_of=as_of - timedelta(days=7))
    second = services.forecast_retrain(as_of=as_of)
    assert ReorderSuggestion.objects.get(run=first).status == Status.SUPERSEDED
    assert ReorderSuggestion.objects.get(run=second).status == Status.OPEN

    # A backfill for an earlier date is history: it neither opens a suggestion nor closes the current one.
    backfill = services.forecast_retrain(as_of=as_of - timedelta(days=3))
    assert ReorderSuggestion.objects.get(run=backfill).status == Status.SUPERSEDED
    assert list(ReorderSuggestion.objects.open()) == [ReorderSuggestion.objects.get(run=second)]

    # What staff already acted on keeps its status.
    services.purchase_orders_from_suggestions(suggestion_ids=[ReorderSuggestion.objects.get(run=second).pk])
    services.forecast_retrain(as_of=as_of + timedelta(days=1))
    assert ReorderSuggestion.objects.get(run=second).status == Status.ORDERED


def test_start_is_idempotent_on_its_run_key_and_chunks_and_finish_can_run_twice():
    product = make_product()
    record_sales(product, weekly_sales(20))
    as_of = START + timedelta(days=140)

    run = services.forecast_run_start(as_of=as_of, run_key="nightly-1")
    again = services.forecast_run_start(as_of=as_of + timedelta(days=1), run_key="nightly-1")
    assert again.pk == run.pk and again.as_of == as_of

    ids = services.forecast_run_product_ids(run=run)
    assert services.forecast_chunk(run_id=run.pk, product_ids=ids) == 1
    assert services.forecast_chunk(run_id=run.pk, product_ids=ids) == 1
    services.forecast_run_finish(run_id=run.pk)
    finished = services.forecast_run_finish(run_id=run.pk)

    assert ProductForecast.objects.filter(run=run).count() == 1
    assert ReorderSuggestion.objects.filter(run=run).count() == 1  # nothing in stock
    assert finished.status == ForecastRun.Status.COMPLETE


def test_finishing_a_run_with_unforecast_products_refuses():
    product = make_product()
    record_sales(product, weekly_sales(10))
    run = services.forecast_run_start(as_of=START + timedelta(days=70))

    with pytest.raises(services.InventoryError, match="without a forecast"):
        services.forecast_run_finish(run_id=run.pk)


def test_a_failing_fit_falls_back_and_never_aborts_the_run(monkeypatch):
    def broken(panel, origins, horizon):
        return {origin: np.full((panel.n, horizon), np.nan) for origin in origins}

    for name in selection.FITTED:
        monkeypatch.setitem(selection.FITTED, name, broken)
    products = [make_product() for _ in range(2)]
    for product in products:
        record_sales(product, weekly_sales(20, scale=5))

    run = services.forecast_retrain(as_of=START + timedelta(days=140))

    forecasts = ProductForecast.objects.filter(run=run)
    assert forecasts.count() == 2
    for forecast in forecasts:
        assert forecast.method in {"ma28", "weekly_ma28", "weekly_ma56"}
        assert "holt_winters: non-finite forecast" in forecast.fallback_reason
    assert run.metrics["fallbacks"] == 2

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selection, "forecast_matrix", explode)
    run = services.forecast_retrain(as_of=START + timedelta(days=141))

    assert run.status == ForecastRun.Status.COMPLETE
    assert {f.method for f in run.forecasts.all()} == {"ma28"}
    assert all("selection failed: RuntimeError: boom" in f.fallback_reason for f in run.forecasts.all())


def test_products_without_sales_before_as_of_are_not_in_the_run():
    early, late = make_product(), make_product()
    record_sales(early, weekly_sales(10))
    record_sales(late, [5, 5, 5], start=START + timedelta(days=80))

    run = services.forecast_run_start(as_of=START + timedelta(days=70))

    assert run.product_ids == [early.pk]


def test_draft_purchase_orders_are_made_one_per_supplier_from_suggestions():
    acme, globex = Supplier.objects.create(name="Acme"), Supplier.objects.create(name="Globex")
    products = [make_product() for _ in range(3)]
    ProductSupply.objects.create(product=products[0], supplier=acme, unit_cost=Decimal("2.00"))
    ProductSupply.objects.create(product=products[1], supplier=acme)
    ProductSupply.objects.create(product=products[2], supplier=globex)
    orphan = make_product()
    for product in [*products, orphan]:
        record_sales(product, weekly_sales(20))
    run = services.forecast_retrain(as_of=START + timedelta(days=140))
    ids = list(ReorderSuggestion.objects.filter(run=run).values_list("pk", flat=True))
    assert len(ids) == 4

    orders = services.purchase_orders_from_suggestions(suggestion_ids=ids)

    assert sorted(o.supplier.name for o in orders) == ["Acme", "Globex"]
    acme_order = next(o for o in orders if o.supplier == acme)
    assert acme_order.status == PurchaseOrder.Status.DRAFT
    assert sorted(acme_order.lines.values_list("product_id", flat=True)) == [products[0].pk, products[1].pk]
    assert acme_order.lines.get(product=products[0]).unit_cost == Decimal("2.00")
    assert ReorderSuggestion.objects.filter(status=ReorderSuggestion.Status.ORDERED).count() == 3
    assert ReorderSuggestion.objects.get(product=orphan).status == ReorderSuggestion.Status.OPEN
    # The drafts are on order now, so the next run suggests nothing for those products.
    next_run = services.forecast_retrain(as_of=START + timedelta(days=140))
    assert set(ReorderSuggestion.objects.filter(run=next_run).values_list("product_id", flat=True)) == {
        orphan.pk
    }


def test_forecast_chunk_ignores_sales_on_or_after_the_as_of_date():
    product = make_product()
    record_sales(product, weekly_sales(20))
    as_of = START + timedelta(days=140)
    run = services.forecast_run_start(as_of=as_of)
    services.forecast_chunk(run_id=run.pk, product_ids=run.product_ids)
    before = ProductForecast.objects.get(run=run).values

    record_sales(product, [500] * 10, start=as_of)
    services.forecast_chunk(run_id=run.pk, product_ids=run.product_ids)

    assert np.allclose(ProductForecast.objects.get(run=run).values, before)


def test_demo_supply_terms_give_products_without_terms_the_demo_supplier_once():
    priced = make_product(price="5.00")
    kept = make_product()
    own_supplier = Supplier.objects.create(name="Acme")
    ProductSupply.objects.create(product=kept, supplier=own_supplier)

    assert services.demo_supply_terms_ensure() == 1
    assert services.demo_supply_terms_ensure() == 0

    terms = ProductSupply.objects.get(product=priced)
    assert terms.supplier.name == services.DEMO_SUPPLIER and terms.unit_cost == Decimal("3.00")
    assert ProductSupply.objects.get(product=kept).supplier == own_supplier


def test_demand_histories_start_at_the_shops_first_order_with_zeros_before_a_products_first_sale():
    old, new = make_product(), make_product()
    record_sales(old, [5, 0, 7])
    record_sales(new, [4], start=START + timedelta(days=2))

    histories = services.demand_histories(as_of=START + timedelta(days=4), product_ids=[old.pk, new.pk])

    assert histories[old.pk].tolist() == [5.0, 0.0, 7.0, 0.0]
    assert histories[new.pk].tolist() == [0.0, 0.0, 4.0, 0.0]  # not trimmed to its first sale
    assert services.demand_histories(as_of=START, product_ids=[old.pk])[old.pk].tolist() == []


def test_suggestions_and_reorder_levels_take_safety_stock_from_rolling_errors():
    supplier = Supplier.objects.create(name="Acme", lead_time_days=7)
    product = make_product(stock=0)
    ProductSupply.objects.create(product=product, supplier=supplier)
    record_sales(product, weekly_sales(20, scale=3))
    as_of = START + timedelta(days=140)

    run = services.forecast_retrain(as_of=as_of)

    suggestion = ReorderSuggestion.objects.get(run=run, product=product)
    assert suggestion.reason.startswith("You have 0 units")
    assert "little sales history" not in suggestion.reason  # rolling errors, not the backtest's
    forecasts = services.reorder_levels_forecasts(as_of=as_of, lead_time_days=7, product_ids=[product.pk])
    histories = services.demand_histories(as_of=as_of, product_ids=[product.pk])
    (level,) = services.reorder_levels_from(
        forecasts=forecasts, histories=histories, lead_time_days=7, service_level=suggestion.service_level
    )
    # The same policy as the suggestion (same data, lead time and service level).
    assert level.reorder_point == pytest.approx(float(suggestion.reorder_point), abs=0.01)


def test_demand_days_are_utc_days_on_either_side_of_midnight():
    product = make_product()
    for stamp in ("2024-01-01T23:59:00+00:00", "2024-01-02T00:01:00+00:00", "2024-01-02T01:30:00+02:00"):
        order = Order.objects.create(
            number=f"T{next(_numbers):07d}",
            placed_at=datetime.fromisoformat(stamp),
            status=Order.Status.FULFILLED,
        )
        OrderLine.objects.create(
            order=order, line_number=1, product=product, quantity=1, unit_price=Decimal("1")
        )

    matrix = selectors.demand_matrix(before=date(2024, 1, 3), product_ids=[product.pk])

    # 01:30 at UTC+2 is 23:30 UTC on the first: two sales that day, one on the second.
    assert matrix.loc[product.pk].tolist() == [2.0, 1.0]
