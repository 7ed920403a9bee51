"""Every write to retraining runs.

A run is created by ``run_request`` and its task is enqueued only after the
transaction that created it commits, so a worker never looks for a row that is
not there yet, and a rolled-back request sends nothing. Tasks then move the run
through ``run_begin``, ``run_progress`` and ``run_succeed`` / ``run_fail``; each is
safe to call again when a message is delivered twice.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

import inventory.services as inventory_services
import recommender.services as recommender_services
from inventory.models import ForecastRun, ProductForecast

from .models import ForecastChunk, Run

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


def _redacted(url: str) -> str:
    """A broker URL fit for an error message: the password, if any, replaced."""
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


def _send(task, args: tuple) -> None:
    """Publish a task with a short, bounded retry, so an unreachable broker fails in seconds."""
    task.apply_async(args=args, retry=True, retry_policy=settings.PIPELINE["SEND_RETRY_POLICY"])


class RunNotSent(Exception):
    """The broker did not take the run's task; the run is already marked failed with the broker's error."""

    def __init__(self, run: Run, error: str) -> None:
        self.run = run
        super().__init__(error)


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


def _mark_sent(run_id: int) -> None:
    now = timezone.now()
    Run.objects.filter(pk=run_id, sent_at__isnull=True).update(sent_at=now, heartbeat_at=now)


def run_dispatch(*, run_id: int, background: bool = False) -> None:
    """Hand a committed run's task to the broker, to this process, or to a thread of it; mark it sent.

    Without a broker (eager) the task runs where it is sent, so the run is marked sent first. With
    one, the mark follows a successful publish; if the publish fails, the run is failed at once
    with the broker's own error and ``RunNotSent`` is raised, so the caller says why and the next
    request of the kind is accepted. A process that dies between the save and this call leaves a
    queued run without the mark, which ``run_recover`` fails after a short grace.
    """
    run = Run.objects.get(pk=run_id)
    task = _task_for(run)
    if _broker_is_eager():
        _mark_sent(run_id)
        if background:
            _run_in_background(task=task, run_id=run_id)
        else:
            task.apply_async(args=(run_id,))
        return
    try:
        _send(task, (run_id,))
    except Exception as exc:  # whatever the transport raised, the run must not stay queued
        from config.celery import app

        error = (
            f"The task could not be sent to the broker at {_redacted(str(app.conf.broker_url))}: "
            f"{type(exc).__name__}: {exc}"
        )
        logger.error("Run %s not sent: %s", run_id, error)
        failed = run_fail(run_id=run_id, error=error)
        raise RunNotSent(failed, error) from exc
    _mark_sent(run_id)


def _enqueue(run: Run, *, background: bool = False) -> None:
    """Dispatch the run once the transaction that created it commits (a rolled-back request sends nothing).

    Without a broker (eager, the embedded default) a task runs where it is sent. A request from
    the admin or the API must not wait for a retrain, so ``background=True`` runs it in a thread of
    this process under the same run record; the CLI and tests keep running it inline.
    """
    run_id = run.pk
    transaction.on_commit(lambda: run_dispatch(run_id=run_id, background=background))


def run_request(
    *,
    kind: str,
    requested_by: AbstractBaseUser | None = None,
    trigger: str = Run.Trigger.ADMIN,
    join: bool = False,
    as_of: datetime | None = None,
    background: bool = False,
) -> Run:
    """Create a queued run and send its task once this transaction commits.

    With a broker the task goes to the workers whatever ``background`` says; if the broker does
    not take it, the run is failed at once and ``RunNotSent`` is raised. Without a broker, the
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
    run_reap_unsent(kind=kind)
    if _broker_is_eager():
        run_reap_dead_in_process(kind=kind)
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


# --- leases -----------------------------------------------------------------------------------------


def lease_owner_id() -> str:
    """Who holds a lease: host, process and a nonce, so a dead process on this host is recognised."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _owner_died_here(owner: str) -> bool:
    """True when ``owner`` was a process on this host that no longer exists (its lease is void at once)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _lease_is_live(*, owner: str, expires_at: datetime | None, now: datetime) -> bool:
    return bool(owner) and expires_at is not None and expires_at > now and not _owner_died_here(owner)


