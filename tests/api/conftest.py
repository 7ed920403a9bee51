"""Clients for the storefront API tests: anonymous, two customers, a login without a customer."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from shop.models import Customer
from tests.shop.factories import make_customer


@dataclass
class Signed:
    client: APIClient
    customer: Customer | None


def _signed(username: str, *, with_customer: bool = True) -> Signed:
    user = get_user_model().objects.create_user(username, password=f"pw-{username}-123456")
    client = APIClient()
    client.force_authenticate(user)
    return Signed(client, make_customer(user=user) if with_customer else None)


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


@pytest.fixture
def alice(db) -> Signed:
    return _signed("alice")


@pytest.fixture
def bob(db) -> Signed:
    return _signed("bob")


@pytest.fixture
def no_customer(db) -> Signed:
    return _signed("clerk", with_customer=False)
