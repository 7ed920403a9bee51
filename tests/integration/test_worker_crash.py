"""A worker killed with SIGKILL in the middle of a retrain: the work is delivered again and finishes once."""

from __future__ import annotations

import re
import time

import pytest

from inventory.models import ForecastRun, ProductForecast
from inventory.services import forecast_run_product_ids
from pipeline import services
from pipeline.models import ForecastChunk, Run
from recommender.models import CustomerRecommendation, ModelVersion, PopularProduct, SimilarProduct
from recommender.services import recommender_train
from tests.integration.conftest import wait_for
from tests.pipeline.shop_data import build_shop_history

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def list_counts(version: ModelVersion) -> tuple[int, int, int]:
    return (
        CustomerRecommendation.objects.filter(version=version).count(),
        SimilarProduct.objects.filter(version=version).count(),
        PopularProduct.objects.filter(version=version).count(),
    )


def chunk_task_ids(log: str, event: str) -> set[str]:
    return set(re.findall(rf"Task pipeline\.tasks\.forecast_chunk\[([0-9a-f-]+)\] {event}", log))


def refreshed(run: Run) -> Run:
    run.refresh_from_db()
    return run


def test_a_recommender_retrain_killed_mid_training_keeps_the_active_version_and_finishes_once_on_restart(
    workers,
):
    build_shop_history()
    previous = recommender_train(run_key="before-the-crash")
    lists_before = list_counts(previous)
    assert previous.is_active and all(lists_before)

    first = workers.start(PIPELINE_STAGE_DELAY_SECONDS="0.4")
    run = services.run_request(kind=Run.Kind.RECOMMENDER)
    wait_for(
        lambda: refreshed(run).status == Run.Status.RUNNING and run.stage != "",
        timeout=60,
        message="the retrain never started",
        logs=workers.logs,
    )
    assert ModelVersion.objects.filter(run_key=run.run_key, status=ModelVersion.Status.TRAINING).exists()

    first.kill()

    assert refreshed(run).status == Run.Status.RUNNING
    assert ModelVersion.objects.get(is_active=True).pk == previous.pk
    assert list_counts(previous) == lists_before

    workers.start()
    wait_for(
        lambda: not refreshed(run).is_active, timeout=90, message="the run never ended", logs=workers.logs
    )

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.attempts >= 2, "the message must have been delivered again after the crash"
    new_versions = ModelVersion.objects.exclude(pk=previous.pk)
    assert new_versions.count() == 1
    new = new_versions.get()
    assert new.run_key == run.run_key
    assert new.is_active and run.model_version_id == new.pk
    assert all(list_counts(new))


def test_a_forecast_run_whose_worker_is_killed_mid_fan_out_completes_after_restart_with_each_product_once(
    workers,
):
    # Both ways back are open here: Redis' redelivery (visibility timeout 4 s) and the leases with the
    # recovery task; under heavy load the redelivery sweep was seen to miss the 120 s window.
    build_shop_history(products=30)
    short_leases = {"PIPELINE_LEASE_SECONDS": "4", "PIPELINE_LEASE_RENEW_SECONDS": "1"}
    slow_chunks = {"PIPELINE_FORECAST_CHUNK_SIZE": "3", "PIPELINE_STAGE_DELAY_SECONDS": "1.0", **short_leases}
    first = workers.start(concurrency=2, **slow_chunks)
    run = services.run_request(kind=Run.Kind.FORECAST)
    # Kill while a chunk is being worked on, not in the instant between two rounds of chunks (a pool
    # process's first chunk also imports the engine, so both processes tend to finish it together).
    wait_for(
        lambda: (
            refreshed(run).progress_done >= 3
            and ForecastChunk.objects.filter(run=run, status=ForecastChunk.Status.RUNNING).exists()
        ),
        timeout=90,
        message="no chunk of the forecast finished while another ran",
        logs=workers.logs,
    )

    first.kill()

    assert refreshed(run).status == Run.Status.RUNNING
    assert run.progress_done < run.progress_total, "the kill must land in the middle of the fan-out"

    # One process is enough to finish the run; a second would only import the engine a second time.
    workers.start(concurrency=1, PIPELINE_FORECAST_CHUNK_SIZE="3", **short_leases)
    recovering(run, workers, timeout=180)

    lost = chunk_task_ids(first.log(), "received") - chunk_task_ids(first.log(), "succeeded")
    assert lost, "the first worker should have died holding chunks"

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert ForecastRun.objects.count() == 1
    assert not ForecastChunk.objects.filter(run=run).exclude(status=ForecastChunk.Status.DONE).exists()
    forecast_run = ForecastRun.objects.get(pk=run.forecast_run_id)
    product_ids = forecast_run_product_ids(run=forecast_run)
    stored = list(ProductForecast.objects.filter(run=forecast_run).values_list("product_id", flat=True))
    assert len(stored) == len(set(stored)), "a product was forecast twice"
    assert sorted(stored) == sorted(product_ids)
    assert run.progress_done == run.progress_total == len(product_ids)