def _lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.PIPELINE["LEASE_SECONDS"])


class LeaseKeeper:
    """Renews a lease from a daemon thread while the work it covers runs.

    Each renewal also counts as the run's heartbeat. The thread uses its own database
    connection and closes it when it stops. Renewal errors are logged, never raised: the
    worst outcome of a missed renewal is a second copy of idempotent work.
    """

    def __init__(self, *, run_id: int, owner: str, chunk_id: int | None = None) -> None:
        self.run_id = run_id
        self.owner = owner
        self.chunk_id = chunk_id
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{owner}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def renew(self) -> bool:
        now = timezone.now()
        holder = ForecastChunk.objects if self.chunk_id is not None else Run.objects
        pk = self.chunk_id if self.chunk_id is not None else self.run_id
        kept = holder.filter(pk=pk, lease_owner=self.owner).update(lease_expires_at=_lease_until(now))
        Run.objects.filter(pk=self.run_id).update(heartbeat_at=now)
        return bool(kept)

    def _loop(self) -> None:
        try:
            while not self._stop.wait(settings.PIPELINE["LEASE_RENEW_SECONDS"]):
                try:
                    if not self.renew() and not self.lost:
                        self.lost = True
                        logger.warning("Lease %s was taken over; this copy's work is redundant.", self.owner)
                except Exception:
                    logger.exception("Could not renew lease %s", self.owner)
        finally:
            connections.close_all()


@transaction.atomic
def run_claim(*, run_id: int, owner: str, begin: bool) -> Run | None:
    """Take the lease of a run's main step; ``None`` when the run ended or a live copy holds it.

    ``begin=True`` is a delivery of the run's first task: it may find the run queued, marks it
    running and counts the attempt. Later steps (the forecast's finish) need it running already.
    """
    run = Run.objects.select_for_update().get(pk=run_id)
    now = timezone.now()
    if not run.is_active or (not begin and run.status != Run.Status.RUNNING):
        logger.info("Run %s is %s; ignoring a repeated delivery.", run_id, run.status)
        return None
    if run.lease_owner != owner and _lease_is_live(
        owner=run.lease_owner, expires_at=run.lease_expires_at, now=now
    ):
        logger.info(
            "Run %s is held by %s until %s; this copy exits.", run_id, run.lease_owner, run.lease_expires_at
        )
        return None
    fields = ["lease_owner", "lease_expires_at", "heartbeat_at", "sent_at"]
    run.lease_owner = owner
    run.lease_expires_at = _lease_until(now)
    run.heartbeat_at = now
    run.sent_at = run.sent_at or now  # delivered, so it was sent, whatever the sender managed to record
    if begin:
        run.status = Run.Status.RUNNING
        run.started_at = run.started_at or now
        run.attempts += 1
        fields += ["status", "started_at", "attempts"]
    run.full_clean(validate_constraints=False)
    run.save(update_fields=fields)
    return run


def run_release(*, run_id: int, owner: str) -> None:
    Run.objects.filter(pk=run_id, lease_owner=owner).update(lease_owner="", lease_expires_at=None)


@contextmanager
def run_lease(*, run_id: int, begin: bool) -> Iterator[Run | None]:
    """Hold the run's lease, renewed in the background, for the duration of the block."""
    owner = lease_owner_id()
    run = run_claim(run_id=run_id, owner=owner, begin=begin)
    if run is None:
        yield None
        return
    try:
        with LeaseKeeper(run_id=run_id, owner=owner):
            yield run
    finally:
        run_release(run_id=run_id, owner=owner)


def run_begin(*, run_id: int) -> Run | None:
    """Mark a run running as its task is delivered; ``None`` when it already ended (a duplicate delivery).

    For tasks without a lease of their own; it takes and leaves a lease that the recovery task
    will see expire, so prefer ``run_lease(begin=True)`` for long work.
    """
    run = run_claim(run_id=run_id, owner=lease_owner_id(), begin=True)
    if run is not None:
        run_release(run_id=run_id, owner=run.lease_owner)
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
    run.lease_owner, run.lease_expires_at = "", None
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
    run.lease_owner, run.lease_expires_at = "", None
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


