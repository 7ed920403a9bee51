"""Celery tasks that retrain the recommender and the demand forecasts, tracked as runs.

Each task takes ids and plain values and calls services, nothing else. All of them
are idempotent, which is what makes ``acks_late`` safe: a message whose worker died
is delivered again and the task picks up the same run, the same model version
(``run_key``) and the same forecast run, instead of starting fresh work.

The forecast fans out as a chord: a group of product chunks on the ``training``
queue, spread over every worker that serves it, then ``forecast_finish`` once all
chunks are done.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

import redis.exceptions
from celery import chord, shared_task
from celery.contrib.django.task import DjangoTask
from celery.signals import task_failure
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerOperationalError

import inventory.services as inventory_services
import recommender.services as recommender_services

from . import services
from .models import Run

logger = logging.getLogger(__name__)


# Errors worth another try: a database, broker or network that blipped. Anything else is a bug or bad
# data, and retrying it would only repeat the failure later, so the run fails at once with the error.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    BrokerOperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
    socket.timeout,
)

RETRY_POLICY = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": True,
    "retry_backoff_max": settings.PIPELINE_RETRY_BACKOFF_MAX,
    "retry_jitter": True,
    "max_retries": settings.PIPELINE_MAX_RETRIES,
}
# Only for tasks that may run twice without harm (every task here): a lost worker's message comes back.
IDEMPOTENT = {"acks_late": True, "reject_on_worker_lost": True}


class RunTask(DjangoTask):
    """A task whose first argument is a run id: it records its retries on the run.

    Final failures are recorded by the ``task_failure`` handler below, which also
    fires in the worker's main process when a hard time limit kills the task.
    """

    def on_retry(self, exc, task_id, args, kwargs, einfo) -> None:
        run_id = kwargs.get("run_id", args[0] if args else None)
        if run_id is not None:
            services.run_note(run_id=run_id, stage=f"retrying after {type(exc).__name__}")


@task_failure.connect
def _record_run_failure(sender=None, exception=None, args=None, kwargs=None, **_) -> None:
    if not isinstance(sender, RunTask):
        return
    run_id = (kwargs or {}).get("run_id", args[0] if args else None)
    if run_id is None:
        return
    logger.error("Run %s failed in %s: %r", run_id, sender.name, exception)
    services.run_fail(run_id=run_id, error=f"{type(exception).__name__}: {exception}")


def _stage_pause() -> None:
    delay = settings.PIPELINE["STAGE_DELAY_SECONDS"]
    if delay > 0:  # test hook: widens the window in which a test kills the worker
        time.sleep(delay)


def _progress_reporter(run_id: int) -> Callable[[str, int, int], None]:
    def report(stage: str, done: int, total: int) -> None:
        services.run_progress(run_id=run_id, done=done, total=total, stage=stage)
        _stage_pause()

    return report


@shared_task(bind=True, base=RunTask, name="pipeline.tasks.recommender_retrain", **IDEMPOTENT, **RETRY_POLICY)
def recommender_retrain(self, run_id: int) -> int | None:
    """Train, evaluate and activate a new recommender version for this run."""
    run = services.run_begin(run_id=run_id)
    if run is None:
        return None
    version = recommender_services.recommender_train(
        run_key=run.run_key, as_of=run.as_of, progress=_progress_reporter(run_id)
    )
    services.run_succeed(run_id=run_id, model_version_id=version.pk)
    return version.pk


@shared_task(bind=True, base=RunTask, name="pipeline.tasks.forecast_retrain", **IDEMPOTENT, **RETRY_POLICY)
def forecast_retrain(self, run_id: int) -> int | None:
    """Open (or reopen) this run's forecast run and fan its products out as a chord of chunks."""
    run = services.run_begin(run_id=run_id)
    if run is None:
        return None
    # A forecast starts on a day and uses the days before it; without a cut, the service starts
    # the day after the latest sale (today in a live shop).
    as_of = timezone.localdate(run.as_of) if run.as_of else None
    forecast_run = inventory_services.forecast_run_start(run_key=run.run_key, as_of=as_of)
    product_ids = list(inventory_services.forecast_run_product_ids(run=forecast_run))
    services.run_attach(run_id=run_id, forecast_run_id=forecast_run.pk)
    services.run_progress(run_id=run_id, done=0, total=len(product_ids), stage="forecasting")
    size = max(1, settings.PIPELINE["FORECAST_CHUNK_SIZE"])
    chunks = [product_ids[start : start + size] for start in range(0, len(product_ids), size)]
    finish = forecast_finish.si(run_id, forecast_run.pk)
    if not chunks:
        finish.delay()
    else:
        # A redelivered start dispatches the chord again; chunks upsert and finish is idempotent.
        chord(forecast_chunk.s(run_id, forecast_run.pk, chunk) for chunk in chunks)(finish)
    return forecast_run.pk


@shared_task(bind=True, base=RunTask, name="pipeline.tasks.forecast_chunk", **IDEMPOTENT, **RETRY_POLICY)
def forecast_chunk(self, run_id: int, forecast_run_id: int, product_ids: list[int]) -> int:
    """Forecast one chunk of products; re-running it overwrites the same rows."""
    if not Run.objects.filter(pk=run_id, status=Run.Status.RUNNING).exists():
        logger.info("Run %s is no longer running; skipping a chunk of %d products.", run_id, len(product_ids))
        return 0
    _stage_pause()
    written = inventory_services.forecast_chunk(run_id=forecast_run_id, product_ids=product_ids)
    services.run_count_forecasts(run_id=run_id, forecast_run_id=forecast_run_id)
    return written


@shared_task(bind=True, base=RunTask, name="pipeline.tasks.forecast_finish", **IDEMPOTENT, **RETRY_POLICY)
def forecast_finish(self, run_id: int, forecast_run_id: int) -> int:
    """Compute the forecast run's metrics and reorder suggestions, then close the run."""
    if not Run.objects.filter(pk=run_id, status=Run.Status.RUNNING).exists():
        return forecast_run_id  # already finished by an earlier delivery, or failed
    services.forecast_stragglers(run_id=run_id, forecast_run_id=forecast_run_id)
    services.run_note(run_id=run_id, stage="reorder suggestions")
    inventory_services.forecast_run_finish(run_id=forecast_run_id)
    services.run_succeed(run_id=run_id, forecast_run_id=forecast_run_id)
    return forecast_run_id


@shared_task(name="pipeline.tasks.scheduled_retrain")
def scheduled_retrain(kind: str) -> int | None:
    """Entry point for the beat schedules: start a run, or leave the running one alone."""
    try:
        run = services.run_request(kind=kind, trigger=Run.Trigger.SCHEDULE)
    except services.RunAlreadyActive as exc:
        logger.warning("Scheduled %s retrain skipped: %s", kind, exc)
        return None
    return run.pk


@shared_task(name="pipeline.tasks.reap_silent_runs")
def reap_silent_runs() -> list[int]:
    """Periodic: fail runs whose message was lost, so the run list tells the truth and the kind is free."""
    return [run.pk for run in services.run_reap_silent()]
