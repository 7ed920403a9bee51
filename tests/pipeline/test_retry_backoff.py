"""Task retries back off exponentially with jitter, for minutes, so a short outage does not exhaust them.

Before, Celery's full jitter drew each delay from 0 to 2^n seconds: five tries went by in 4 s of a
26 s PostgreSQL outage, and only the lease recovery saved the run.
"""

from __future__ import annotations

import random
import statistics

import pytest
from celery import shared_task
from celery.signals import task_retry
from django.db import OperationalError

from pipeline import services, tasks
from pipeline.models import Run
from pipeline.tasks import IDEMPOTENT, RETRY_POLICY, RunTask, retry_delay, retry_window

BASE, MAXIMUM = 5.0, 600.0


def test_each_delay_lies_in_the_upper_half_of_a_ceiling_that_doubles_up_to_the_cap():
    rng = random.Random(0)
    for retries in range(12):
        ceiling = min(MAXIMUM, BASE * 2**retries)
        delays = [retry_delay(retries, base=BASE, maximum=MAXIMUM, rng=rng) for _ in range(500)]
        assert ceiling / 2 <= min(delays) and max(delays) <= ceiling, retries
    assert retry_delay(30, base=BASE, maximum=MAXIMUM, rng=rng) <= MAXIMUM  # no overflow past the cap


def test_delays_are_jittered_so_tasks_that_failed_together_do_not_retry_in_step():
    rng = random.Random(1)
    delays = [retry_delay(3, base=BASE, maximum=MAXIMUM, rng=rng) for _ in range(1000)]
    # uniform over [20, 40]: every two-second slice of the upper half gets its share, none stands out
    slices = [sum(1 for d in delays if 20 + 2 * i <= d < 22 + 2 * i) for i in range(10)]
    assert min(slices) > 60 and max(slices) < 140, slices
    assert 20 <= min(delays) < 21 and 39 < max(delays) <= 40
    assert statistics.mean(delays) == pytest.approx(30, abs=1)


def test_the_shipped_settings_outlast_a_ten_minute_outage_and_give_up_within_half_an_hour(settings):
    shortest, longest = retry_window(
        retries=settings.PIPELINE_MAX_RETRIES,
        base=settings.PIPELINE_RETRY_BACKOFF_BASE,
        maximum=settings.PIPELINE_RETRY_BACKOFF_MAX,
    )
    assert shortest >= 600
    assert longest <= 1800
    # The incident's outage lasted 26 s: at least half the tries are still left after it.
    spent = 0.0
    for used in range(settings.PIPELINE_MAX_RETRIES):
        spent += min(settings.PIPELINE_RETRY_BACKOFF_MAX, settings.PIPELINE_RETRY_BACKOFF_BASE * 2**used) / 2
        if spent > 26:
            break
    assert used <= settings.PIPELINE_MAX_RETRIES // 2


failures_left: dict[int, int] = {}


@shared_task(bind=True, base=RunTask, name="tests.pipeline.database_blips", **IDEMPOTENT, **RETRY_POLICY)
def database_blips(self, run_id: int) -> int | None:
    """A run whose database fails a set number of times, then answers."""
    if services.run_begin(run_id=run_id) is None:
        return None
    if failures_left[run_id] > 0:
        failures_left[run_id] -= 1
        raise OperationalError("server closed the connection unexpectedly")
    services.run_succeed(run_id=run_id)
    return run_id


@pytest.fixture
def retry_delays():
    """The countdown of every retry a task asks for (eager runs retry at once but compute it the same)."""
    seen: list[float] = []

    def record(sender=None, reason=None, **_) -> None:
        seen.append(reason.when)

    task_retry.connect(record, weak=False)
    yield seen
    task_retry.disconnect(record)


def test_a_run_whose_database_blips_three_times_retries_with_growing_jittered_delays_then_succeeds(
    db, retry_delays, settings
):
    run = Run.objects.create(kind=Run.Kind.RECOMMENDER)
    failures_left[run.pk] = 3

    database_blips.apply(args=(run.pk,))

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.attempts == 4
    base, maximum = settings.PIPELINE_RETRY_BACKOFF_BASE, settings.PIPELINE_RETRY_BACKOFF_MAX
    assert len(retry_delays) == 3
    for retries, delay in enumerate(retry_delays):
        ceiling = min(maximum, base * 2**retries)
        assert ceiling / 2 <= delay <= ceiling


def test_a_run_whose_database_stays_down_past_every_retry_fails_with_the_error(db, retry_delays, settings):
    run = Run.objects.create(kind=Run.Kind.FORECAST)
    failures_left[run.pk] = tasks.RETRY_POLICY["max_retries"] + 1

    database_blips.apply(args=(run.pk,))

    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert "OperationalError" in run.error
    assert len(retry_delays) == tasks.RETRY_POLICY["max_retries"]
    base, maximum = settings.PIPELINE_RETRY_BACKOFF_BASE, settings.PIPELINE_RETRY_BACKOFF_MAX
    for retries, delay in enumerate(retry_delays):
        ceiling = min(maximum, base * 2**retries)
        assert ceiling / 2 <= delay <= ceiling
    assert sum(retry_delays) >= 600  # the tries span ten minutes or more before the run is failed


def test_a_retry_during_the_outage_is_not_lost_when_the_note_on_the_run_cannot_be_written(monkeypatch):
    def database_down(**kwargs):
        raise OperationalError("the database is down too")

    monkeypatch.setattr(services, "run_note", database_down)

    database_blips.on_retry(OperationalError("blip"), "task-id", (1,), {}, None)  # does not raise