def _fail_under_lock(*, queryset, run_id: int, error: str) -> Run | None:
    """Fail the run if it still matches ``queryset`` under its row lock (it may have moved on since)."""
    with transaction.atomic():
        if not queryset.select_for_update().filter(pk=run_id).exists():
            return None
        return run_fail(run_id=run_id, error=error)


def run_reap_unsent(*, kind: str | None = None) -> list[Run]:
    """Fail queued runs whose request died between saving the run and sending its task.

    The sender marks ``sent_at`` once the broker took the message (a worker's delivery marks it
    too), so a queued run older than ``UNSENT_GRACE_SECONDS`` without the mark was never sent and
    never will be.
    """
    grace = timedelta(seconds=settings.PIPELINE["UNSENT_GRACE_SECONDS"])
    candidates = Run.objects.never_sent_before(timezone.now() - grace)
    if kind is not None:
        candidates = candidates.of_kind(kind)
    reaped = []
    for run_id in candidates.values_list("pk", flat=True):
        run = _fail_under_lock(
            queryset=Run.objects.never_sent_before(timezone.now() - grace),
            run_id=run_id,
            error=f"The request that created this run stopped before its task was sent (no send within "
            f"{grace}): its process died or was killed. Nothing ran; start a new run.",
        )
        if run is not None:
            logger.warning("Run %s was never sent; marked failed.", run_id)
            reaped.append(run)
    return reaped


def run_reap_dead_in_process(*, kind: str | None = None) -> list[Run]:
    """Without a broker, fail active runs whose executing process stopped renewing their leases.

    Eager runs execute in the process that sent them (a command, or a thread of the web server);
    nobody can send them again, so a run silent for longer than a lease has died with its process.
    """
    lease_seconds = settings.PIPELINE["LEASE_SECONDS"]
    cutoff = timezone.now() - timedelta(seconds=lease_seconds)
    dead = (
        Run.objects.active()
        .filter(sent_at__isnull=False, heartbeat_at__lt=cutoff)
        .exclude(lease_expires_at__gt=timezone.now())
    )
    if kind is not None:
        dead = dead.of_kind(kind)
    reaped = []
    for run_id in dead.values_list("pk", flat=True):
        run = _fail_under_lock(
            queryset=dead,
            run_id=run_id,
            error=f"The process running this run stopped (no lease renewal for {lease_seconds} s) and "
            "there is no broker to send it again. Start a new run.",
        )
        if run is not None:
            reaped.append(run)
    return reaped


# --- forecast chunks ----------------------------------------------------------------------------------


def forecast_chunks_plan(*, run_id: int, product_ids: list[int], size: int) -> list[ForecastChunk]:
    """The run's chunks, created on the first call; later calls (a redelivered start) return the same ones."""
    with transaction.atomic():
        Run.objects.select_for_update().get(pk=run_id)  # one planner at a time per run
        chunks = list(ForecastChunk.objects.filter(run_id=run_id))
        if not chunks:
            size = max(1, size)
            chunks = ForecastChunk.objects.bulk_create(
                ForecastChunk(run_id=run_id, index=index, product_ids=product_ids[start : start + size])
                for index, start in enumerate(range(0, len(product_ids), size))
            )
    return chunks


def _chunk_task():
    from . import tasks

    return tasks.forecast_chunk


def _finish_task():
    from . import tasks

    return tasks.forecast_finish


def forecast_chunk_send(*, chunk: ForecastChunk) -> None:
    """Send one chunk's task and mark it sent (marked first without a broker: eager runs it right here)."""
    mark = ForecastChunk.objects.filter(pk=chunk.pk, status=ForecastChunk.Status.PENDING)
    if _broker_is_eager():
        mark.update(sent_at=timezone.now())
        _chunk_task().apply_async(args=(chunk.run_id, chunk.pk))
        return
    _send(_chunk_task(), (chunk.run_id, chunk.pk))
    mark.update(sent_at=timezone.now())


