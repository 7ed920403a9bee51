"""Test-only tasks that the test workers load with ``--include``; production never imports this module.

``flaky_dependency`` stands for a retrain whose dependency (database, storage) fails
a given number of times before it answers, using the pipeline's own retry policy,
run bookkeeping and failure recording.
"""

from __future__ import annotations

import redis
from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from pipeline import services
from pipeline.tasks import IDEMPOTENT, RETRY_POLICY, RunTask


class DependencyRejected(Exception):
    """A permanent error: retrying cannot help."""


@shared_task(bind=True, base=RunTask, name="tests.flaky_dependency", **IDEMPOTENT, **RETRY_POLICY)
def flaky_dependency(self, run_id: int, failures: int, permanent: bool = False) -> int | None:
    run = services.run_begin(run_id=run_id)
    if run is None:
        return None
    calls = redis.Redis.from_url(settings.CELERY_BROKER_URL).incr(f"flaky-dependency:{run_id}")
    if permanent:
        raise DependencyRejected(f"the dependency rejected run {run_id}'s input")
    if calls <= failures:
        raise OperationalError(f"simulated outage {calls} of {failures}")
    services.run_succeed(run_id=run_id)
    return calls
