"""Guest checkout: an order by email without an account, followed through a signed lookup link."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import models
from rest_framework.test import APIClient

from shop import selectors, services
from shop.models import Customer, Order, StockRecord
from tests.shop.factories import make_product, pay

from .conftest import token_client

pytestmark = pytest.mark.django_db

EMAIL = "Guest.Buyer@Example.com"


def place_as_guest(product, quantity=2, email=EMAIL, **headers):
    payload = {"email": email, "country": "France", "lines": [{"product": product.pk, "quantity": quantity}]}
    return APIClient().post("/api/orders/guest/", payload, format="json", **headers)


def token_of(response) -> str:
    return response.json()["lookup_token"]


def test_a_guest_places_an_order_by_email_and_gets_a_lookup_link_to_it():
    product = make_product(stock=5, price="3.00")
    response = place_as_guest(product)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "placed" and body["total"] == "6.00" and body["paid"] == "0.00"
    assert body["lookup_url"] == f"http://testserver/api/orders/guest/{body['lookup_token']}/"
    assert StockRecord.objects.get(product=product).reserved == 2
    order = Order.objects.get(pk=body["id"])
    assert order.customer.user is None and order.customer.email == EMAIL.lower()
    assert order.customer.country == "France"

    shown = APIClient().get(body["lookup_url"].removeprefix("http://testserver"))
    assert shown.status_code == 200
    assert shown.json()["number"] == order.number and shown.json()["lines"][0]["quantity"] == 2
    assert "lookup_token" not in shown.json()


def test_the_link_shows_that_order_only_and_any_other_or_altered_link_is_404():
    product = make_product(stock=10)
    first, second = place_as_guest(product), place_as_guest(product, email="someone@example.com")
    a, b = token_of(first), token_of(second)
    client = APIClient()
    assert client.get(f"/api/orders/guest/{a}/").json()["id"] == first.json()["id"]
    assert client.get(f"/api/orders/guest/{b}/").json()["id"] == second.json()["id"]
    number_b = second.json()["number"]
    signature_a = a.split(":", 1)[1]
    for forged in (
        f"{number_b}:{signature_a}",  # another order's number with this link's signature
        a[:-1] + ("A" if a[-1] != "A" else "B"),  # one character changed
        number_b,  # a bare order number
        "x",
    ):
        response = client.get(f"/api/orders/guest/{forged}/")
        assert response.status_code == 404 and response.json()["detail"] == "No such order."
        assert client.post(f"/api/orders/guest/{forged}/cancel/").status_code == 404


def test_a_customer_with_a_login_has_no_guest_link(alice):
    product = make_product(stock=5)
    order_id = (
        token_client(alice)
        .post("/api/orders/", {"lines": [{"product": product.pk, "quantity": 1}]}, format="json")
        .json()["id"]
    )
    token = selectors.guest_order_token(order=Order.objects.get(pk=order_id))  # even a genuine signature
    assert APIClient().get(f"/api/orders/guest/{token}/").status_code == 404


def test_the_guests_email_is_stored_in_exactly_one_place_the_guest_customer():
    product = make_product(stock=5)
    place_as_guest(product)
    place_as_guest(product, quantity=1)  # the same email again: the same guest customer
    assert Customer.objects.filter(email=EMAIL.lower()).count() == 1
    assert Order.objects.filter(customer__email=EMAIL.lower()).count() == 2
    holders = []
    for model in apps.get_models():
        if model._meta.proxy:
            continue  # the same table as its concrete model
        text_fields = [
            f.name for f in model._meta.concrete_fields if isinstance(f, models.CharField | models.TextField)
        ]
        for name in text_fields:
            if model.objects.filter(**{f"{name}__icontains": "guest.buyer@example.com"}).exists():
                holders.append(f"{model._meta.label}.{name}")
    assert holders == ["shop.Customer.email"]


def test_a_refused_guest_order_stores_nothing_not_even_the_email():
    product = make_product(stock=1)
    response = place_as_guest(product, quantity=5)
    assert response.status_code == 409 and response.json()["code"] == "insufficient_stock"
    assert not Customer.objects.exists() and not Order.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        {"lines": [{"product": 1, "quantity": 1}]},
        {"email": "not-an-email", "lines": [{"product": 1, "quantity": 1}]},
        {"email": 12, "lines": [{"product": 1, "quantity": 1}]},
        {"email": "a@example.com", "lines": []},
    ],
)
def test_a_guest_order_needs_an_email_and_lines(payload):
    response = APIClient().post("/api/orders/guest/", payload, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_the_guest_may_cancel_an_unpaid_order_through_the_link_but_not_a_paid_one():
    product = make_product(stock=5)
    unpaid, paid = place_as_guest(product), place_as_guest(product)
    cancelled = APIClient().post(f"/api/orders/guest/{token_of(unpaid)}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    pay(Order.objects.get(pk=paid.json()["id"]))
    refused = APIClient().post(f"/api/orders/guest/{token_of(paid)}/cancel/")
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_order_state"
    assert StockRecord.objects.get(product=product).reserved == 2


def test_a_guest_order_with_an_idempotency_key_is_placed_once():
    product = make_product(stock=5)
    first = place_as_guest(product, HTTP_IDEMPOTENCY_KEY="guest-key-1")
    again = place_as_guest(product, HTTP_IDEMPOTENCY_KEY="guest-key-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and first.json()["id"] == again.json()["id"]
    assert Order.objects.count() == 1


def test_the_per_customer_reservation_cap_applies_to_a_guests_email(settings):
    settings.SHOP = {**settings.SHOP, "MAX_RESERVED_PER_PRODUCT": 3}
    product = make_product(stock=20)
    assert place_as_guest(product, quantity=3).status_code == 201
    refused = place_as_guest(product, quantity=1, email=EMAIL.upper())
    assert refused.status_code == 409 and refused.json()["code"] == "reservation_limit"


def test_a_paid_guest_order_shows_payment_and_shipments_through_the_link():
    product = make_product(stock=5, price="2.00")
    response = place_as_guest(product, quantity=3)
    order = Order.objects.get(pk=response.json()["id"])
    pay(order)
    services.shipment_create(order=order, quantities={product.pk: 1})
    body = APIClient().get(f"/api/orders/guest/{token_of(response)}/").json()
    assert body["status"] == "partly_shipped" and body["paid"] == "6.00"
    assert body["shipments"][0]["lines"] == [
        {"line_number": 1, "product": product.pk, "sku": product.sku, "quantity": 1}
    ]
    assert body["lines"][0]["shipped"] == 1
