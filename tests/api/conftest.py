from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.services import token_create
from tests.shop.factories import make_customer


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Throttle counters live in the cache; every test starts from zero.
    cache.clear()
    yield
    cache.clear()


def make_user(username: str, *, customer: bool = True, staff: bool = False):
    user = get_user_model().objects.create_user(username, password=f"pw-{username}-Secret-9", is_staff=staff)
    if customer:
        make_customer(user=user)
    return user


def token_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        _, key = token_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def plain_user(db):
    return make_user("carol", customer=False)


@pytest.fixture
def staff(db):
    return make_user("sam", customer=False, staff=True)
