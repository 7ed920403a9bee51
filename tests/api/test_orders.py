"""Orders through the API: own orders only, cancel, idempotency, caps, constant queries, expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from shop import services
from shop.models import IdempotencyKey, Order, StockRecord
from shop.tasks import expire_reservations
from tests.shop.factories import make_product, pay

from .conftest import token_client

pytestmark = pytest.mark.django_db


def place(client, lines, **headers):
    payload = {"lines": [{"product": product.pk, "quantity": quantity} for product, quantity in lines]}
    return client.post("/api/orders/", payload, format="json", **headers)


def reserved(product) -> int:
    return StockRecord.objects.get(product=product).reserved


def test_a_customer_lists_only_their_own_orders_newest_first(alice, bob):
    product = make_product(stock=20)
    mine = [place(token_client(alice), [(product, 1)]).json()["id"] for _ in range(3)]
    place(token_client(bob), [(product, 1)])
    body = token_client(alice).get("/api/orders/", {"page_size": 2}).json()
    assert body["count"] == 3
    assert [order["id"] for order in body["results"]] == mine[::-1][:2]
    assert body["next"] is not None


def test_staff_list_every_order_and_a_login_without_customer_lists_none(alice, bob, staff, plain_user):
    product = make_product(stock=20)
    place(token_client(alice), [(product, 1)])
    place(token_client(bob), [(product, 1)])
    assert token_client(staff).get("/api/orders/").json()["count"] == 2
    assert token_client(plain_user).get("/api/orders/").json()["count"] == 0


def test_order_detail_shows_lines_prices_totals_and_currency(alice):
    mug = make_product(stock=10, price="2.50", name="Spotty mug")
    bag = make_product(stock=10, price="1.25")
    order_id = place(token_client(alice), [(mug, 3), (bag, 2)]).json()["id"]
    body = token_client(alice).get(f"/api/orders/{order_id}/").json()
    assert body["currency"] == "GBP" and body["status"] == "placed"
    assert body["total"] == "10.00"
    first = body["lines"][0]
    assert (first["sku"], first["name"], first["unit_price"], first["line_total"]) == (
        mug.sku,
        "Spotty mug",
        "2.50",
        "7.50",
    )
    assert body["expires_at"] is not None


def test_another_customers_order_is_404_never_403(alice, bob, staff):
    product = make_product(stock=5)
    order_id = place(token_client(alice), [(product, 1)]).json()["id"]
    bob_client = token_client(bob)
    for response in (
        bob_client.get(f"/api/orders/{order_id}/"),
        bob_client.post(f"/api/orders/{order_id}/cancel/"),
    ):
        assert response.status_code == 404
        assert response.json()["detail"] == "No such order."
    assert token_client(staff).get(f"/api/orders/{order_id}/").status_code == 200
    assert Order.objects.get(pk=order_id).status == Order.Status.PLACED


def test_cancelling_releases_the_reservation_once(alice):
    product = make_product(stock=5)
    order_id = place(token_client(alice), [(product, 4)]).json()["id"]
    assert reserved(product) == 4
    response = token_client(alice).post(f"/api/orders/{order_id}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert reserved(product) == 0
    again = token_client(alice).post(f"/api/orders/{order_id}/cancel/")
    assert again.status_code == 409 and again.json()["code"] == "invalid_order_state"
    assert reserved(product) == 0


# --- Idempotency ---------------------------------------------------------------------------------


def test_the_same_idempotency_key_replays_the_first_answer_and_places_nothing(alice):
    product = make_product(stock=5)
    client = token_client(alice)
    first = place(client, [(product, 2)], HTTP_IDEMPOTENCY_KEY="k-1")
    second = place(client, [(product, 2)], HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert Order.objects.count() == 1 and reserved(product) == 2


def test_the_same_key_with_another_body_is_422_and_places_nothing(alice):
    product = make_product(stock=5)
    client = token_client(alice)
    place(client, [(product, 2)], HTTP_IDEMPOTENCY_KEY="k-1")
    response = place(client, [(product, 3)], HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 422 and response.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1 and reserved(product) == 2


def test_keys_are_per_customer_and_expire_after_the_window(alice, bob, settings):
    product = make_product(stock=10)
    place(token_client(alice), [(product, 1)], HTTP_IDEMPOTENCY_KEY="shared")
    assert place(token_client(bob), [(product, 1)], HTTP_IDEMPOTENCY_KEY="shared").status_code == 201
    assert Order.objects.count() == 2
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    again = place(token_client(alice), [(product, 1)], HTTP_IDEMPOTENCY_KEY="shared")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert Order.objects.count() == 3
    assert services.idempotency_keys_purge() == 1  # bob's old key; alice's was renewed


def test_a_failed_placement_records_no_key_so_the_retry_can_succeed(alice):
    product = make_product(stock=1)
    client = token_client(alice)
    assert place(client, [(product, 2)], HTTP_IDEMPOTENCY_KEY="k").status_code == 409
    services.stock_receive(product=product, quantity=5)
    assert place(client, [(product, 2)], HTTP_IDEMPOTENCY_KEY="k").status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
def test_a_malformed_idempotency_key_is_400(alice, key):
    product = make_product(stock=1)
    response = place(token_client(alice), [(product, 1)], HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["errors"]
    assert Order.objects.count() == 0


# --- Caps and query counts -------------------------------------------------------------------------


def test_more_lines_than_the_limit_is_400_before_any_work(alice, settings):
    settings.SHOP = {**settings.SHOP, "ORDER_MAX_LINES": 3}
    products = [make_product(stock=1) for _ in range(4)]
    response = place(token_client(alice), [(p, 1) for p in products])
    assert response.status_code == 400 and set(response.json()["errors"]) == {"lines"}
    assert Order.objects.count() == 0


def test_placing_one_line_or_a_hundred_takes_the_same_number_of_queries(alice):
    client = token_client(alice)
    one = [make_product(stock=5)]
    hundred = [make_product(stock=5) for _ in range(100)]
    counts = []
    for products in (one, hundred):
        with CaptureQueriesContext(connection) as queries:
            response = place(client, [(p, 1) for p in products])
        assert response.status_code == 201, response.content
        assert len(response.json()["lines"]) == len(products)
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_listing_orders_takes_the_same_number_of_queries_for_any_page_size(alice):
    product = make_product(stock=200)
    for _ in range(30):
        services.order_place(customer=alice.customer, lines=[services.LineRequest(product.pk, 1)])
    client = token_client(alice)
    counts = []
    for size in (1, 30):
        with CaptureQueriesContext(connection) as queries:
            assert len(client.get("/api/orders/", {"page_size": size}).json()["results"]) == size
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_a_customer_cannot_reserve_more_than_the_cap_of_one_product(alice, bob, settings):
    settings.SHOP = {**settings.SHOP, "MAX_RESERVED_PER_PRODUCT": 5}
    product = make_product(stock=100)
    client = token_client(alice)
    first = place(client, [(product, 3)])
    assert first.status_code == 201
    refused = place(client, [(product, 3)])
    assert refused.status_code == 409 and refused.json()["code"] == "reservation_limit"
    assert refused.json()["held"] == 3 and refused.json()["limit"] == 5
    assert reserved(product) == 3
    assert place(token_client(bob), [(product, 5)]).status_code == 201  # the cap is per customer
    client.post(f"/api/orders/{first.json()['id']}/cancel/")
    assert place(client, [(product, 5)]).status_code == 201  # cancelled orders hold nothing


# --- Expiry ----------------------------------------------------------------------------------------


def test_lapsed_reservations_are_cancelled_and_their_stock_released(alice, settings):
    settings.SHOP = {**settings.SHOP, "RESERVATION_MINUTES": 30}
    product = make_product(stock=10)
    lapsed = Order.objects.get(pk=place(token_client(alice), [(product, 2)]).json()["id"])
    shipped = Order.objects.get(pk=place(token_client(alice), [(product, 3)]).json()["id"])
    pay(shipped)
    services.order_fulfil(order=shipped)
    fresh = Order.objects.get(pk=place(token_client(alice), [(product, 1)]).json()["id"])
    past = timezone.now() - timedelta(seconds=1)
    Order.objects.filter(pk__in=[lapsed.pk, shipped.pk]).update(expires_at=past)

    assert expire_reservations.delay().get() == 1
    statuses = dict(Order.objects.values_list("pk", "status"))
    assert statuses == {lapsed.pk: "cancelled", shipped.pk: "fulfilled", fresh.pk: "placed"}
    stock = StockRecord.objects.get(product=product)
    assert (stock.on_hand, stock.reserved) == (7, 1)
    assert services.order_expire_stale(now=fresh.expires_at) == 1
    assert StockRecord.objects.get(product=product).reserved == 0


def test_the_expiry_and_purge_schedules_come_from_a_migration():
    tasks = dict(PeriodicTask.objects.values_list("task", "interval__every"))
    assert tasks["shop.tasks.expire_reservations"] == 1
    assert "shop.tasks.purge_idempotency_keys" in tasks


# --- Payments, shipments, refunds ------------------------------------------------------------------


def test_the_customer_sees_status_amounts_payments_shipments_and_refunds(alice):
    mug = make_product(stock=10, price="2.50")
    order_id = place(token_client(alice), [(mug, 4)]).json()["id"]
    order = Order.objects.get(pk=order_id)
    pay(order)
    services.shipment_create(order=order, quantities={mug.pk: 3})
    services.order_line_return(order_line=order.lines.get(), quantity=1, restock=True, reason="chipped")
    for body in (
        token_client(alice).get(f"/api/orders/{order_id}/").json(),
        token_client(alice).get("/api/orders/").json()["results"][0],
    ):
        assert (body["status"], body["total"], body["paid"], body["refunded"]) == (
            "partly_shipped",
            "10.00",
            "10.00",
            "2.50",
        )
        assert body["expires_at"] is None and body["paid_at"] is not None
        assert [(p["amount"], p["currency"]) for p in body["payments"]] == [("10.00", "GBP")]
        assert [(r["amount"], r["reason"], r["confirmed"]) for r in body["refunds"]] == [
            ("2.50", "return", False)
        ]
        assert [(s["sequence"], s["lines"][0]["quantity"]) for s in body["shipments"]] == [(1, 3)]
        assert (body["lines"][0]["shipped"], body["lines"][0]["returned"]) == (3, 1)


def test_a_customer_cancels_only_an_unpaid_order_and_staff_may_cancel_a_paid_one(alice, staff):
    product = make_product(stock=10)
    order_id = place(token_client(alice), [(product, 2)]).json()["id"]
    pay(Order.objects.get(pk=order_id))
    refused = token_client(alice).post(f"/api/orders/{order_id}/cancel/")
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_order_state"
    assert reserved(product) == 2
    cancelled = token_client(staff).post(f"/api/orders/{order_id}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["refunded"] == cancelled.json()["paid"] == "5.00"
    assert reserved(product) == 0


def test_listing_orders_with_payments_and_shipments_takes_the_same_queries_for_any_page_size(alice):
    product = make_product(stock=300)
    for _ in range(12):
        order = services.order_place(customer=alice.customer, lines=[services.LineRequest(product.pk, 2)])
        pay(order)
        services.shipment_create(order=order, quantities={product.pk: 1})
        services.order_line_return(order_line=order.lines.get(), quantity=1, restock=True, reason="r")
    client = token_client(alice)
    counts = []
    for size in (1, 12):
        with CaptureQueriesContext(connection) as queries:
            assert len(client.get("/api/orders/", {"page_size": size}).json()["results"]) == size
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_the_reservation_sweep_never_touches_a_paid_order_even_past_its_old_deadline(alice):
    product = make_product(stock=10)
    order = Order.objects.get(pk=place(token_client(alice), [(product, 3)]).json()["id"])
    pay(order)
    # Even if a deadline were left on it (a row written around the services), paid is never swept.
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(days=1))
    assert expire_reservations.delay().get() == 0
    assert services.order_expire_stale(now=timezone.now() + timedelta(days=365)) == 0
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and reserved(product) == 3
