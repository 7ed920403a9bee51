"""Retries against a real worker: transient errors retry with backoff, permanent ones fail the run at once."""

from __future__ import annotations

import pytest

from pipeline.models import Run
from tests.integration.conftest import wait_for
from tests.integration.worker_tasks import flaky_dependency

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def _run_ended(run: Run):
    def ended() -> bool:
        run.refresh_from_db()
        return not run.is_active

    return ended


def test_a_task_whose_dependency_fails_twice_retries_on_a_real_worker_and_then_succeeds(workers, redis_db):
    workers.start()
    run = Run.objects.create(kind=Run.Kind.RECOMMENDER)

    flaky_dependency.delay(run.pk, 2)

    wait_for(_run_ended(run), timeout=60, message="the flaky run never ended", logs=workers.logs)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert int(redis_db.get(f"flaky-dependency:{run.pk}")) == 3
    assert run.attempts == 3
    assert run.error == ""


def test_a_permanent_error_fails_the_run_at_once_with_the_error_recorded(workers, redis_db):
    workers.start()
    run = Run.objects.create(kind=Run.Kind.FORECAST)

    flaky_dependency.delay(run.pk, 0, permanent=True)

    wait_for(_run_ended(run), timeout=60, message="the failing run never ended", logs=workers.logs)
    assert run.status == Run.Status.FAILED
    assert "DependencyRejected" in run.error
    assert f"rejected run {run.pk}" in run.error
    assert int(redis_db.get(f"flaky-dependency:{run.pk}")) == 1
    assert run.attempts == 1
    assert run.finished_at is not None
