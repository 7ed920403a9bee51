# ruff: noqa: F811 (pytest fixtures imported from catalogue_fixtures are parameters here)
"""The customer's star ratings and the storefront's product events."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import override_settings

from shop.models import ProductEvent, Rating
from tests.api.catalogue_fixtures import anon, no_customer, shopper, shopper_b  # noqa: F401 (fixtures)
from tests.shop.factories import make_product

pytestmark = pytest.mark.django_db


def test_a_customer_rates_updates_lists_and_deletes_their_own_ratings(shopper, shopper_b):
    mug, bag = make_product(), make_product()
    created = shopper.client.post("/api/me/ratings/", {"product": mug.pk, "stars": 4.5}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["stars"] == 4.5 and created.json()["product"] == mug.pk
    replaced = shopper.client.post("/api/me/ratings/", {"product": mug.pk, "stars": 3}, format="json")
    assert replaced.status_code == 200 and replaced.json()["stars"] == 3
    assert shopper.client.put(f"/api/me/ratings/{bag.pk}/", {"stars": 0.5}, format="json").status_code == 201
    assert shopper.client.put(f"/api/me/ratings/{bag.pk}/", {"stars": 5}, format="json").status_code == 200
    shopper_b.client.put(f"/api/me/ratings/{mug.pk}/", {"stars": 1}, format="json")

    listed = shopper.client.get("/api/me/ratings/").json()
    assert listed["count"] == 2
    assert {(r["product"], r["stars"]) for r in listed["results"]} == {(mug.pk, 3), (bag.pk, 5)}
    assert shopper.client.get(f"/api/me/ratings/{mug.pk}/").json()["stars"] == 3
    assert shopper.client.delete(f"/api/me/ratings/{mug.pk}/").status_code == 204
    assert shopper.client.delete(f"/api/me/ratings/{mug.pk}/").status_code == 404
    # Bob's rating of the same product is his own and untouched.
    assert Rating.objects.get(customer=shopper_b.customer, product=mug).stars == Decimal("1")
    assert list(Rating.objects.filter(customer=shopper.customer).values_list("stars", flat=True)) == [
        Decimal("5")
    ]


@pytest.mark.parametrize(
    "stars", [0, 0.25, 4.3, 5.5, -1, "4", "4.5", True, "abc", "NaN", "Infinity", None, "", "4\x00", [4]]
)
def test_stars_outside_half_steps_from_half_to_five_are_400_and_write_nothing(shopper, stars):
    product = make_product()
    response = shopper.client.post("/api/me/ratings/", {"product": product.pk, "stars": stars}, format="json")
    assert response.status_code == 400, (stars, response.content)
    assert set(response.json()["errors"]) == {"stars"}
    assert not Rating.objects.exists()


def test_rating_an_inactive_or_unknown_product_does_not_name_it(shopper):
    hidden = make_product(active=False, name="Secret prototype lamp")
    for product_id in (hidden.pk, 10**12):
        response = shopper.client.post("/api/me/ratings/", {"product": product_id, "stars": 4}, format="json")
        assert response.status_code == 409 and response.json()["code"] == "product_unavailable"
        assert hidden.sku not in response.content.decode() and "Secret" not in response.content.decode()
    put = shopper.client.put(f"/api/me/ratings/{hidden.pk}/", {"stars": 4}, format="json")
    assert put.status_code == 404 and "Secret" not in put.content.decode()
    assert not Rating.objects.exists()


def test_a_rating_of_a_product_that_became_inactive_is_no_longer_served(shopper):
    product = make_product()
    shopper.client.put(f"/api/me/ratings/{product.pk}/", {"stars": 4}, format="json")
    product.active = False
    product.save()
    assert shopper.client.get("/api/me/ratings/").json()["count"] == 0
    assert shopper.client.get(f"/api/me/ratings/{product.pk}/").status_code == 404


def test_ratings_need_a_signed_in_customer(anon, no_customer):
    product = make_product()
    assert anon.get("/api/me/ratings/").status_code in (401, 403)
    assert anon.post("/api/me/ratings/", {"product": product.pk, "stars": 4}, format="json").status_code in (
        401,
        403,
    )
    assert no_customer.client.get("/api/me/ratings/").status_code == 403
    assert (
        no_customer.client.put(f"/api/me/ratings/{product.pk}/", {"stars": 4}, format="json").status_code
        == 403
    )


def test_ratings_list_query_count_does_not_grow_with_the_page_size(shopper, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(30):
        shopper.client.put(f"/api/me/ratings/{make_product().pk}/", {"stars": 4}, format="json")
    counts = []
    for size in (3, 30):
        with CaptureQueriesContext(connection) as ctx:
            assert len(shopper.client.get("/api/me/ratings/", {"page_size": size}).json()["results"]) == size
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1] == 4  # token, customer, count, page


def test_a_customers_events_are_stored_with_one_insert(shopper, django_assert_num_queries):
    mug, bag = make_product(), make_product()
    batch = {
        "session_id": "sess-0123456789",
        "events": [
            {"type": "view", "product": mug.pk},
            {"type": "cart_add", "product": bag.pk, "quantity": 2},
            {"type": "cart_remove", "product": bag.pk},
        ],
    }
    # token, customer, active-product check, one bulk insert
    with django_assert_num_queries(4):
        response = shopper.client.post("/api/events/", batch, format="json")
    assert response.status_code == 202 and response.json() == {"accepted": 3}
    rows = list(
        ProductEvent.objects.order_by("id").values_list("kind", "product_id", "quantity", "customer_id")
    )
    assert rows == [
        ("view", mug.pk, 1, shopper.customer.pk),
        ("cart_add", bag.pk, 2, shopper.customer.pk),
        ("cart_remove", bag.pk, 1, shopper.customer.pk),
    ]


def test_every_caller_sends_a_session_id_and_an_anonymous_one_has_no_customer(anon, shopper):
    product = make_product()
    events = [{"type": "view", "product": product.pk}]
    assert anon.post("/api/events/", {"events": events}, format="json").status_code == 400
    assert (
        anon.post("/api/events/", {"events": events, "session_id": "short"}, format="json").status_code == 400
    )
    bad_chars = {"events": events, "session_id": "abc def; drop table"}
    assert anon.post("/api/events/", bad_chars, format="json").status_code == 400
    assert not ProductEvent.objects.exists()
    ok = anon.post("/api/events/", {"events": events, "session_id": "sess-0123456789"}, format="json")
    assert ok.status_code == 202
    assert ProductEvent.objects.get().session_id == "sess-0123456789"
    assert ProductEvent.objects.get().customer is None
    assert shopper.client.post("/api/events/", {"events": events}, format="json").status_code == 400


def test_a_batch_with_an_unknown_or_inactive_product_is_rejected_whole_without_naming_it(shopper):
    good = make_product()
    hidden = make_product(active=False, name="Unreleased teapot")
    batch = {
        "session_id": "sess-0123456789",
        "events": [
            {"type": "view", "product": good.pk},
            {"type": "view", "product": hidden.pk},
            {"type": "cart_add", "product": 10**12},
        ],
    }
    response = shopper.client.post("/api/events/", batch, format="json")
    assert response.status_code == 409 and response.json()["code"] == "product_unavailable"
    body = response.content.decode()
    assert "Unreleased" not in body and hidden.sku not in body
    # The offending events are named by their position in the batch, never by the product.
    assert set(response.json()["errors"]) == {"events.1.product", "events.2.product"}
    assert not ProductEvent.objects.exists()


@pytest.mark.parametrize(
    "event",
    [
        {"type": "purchase", "product": 1},
        {"type": "view", "product": -1},
        {"type": "view", "product": 1.5},
        {"type": "view", "product": "1"},
        {"type": "view", "product": 10**30},
        {"type": "cart_add", "product": 1, "quantity": "2"},
        {"type": "cart_add", "product": 1, "quantity": 0},
        {"type": "cart_add", "product": 1, "quantity": 10**9},
        {"type": "view\x00", "product": 1},
    ],
)
def test_malformed_events_are_400(shopper, event):
    make_product()
    body = {"session_id": "sess-0123456789", "events": [event]}
    assert shopper.client.post("/api/events/", body, format="json").status_code == 400
    assert not ProductEvent.objects.exists()


def test_the_batch_size_is_capped(shopper):
    product = make_product()
    with override_settings(SHOP_EVENTS_MAX_BATCH=3):
        events = [{"type": "view", "product": product.pk}] * 4
        post = shopper.client.post
        assert (
            post("/api/events/", {"session_id": "s" * 8, "events": events}, format="json").status_code == 400
        )
        assert (
            post("/api/events/", {"session_id": "s" * 8, "events": events[:3]}, format="json").status_code
            == 202
        )
    assert (
        shopper.client.post("/api/events/", {"session_id": "s" * 8, "events": []}, format="json").status_code
        == 400
    )
    assert ProductEvent.objects.count() == 3


@pytest.mark.parametrize("url", ["/api/events/", "/api/me/ratings/"])
@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ('{"session_id": "sess-1234567", "events": [', "application/json", 400),
        ("[]", "application/json", 400),
        ("null", "application/json", 400),
        ("session_id=sess-12345678", "application/x-www-form-urlencoded", 415),
        ("anything", "text/plain", 415),
    ],
)
def test_malformed_bodies_and_wrong_content_types_are_4xx_problems_and_write_nothing(
    shopper, url, body, content_type, status
):
    make_product()
    response = shopper.client.generic("POST", url, body, content_type=content_type)
    assert response.status_code == status and response["Content-Type"] == "application/problem+json"
    assert not ProductEvent.objects.exists() and not Rating.objects.exists()
