"""The management commands' CSV contracts and the admin screens."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inventory import services
from inventory.models import (
    ForecastRun,
    ProductForecast,
    ProductSupply,
    PurchaseOrder,
    ReorderSuggestion,
    Supplier,
)
from tests.inventory.test_services import START, record_sales, weekly_sales
from tests.shop.factories import make_product

pytestmark = pytest.mark.django_db

AS_OF = START + timedelta(days=140)


def run_command(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def catalogue():
    products = [make_product() for _ in range(3)]
    record_sales(products[0], weekly_sales(20, scale=4))
    record_sales(products[1], [3, 0, 0, 2, 0, 0, 0] * 20)
    record_sales(products[2], [6] * 30, start=AS_OF + timedelta(days=3))  # first sold after the as-of date
    return products


def test_reorder_policy_writes_s_and_S_for_every_product_sold_before_the_date(catalogue):
    out, err = run_command(
        "reorder_policy", "--as-of", AS_OF.isoformat(), "--lead-time-days", "7", "--service-level", "0.95"
    )

    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["product_sku"] for row in rows] == sorted(p.sku for p in catalogue[:2])
    for row in rows:
        assert 0 < float(row["reorder_point"]) <= float(row["order_up_to"])
    assert "2 products" in err


def test_reorder_policy_uses_no_data_on_or_after_the_as_of_date(catalogue):
    args = ("reorder_policy", "--as-of", AS_OF.isoformat(), "--lead-time-days", "7", "--service-level", "0.9")
    before, _ = run_command(*args)

    record_sales(catalogue[0], [900] * 14, start=AS_OF)
    record_sales(catalogue[1], [50] * 14, start=AS_OF + timedelta(days=2))
    after, _ = run_command(*args)

    assert after == before
    later, _ = run_command(
        *(a if a != AS_OF.isoformat() else (AS_OF + timedelta(days=14)).isoformat() for a in args)
    )
    assert later != before  # the same command does see the new sales once the date moves past them


def test_reorder_policy_sweeps_several_service_levels_from_one_forecast_into_one_csv_each(
    catalogue, tmp_path, monkeypatch
):
    noisy = make_product()
    record_sales(noisy, list(np.random.default_rng(0).poisson(np.tile([8, 9, 10, 11, 12, 1, 4], 20) * 3)))
    calls = []
    original = services.reorder_levels_forecasts
    monkeypatch.setattr(
        "inventory.management.commands.reorder_policy.reorder_levels_forecasts",
        lambda **kwargs: calls.append(kwargs) or original(**kwargs),
    )

    _, err = run_command(
        "reorder_policy",
        "--as-of",
        AS_OF.isoformat(),
        "--service-level",
        "0.8",
        "0.95",
        "0.99",
        "--output-dir",
        str(tmp_path),
        "--products",
        noisy.sku,
    )

    assert len(calls) == 1  # one forecast for every level
    points = {}
    for level in ("0.8", "0.95", "0.99"):
        rows = list(csv.DictReader((tmp_path / f"sl_{level}.csv").open()))
        assert [row["product_sku"] for row in rows] == [noisy.sku]
        points[level] = float(rows[0]["reorder_point"])
    assert points["0.8"] < points["0.95"] < points["0.99"]
    assert err.count("products at service level") == 3


def test_reorder_policy_refuses_several_levels_without_a_directory_and_unknown_skus(catalogue):
    with pytest.raises(CommandError, match="--output-dir"):
        run_command("reorder_policy", "--as-of", AS_OF.isoformat(), "--service-level", "0.9", "0.95")
    with pytest.raises(CommandError, match="Unknown SKUs: NOPE"):
        run_command("reorder_policy", "--as-of", AS_OF.isoformat(), "--products", "NOPE")


def test_a_run_records_median_mase_beside_a_naive_baseline_and_how_often_arima_wins():
    rng = np.random.default_rng(1)
    for rate in (3, 10, 30):
        record_sales(make_product(), list(rng.poisson(np.tile([8, 9, 10, 11, 12, 1, 4], 20) * rate / 8)))

    run_command("retrain_forecasts", "--as-of", AS_OF.isoformat())
    run = ForecastRun.objects.get()

    assert 0 < run.metrics["median_mase"] < run.metrics["median_mase_naive"]
    fitted = sum(counts["fitted"] for counts in run.metrics["arima"].values())
    assert fitted == ProductForecast.objects.filter(run=run, candidates__has_key="arima(5,1,0)").count()


def test_the_latest_run_is_the_latest_as_of_then_the_last_finished_not_the_last_created(catalogue):
    run_command("retrain_forecasts", "--as-of", AS_OF.isoformat())
    current = ForecastRun.objects.get()
    # A backfill started afterwards for an earlier date must not take over the export or the API.
    run_command("retrain_forecasts", "--as-of", (AS_OF - timedelta(days=7)).isoformat())

    out, err = run_command("export_forecasts")
    assert f"Run {current.pk} as of {AS_OF}" in err
    assert out.splitlines()[1].split(",")[1] == AS_OF.isoformat()

    # Two runs for the same date: the one that completed last wins, whatever their creation order.
    again = services.forecast_retrain(as_of=AS_OF)
    ForecastRun.objects.filter(pk=current.pk).update(finished_at=again.finished_at + timedelta(seconds=1))
    from inventory import selectors

    assert selectors.latest_complete_run() == current
    assert selectors.latest_forecast_for(product=catalogue[0]).run == current


def test_retrain_then_export_writes_every_products_daily_forecast(catalogue):
    _, err = run_command("retrain_forecasts", "--as-of", AS_OF.isoformat())
    run = ForecastRun.objects.get()
    assert f"Run {run.pk}" in err

    out, _ = run_command("export_forecasts", "--format", "csv")

    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 2 * run.horizon
    first = rows[0]
    assert first["date"] == AS_OF.isoformat()
    assert {row["product_sku"] for row in rows} == {p.sku for p in catalogue[:2]}


def test_retrain_for_named_products_only_and_unknown_skus_fail(catalogue):
    run_command("retrain_forecasts", "--as-of", AS_OF.isoformat(), "--products", catalogue[0].sku)
    assert ProductForecast.objects.get().product == catalogue[0]

    with pytest.raises(CommandError, match="Unknown SKUs: NOPE"):
        run_command("retrain_forecasts", "--products", "NOPE")


def test_export_without_any_run_fails_with_a_hint():
    with pytest.raises(CommandError, match="retrain_forecasts"):
        run_command("export_forecasts")


def test_simulate_inventory_reports_fill_rates_and_the_units_for_95_percent(catalogue):
    record_sales(catalogue[0], weekly_sales(8, scale=4), start=AS_OF)

    out, _ = run_command(
        "simulate_inventory",
        "--cut", AS_OF.isoformat(),
        "--end", (AS_OF + timedelta(days=55)).isoformat(),
        "--lead-time-days", "7",
        "--service-levels", "0.5,0.8,0.99",
    )  # fmt: skip

    lines = out.strip().splitlines()
    assert len(lines) == 4
    fill_rates = [float(line.split("fill rate ")[1].split(",")[0]) for line in lines[:3]]
    assert fill_rates == sorted(fill_rates) and fill_rates[-1] > 0.9
    assert lines[-1].startswith(("units on hand for a 95% fill rate", "95% fill rate never reached"))


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "staff@example.com", "pw")
    client.force_login(user)
    return client


def test_admin_lists_runs_suggestions_by_urgency_and_shows_the_forecast_chart(staff_client, catalogue):
    supplier = Supplier.objects.create(name="Acme")
    ProductSupply.objects.create(product=catalogue[0], supplier=supplier)
    run = services.forecast_retrain(as_of=AS_OF)
    forecast = ProductForecast.objects.get(run=run, product=catalogue[0])

    assert staff_client.get(reverse("admin:inventory_forecastrun_changelist")).status_code == 200
    listing = staff_client.get(reverse("admin:inventory_reordersuggestion_changelist") + "?stockout=7")
    assert listing.status_code == 200
    page = staff_client.get(reverse("admin:inventory_productforecast_change", args=[forecast.pk]))
    assert page.status_code == 200
    assert b"<svg" in page.content and b"reorder point" in page.content
    product_page = staff_client.get(reverse("admin:shop_product_change", args=[catalogue[0].pk]))
    assert b"<svg" in product_page.content and b"reorder point" in product_page.content
    unforecast = staff_client.get(reverse("admin:shop_product_change", args=[make_product().pk]))
    assert unforecast.status_code == 200 and b"No forecast yet" in unforecast.content
    supply_page = staff_client.get(reverse("admin:inventory_productsupply_changelist"))
    assert (
        reverse("admin:inventory_productforecast_change", args=[forecast.pk]).encode() in supply_page.content
    )


def test_admin_bulk_action_drafts_purchase_orders_and_exports_csv(staff_client, catalogue):
    supplier = Supplier.objects.create(name="Acme")
    for product in catalogue[:2]:
        ProductSupply.objects.create(product=product, supplier=supplier)
    services.forecast_retrain(as_of=AS_OF)
    ids = [str(pk) for pk in ReorderSuggestion.objects.values_list("pk", flat=True)]
    url = reverse("admin:inventory_reordersuggestion_changelist")

    exported = staff_client.post(url, {"action": "export_csv", "_selected_action": ids})
    confirm = staff_client.post(url, {"action": "create_purchase_orders", "_selected_action": ids})
    assert not PurchaseOrder.objects.exists()  # the buyer first sees what the orders are worth
    assert b"Create purchase orders worth" in confirm.content
    done = staff_client.post(
        url, {"action": "create_purchase_orders", "_selected_action": ids, "confirm": "yes"}, follow=True
    )

    assert exported["Content-Type"] == "text/csv"
    assert len(exported.content.decode().strip().splitlines()) == len(ids) + 1
    order = PurchaseOrder.objects.get()
    assert order.supplier == supplier and order.lines.count() == len(ids)
    # The success message links to the order it created.
    assert reverse("admin:inventory_purchaseorder_change", args=[order.pk]).encode() in done.content


def test_suggestions_sort_soonest_stockout_first():
    products = [make_product() for _ in range(3)]
    run = ForecastRun.objects.create(as_of=date(2024, 1, 1))
    stockouts = [date(2024, 1, 9), None, date(2024, 1, 3)]
    for product, stockout in zip(products, stockouts, strict=True):
        ReorderSuggestion.objects.create(
            run=run, product=product, quantity=5, reorder_point=1, order_up_to=6, inventory_position=0,
            service_level=0.95, projected_stockout=stockout, reason="test",
        )  # fmt: skip

    ordered = list(ReorderSuggestion.objects.by_urgency().values_list("projected_stockout", flat=True))

    assert ordered == [date(2024, 1, 3), date(2024, 1, 9), None]


def test_the_supply_list_links_latest_forecasts_without_a_query_per_row(staff_client, catalogue):
    supplier = Supplier.objects.create(name="Acme")
    url = reverse("admin:inventory_productsupply_changelist")

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(url).status_code == 200
        return len(captured)

    ProductSupply.objects.create(product=catalogue[0], supplier=supplier)
    services.forecast_retrain(as_of=AS_OF)
    one_row = queries_for_list()
    for product in [catalogue[1], *(make_product() for _ in range(5))]:
        ProductSupply.objects.create(product=product, supplier=supplier)
    services.forecast_retrain(as_of=AS_OF + timedelta(days=1))
    page = staff_client.get(url)

    assert queries_for_list() == one_row
    latest = ProductForecast.objects.filter(product=catalogue[1]).latest("run__created_at")
    assert reverse("admin:inventory_productforecast_change", args=[latest.pk]).encode() in page.content
