"""Leases: a unit of work held by a live worker is not done twice; one whose worker died is sent again."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

import inventory.services
from pipeline import services, tasks
from pipeline.models import ForecastChunk, Run
from tests.pipeline.shop_data import build_shop_history


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, tuple]]:
    """A broker that records what is published (recovery sends only when there is a broker)."""
    published: list[tuple[str, tuple]] = []
    monkeypatch.setattr(services, "_broker_is_eager", lambda: False)
    monkeypatch.setattr(services, "_send", lambda task, args: published.append((task.name, args)))
    return published


def running_run(kind: str = Run.Kind.FORECAST, **fields) -> Run:
    return Run.objects.create(kind=kind, status=Run.Status.RUNNING, sent_at=timezone.now(), **fields)


def expired(seconds: float = 5) -> dict:
    return {
        "lease_owner": "elsewhere:1:dead",
        "lease_expires_at": timezone.now() - timedelta(seconds=seconds),
    }


def live() -> dict:
    return {"lease_owner": "elsewhere:1:alive", "lease_expires_at": timezone.now() + timedelta(seconds=60)}


def test_a_chunk_delivered_while_a_live_worker_holds_its_lease_exits_without_forecasting(db, monkeypatch):
    calls: list[list[int]] = []
    monkeypatch.setattr(inventory.services, "forecast_chunk", lambda **kw: calls.append(kw["product_ids"]))
    run = running_run(forecast_run_id=1)
    chunk = ForecastChunk.objects.create(run=run, index=0, product_ids=[1, 2], status="running", **live())

    assert tasks.forecast_chunk.apply(args=[run.pk, chunk.pk]).get() == 0

    assert calls == []
    chunk.refresh_from_db()
    assert chunk.lease_owner == "elsewhere:1:alive" and chunk.attempts == 0


def test_a_chunk_that_is_done_is_not_forecast_again(db, monkeypatch):
    calls: list[list[int]] = []
    monkeypatch.setattr(inventory.services, "forecast_chunk", lambda **kw: calls.append(kw["product_ids"]))
    run = running_run(forecast_run_id=1)
    chunk = ForecastChunk.objects.create(run=run, index=0, product_ids=[1], status="done")

    assert tasks.forecast_chunk.apply(args=[run.pk, chunk.pk]).get() == 0
    assert calls == []


def test_a_chunk_whose_lease_expired_is_taken_over_by_the_next_delivery(db, monkeypatch):
    monkeypatch.setattr(inventory.services, "forecast_chunk", lambda **kw: len(kw["product_ids"]))
    monkeypatch.setattr(services, "run_count_forecasts", lambda **kw: 0)
    finished: list[tuple] = []
    monkeypatch.setattr(services, "forecast_finish_send", lambda **kw: finished.append(kw))
    run = running_run(forecast_run_id=9)
    chunk = ForecastChunk.objects.create(
        run=run, index=0, product_ids=[1, 2, 3], status="running", **expired()
    )

    assert tasks.forecast_chunk.apply(args=[run.pk, chunk.pk]).get() == 3

    chunk.refresh_from_db()
    assert chunk.status == ForecastChunk.Status.DONE and chunk.attempts == 1 and chunk.lease_owner == ""
    assert finished == [{"run_id": run.pk, "forecast_run_id": 9}]  # the last chunk sends the finish


def test_a_lease_held_by_a_process_that_died_on_this_host_is_void_at_once(db):
    dead_pid = 2**22 + 12345  # above any pid this machine hands out
    owner = f"{services.socket.gethostname()}:{dead_pid}:x"
    run = running_run(lease_owner=owner, lease_expires_at=timezone.now() + timedelta(seconds=60))

    assert services.run_claim(run_id=run.pk, owner="me:1:y", begin=True) is not None


def test_a_recommender_delivered_twice_while_the_first_copy_trains_does_not_train_twice(db, monkeypatch):
    trained: list[str] = []
    monkeypatch.setattr("recommender.services.recommender_train", lambda **kw: trained.append(kw["run_key"]))
    run = running_run(Run.Kind.RECOMMENDER, **live())

    assert tasks.recommender_retrain.apply(args=[run.pk]).get() is None

    assert trained == []
    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING and run.lease_owner == "elsewhere:1:alive"


def test_recovery_sends_again_the_chunks_and_runs_whose_lease_expired_and_leaves_live_ones(db, sent):
    forecast = running_run(forecast_run_id=4)
    dead_chunk = ForecastChunk.objects.create(
        run=forecast, index=0, product_ids=[1], status="running", **expired()
    )
    live_chunk = ForecastChunk.objects.create(
        run=forecast, index=1, product_ids=[2], status="running", **live()
    )
    recommender = running_run(Run.Kind.RECOMMENDER, **expired())

    report = services.run_recover()

    assert report["chunks"] == [dead_chunk.pk] and report["runs"] == [recommender.pk]
    assert sorted(sent) == sorted(
        [
            ("pipeline.tasks.forecast_chunk", (forecast.pk, dead_chunk.pk)),
            ("pipeline.tasks.recommender_retrain", (recommender.pk,)),
        ]
    )
    dead_chunk.refresh_from_db()
    live_chunk.refresh_from_db()
    recommender.refresh_from_db()
    assert dead_chunk.status == ForecastChunk.Status.PENDING and dead_chunk.recoveries == 1
    assert live_chunk.status == ForecastChunk.Status.RUNNING and live_chunk.recoveries == 0
    assert recommender.lease_owner == "" and recommender.recoveries == 1
    assert recommender.stage == "worker lost; sent again"

    assert services.run_recover()["chunks"] == []  # nothing is sent twice for one death


def test_a_chunk_that_keeps_killing_its_worker_fails_the_run_instead_of_looping(db, sent, settings):
    settings.PIPELINE = {**settings.PIPELINE, "MAX_RECOVERIES": 2}
    run = running_run(forecast_run_id=4)
    ForecastChunk.objects.create(
        run=run, index=0, product_ids=[1], status="running", recoveries=2, **expired()
    )

    services.run_recover()

    run.refresh_from_db()
    assert run.status == Run.Status.FAILED and "lost its worker 3 times" in run.error
    assert sent == []


def test_a_forecast_start_that_died_before_planning_is_sent_again(db, sent):
    starting = running_run(**expired())

    services.run_recover()

    assert sent == [("pipeline.tasks.forecast_retrain", (starting.pk,))]


def test_a_forecast_finish_that_died_is_sent_again_once_every_chunk_is_done(db, sent):
    finishing = running_run(forecast_run_id=7, **expired())
    ForecastChunk.objects.create(run=finishing, index=0, product_ids=[1], status="done")

    services.run_recover()

    assert sent == [("pipeline.tasks.forecast_finish", (finishing.pk, 7))]


def test_chunks_planned_but_never_sent_are_sent_after_the_grace(db, sent, settings):
    settings.PIPELINE = {**settings.PIPELINE, "UNSENT_GRACE_SECONDS": 60}
    long_ago = timezone.now() - timedelta(seconds=61)
    planned = running_run(forecast_run_id=3)
    chunk = ForecastChunk.objects.create(run=planned, index=0, product_ids=[1], created_at=long_ago)
    recent = ForecastChunk.objects.create(run=planned, index=1, product_ids=[2])

    services.run_recover()

    assert sent == [("pipeline.tasks.forecast_chunk", (planned.pk, chunk.pk))]
    chunk.refresh_from_db()
    recent.refresh_from_db()
    assert chunk.sent_at is not None and recent.sent_at is None


def test_a_finish_never_sent_after_the_last_chunk_is_sent_after_the_grace(db, sent, settings):
    settings.PIPELINE = {**settings.PIPELINE, "UNSENT_GRACE_SECONDS": 60}
    long_ago = timezone.now() - timedelta(seconds=61)
    done = running_run(forecast_run_id=5)
    Run.objects.filter(pk=done.pk).update(heartbeat_at=long_ago)
    ForecastChunk.objects.create(run=done, index=0, product_ids=[1], status="done", sent_at=long_ago)

    services.run_recover()
    assert sent == [("pipeline.tasks.forecast_finish", (done.pk, 5))]

    services.run_recover()  # the send counts as a sign of life: not sent again within the grace
    assert len(sent) == 1


def test_without_a_broker_a_run_whose_process_died_is_failed_by_the_next_request(db, settings):
    settings.PIPELINE = {**settings.PIPELINE, "LEASE_SECONDS": 30}
    dead = running_run(Run.Kind.RECOMMENDER)
    Run.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=31))

    services.run_request(kind=Run.Kind.RECOMMENDER)

    dead.refresh_from_db()
    assert dead.status == Run.Status.FAILED and "no broker to send it again" in dead.error


@pytest.mark.django_db(transaction=True)
def test_a_lease_is_renewed_while_the_work_runs_and_released_when_it_ends(settings):
    settings.PIPELINE = {**settings.PIPELINE, "LEASE_SECONDS": 2, "LEASE_RENEW_SECONDS": 0.2}
    run = Run.objects.create(kind=Run.Kind.RECOMMENDER, sent_at=timezone.now())

    with services.run_lease(run_id=run.pk, begin=True) as held:
        first = Run.objects.get(pk=run.pk).lease_expires_at
        time.sleep(1.0)
        renewed = Run.objects.get(pk=run.pk)
        assert held is not None and renewed.lease_expires_at > first
        assert renewed.heartbeat_at > first - timedelta(seconds=2)

    run.refresh_from_db()
    assert run.lease_owner == "" and run.lease_expires_at is None and run.attempts == 1


def test_a_full_forecast_run_records_its_chunks_done_each_claimed_once(
    db, settings, django_capture_on_commit_callbacks
):
    settings.PIPELINE = {**settings.PIPELINE, "FORECAST_CHUNK_SIZE": 7}
    build_shop_history(products=20)

    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_request(kind=Run.Kind.FORECAST)

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    chunks = list(ForecastChunk.objects.filter(run=run))
    assert len(chunks) == 3
    assert all(c.status == ForecastChunk.Status.DONE and c.attempts == 1 and c.sent_at for c in chunks)
    assert run.lease_owner == "" and run.lease_expires_at is None


def test_the_shipped_defaults_recover_a_dead_worker_within_five_minutes_and_tolerate_missed_renewals():
    from config.settings import base

    lease, renew = base.PIPELINE["LEASE_SECONDS"], base.PIPELINE["LEASE_RENEW_SECONDS"]
    recovery_interval = 60  # pipeline.migrations.0006: the recovery task runs every minute
    assert lease + recovery_interval <= 5 * 60
    assert renew * 3 <= lease, "a lease survives at least two missed renewals under load"
    assert base.PIPELINE["UNSENT_GRACE_SECONDS"] <= 5 * 60
