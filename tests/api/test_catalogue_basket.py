# ruff: noqa: F811 (pytest fixtures imported from catalogue_fixtures are parameters here)
"""Complete-your-basket and similar lists: stored lists only, inactive products never shown."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from recommender.models import ModelVersion, Reason, SimilarProduct
from tests.api.catalogue_fixtures import anon  # noqa: F401 (fixtures)
from tests.shop.factories import make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def lists():
    """An active version whose similar lists say: a -> b, c, d; e -> c, b, a; plus an inactive one."""
    products = {code: make_product(stock=5, name=f"item {code}") for code in "abcde"}
    products["hidden"] = make_product(stock=5, active=False, name="Hidden gem")
    products["empty"] = make_product(stock=0, name="Sold out")
    version = ModelVersion.objects.create(
        status=ModelVersion.Status.ACTIVE, is_active=True, as_of=timezone.now()
    )
    stored = {
        "a": [("b", 0.9), ("hidden", 0.8), ("c", 0.5), ("empty", 0.4), ("d", 0.1)],
        "e": [("c", 0.7), ("b", 0.2), ("a", 0.1)],
        "hidden": [("d", 5.0)],
    }
    SimilarProduct.objects.bulk_create(
        SimilarProduct(
            version=version,
            product=products[source],
            rank=rank,
            similar=products[target],
            score=score,
            reason=Reason.TOGETHER,
        )
        for source, targets in stored.items()
        for rank, (target, score) in enumerate(targets, start=1)
    )
    return products


def test_basket_sums_the_stored_lists_and_leaves_out_basket_inactive_and_sold_out_products(anon, lists):
    p = lists
    response = anon.get("/api/recommendations/basket/", {"products": f"{p['a'].pk},{p['e'].pk}"})
    assert response.status_code == 200, response.content
    body = response.json()
    # c: 0.5 + 0.7, b: 0.9 + 0.2, d: 0.1; "a" is in the basket, hidden and sold-out never shown.
    assert [item["product"]["id"] for item in body] == [p["c"].pk, p["b"].pk, p["d"].pk]
    # Scores are the sums over the list's best: 1.2, 1.1 and 0.1 of 1.2.
    assert [item["score"] for item in body] == pytest.approx([1.0, 1.1 / 1.2, 0.1 / 1.2], abs=1e-6)
    assert body[0]["product"]["available"] > 0 and body[0]["product"]["sku"] == p["c"].sku
    assert body[0]["reason"] == f"often bought with {p['e'].name}"
    assert "Hidden" not in response.content.decode() and "Sold out" not in response.content.decode()


def test_an_inactive_product_in_the_basket_contributes_nothing(anon, lists):
    body = anon.get("/api/recommendations/basket/", {"products": str(lists["hidden"].pk)}).json()
    assert body == []


def test_basket_limit_and_unknown_ids(anon, lists):
    p = lists
    assert len(anon.get("/api/recommendations/basket/", {"products": f"{p['a'].pk}", "limit": 1}).json()) == 1
    assert anon.get("/api/recommendations/basket/", {"products": "999999999"}).json() == []


@pytest.mark.parametrize(
    "products",
    ["", "1,,2", "1,a", "1.5", "-1", "0", "1;2", " 1", "1,2,", "١", "9" * 16, ",".join(["1"] * 51)],
)
def test_basket_products_are_parsed_strictly(anon, lists, products):
    assert anon.get("/api/recommendations/basket/", {"products": products}).status_code == 400


def test_basket_without_products_is_400(anon, lists):
    assert anon.get("/api/recommendations/basket/").status_code == 400


def test_basket_query_count_does_not_grow_with_the_basket_or_the_limit(anon, lists):
    counts = []
    for ids, limit in (([lists["a"].pk], 1), ([lists[c].pk for c in "abcde"], 50)):
        with CaptureQueriesContext(connection) as ctx:
            anon.get("/api/recommendations/basket/", {"products": ",".join(map(str, ids)), "limit": limit})
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1] == 1


def test_similar_list_of_an_inactive_product_is_404_and_never_lists_inactive_ones(anon, lists):
    assert anon.get(f"/api/products/{lists['hidden'].pk}/similar/").status_code == 404
    body = anon.get(f"/api/products/{lists['a'].pk}/similar/", {"limit": 10}).json()
    shown = {item["product"]["id"] for item in body}
    assert lists["b"].pk in shown and lists["hidden"].pk not in shown and lists["empty"].pk not in shown


def test_anonymous_similar_and_basket_answers_are_publicly_cacheable_with_an_etag(anon, lists):
    for url, params in (
        (f"/api/products/{lists['a'].pk}/similar/", {}),
        ("/api/recommendations/basket/", {"products": str(lists["a"].pk)}),
    ):
        response = anon.get(url, params)
        assert response["Cache-Control"].startswith("public, max-age=")
        assert anon.get(url, params, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
