"""Every /api/ route x method x caller, generated from the URL conf.

A new route (or a new method on one) without a row in ``EXPECTED`` fails
``test_every_api_route_and_method_has_a_row``, and a row for a route that no longer exists fails too.
To add an endpoint: add its expected statuses (and, if it takes an id or a body, an entry in
``PATH_KWARGS`` / ``BODIES``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from accounts.services import token_create
from shop import selectors, services, services_catalogue
from shop.models import Order
from tests.shop.factories import make_product

from .conftest import make_user

CALLERS = ("anonymous", "customer_a", "customer_b", "no_customer", "staff")

# (route name, method): statuses for anonymous, customer A, customer B, a user who is no customer, staff.
# Objects in paths belong to customer A (see PATH_KWARGS).
EXPECTED: dict[tuple[str, str], tuple[int, int, int, int, int]] = {
    ("schema", "GET"): (200, 200, 200, 200, 200),
    ("api-docs", "GET"): (200, 200, 200, 200, 200),
    ("api-redoc", "GET"): (200, 200, 200, 200, 200),
    ("auth-token", "POST"): (400, 400, 400, 400, 400),  # wrong credentials, whoever asks
    ("auth-token-revoke", "POST"): (401, 204, 204, 204, 204),
    ("auth-session", "GET"): (200, 200, 200, 200, 200),
    ("auth-session", "POST"): (400, 400, 400, 400, 400),
    ("auth-session", "DELETE"): (204, 204, 204, 204, 204),
    ("auth-signup", "POST"): (400, 400, 400, 400, 400),  # a weak password, whoever asks
    ("auth-me", "GET"): (401, 200, 200, 200, 200),
    ("auth-token-list", "GET"): (401, 200, 200, 200, 200),
    ("auth-token-detail", "DELETE"): (401, 204, 404, 404, 404),  # only one's own tokens
    ("auth-sign-out-everywhere", "POST"): (401, 204, 204, 204, 204),
    ("auth-email-verify", "POST"): (400, 400, 400, 400, 400),  # a made-up link, whoever sends it
    ("auth-email-verify-resend", "POST"): (401, 202, 202, 202, 202),
    ("auth-password-reset", "POST"): (202, 202, 202, 202, 202),  # the same answer for any address
    ("auth-password-reset-confirm", "POST"): (400, 400, 400, 400, 400),
    ("account", "GET"): (401, 200, 200, 200, 200),
    ("account", "PATCH"): (401, 200, 200, 200, 200),
    ("account", "DELETE"): (401, 204, 204, 204, 403),  # staff logins are not erased from the API
    ("account-password", "POST"): (401, 400, 400, 400, 400),  # a wrong current password
    ("account-export", "GET"): (401, 200, 200, 200, 200),
    ("product-list", "GET"): (200, 200, 200, 200, 200),
    ("product-detail", "GET"): (200, 200, 200, 200, 200),
    ("order-list", "GET"): (401, 200, 200, 200, 200),
    ("order-list", "POST"): (401, 201, 201, 403, 403),
    ("order-detail", "GET"): (401, 200, 404, 404, 200),
    ("order-cancel", "POST"): (401, 200, 404, 404, 200),
    ("my-recommendations", "GET"): (401, 200, 200, 200, 200),
    ("customer-recommendations", "GET"): (401, 403, 403, 403, 200),
    ("product-similar", "GET"): (200, 200, 200, 200, 200),
    ("reorder-list", "GET"): (401, 403, 403, 403, 200),
    ("product-forecast", "GET"): (401, 403, 403, 403, 404),  # staff: no forecast run yet
    ("health", "GET"): (200, 200, 200, 200, 200),
    ("category-list", "GET"): (200, 200, 200, 200, 200),
    ("basket-completion", "GET"): (400, 400, 400, 400, 400),  # public; no ?products= is a 400 for all
    ("event-batch", "POST"): (202, 202, 202, 202, 202),  # anyone with a session id
    ("my-rating-list", "GET"): (401, 200, 200, 403, 403),
    ("my-rating-list", "POST"): (401, 201, 201, 403, 403),
    ("my-rating-detail", "GET"): (401, 200, 404, 403, 403),
    ("my-rating-detail", "PUT"): (401, 200, 201, 403, 403),  # B has no rating yet: created
    ("my-rating-detail", "DELETE"): (401, 204, 404, 403, 403),
    # Guest checkout is open to anyone; its link is the only key to the order (test_guest_checkout.py).
    ("guest-order-create", "POST"): (201, 201, 201, 201, 201),
    ("guest-order-detail", "GET"): (200, 200, 200, 200, 200),
    ("guest-order-cancel", "POST"): (200, 200, 200, 200, 200),
    # The provider's signature is the only credential; the test settings set no secret, so 503 for all
    # (test_payment_webhook.py covers signed deliveries).
    ("payment-webhook", "POST"): (503, 503, 503, 503, 503),
}


def _api_routes() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/"):
                view = getattr(pattern.callback, "view_class", None) or pattern.callback.cls
                for method in view.http_method_names:
                    if method not in {"options", "head"} and hasattr(view, method):
                        found.add((pattern.name, method.upper()))

    walk(get_resolver().url_patterns, "")
    return found


def test_every_api_route_and_method_has_a_row(db):
    routes = _api_routes()
    assert not routes - set(EXPECTED), f"routes without a permission row: {sorted(routes - set(EXPECTED))}"
    assert not set(EXPECTED) - routes, f"rows for routes that do not exist: {sorted(set(EXPECTED) - routes)}"


@pytest.fixture
def world(db):
    product = make_product(stock=100)
    users = {
        "anonymous": None,
        "customer_a": make_user("ann"),
        "customer_b": make_user("ben"),
        "no_customer": make_user("nina", customer=False),
        "staff": make_user("stella", customer=False, staff=True),
    }
    return {"product": product, "users": users}


def _new_order_of_a(world) -> int:
    customer = world["users"]["customer_a"].customer
    line = services.LineRequest(product_id=world["product"].pk, quantity=1)
    return services.order_place(customer=customer, lines=[line]).pk


def _new_guest_order_token(world) -> str:
    line = services.LineRequest(product_id=world["product"].pk, quantity=1)
    outcome = services.guest_order_place(email="guest@example.com", lines=[line], render=lambda order: {})
    return selectors.guest_order_token(order=Order.objects.get(pk=outcome.order_id))


def _rated_by_a(world) -> int:
    customer = world["users"]["customer_a"].customer
    services_catalogue.rating_set(customer=customer, product_id=world["product"].pk, stars=4)
    return world["product"].pk


# A fresh object for each request, so one caller's cancel does not change the next caller's answer.
PATH_KWARGS: dict[str, Callable[[dict], dict]] = {
    "product-detail": lambda w: {"pk": w["product"].pk},
    "product-similar": lambda w: {"pk": w["product"].pk},
    "product-forecast": lambda w: {"pk": w["product"].pk},
    "customer-recommendations": lambda w: {"pk": w["users"]["customer_a"].customer.pk},
    "order-detail": lambda w: {"pk": _new_order_of_a(w)},
    "order-cancel": lambda w: {"pk": _new_order_of_a(w)},
    "my-rating-detail": lambda w: {"product_id": _rated_by_a(w)},
    "guest-order-detail": lambda w: {"token": _new_guest_order_token(w)},
    "guest-order-cancel": lambda w: {"token": _new_guest_order_token(w)},
    "auth-token-detail": lambda w: {"pk": token_create(user=w["users"]["customer_a"])[0].pk},
}
BODIES: dict[str, Callable[[dict], dict]] = {
    "auth-token": lambda w: {"username": "ann", "password": "wrong"},
    "auth-session": lambda w: {"username": "ann", "password": "wrong"},
    "auth-signup": lambda w: {"username": "newbie", "password": "123"},
    "order-list": lambda w: {"lines": [{"product": w["product"].pk, "quantity": 1}]},
    "event-batch": lambda w: {
        "session_id": "sess-12345678",
        "events": [{"type": "view", "product": w["product"].pk}],
    },
    "my-rating-list": lambda w: {"product": w["product"].pk, "stars": 4.5},
    "my-rating-detail": lambda w: {"stars": 3},
    "guest-order-create": lambda w: {
        "email": "guest@example.com",
        "lines": [{"product": w["product"].pk, "quantity": 1}],
    },
    "auth-email-verify": lambda w: {"uid": "MQ", "token": "made-up"},
    "auth-password-reset": lambda w: {"email": "nobody@example.com"},
    "auth-password-reset-confirm": lambda w: {
        "uid": "MQ",
        "token": "made-up",
        "new_password": "a-Long-pass-42",
    },
    "account": lambda w: {"first_name": "Ann"},
    "account-password": lambda w: {"current_password": "wrong", "new_password": "a-Long-pass-42"},
}


@pytest.mark.parametrize(("name", "method"), sorted(EXPECTED))
def test_each_caller_gets_the_expected_status(world, name, method):
    answers = {}
    for caller in CALLERS:
        client = APIClient()
        if world["users"][caller] is not None:
            client.force_authenticate(world["users"][caller])
        url = reverse(name, kwargs=PATH_KWARGS[name](world) if name in PATH_KWARGS else None)
        body = BODIES[name](world) if name in BODIES and method != "GET" else None
        response = getattr(client, method.lower())(url, body, format="json" if body is not None else None)
        answers[caller] = response.status_code
        if response.status_code >= 400:
            assert response["Content-Type"] == "application/problem+json", (caller, response.content)
        if response.status_code == 401:
            assert response["WWW-Authenticate"], caller
    assert answers == dict(zip(CALLERS, EXPECTED[(name, method)], strict=True))
