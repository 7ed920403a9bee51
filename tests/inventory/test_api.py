"""The staff read API over reorder suggestions and stored forecasts, on data made by inventory services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS
from rest_framework.test import APIClient

from inventory import services
from inventory.models import ForecastRun, ProductForecast, ProductSupply, ReorderSuggestion, Supplier
from tests.inventory.test_services import START, record_sales, weekly_sales
from tests.shop.factories import make_product

AS_OF = START + timedelta(days=140)


def _client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("buyer", password="pw-123456789", is_staff=True)


@pytest.fixture
def plain(db):
    return get_user_model().objects.create_user("shopper", password="pw-123456789")


@pytest.fixture
def stock(db):
    """Same demand everywhere, different stock: the less stock, the sooner the stock-out."""
    acme = Supplier.objects.create(name="Acme", lead_time_days=7)
    globex = Supplier.objects.create(name="Globex", lead_time_days=7)
    products = {
        "empty": (make_product(stock=0, category="Mugs"), acme),
        "low": (make_product(stock=40, category="Candles"), acme),
        "mid": (make_product(stock=100, category="Mugs"), globex),
        "ordered": (make_product(stock=0, category="Mugs"), globex),
        "plenty": (make_product(stock=10_000, category="Mugs"), acme),
    }
    for product, supplier in products.values():
        ProductSupply.objects.create(product=product, supplier=supplier)
        record_sales(product, weekly_sales(20, scale=3))
    run = services.forecast_retrain(as_of=AS_OF)
    # Turning a suggestion into a purchase order closes it; the list shows open ones only.
    ordered = ReorderSuggestion.objects.get(run=run, product=products["ordered"][0])
    services.purchase_orders_from_suggestions(suggestion_ids=[ordered.pk])
    return {
        "run": run,
        "acme": acme,
        "globex": globex,
        **{key: product for key, (product, _) in products.items()},
    }


def _skus(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["sku"] for item in response.json()["results"]]


def test_staff_get_open_suggestions_soonest_stockout_first(staff, stock):
    response = _client(staff).get("/api/reorders/")

    assert _skus(response) == [stock["empty"].sku, stock["low"].sku, stock["mid"].sku]
    body = response.json()
    assert body["count"] == 3 and body["next"] is None
    stockouts = [item["projected_stockout"] for item in body["results"]]
    assert stockouts == sorted(stockouts) and len(set(stockouts)) == 3
    first = body["results"][0]
    stored = ReorderSuggestion.objects.get(run=stock["run"], product=stock["empty"])
    assert first == {
        "id": stored.pk,
        "product_id": stock["empty"].pk,
        "sku": stock["empty"].sku,
        "name": stock["empty"].name,
        "category": "Mugs",
        "supplier_id": stock["acme"].pk,
        "supplier": "Acme",
        "quantity": stored.quantity,
        "reorder_point": stored.reorder_point,
        "order_up_to": stored.order_up_to,
        "inventory_position": stored.inventory_position,
        "service_level": stored.service_level,
        "projected_stockout": stored.projected_stockout.isoformat(),
        "reason": stored.reason,
        "run_id": stock["run"].pk,
        "as_of": AS_OF.isoformat(),
        "created_at": first["created_at"],
    }
    assert first["projected_stockout"] == AS_OF.isoformat()  # nothing on hand: out from day one


def test_filters_by_supplier_and_category_narrow_the_list(staff, stock):
    client = _client(staff)

    assert _skus(client.get("/api/reorders/", {"supplier": stock["acme"].pk})) == [
        stock["empty"].sku,
        stock["low"].sku,
    ]
    assert _skus(client.get("/api/reorders/", {"supplier": stock["globex"].pk})) == [stock["mid"].sku]
    assert _skus(client.get("/api/reorders/", {"category": "mugs"})) == [stock["empty"].sku, stock["mid"].sku]
    assert _skus(client.get("/api/reorders/", {"category": "Mugs", "supplier": stock["globex"].pk})) == [
        stock["mid"].sku
    ]
    assert _skus(client.get("/api/reorders/", {"category": "Lamps"})) == []
    assert client.get("/api/reorders/", {"supplier": 999_999}).status_code == 400


@pytest.mark.parametrize("url", ["/api/reorders/", "/api/products/{pk}/forecast/"])
def test_non_staff_and_anonymous_users_are_refused(plain, stock, url):
    url = url.format(pk=stock["empty"].pk)

    anonymous = _client().get(url)
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"]
    refused = _client(plain).get(url)
    assert refused.status_code == 403
    for response in (anonymous, refused):
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == response.status_code


def test_forecast_endpoint_returns_the_stored_forecast_with_dated_values(staff, stock):
    product = stock["low"]
    response = _client(staff).get(f"/api/products/{product.pk}/forecast/")

    assert response.status_code == 200, response.content
    body = response.json()
    stored = ProductForecast.objects.get(run=stock["run"], product=product)
    assert body["product_id"] == product.pk and body["sku"] == product.sku
    assert body["run_id"] == stock["run"].pk and body["as_of"] == AS_OF.isoformat()
    assert body["method"] == stored.method and body["demand_class"] == stored.demand_class
    assert body["backtest_error"] == stored.backtest_error
    assert body["candidates"] == stored.candidates and body["lead_time_errors"] == stored.lead_time_errors
    assert body["lead_time_days"] == 7 and body["horizon"] == stock["run"].horizon
    assert [day["value"] for day in body["values"]] == stored.values
    assert [day["date"] for day in body["values"]] == [
        (AS_OF + timedelta(days=offset)).isoformat() for offset in range(len(stored.values))
    ]
    assert body["total"] == pytest.approx(stored.total)


def test_forecast_endpoint_ignores_runs_that_have_not_completed(staff, stock):
    product = stock["low"]
    running = services.forecast_run_start(as_of=AS_OF + timedelta(days=1), product_ids=[product.pk])
    services.forecast_chunk(run_id=running.pk, product_ids=[product.pk])
    assert running.status == ForecastRun.Status.RUNNING

    body = _client(staff).get(f"/api/products/{product.pk}/forecast/").json()

    assert body["run_id"] == stock["run"].pk and body["as_of"] == AS_OF.isoformat()


def test_forecast_endpoint_is_404_for_a_product_without_a_forecast(staff, stock):
    never_sold = make_product()
    client = _client(staff)

    response = client.get(f"/api/products/{never_sold.pk}/forecast/")

    assert response.status_code == 404
    assert (
        response.json()["detail"] == f"Product {never_sold.sku} has no forecast from a complete forecast run."
    )
    assert response.json()["code"] == "not_found"
    assert client.get("/api/products/999999/forecast/").status_code == 404


def test_openapi_schema_builds_without_warnings_and_documents_the_endpoints(db, tmp_path):
    GENERATOR_STATS.reset()  # warnings from schemas built by earlier tests must not count here
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    paths = _client().get("/api/schema/", {"format": "json"}).json()["paths"]
    reorders = paths["/api/reorders/"]["get"]
    assert {p["name"] for p in reorders["parameters"]} == {"supplier", "category", "page", "page_size"}
    assert {"200", "403"} <= set(reorders["responses"])
    forecast = paths["/api/products/{id}/forecast/"]["get"]
    assert {"200", "403", "404"} <= set(forecast["responses"])
