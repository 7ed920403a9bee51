"""Hostile or broken input gets a 4xx problem and writes nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from shop.models import IdempotencyKey, Order, StockRecord
from tests.shop.factories import make_product

from .conftest import token_client

pytestmark = pytest.mark.django_db


def assert_nothing_written(product) -> None:
    assert Order.objects.count() == 0
    assert not IdempotencyKey.objects.exists()
    assert StockRecord.objects.get(product=product).reserved == 0


@pytest.fixture
def product():
    return make_product(stock=10)


LINE_VALUES = [
    ("quantity", 10**30),
    ("quantity", -1),
    ("quantity", 0),
    ("quantity", 1.5),
    ("quantity", "1"),
    ("quantity", True),
    ("quantity", None),
    ("quantity", "1\x00"),
    ("product", 2**70),
    ("product", -5),
    ("product", "x" * 10_000),
    ("product", [1]),
]


@pytest.mark.parametrize(("field", "value"), LINE_VALUES)
def test_bad_line_values_are_400_naming_the_field(alice, product, field, value):
    line = {"product": product.pk, "quantity": 1, field: value}
    response = token_client(alice).post("/api/orders/", {"lines": [line]}, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert list(response.json()["errors"]) == [f"lines.0.{field}"]
    assert_nothing_written(product)


@pytest.mark.parametrize(
    "body",
    [
        "null",
        "[]",
        '"lines"',
        '{"lines": {"product": 1}}',
        '{"lines": [null]}',
        '{"lines": [1, 2]}',
        '{"lines": [{"product": 1, "quantity": 1}',
        "\x00",
        '{"lines": "\\u0000"}',
    ],
)
def test_malformed_or_mistyped_json_is_400(alice, product, body):
    response = token_client(alice).post("/api/orders/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert_nothing_written(product)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"],
)
def test_wrong_content_types_are_415(alice, product, content_type):
    response = token_client(alice).post("/api/orders/", "lines=1", content_type=content_type)
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"
    assert_nothing_written(product)


def test_oversized_bodies_are_413_even_with_a_valid_shape(alice, product, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    payload = {"lines": [{"product": product.pk, "quantity": 1}], "padding": "x" * 20_000}
    response = token_client(alice).post("/api/orders/", payload, format="json")
    assert response.status_code == 413 and response.json()["code"] == "request_too_large"
    assert_nothing_written(product)


@pytest.mark.parametrize(
    "params",
    [
        {"q": "mug\x00"},
        {"q": "x" * 20_000},
        {"category": "\x00"},
        {"min_price": "abc"},
        {"min_price": "NaN"},
        {"max_price": "1e400"},
        {"page": "\x00"},
        {"page": "-1"},
        {"page_size": "1e3"},
    ],
)
def test_hostile_query_strings_are_answered_without_a_server_error(client, product, params):
    response = client.get("/api/products/", params)
    assert response.status_code in (200, 400, 404), response.content
    if response.status_code != 200:
        assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    "payload",
    [
        {"username": "a\x00", "password": "pw"},
        {"username": "a" * 10_000, "password": "pw"},
        {"username": "alice", "password": "p" * 10_000},
        {"username": 12, "password": "pw"},
        {"username": ["alice"], "password": "pw"},
    ],
)
def test_bad_credentials_payloads_are_400_and_sign_in_nobody(alice, client, payload):
    for url in ("/api/auth/token/", "/api/auth/session/", "/api/auth/signup/"):
        response = client.post(url, payload, content_type="application/json")
        assert response.status_code == 400, (url, response.content)
    assert get_user_model().objects.count() == 1
    assert "_auth_user_id" not in client.session
