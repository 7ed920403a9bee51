"""The Celery configuration that the pipeline's crash safety depends on."""

from __future__ import annotations

from django.conf import settings
from django.db import OperationalError

from config.celery import app
from pipeline import tasks


def test_redis_visibility_timeout_outlasts_the_longest_task_plus_the_longest_retry_delay():
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    longest_task = max(settings.CELERY_TASK_TIME_LIMIT, settings.CELERY_TASK_SOFT_TIME_LIMIT)
    longest_delay = settings.PIPELINE_RETRY_BACKOFF_MAX  # retry_delay never waits longer
    assert visibility > longest_task + longest_delay
    assert settings.CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS["visibility_timeout"] == visibility


def test_messages_are_json_and_time_limits_have_a_soft_limit_before_the_hard_one():
    assert app.conf.task_serializer == "json"
    assert app.conf.result_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit


def test_long_jobs_are_routed_to_the_training_queue_and_bookkeeping_to_default():
    routes = app.conf.task_routes
    assert app.conf.task_default_queue == "default"
    for name in ("recommender_retrain", "forecast_chunk", "forecast_finish"):
        assert routes[f"pipeline.tasks.{name}"]["queue"] == "training"
    assert "pipeline.tasks.scheduled_retrain" not in routes
    assert "pipeline.tasks.forecast_retrain" not in routes
    assert app.conf.worker_prefetch_multiplier == 1


def test_every_run_task_acknowledges_late_and_requeues_when_its_worker_is_lost():
    for task in (
        tasks.recommender_retrain,
        tasks.forecast_retrain,
        tasks.forecast_chunk,
        tasks.forecast_finish,
    ):
        assert task.acks_late is True, task.name
        assert task.reject_on_worker_lost is True, task.name


def test_transient_errors_only_are_retried_and_with_the_pipelines_own_backoff():
    task = tasks.recommender_retrain
    assert OperationalError in task.autoretry_for
    assert ConnectionError in task.autoretry_for
    assert not any(issubclass(ValueError, error) for error in task.autoretry_for)
    assert task.retry_backoff is False  # Celery's full jitter is off; RunTask.retry sets the delay
    assert isinstance(task, tasks.RunTask)
    assert task.max_retries == settings.PIPELINE_MAX_RETRIES


def test_tasks_can_be_enqueued_after_commit():
    assert callable(tasks.recommender_retrain.delay_on_commit)


def test_each_worker_pool_process_caps_its_math_library_threads_so_processes_do_not_fight_for_cores(settings):
    from threadpoolctl import threadpool_info

    from config.celery import limit_math_threads

    settings.PIPELINE = {**settings.PIPELINE, "THREADS_PER_PROCESS": 1}
    limiter = limit_math_threads()
    try:
        pools = threadpool_info()
        assert pools, "numpy should have loaded a BLAS library"
        assert {pool["num_threads"] for pool in pools} == {1}
    finally:
        limiter.restore_original_limits()
