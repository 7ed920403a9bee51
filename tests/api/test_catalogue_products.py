# ruff: noqa: F811 (pytest fixtures imported from catalogue_fixtures are parameters here)
"""Catalogue reads: search, ordering, strict filters, page size, ETag and caching headers, CORS."""

from __future__ import annotations

import pytest
from django.test import override_settings

from shop import services
from shop.models import Category, Product
from shop.services_catalogue import product_popularity_refresh
from tests.api.catalogue_fixtures import anon, shopper  # noqa: F401 (fixtures)
from tests.shop.factories import make_customer, make_product, pay

pytestmark = pytest.mark.django_db


def _skus(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["sku"] for item in response.json()["results"]]


def test_search_matches_words_in_the_name_or_the_exact_sku(anon):
    lantern = make_product(name="Moroccan metal lantern", stock=1)
    make_product(name="Paper chain kit")
    make_product(name="Lantern", active=False)
    assert _skus(anon.get("/api/products/", {"search": "lantern"})) == [lantern.sku]
    assert _skus(anon.get("/api/products/", {"search": lantern.sku.lower()})) == [lantern.sku]
    assert _skus(anon.get("/api/products/", {"search": "nothing like it"})) == []


def test_ordering_by_name_price_and_popularity_with_descending_variants(anon):
    cheap = make_product(name="b cheap", price="1.00", stock=50)
    dear = make_product(name="c dear", price="9.00", stock=50)
    middle = make_product(name="a middle", price="5.00", stock=50)
    customer = make_customer()
    pay(services.order_place(customer=customer, lines=[services.LineRequest(dear.pk, 7)]))
    pay(services.order_place(customer=customer, lines=[services.LineRequest(cheap.pk, 3)]))  # sold: paid
    cancelled = services.order_place(customer=customer, lines=[services.LineRequest(middle.pk, 20)])
    services.order_cancel(order=cancelled)
    product_popularity_refresh()

    assert _skus(anon.get("/api/products/", {"ordering": "name"})) == [middle.sku, cheap.sku, dear.sku]
    assert _skus(anon.get("/api/products/", {"ordering": "-price"})) == [dear.sku, middle.sku, cheap.sku]
    # A cancelled order sold nothing: the middle product is the least popular.
    assert _skus(anon.get("/api/products/", {"ordering": "-popularity"})) == [dear.sku, cheap.sku, middle.sku]
    assert anon.get("/api/products/", {"ordering": "-popularity"}).json()["results"][0]["units_sold"] == 7


def test_unknown_ordering_and_non_boolean_in_stock_are_400_not_ignored(anon):
    make_product(stock=1)
    for params in (
        {"ordering": "sku"},
        {"ordering": "popularity;drop"},
        {"in_stock": "maybe"},
        {"in_stock": ""},
    ):
        response = anon.get("/api/products/", params)
        if params.get("in_stock") == "":
            assert response.status_code == 200  # an empty parameter is "no filter", as in every filter
        else:
            assert response.status_code == 400, params
    assert anon.get("/api/products/", {"min_price": "cheap"}).status_code == 400
    assert anon.get("/api/products/", {"search": "x" * 101}).status_code == 400
    assert anon.get("/api/products/", {"search": "nul\x00byte"}).status_code == 400


def test_in_stock_true_and_false_split_the_catalogue(anon):
    stocked = make_product(stock=2)
    empty = make_product(stock=0)
    assert _skus(anon.get("/api/products/", {"in_stock": "true"})) == [stocked.sku]
    assert _skus(anon.get("/api/products/", {"in_stock": "false"})) == [empty.sku]


def test_page_size_is_chosen_by_the_client_and_capped_at_100(anon):
    Product.objects.bulk_create(Product(sku=f"B{n:04d}", name=f"bulk {n}") for n in range(120))
    assert len(_skus(anon.get("/api/products/", {"page_size": 7}))) == 7
    assert len(_skus(anon.get("/api/products/", {"page_size": 1000}))) == 100
    assert len(_skus(anon.get("/api/products/"))) == 50


