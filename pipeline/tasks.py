"""Celery tasks that retrain the recommender and the demand forecasts, tracked as runs.

Each task takes ids and plain values and calls services, nothing else. All of them
are idempotent, which is what makes ``acks_late`` safe: a message whose worker died
is delivered again and the task picks up the same run, the same model version
(``run_key``) and the same forecast run, instead of starting fresh work.

The forecast fans out as chunks recorded in the database (``ForecastChunk``) on the
``training`` queue, spread over every worker that serves it; the chunk that finds every
chunk done sends ``forecast_finish``. Each unit of work holds a lease its worker renews,
so a dead worker's unit is sent again by ``recover_runs`` within minutes, and a copy
delivered while a live worker holds the lease exits at once.
"""

from __future__ import annotations

import logging
import random
import socket
import time
from collections.abc import Callable

import redis.exceptions
from celery import shared_task
from celery.contrib.django.task import DjangoTask
from celery.signals import task_failure
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
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


def retry_delay(retries: int, *, base: float, maximum: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``retries + 1``: exponential, capped, with "equal jitter".

    The ceiling doubles from ``base`` up to ``maximum``, and the delay is drawn from its upper half.
    Celery's full jitter draws from the whole range, so early retries came back within a second or
    two (five tries spent in 4 s of a database outage); half the ceiling at least means the tries
    span minutes, and tasks that failed together still spread out instead of retrying in step.
    """
    ceiling = min(maximum, base * 2**retries)
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def retry_window(*, retries: int, base: float, maximum: float) -> tuple[float, float]:
    """The shortest and longest time ``retries`` retries can take in all: how long an outage they outlast."""
    ceilings = [min(maximum, base * 2**n) for n in range(retries)]
    return sum(ceilings) / 2, float(sum(ceilings))


# Transient errors are retried by RunTask.retry with the delays above (Celery's own backoff is off).
RETRY_POLICY = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": False,
    "max_retries": settings.PIPELINE_MAX_RETRIES,
}
# Only for tasks that may run twice without harm (every task here): a lost worker's message comes back.
IDEMPOTENT = {"acks_late": True, "reject_on_worker_lost": True}


class RunTask(DjangoTask):
    """A task whose first argument is a run id: it records its retries on the run.

    Final failures are recorded by the ``task_failure`` handler below, which also
    fires in the worker's main process when a hard time limit kills the task. The
    outcome lives on the run, so no result is stored: sending then needs the broker
    only, and an unreachable broker is reported as itself.
    """

    ignore_result = True

    def retry(self, *args, countdown: float | None = None, eta=None, **kwargs):
        if countdown is None and eta is None:
            countdown = retry_delay(
                self.request.retries,
                base=settings.PIPELINE_RETRY_BACKOFF_BASE,
                maximum=settings.PIPELINE_RETRY_BACKOFF_MAX,
            )
        return super().retry(*args, countdown=countdown, eta=eta, **kwargs)

    def on_retry(self, exc, task_id, args, kwargs, einfo) -> None:
        run_id = kwargs.get("run_id", args[0] if args else None)
        if run_id is None:
            return
        try:
            services.run_note(run_id=run_id, stage=f"retrying after {type(exc).__name__}")
        except DatabaseError as note_error:  # the outage being retried; the retry is sent already
            logger.warning("Run %s: could not record the retry (%s)", run_id, note_error)


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


def _progress_reporter(run_id: int, *, pause: bool = True) -> Callable[[str, int, int], None]:
    def report(stage: str, done: int, total: int) -> None:
        services.run_progress(run_id=run_id, done=done, total=total, stage=stage)
        if pause:
            _stage_pause()

    return report


@shared_task(bind=True, base=RunTask, name="pipeline.tasks.recommender_retrain", **IDEMPOTENT, **RETRY_POLICY)
def recommender_retrain(self, run_id: int) -> int | None:
    """Train, evaluate and activate a new recommender version for this run, holding the run's lease."""
    with services.run_lease(run_id=run_id, begin=True) as run:
        if run is None:  # finished already, or a live copy holds the lease
            return None
        # The test hook slows the first attempt only: a test kills it, and the attempt that recovers
        # the run need not crawl (it took 9 s of pauses in the pool-process crash test).
        version = recommender_services.recommender_train(
            run_key=run.run_key, as_of=run.as_of, progress=_progress_reporter(run_id, pause=run.attempts <= 1)
        )
        services.run_succeed(run_id=run_id, model_version_id=version.pk)
    return version.pk


@shared_task(bind=True, base=RunTask, name="pipeline.tasks.forecast_retrain", **IDEMPOTENT, **RETRY_POLICY)
def forecast_retrain(self, run_id: int) -> int | None:
    """Open (or reopen) this run's forecast run, plan its chunks once, and send every unfinished chunk."""
    with services.run_lease(run_id=run_id, begin=True) as run:
        if run is None:
            return None
        # A forecast starts on a day and uses the days before it; without a cut, the service starts
        # the day after the latest sale (today in a live shop).
        as_of = timezone.localdate(run.as_of) if run.as_of else None
        forecast_run = inventory_services.forecast_run_start(run_key=run.run_key, as_of=as_of)
        product_ids = list(inventory_services.forecast_run_product_ids(run=forecast_run))
        services.run_attach(run_id=run_id, forecast_run_id=forecast_run.pk)
        services.forecast_chunks_plan(
            run_id=run_id, product_ids=product_ids, size=settings.PIPELINE["FORECAST_CHUNK_SIZE"]
        )
        services.run_count_forecasts(run_id=run_id, forecast_run_id=forecast_run.pk, total=len(product_ids))
    # Sent after the lease is released: without a broker the chunks and the finish run right here,
    # and the finish takes the run's lease. A redelivered start sends unfinished chunks again;
    # the copy that finds its chunk done or leased exits.
    services.forecast_dispatch(run_id=run_id, forecast_run_id=forecast_run.pk)
    return forecast_run.pk


@shared_task(bind=True, base=RunTask, name="pipeline.tasks.forecast_chunk", **IDEMPOTENT, **RETRY_POLICY)
def forecast_chunk(self, run_id: int, chunk_id: int) -> int:
    """Forecast one chunk of products under its lease; re-running it overwrites the same rows."""
    run = Run.objects.filter(pk=run_id, status=Run.Status.RUNNING).first()
    if run is None or run.forecast_run_id is None:
        logger.info("Run %s is no longer running; skipping chunk %s.", run_id, chunk_id)
        return 0
    with services.forecast_chunk_lease(chunk_id=chunk_id) as chunk:
        if chunk is None:  # done already, or a live worker holds it: a duplicate delivery
            return 0
        _stage_pause()
        written = inventory_services.forecast_chunk(run_id=run.forecast_run_id, product_ids=chunk.product_ids)
    all_done = services.forecast_chunk_done(chunk_id=chunk_id)
    services.run_count_forecasts(run_id=run_id, forecast_run_id=run.forecast_run_id)
    if all_done:
        services.forecast_finish_send(run_id=run_id, forecast_run_id=run.forecast_run_id)
    return written


@shared_task(bind=True, base=RunTask, name="pipeline.tasks.forecast_finish", **IDEMPOTENT, **RETRY_POLICY)
def forecast_finish(self, run_id: int, forecast_run_id: int) -> int:
    """Compute the forecast run's metrics and reorder suggestions, then close the run."""
    with services.run_lease(run_id=run_id, begin=False) as run:
        if run is None:  # already finished by an earlier delivery, failed, or a live copy is finishing
            return forecast_run_id
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


@shared_task(name="pipeline.tasks.recover_runs")
def recover_runs() -> dict[str, list[int]]:
    """Periodic (every minute): send again work whose worker died; fail runs that were never sent."""
    return services.run_recover()


@shared_task(name="pipeline.tasks.stock_check")
def stock_check(repair: bool = False) -> dict[str, int]:
    """Nightly: compare reserved stock with placed orders and on hand with the ledger; log (and repair)."""
    from shop import integrity

    found = integrity.stock_discrepancies()
    for discrepancy in found:
        logger.warning("Stock check: %s", discrepancy)
    fixed = integrity.stock_repair() if repair and found else []
    if fixed:
        logger.warning("Stock check repaired %d difference(s).", len(fixed))
    return {"found": len(found), "repaired": len(fixed)}
