# ruff: noqa: F811 (pytest fixtures imported from catalogue_fixtures are parameters here)
"""Served answers reused from the cache for SHOP_SERVE_CACHE_SECONDS, and never errors."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from shop import services
from tests.api.catalogue_fixtures import anon, shopper, shopper_b  # noqa: F401 (fixtures)
from tests.shop.factories import make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def serve_cache(settings):
    settings.SHOP_SERVE_CACHE_SECONDS = 30
    caches["serve"].clear()
    yield
    caches["serve"].clear()


def test_a_repeated_product_read_costs_no_query_until_the_cache_expires(
    anon, serve_cache, django_assert_num_queries
):
    product = make_product(stock=2)
    first = anon.get("/api/products/", {"search": product.name})
    with django_assert_num_queries(0):
        again = anon.get("/api/products/", {"search": product.name})
    assert again.json() == first.json() and again["ETag"] == first["ETag"]
    detail_first = anon.get(f"/api/products/{product.pk}/")
    services.stock_receive(product=product, quantity=5, reference="delivery")
    # Within the cache's lifetime the old figure is served; after it (here: cleared) the new one.
    assert anon.get(f"/api/products/{product.pk}/").json() == detail_first.json()
    caches["serve"].clear()
    assert anon.get(f"/api/products/{product.pk}/").json()["available"] == 7


def test_different_parameters_are_different_answers(anon, serve_cache):
    a = make_product(stock=1, name="alpha lamp")
    b = make_product(stock=1, name="beta lamp")
    assert [r["sku"] for r in anon.get("/api/products/", {"search": "alpha"}).json()["results"]] == [a.sku]
    assert [r["sku"] for r in anon.get("/api/products/", {"search": "beta"}).json()["results"]] == [b.sku]
    assert anon.get("/api/products/", {"search": "lamp", "page_size": 1}).json()["results"][0]["sku"] == a.sku
    assert len(anon.get("/api/products/", {"search": "lamp"}).json()["results"]) == 2


def test_errors_are_not_cached(anon, serve_cache):
    hidden = make_product(active=False)
    assert anon.get(f"/api/products/{hidden.pk}/").status_code == 404
    assert anon.get(f"/api/products/{hidden.pk}/similar/").status_code == 404
    hidden.active = True
    hidden.save()
    assert anon.get(f"/api/products/{hidden.pk}/").status_code == 200
    assert anon.get(f"/api/products/{hidden.pk}/similar/").status_code == 200


def test_recommendations_are_cached_per_login(shopper, shopper_b, serve_cache):
    for _ in range(3):
        make_product(stock=1)
    first = shopper.client.get("/api/me/recommendations/", {"limit": 2})
    assert first.status_code == 200 and len(first.json()) == 2
    # Another login, or other parameters, never get Alice's cached answer object.
    assert len(shopper_b.client.get("/api/me/recommendations/", {"limit": 3}).json()) == 3
    assert len(shopper.client.get("/api/me/recommendations/", {"limit": 3}).json()) == 3
