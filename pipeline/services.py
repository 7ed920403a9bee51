"""Every write to retraining runs.

A run is created by ``run_request`` and its task is enqueued only after the
transaction that created it commits, so a worker never looks for a row that is
not there yet, and a rolled-back request sends nothing. Tasks then move the run
through ``run_begin``, ``run_progress`` and ``run_succeed`` / ``run_fail``; each is
safe to call again when a message is delivered twice.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

import inventory.services as inventory_services
import recommender.services as recommender_services
from inventory.models import ForecastRun, ProductForecast

from .models import Run

logger = logging.getLogger(__name__)

ERROR_MAX_CHARS = 4000


class RunAlreadyActive(Exception):
    """A run of this kind is queued or running; a second one would retrain in parallel."""

    def __init__(self, run: Run) -> None:
        self.run = run
        started = f", started {run.started_at:%Y-%m-%d %H:%M:%S %Z}" if run.started_at else ""
        super().__init__(
            f"A {run.get_kind_display().lower()} is already {run.status} (run #{run.pk}{started}); "
            "wait for it to finish instead of starting another."
        )


def _task_for(run: Run):
    from . import tasks  # tasks import this module; the reverse import must wait until call time

    return tasks.recommender_retrain if run.kind == Run.Kind.RECOMMENDER else tasks.forecast_retrain


def _broker_is_eager() -> bool:
    from config.celery import app

    return bool(app.conf.task_always_eager)


# Background runs of this process (eager mode only), so tests and shutdown code can wait for them.
background_threads: list[threading.Thread] = []


def _run_in_background(*, task, run_id: int) -> threading.Thread:
    """Execute an eager task in a thread of this process, so the request that asked for it answers at once.

    The thread has its own database connection (Django's are per thread); it is closed when the
    run ends, so a long-lived server does not leak one connection per retrain.
    """

    def target() -> None:
        try:
            task.apply(args=(run_id,))
        except Exception as exc:  # eager tasks record their failures; this is the last resort
            logger.exception("Background run %s crashed outside its task", run_id)
            run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, name=f"pipeline-run-{run_id}", daemon=True)
    background_threads[:] = [t for t in background_threads if t.is_alive()]
    background_threads.append(thread)
    thread.start()
    return thread


def _enqueue(run: Run, *, background: bool = False) -> None:
    """Send the run's task once the transaction commits: to the broker, in-process, or to a thread.

    Without a broker (eager, the embedded default) a task runs where it is sent. A request from
    the admin or the API must not wait for a retrain, so ``background=True`` runs it in a thread of
    this process under the same run record; the CLI and tests keep running it inline.
    """
    task = _task_for(run)
    if background and _broker_is_eager():
        transaction.on_commit(lambda: _run_in_background(task=task, run_id=run.pk))
        return
    task.delay_on_commit(run.pk)


def run_request(
    *,
    kind: str,
    requested_by: AbstractBaseUser | None = None,
    trigger: str = Run.Trigger.ADMIN,
    join: bool = False,
    as_of: datetime | None = None,
    background: bool = False,
) -> Run:
    """Create a queued run and enqueue its task once this transaction commits.

    With a broker the task goes to the workers whatever ``background`` says. Without one, the
    task runs in this process: inline by default (``start_run --wait``, tests), or with
    ``background=True`` (the admin buttons, HTTP callers) in a thread, so the caller returns at once.

    While a run of the same kind is queued or running, raise ``RunAlreadyActive``,
    or with ``join=True`` return that run instead of starting another. The partial
    unique constraint decides races between machines: the loser gets the same answer.
    """
    if kind not in Run.Kind.values:
        raise ValueError(f"Unknown run kind {kind!r}; expected one of {', '.join(Run.Kind.values)}.")
    user = requested_by if requested_by is not None and requested_by.is_authenticated else None
    run_reap_silent(kind=kind)
    run = Run(kind=kind, trigger=trigger, requested_by=user, as_of=as_of)
    try:
        with transaction.atomic():
            run.full_clean(validate_constraints=False)
            run.save()
            _enqueue(run, background=background)
    except IntegrityError:
        active = Run.objects.active().of_kind(kind).first()
        if active is None:  # the other run finished between our insert and this read
            raise
        if join:
            return active
        raise RunAlreadyActive(active) from None
    return run


@transaction.atomic
def run_begin(*, run_id: int) -> Run | None:
    """Mark a run running as its task is delivered; ``None`` when it already ended (a duplicate delivery)."""
    run = Run.objects.select_for_update().get(pk=run_id)
    if not run.is_active:
        logger.info("Run %s is already %s; ignoring a repeated delivery.", run_id, run.status)
        return None
    run.status = Run.Status.RUNNING
    run.started_at = run.started_at or timezone.now()
    run.heartbeat_at = timezone.now()
    run.attempts += 1
    run.full_clean(validate_constraints=False)
    run.save(update_fields=["status", "started_at", "heartbeat_at", "attempts"])
    return run


def run_progress(*, run_id: int, done: int, total: int, stage: str = "") -> None:
    """Record how far a run has come; a plain UPDATE, so progress is visible while the work goes on."""
    total = max(total, 0)
    done = min(max(done, 0), total)
    Run.objects.filter(pk=run_id, status=Run.Status.RUNNING).update(
        progress_done=done, progress_total=total, stage=stage[:64], heartbeat_at=timezone.now()
    )


def run_note(*, run_id: int, stage: str) -> None:
    Run.objects.filter(pk=run_id).update(stage=stage[:64], heartbeat_at=timezone.now())


def run_attach(
    *, run_id: int, model_version_id: int | None = None, forecast_run_id: int | None = None
) -> None:
    """Remember what the run is producing, as soon as it is known, so staff can follow it."""
    changes = {}
    if model_version_id is not None:
        changes["model_version_id"] = model_version_id
    if forecast_run_id is not None:
        changes["forecast_run_id"] = forecast_run_id
    if changes:
        Run.objects.filter(pk=run_id).update(**changes)


@transaction.atomic
def run_succeed(
    *, run_id: int, model_version_id: int | None = None, forecast_run_id: int | None = None
) -> Run:
    run = Run.objects.select_for_update().get(pk=run_id)
    if run.status == Run.Status.SUCCEEDED:
        return run
    run.status = Run.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.started_at = run.started_at or run.finished_at
    run.error = ""
    run.stage = "done"
    run.progress_done = run.progress_total
    run.model_version_id = model_version_id if model_version_id is not None else run.model_version_id
    run.forecast_run_id = forecast_run_id if forecast_run_id is not None else run.forecast_run_id
    run.full_clean(validate_constraints=False)
    run.save()
    return run


@transaction.atomic
def run_fail(*, run_id: int, error: str) -> Run:
    """Mark a run failed with its error. A run that already ended keeps its outcome."""
    run = Run.objects.select_for_update().get(pk=run_id)
    if not run.is_active:
        return run
    run.status = Run.Status.FAILED
    run.finished_at = timezone.now()
    run.error = error[:ERROR_MAX_CHARS] or "Unknown error."
    run.stage = "failed"
    try:
        run.full_clean(validate_constraints=False)
    except ValidationError as exc:  # never let bookkeeping hide the original failure
        logger.warning("Run %s failed validation while recording its failure: %s", run_id, exc)
    run.save()
    if run.kind == Run.Kind.RECOMMENDER:
        recommender_services.model_version_abandon(
            run_key=run.run_key, reason=f"Run #{run.pk} failed before this version finished: {run.error}"
        )
    return run


def run_reap_silent(*, kind: str | None = None) -> list[Run]:
    """Fail active runs that no worker has touched for longer than a live message could take.

    A message held by a dead worker comes back within the visibility timeout and then runs for
    at most the hard time limit, so silence beyond ``PIPELINE["SILENT_RUN_SECONDS"]`` (both
    together by default) means the message is gone: the broker was flushed or restarted without
    persistence, or no worker serves the queue. Without this, such a run would block its kind
    for good. A late delivery of a reaped run is ignored by ``run_begin``.
    """
    silence = timedelta(seconds=settings.PIPELINE["SILENT_RUN_SECONDS"])
    cutoff = timezone.now() - silence
    candidates = Run.objects.silent_since(cutoff)
    if kind is not None:
        candidates = candidates.of_kind(kind)
    reaped = []
    for run_id in candidates.values_list("pk", flat=True):
        with transaction.atomic():
            # Checked again under the lock: a worker may have reported since the list was read.
            if not Run.objects.select_for_update().silent_since(cutoff).filter(pk=run_id).first():
                continue
            run = run_fail(
                run_id=run_id,
                error=(
                    f"No worker reported on this run for over {silence}: its task message was lost "
                    "(a broker flush or restart) or no worker serves its queue. Start a new run."
                ),
            )
        logger.warning("Run %s had been silent since before %s; marked failed.", run_id, cutoff)
        reaped.append(run)
    return reaped


def run_count_forecasts(*, run_id: int, forecast_run_id: int) -> int:
    """Progress of a forecast run is the number of products stored, so a chunk delivered twice counts once."""
    done = ProductForecast.objects.filter(run_id=forecast_run_id).count()
    total = Run.objects.values_list("progress_total", flat=True).get(pk=run_id)
    run_progress(run_id=run_id, done=done, total=total, stage="forecasting")
    return done


def forecast_stragglers(*, run_id: int, forecast_run_id: int) -> int:
    """Forecast the products of the run that have no stored forecast yet; returns how many there were.

    The chord counts chunk completions. A chunk delivered twice (a worker that outlived the
    visibility timeout) could make it fire before a slower chunk stored its rows, so the finish
    step checks what is stored instead of trusting the count; re-forecasting is an upsert.
    """
    product_ids = inventory_services.forecast_run_product_ids(run=ForecastRun.objects.get(pk=forecast_run_id))
    stored = set(ProductForecast.objects.filter(run_id=forecast_run_id).values_list("product_id", flat=True))
    missing = [product_id for product_id in product_ids if product_id not in stored]
    if missing:
        logger.warning("Run %s: forecasting %d products whose chunk is not stored yet.", run_id, len(missing))
        run_note(run_id=run_id, stage="forecasting stragglers")
        inventory_services.forecast_chunk(run_id=forecast_run_id, product_ids=missing)
    return len(missing)