def forecast_finish_send(*, run_id: int, forecast_run_id: int) -> None:
    """Send the finish step; the heartbeat marks when, so recovery waits a grace before sending it again."""
    Run.objects.filter(pk=run_id).update(heartbeat_at=timezone.now())
    _send(_finish_task(), (run_id, forecast_run_id))


def forecast_dispatch(*, run_id: int, forecast_run_id: int) -> int:
    """Send every chunk that is not done, or the finish step when all are; returns the chunks sent.

    A chunk already sent may be sent again here (a redelivered start): the copy that finds the
    chunk done, or leased by a live worker, exits.
    """
    chunks = list(ForecastChunk.objects.filter(run_id=run_id).exclude(status=ForecastChunk.Status.DONE))
    if not chunks:
        forecast_finish_send(run_id=run_id, forecast_run_id=forecast_run_id)
        return 0
    for chunk in chunks:
        forecast_chunk_send(chunk=chunk)
    return len(chunks)


@transaction.atomic
def forecast_chunk_claim(*, chunk_id: int, owner: str) -> ForecastChunk | None:
    """Take a chunk's lease; ``None`` when it is done or a live worker holds it (a duplicate delivery)."""
    chunk = ForecastChunk.objects.select_for_update().get(pk=chunk_id)
    now = timezone.now()
    if chunk.status == ForecastChunk.Status.DONE:
        logger.info("Chunk %s is done already; this delivery exits.", chunk)
        return None
    if chunk.lease_owner != owner and _lease_is_live(
        owner=chunk.lease_owner, expires_at=chunk.lease_expires_at, now=now
    ):
        logger.info(
            "Chunk %s is leased by %s until %s; this copy exits.",
            chunk,
            chunk.lease_owner,
            chunk.lease_expires_at,
        )
        return None
    chunk.status = ForecastChunk.Status.RUNNING
    chunk.lease_owner = owner
    chunk.lease_expires_at = _lease_until(now)
    chunk.sent_at = chunk.sent_at or now
    chunk.attempts += 1
    chunk.save(update_fields=["status", "lease_owner", "lease_expires_at", "sent_at", "attempts"])
    Run.objects.filter(pk=chunk.run_id).update(heartbeat_at=now)
    return chunk


def forecast_chunk_done(*, chunk_id: int) -> bool:
    """Mark a chunk done (whoever finished it: the rows are the same); True when every chunk of its run is."""
    now = timezone.now()
    ForecastChunk.objects.filter(pk=chunk_id).update(
        status=ForecastChunk.Status.DONE, lease_owner="", lease_expires_at=None, finished_at=now
    )
    run_id = ForecastChunk.objects.values_list("run_id", flat=True).get(pk=chunk_id)
    # Read after our own mark committed: of two last chunks finishing together, at least one sees both done.
    return not ForecastChunk.objects.filter(run_id=run_id).exclude(status=ForecastChunk.Status.DONE).exists()


def forecast_chunk_release(*, chunk_id: int, owner: str) -> None:
    """Give up a chunk's lease after a failure, so a retry or the recovery task can take it at once."""
    ForecastChunk.objects.filter(pk=chunk_id, lease_owner=owner, status=ForecastChunk.Status.RUNNING).update(
        status=ForecastChunk.Status.PENDING, lease_owner="", lease_expires_at=None
    )


@contextmanager
def forecast_chunk_lease(*, chunk_id: int) -> Iterator[ForecastChunk | None]:
    """Hold a chunk's lease, renewed in the background, for the duration of the block."""
    owner = lease_owner_id()
    chunk = forecast_chunk_claim(chunk_id=chunk_id, owner=owner)
    if chunk is None:
        yield None
        return
    finished = False
    try:
        with LeaseKeeper(run_id=chunk.run_id, owner=owner, chunk_id=chunk_id):
            yield chunk
        finished = True
    finally:
        if not finished:
            forecast_chunk_release(chunk_id=chunk_id, owner=owner)


