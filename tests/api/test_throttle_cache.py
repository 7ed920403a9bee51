"""Throttle rates come from the environment; counters live in Redis when CACHE_URL is set."""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.config.test_settings import run_manage


def test_cache_and_rates_are_read_from_the_environment():
    probe = (
        "import json; from django.conf import settings; "
        "print(json.dumps([settings.CACHES['default'], settings.API_THROTTLE_RATES]))"
    )
    configured = run_manage(
        "shell",
        "-c",
        probe,
        DJANGO_SETTINGS_MODULE="config.settings.local",
        CACHE_URL="redis://127.0.0.1:6379/1",
        API_THROTTLE_ANON="7/min",
        API_THROTTLE_ORDERS="off",
    )
    assert configured.returncode == 0, configured.stderr
    caches, rates = json.loads(configured.stdout.strip().splitlines()[-1])
    assert caches["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert caches["LOCATION"] == "redis://127.0.0.1:6379/1"
    assert rates["anon"] == "7/min" and rates["orders"] is None and rates["signin_username"] == "5/min"

    default = run_manage("shell", "-c", probe, DJANGO_SETTINGS_MODULE="config.settings.local", CACHE_URL="")
    assert json.loads(default.stdout.strip().splitlines()[-1])[0]["BACKEND"].endswith("LocMemCache")


@pytest.mark.django_db
def test_throttle_counters_are_shared_through_redis(redis_broker_url, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_broker_url,
            # A prefix of its own: the test never flushes a database other processes may use.
            "KEY_PREFIX": f"test-throttle-{uuid.uuid4()}",
        }
    }
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "anon": "2/min"}
    try:
        codes = [APIClient().get("/api/products/").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert any(
            key for key in cache._cache.get_client().scan_iter(f"{settings.CACHES['default']['KEY_PREFIX']}*")
        )
    finally:
        cache.delete_many([f"throttle_anon_{ip}" for ip in ("127.0.0.1",)])
