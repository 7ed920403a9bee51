"""Shared fixtures.

Services that a test needs are required in CI (REQUIRE_SERVICES=1) and optional elsewhere.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection


def service_missing(reason: str) -> None:
    """Skip outside CI; fail in CI, where a missing server is a broken run, not a reason to skip."""
    if settings.REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES is set but {reason}")
    pytest.skip(reason)


@pytest.fixture
def postgres() -> None:
    """For tests that need real row locks and concurrent connections."""
    if connection.vendor != "postgresql":
        service_missing("PostgreSQL is not configured (set DATABASE_URL=postgres://...)")


@pytest.fixture
def redis_broker_url() -> str:
    """The URL of a Redis server that answers, for tests that run a real Celery worker."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        service_missing("Redis is not configured (set CELERY_BROKER_URL=redis://...)")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at {url} does not answer: {exc}")
    return url


@pytest.fixture(autouse=True)
def _artifacts_in_tmp(settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
