"""Runs whose task message was lost: recognised by their silence, failed, no longer blocking their kind."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from pipeline import services, tasks
from pipeline.models import Run
from recommender.models import ModelVersion

silent_schedule = importlib.import_module("pipeline.migrations.0004_silent_run_schedule")

SILENCE = 600


@pytest.fixture
def silence(settings) -> int:
    settings.PIPELINE = {**settings.PIPELINE, "SILENT_RUN_SECONDS": SILENCE}
    return SILENCE


def last_heard(run: Run, seconds_ago: float) -> None:
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=seconds_ago))


def test_a_queued_run_whose_message_was_lost_no_longer_blocks_a_new_request(db, silence):
    lost = services.run_request(kind=Run.Kind.FORECAST)
    last_heard(lost, SILENCE + 5)

    fresh = services.run_request(kind=Run.Kind.FORECAST)

    lost.refresh_from_db()
    assert lost.status == Run.Status.FAILED
    assert "message was lost" in lost.error and "Start a new run" in lost.error
    assert fresh.pk != lost.pk and fresh.status == Run.Status.QUEUED
    assert services.run_begin(run_id=lost.pk) is None  # a late delivery of the lost run is ignored


def test_a_run_heard_from_within_the_silence_still_blocks_its_kind(db, silence):
    queued = services.run_request(kind=Run.Kind.FORECAST)
    last_heard(queued, SILENCE - 60)

    with pytest.raises(services.RunAlreadyActive):
        services.run_request(kind=Run.Kind.FORECAST)

    queued.refresh_from_db()
    assert queued.status == Run.Status.QUEUED


def test_starting_retrying_and_progress_each_count_as_a_sign_of_life(db, silence):
    run = services.run_request(kind=Run.Kind.FORECAST)
    for sign_of_life in (
        lambda: services.run_begin(run_id=run.pk),
        lambda: services.run_progress(run_id=run.pk, done=1, total=10, stage="forecasting"),
        lambda: services.run_note(run_id=run.pk, stage="retrying after OperationalError"),
    ):
        last_heard(run, SILENCE + 5)
        sign_of_life()
        assert services.run_reap_silent() == []
        run.refresh_from_db()
        assert run.status == Run.Status.RUNNING


def test_the_reaper_fails_only_silent_active_runs_and_takes_a_stranded_version_down(db, silence):
    silent = services.run_request(kind=Run.Kind.RECOMMENDER)
    services.run_begin(run_id=silent.pk)
    stranded = ModelVersion.objects.create(run_key=silent.run_key, as_of=timezone.now())
    last_heard(silent, SILENCE + 5)
    alive = services.run_request(kind=Run.Kind.FORECAST)
    finished_long_ago = Run.objects.create(kind=Run.Kind.FORECAST, status=Run.Status.SUCCEEDED)
    last_heard(finished_long_ago, 10 * SILENCE)

    assert tasks.reap_silent_runs.delay().get() == [silent.pk]

    statuses = dict(Run.objects.values_list("pk", "status"))
    assert statuses == {
        silent.pk: Run.Status.FAILED,
        alive.pk: Run.Status.QUEUED,
        finished_long_ago.pk: Run.Status.SUCCEEDED,
    }
    stranded.refresh_from_db()
    assert stranded.status == ModelVersion.Status.FAILED


def test_the_default_silence_outlasts_a_redelivered_message_running_to_its_hard_limit():
    from django.conf import settings

    assert settings.PIPELINE["SILENT_RUN_SECONDS"] >= (
        settings.CELERY_VISIBILITY_TIMEOUT + settings.CELERY_TASK_TIME_LIMIT
    )


def test_the_reaper_is_scheduled_every_quarter_hour_on_the_default_queue(db):
    # A transactional test may have flushed the migration's rows; the migration's own code restores them.
    silent_schedule.create_schedule(apps, None)
    silent_schedule.create_schedule(apps, None)

    task = PeriodicTask.objects.get(task="pipeline.tasks.reap_silent_runs")
    assert (task.interval.every, task.interval.period) == (15, "minutes")
    assert task.queue == "default" and task.enabled
