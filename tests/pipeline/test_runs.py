"""Run records and the overlap guard: one queued or running run per kind, enforced by the database."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from pipeline import services, tasks
from pipeline.models import Run
from recommender.models import ModelVersion


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")


def test_a_requested_run_is_queued_with_who_asked_and_its_task_waits_for_the_commit(
    db, staff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.run_request(kind=Run.Kind.FORECAST, requested_by=staff)

    assert len(callbacks) == 1
    run.refresh_from_db()
    assert run.status == Run.Status.QUEUED
    assert run.requested_by == staff
    assert run.trigger == Run.Trigger.ADMIN
    assert run.started_at is None and run.finished_at is None


def test_a_second_request_while_one_is_queued_is_refused_with_a_message_naming_the_running_run(db):
    first = services.run_request(kind=Run.Kind.RECOMMENDER)

    with pytest.raises(services.RunAlreadyActive) as refused:
        services.run_request(kind=Run.Kind.RECOMMENDER)

    assert refused.value.run == first
    assert f"run #{first.pk}" in str(refused.value)
    assert "already queued" in str(refused.value)
    assert Run.objects.count() == 1


def test_a_second_request_with_join_returns_the_active_run_instead_of_starting_another(db):
    first = services.run_request(kind=Run.Kind.RECOMMENDER)

    joined = services.run_request(kind=Run.Kind.RECOMMENDER, join=True)

    assert joined.pk == first.pk
    assert Run.objects.count() == 1


def test_runs_of_different_kinds_may_overlap_and_a_finished_run_does_not_block_the_next(db):
    recommender = services.run_request(kind=Run.Kind.RECOMMENDER)
    services.run_request(kind=Run.Kind.FORECAST)
    services.run_begin(run_id=recommender.pk)
    services.run_succeed(run_id=recommender.pk, model_version_id=7)

    again = services.run_request(kind=Run.Kind.RECOMMENDER)

    assert again.pk != recommender.pk
    assert Run.objects.active().count() == 2


def test_the_database_refuses_a_second_active_run_of_a_kind_even_without_the_service(db):
    Run.objects.create(kind=Run.Kind.FORECAST, status=Run.Status.RUNNING)
    Run.objects.create(kind=Run.Kind.FORECAST, status=Run.Status.FAILED)

    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.create(kind=Run.Kind.FORECAST, status=Run.Status.QUEUED)


@pytest.mark.django_db(transaction=True)
def test_simultaneous_requests_from_many_connections_create_exactly_one_run(postgres):
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def request() -> None:
        try:
            barrier.wait()
            services.run_request(kind=Run.Kind.RECOMMENDER, trigger=Run.Trigger.API)
            outcomes.append("started")
        except services.RunAlreadyActive:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(6)]
    with _no_enqueue():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert sorted(outcomes) == ["refused"] * 5 + ["started"]
    assert Run.objects.count() == 1


class _no_enqueue:
    """Keep the runs queued: this test is about the guard, not about training."""

    def __enter__(self):
        self.saved = services._enqueue
        services._enqueue = lambda run, **_: None

    def __exit__(self, *exc):
        services._enqueue = self.saved


def test_a_repeated_delivery_of_a_finished_run_is_ignored_and_failure_does_not_overwrite_success(db):
    run = services.run_request(kind=Run.Kind.FORECAST)
    assert services.run_begin(run_id=run.pk).status == Run.Status.RUNNING
    services.run_succeed(run_id=run.pk, forecast_run_id=3)

    assert services.run_begin(run_id=run.pk) is None
    services.run_fail(run_id=run.pk, error="late failure")

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert run.error == ""
    assert run.attempts == 1
    assert run.forecast_run_id == 3


def test_a_recommender_run_that_fails_mid_training_takes_its_unfinished_version_down_with_it(db):
    run = services.run_request(kind=Run.Kind.RECOMMENDER)
    services.run_begin(run_id=run.pk)
    # What a hard time limit leaves behind: the task claimed its version and was killed.
    stranded = ModelVersion.objects.create(run_key=run.run_key, as_of=timezone.now())
    finished = ModelVersion.objects.create(
        run_key="pipeline-run-earlier", as_of=timezone.now(), status=ModelVersion.Status.READY
    )

    services.run_fail(run_id=run.pk, error="TimeLimitExceeded(3600)")

    stranded.refresh_from_db()
    assert stranded.status == ModelVersion.Status.FAILED
    assert f"Run #{run.pk}" in stranded.error and "TimeLimitExceeded" in stranded.error
    finished.refresh_from_db()
    assert finished.status == ModelVersion.Status.READY


def test_progress_is_recorded_while_running_and_clamped_to_the_total(db):
    run = services.run_request(kind=Run.Kind.FORECAST)
    services.run_begin(run_id=run.pk)

    services.run_progress(run_id=run.pk, done=40, total=100, stage="forecasting")
    run.refresh_from_db()
    assert (run.progress_done, run.progress_total, run.stage) == (40, 100, "forecasting")

    services.run_progress(run_id=run.pk, done=140, total=100, stage="forecasting")
    run.refresh_from_db()
    assert run.progress_done == 100


def test_the_nightly_schedule_skips_a_kind_that_is_already_running(db, django_capture_on_commit_callbacks):
    active = services.run_request(kind=Run.Kind.FORECAST)

    assert tasks.scheduled_retrain.apply(kwargs={"kind": Run.Kind.FORECAST}).get() is None
    assert list(Run.objects.values_list("pk", flat=True)) == [active.pk]


def test_the_nightly_schedule_starts_a_run_marked_as_scheduled(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run_id = tasks.scheduled_retrain.apply(kwargs={"kind": Run.Kind.RECOMMENDER}).get()

    run = Run.objects.get(pk=run_id)
    assert run.trigger == Run.Trigger.SCHEDULE
    assert run.kind == Run.Kind.RECOMMENDER


def test_start_run_command_refuses_while_a_run_of_the_kind_is_active(db):
    active = services.run_request(kind=Run.Kind.RECOMMENDER)

    with pytest.raises(CommandError, match=f"run #{active.pk}"):
        call_command("start_run", "recommender")


def test_an_unknown_kind_is_rejected(db):
    with pytest.raises(ValueError, match="Unknown run kind"):
        services.run_request(kind="everything")
