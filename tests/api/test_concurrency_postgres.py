"""Concurrent duplicates on PostgreSQL: the unique constraint, not a look-up, makes them safe."""

from __future__ import annotations

from collections import Counter

import pytest
from rest_framework.test import APIClient

from shop.models import IdempotencyKey, Order, StockRecord
from tests.shop.factories import make_product
from tests.shop.test_concurrency import run_in_threads

from .conftest import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def test_ten_concurrent_requests_with_one_idempotency_key_place_one_order(postgres):
    product = make_product(stock=50)
    user = make_user("racer")
    payload = {"lines": [{"product": product.pk, "quantity": 2}]}

    def post(_: int):
        client = APIClient()
        client.force_authenticate(user)
        response = client.post("/api/orders/", payload, format="json", HTTP_IDEMPOTENCY_KEY="same-key")
        return response.status_code, response.json()["id"], response.get("Idempotent-Replayed")

    results = run_in_threads(10, post)
    assert all(isinstance(result, tuple) for result in results), results
    assert Counter(status for status, _, _ in results) == {201: 10}
    assert len({order_id for _, order_id, _ in results}) == 1
    assert Counter(replayed for _, _, replayed in results) == {"true": 9, None: 1}
    assert Order.objects.count() == 1 and IdempotencyKey.objects.count() == 1
    assert StockRecord.objects.get(product=product).reserved == 2


def test_one_customer_racing_past_the_reservation_cap_gets_exactly_the_cap(postgres, settings):
    settings.SHOP = {**settings.SHOP, "MAX_RESERVED_PER_PRODUCT": 5}
    product = make_product(stock=100)
    user = make_user("hoarder")
    payload = {"lines": [{"product": product.pk, "quantity": 1}]}

    def post(_: int):
        client = APIClient()
        client.force_authenticate(user)
        return client.post("/api/orders/", payload, format="json").status_code

    assert Counter(run_in_threads(12, post)) == {201: 5, 409: 7}
    assert StockRecord.objects.get(product=product).reserved == 5