# --- recovery ---------------------------------------------------------------------------------------


def _resend_main_step(run: Run) -> str:
    """Send again the step of ``run`` whose worker died: the recommender's training, or the forecast's
    start (which re-sends unfinished chunks) or finish (when every chunk is done)."""
    if run.kind == Run.Kind.RECOMMENDER:
        _send(_task_for(run), (run.pk,))
        return "training"
    chunks = ForecastChunk.objects.filter(run_id=run.pk)
    if (
        run.forecast_run_id
        and chunks.exists()
        and not chunks.exclude(status=ForecastChunk.Status.DONE).exists()
    ):
        forecast_finish_send(run_id=run.pk, forecast_run_id=run.forecast_run_id)
        return "finish"
    _send(_task_for(run), (run.pk,))
    return "start"


def run_recover() -> dict[str, list[int]]:
    """Periodic (every minute): recover work whose worker died, in minutes, whatever the broker does.

    - queued runs never sent (their request died) are failed after the grace;
    - a run's main step whose lease expired is sent again, and so is a chunk whose lease expired:
      a SIGKILLed worker renews nothing, and its message would otherwise wait for the broker's
      visibility timeout; a unit that has already been recovered ``MAX_RECOVERIES`` times fails
      its run, so a chunk that kills its worker (out of memory, say) cannot loop for ever;
    - chunks planned but never sent, and a forecast whose chunks are all done but whose finish
      was never sent, are sent after the grace.

    Without a broker, runs whose process died are failed instead (nobody could run them again).
    Returns the ids acted on, by what was done.
    """
    report: dict[str, list[int]] = {"unsent": [r.pk for r in run_reap_unsent()]}
    if _broker_is_eager():
        report["dead"] = [r.pk for r in run_reap_dead_in_process()]
        return report
    now = timezone.now()
    grace = timedelta(seconds=settings.PIPELINE["UNSENT_GRACE_SECONDS"])
    limit = settings.PIPELINE["MAX_RECOVERIES"]
    report.update(runs=[], chunks=[], failed=[])

    for run_id in Run.objects.lease_expired(now).values_list("pk", flat=True):
        with transaction.atomic():
            run = Run.objects.select_for_update().lease_expired(timezone.now()).filter(pk=run_id).first()
            if run is None:
                continue
            if run.recoveries >= limit:
                run_fail(
                    run_id=run_id,
                    error=f"The run's worker died {run.recoveries + 1} times (its lease expired each time).",
                )
                report["failed"].append(run_id)
                continue
            dead_owner = run.lease_owner
            run.lease_owner, run.lease_expires_at, run.stage = "", None, "worker lost; sent again"
            run.recoveries += 1
            run.save(update_fields=["lease_owner", "lease_expires_at", "stage", "recoveries"])
        step = _resend_main_step(run)
        logger.warning("Run %s: lease of %s expired; sent its %s again.", run_id, dead_owner, step)
        report["runs"].append(run_id)

    expired = ForecastChunk.objects.lease_expired(now).filter(run__status=Run.Status.RUNNING)
    for chunk_id in expired.values_list("pk", flat=True):
        with transaction.atomic():
            chunk = (
                ForecastChunk.objects.select_for_update()
                .lease_expired(timezone.now())
                .filter(pk=chunk_id)
                .first()
            )
            if chunk is None:
                continue
            if chunk.recoveries >= limit:
                run_fail(
                    run_id=chunk.run_id,
                    error=f"{chunk} lost its worker {chunk.recoveries + 1} times (its lease expired each "
                    "time); its products may crash or exhaust a worker.",
                )
                report["failed"].append(chunk.run_id)
                continue
            dead_owner = chunk.lease_owner
            chunk.status, chunk.lease_owner, chunk.lease_expires_at = ForecastChunk.Status.PENDING, "", None
            chunk.recoveries += 1
            chunk.save(update_fields=["status", "lease_owner", "lease_expires_at", "recoveries"])
        forecast_chunk_send(chunk=chunk)
        run_note(run_id=chunk.run_id, stage="worker lost; chunk sent again")
        logger.warning("%s: lease of %s expired; sent again.", chunk, dead_owner)
        report["chunks"].append(chunk_id)

    for chunk in ForecastChunk.objects.never_sent_before(now - grace).filter(run__status=Run.Status.RUNNING):
        forecast_chunk_send(chunk=chunk)
        report["chunks"].append(chunk.pk)

    # A worker prefetches messages it has not started; if it dies they stay invisible until the
    # visibility timeout. Units sent over a lease ago, in a run where nothing holds a live lease,
    # are sent again (a copy that finds the unit done or leased exits, so a unit that was only
    # waiting in a busy queue costs one extra message per lease period).
    stale = now - timedelta(seconds=settings.PIPELINE["LEASE_SECONDS"])
    for run in Run.objects.filter(status=Run.Status.QUEUED, sent_at__lt=stale):
        Run.objects.filter(pk=run.pk).update(sent_at=timezone.now())
        _send(_task_for(run), (run.pk,))
        report["runs"].append(run.pk)
    for run_id in Run.objects.filter(kind=Run.Kind.FORECAST, status=Run.Status.RUNNING).values_list(
        "pk", flat=True
    ):
        chunks = ForecastChunk.objects.filter(run_id=run_id)
        if (
            Run.objects.filter(pk=run_id, lease_expires_at__gt=now).exists()
            or chunks.filter(status=ForecastChunk.Status.RUNNING, lease_expires_at__gt=now).exists()
        ):
            continue
        for chunk in chunks.filter(status=ForecastChunk.Status.PENDING, sent_at__lt=stale):
            forecast_chunk_send(chunk=chunk)
            report["chunks"].append(chunk.pk)

    stalled = Run.objects.filter(
        kind=Run.Kind.FORECAST,
        status=Run.Status.RUNNING,
        lease_expires_at__isnull=True,
        heartbeat_at__lt=now - grace,
    ).exclude(chunks__status__in=[ForecastChunk.Status.PENDING, ForecastChunk.Status.RUNNING])
    for run in stalled.filter(chunks__isnull=False, forecast_run_id__isnull=False).distinct():
        # Every chunk is done, nothing holds the run, and nothing happened for the grace: the finish
        # step was never sent (its sender died after marking the last chunk done).
        forecast_finish_send(run_id=run.pk, forecast_run_id=run.forecast_run_id)
        report["runs"].append(run.pk)
    return report