def test_a_pool_process_killed_mid_training_is_requeued_at_once_by_its_worker_and_finishes_once(workers):
    build_shop_history()
    worker = workers.start(PIPELINE_STAGE_DELAY_SECONDS="0.4")
    run = services.run_request(kind=Run.Kind.RECOMMENDER)
    wait_for(
        lambda: refreshed(run).status == Run.Status.RUNNING and run.stage != "",
        timeout=60,
        message="the retrain never started",
        logs=workers.logs,
    )

    assert worker.kill_pool_children()

    wait_for(
        lambda: not refreshed(run).is_active, timeout=90, message="the run never ended", logs=workers.logs
    )
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.attempts == 2
    assert ModelVersion.objects.count() == 1
    assert ModelVersion.objects.get().run_key == run.run_key
    assert "WorkerLostError" in worker.log() or "exited prematurely" in worker.log()


# With a visibility timeout of an hour, Redis will not hand a dead worker's messages back during the test:
# whatever recovers the work can only be the leases and the recovery task.
NO_REDELIVERY = {
    "CELERY_VISIBILITY_TIMEOUT": "3600",
    "PIPELINE_LEASE_SECONDS": "4",
    "PIPELINE_LEASE_RENEW_SECONDS": "1",
}


def recovering(run: Run, workers, *, timeout: float) -> float:
    """Send the recovery task every second, as beat does every minute, until the run ends; returns seconds."""
    from pipeline import tasks

    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if not refreshed(run).is_active:
            return time.monotonic() - started
        tasks.recover_runs.delay()
        time.sleep(1)
    raise AssertionError(f"run {run.pk} still {run.status} after {timeout} s\n{workers.logs()}")


def test_a_whole_worker_killed_mid_fan_out_is_recovered_by_leases_not_the_visibility_timeout(workers):
    build_shop_history(products=30)
    first = workers.start(
        concurrency=2, PIPELINE_FORECAST_CHUNK_SIZE="3", PIPELINE_STAGE_DELAY_SECONDS="1.5", **NO_REDELIVERY
    )
    run = services.run_request(kind=Run.Kind.FORECAST)
    wait_for(
        lambda: (
            refreshed(run).progress_done >= 3
            and ForecastChunk.objects.filter(run=run, status=ForecastChunk.Status.RUNNING).exists()
        ),
        timeout=90,
        message="no chunk of the forecast finished while another ran",
        logs=workers.logs,
    )
    held = set(ForecastChunk.objects.filter(run=run, status="running").values_list("pk", flat=True))

    first.kill()

    second = workers.start(concurrency=1, PIPELINE_FORECAST_CHUNK_SIZE="3", **NO_REDELIVERY)
    # Finishing at all proves the leases recovered it: Redis would hand the messages back after an hour.
    recovering(run, workers, timeout=180)

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert "restoring" not in second.log().lower(), "Redis must not have redelivered anything"
    chunks = {c.pk: c for c in ForecastChunk.objects.filter(run=run)}
    assert all(c.status == ForecastChunk.Status.DONE for c in chunks.values())
    assert all(chunks[pk].recoveries >= 1 for pk in held), "each chunk the dead worker held was sent again"
    forecast_run = ForecastRun.objects.get(pk=run.forecast_run_id)
    stored = list(ProductForecast.objects.filter(run=forecast_run).values_list("product_id", flat=True))
    assert sorted(stored) == sorted(forecast_run_product_ids(run=forecast_run))


def test_a_whole_worker_killed_mid_training_is_recovered_by_the_runs_lease(workers):
    build_shop_history()
    first = workers.start(PIPELINE_STAGE_DELAY_SECONDS="0.4", **NO_REDELIVERY)
    run = services.run_request(kind=Run.Kind.RECOMMENDER)
    wait_for(
        lambda: refreshed(run).status == Run.Status.RUNNING and run.stage != "" and run.lease_owner != "",
        timeout=60,
        message="the retrain never started",
        logs=workers.logs,
    )

    first.kill()
    workers.start(**NO_REDELIVERY)
    recovering(run, workers, timeout=120)

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.recoveries == 1 and run.attempts == 2
    assert ModelVersion.objects.get(is_active=True).pk == run.model_version_id
    assert ModelVersion.objects.count() == 1