def test_category_is_nullable_in_the_schema_and_null_in_data_without_one(anon):
    make_product(category=None, stock=1)
    assert anon.get("/api/products/").json()["results"][0]["category"] is None
    schema = anon.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["components"]["schemas"]["Product"]["properties"]["category"]["nullable"] is True


def test_inactive_products_are_a_404_like_unknown_ones(anon):
    hidden = make_product(active=False, stock=5)
    assert anon.get(f"/api/products/{hidden.pk}/").status_code == 404
    assert anon.get("/api/products/987654321/").status_code == 404


def test_product_reads_carry_an_etag_and_answer_304_until_the_product_changes(anon):
    product = make_product(stock=3)
    for url in ("/api/products/", f"/api/products/{product.pk}/"):
        first = anon.get(url)
        etag = first["ETag"]
        assert etag.startswith('"') and first.status_code == 200
        again = anon.get(url, HTTP_IF_NONE_MATCH=etag)
        assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    services.stock_receive(product=product, quantity=1, reference="delivery")
    changed = anon.get(f"/api/products/{product.pk}/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed.json()["available"] == 4 and changed["ETag"] != etag


def test_anonymous_catalogue_answers_are_publicly_cacheable_and_signed_in_ones_private(anon, shopper):
    product = make_product(stock=1)
    with override_settings(SHOP_CATALOGUE_MAX_AGE=120):
        public = anon.get(f"/api/products/{product.pk}/")
    assert public["Cache-Control"] == "public, max-age=120"
    assert "Authorization" in public["Vary"]
    assert shopper.client.get("/api/products/")["Cache-Control"] == "private, no-cache"
    assert anon.get("/api/categories/")["Cache-Control"].startswith("public")


def test_categories_list_names_with_their_number_of_active_products(anon):
    make_product(category="Mugs")
    make_product(category="Mugs", active=False)
    make_product(category="Bags")
    Category.objects.create(name="Empty")
    body = anon.get("/api/categories/").json()
    assert [(c["name"], c["products"]) for c in body] == [("Bags", 1), ("Empty", 0), ("Mugs", 1)]


def test_cors_allows_only_the_configured_origins(anon):
    make_product()
    origin = "https://shop.example.com"
    assert "Access-Control-Allow-Origin" not in anon.get("/api/products/", HTTP_ORIGIN=origin)
    with override_settings(CORS_ALLOWED_ORIGINS=[origin]):
        allowed = anon.get("/api/products/", HTTP_ORIGIN=origin)
        other = anon.get("/api/products/", HTTP_ORIGIN="https://evil.example.net")
    assert allowed["Access-Control-Allow-Origin"] == origin
    assert "ETag" in allowed["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Origin" not in other


def test_health_answers_without_the_database(anon, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = anon.get("/api/health/")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_popularity_is_net_of_cancellations_and_never_negative():
    from django.utils import timezone

    from shop.models import Cancellation, Order, OrderLine

    sold = make_product()
    returned = make_product()
    order = Order.objects.create(number="X1", status=Order.Status.FULFILLED)
    OrderLine.objects.create(order=order, line_number=1, product=sold, quantity=5, unit_price=1)
    OrderLine.objects.create(order=order, line_number=2, product=returned, quantity=1, unit_price=1)
    Cancellation.objects.create(
        reference="C1", line_number=1, product=sold, quantity=2, created_at=timezone.now()
    )
    Cancellation.objects.create(reference="C1", line_number=2, product=returned, quantity=4)
    assert product_popularity_refresh() == 2
    assert dict(Product.objects.values_list("pk", "units_sold")) == {sold.pk: 3, returned.pk: 0}


@pytest.mark.parametrize("url", ["/api/products/", "/api/categories/"])
def test_list_query_count_does_not_grow_with_the_page_size(anon, url, django_assert_max_num_queries):
    for n in range(60):
        make_product(stock=1, category=f"Cat {n % 7}")
    counts = []
    for size in (5, 60):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert anon.get(url, {"page_size": size}).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1] <= 2


def test_product_detail_takes_one_query(anon, django_assert_num_queries):
    product = make_product(stock=1, category="Mugs")
    with django_assert_num_queries(1):
        assert anon.get(f"/api/products/{product.pk}/").status_code == 200
