"""Token-signed clients for the catalogue tests, built on the contract's users in conftest.py.

Imported by the catalogue test modules (kept out of conftest.py, which the auth work owns).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from shop.models import Customer

from .conftest import token_client


@dataclass
class Signed:
    client: APIClient
    customer: Customer | None


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


@pytest.fixture
def shopper(alice) -> Signed:
    return Signed(token_client(alice), alice.customer)


@pytest.fixture
def shopper_b(bob) -> Signed:
    return Signed(token_client(bob), bob.customer)


@pytest.fixture
def no_customer(plain_user) -> Signed:
    return Signed(token_client(plain_user), None)
