import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from shop.models import StockRecord

from .factories import make_customer, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer_client():
    user = get_user_model().objects.create_user("alice", password="pw-alice-123")
    customer = make_customer(user=user)
    client = APIClient()
    client.force_authenticate(user)
    return client, customer


def test_product_list_is_paginated_and_hides_inactive_products(client):
    visible = [make_product(stock=3) for _ in range(3)]
    make_product(stock=3, active=False)
    response = client.get("/api/products/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [item["sku"] for item in body["results"]] == sorted(p.sku for p in visible)


def test_product_list_filters_by_category_stock_and_search_term(client):
    mugs = make_product(stock=2, category="Mugs", name="Blue spotted mug")
    make_product(stock=0, category="Mugs", name="Green mug")
    make_product(stock=5, category="Bags", name="Jumbo bag")
    in_stock_mugs = client.get("/api/products/", {"category": "mugs", "in_stock": "true"}).json()
    assert [item["sku"] for item in in_stock_mugs["results"]] == [mugs.sku]
    search = client.get("/api/products/", {"q": "spotted"}).json()
    assert [item["sku"] for item in search["results"]] == [mugs.sku]
    assert search["results"][0]["available"] == 2


def test_product_detail_and_unknown_product(client):
    product = make_product(stock=1)
    assert client.get(f"/api/products/{product.pk}/").json()["sku"] == product.sku
    assert client.get("/api/products/999999/").status_code == 404


def test_a_customer_places_an_order_and_stock_is_reserved(customer_client):
    client, customer = customer_client
    product = make_product(stock=5)
    response = client.post("/api/orders/", {"lines": [{"product": product.pk, "quantity": 2}]}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["lines"][0]["sku"] == product.sku
    assert customer.orders.count() == 1
    assert StockRecord.objects.get(product=product).reserved == 2


def test_an_order_short_of_stock_gets_409_with_a_message_naming_the_product(customer_client):
    client, customer = customer_client
    product = make_product(stock=1, name="Regency cakestand")
    response = client.post("/api/orders/", {"lines": [{"product": product.pk, "quantity": 3}]}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "insufficient_stock" and body["sku"] == product.sku
    assert "Regency cakestand" in body["detail"] and body["available"] == 1
    assert customer.orders.count() == 0


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"lines": []},
        {"lines": [{"product": 1, "quantity": 0}]},
    ],
)
def test_invalid_order_payloads_get_400(customer_client, payload):
    client, _ = customer_client
    make_product(stock=1)
    assert client.post("/api/orders/", payload, format="json").status_code == 400


def test_unknown_and_inactive_products_get_the_same_anonymous_409(customer_client):
    client, customer = customer_client
    hidden = make_product(stock=5, active=False, name="Secret prototype lamp")
    answers = [
        client.post("/api/orders/", {"lines": [{"product": pid, "quantity": 1}]}, format="json")
        for pid in (hidden.pk, 999_999)
    ]
    bodies = [answer.json() for answer in answers]
    assert [answer.status_code for answer in answers] == [409, 409]
    assert bodies[0] == bodies[1]  # nothing tells an inactive product from one that never existed
    assert bodies[0]["code"] == "product_unavailable"
    assert bodies[0]["errors"] == {"lines.0.product": ["This product is unavailable."]}
    assert hidden.sku not in str(bodies[0]) and "lamp" not in str(bodies[0])
    assert customer.orders.count() == 0


def test_anonymous_users_and_logins_without_a_customer_cannot_order(client):
    product = make_product(stock=1)
    payload = {"lines": [{"product": product.pk, "quantity": 1}]}
    assert client.post("/api/orders/", payload, content_type="application/json").status_code == 401
    staff = get_user_model().objects.create_user("bob", password="pw-bob-12345")
    api = APIClient()
    api.force_authenticate(staff)
    assert api.post("/api/orders/", payload, format="json").status_code == 403


def test_the_openapi_schema_describes_the_order_endpoint(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert "409" in schema["paths"]["/api/orders/"]["post"]["responses"]