def run_count_forecasts(*, run_id: int, forecast_run_id: int, total: int | None = None) -> int:
    """Progress of a forecast run is the number of products stored, so a chunk delivered twice counts once."""
    done = ProductForecast.objects.filter(run_id=forecast_run_id).count()
    if total is None:
        total = Run.objects.values_list("progress_total", flat=True).get(pk=run_id)
    run_progress(run_id=run_id, done=done, total=total, stage="forecasting")
    return done


def forecast_stragglers(*, run_id: int, forecast_run_id: int) -> int:
    """Forecast the products of the run that have no stored forecast yet; returns how many there were.

    Chunks are marked done after their rows are stored, so normally nothing is missing; the
    finish step still checks what is stored instead of trusting the marks (a chunk marked done by
    a copy whose lease had been taken over, say), and re-forecasting is an upsert.
    """
    product_ids = inventory_services.forecast_run_product_ids(run=ForecastRun.objects.get(pk=forecast_run_id))
    stored = set(ProductForecast.objects.filter(run_id=forecast_run_id).values_list("product_id", flat=True))
    missing = [product_id for product_id in product_ids if product_id not in stored]
    if missing:
        logger.warning("Run %s: forecasting %d products whose chunk is not stored yet.", run_id, len(missing))
        run_note(run_id=run_id, stage="forecasting stragglers")
        inventory_services.forecast_chunk(run_id=forecast_run_id, product_ids=missing)
    return len(missing)
