"""A run is either sent or failed: an unreachable broker fails it at once, a request that died is found."""

from __future__ import annotations

from datetime import timedelta

import kombu.utils.functional
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from config.celery import app as celery_app
from pipeline import services, tasks
from pipeline.models import Run

CLOSED_PORT = "redis://127.0.0.1:1/0"


@pytest.fixture
def unreachable_broker(monkeypatch):
    """Publish to a port nothing listens on, with fresh connection pools (none cached from other tests)."""
    monkeypatch.setenv("CELERY_BROKER_URL", CLOSED_PORT)  # Celery reads it before its own configuration
    keys = ("task_always_eager", "broker_url", "result_backend")
    saved = {key: celery_app.conf.get(key) for key in keys}

    def reset_pools() -> None:
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    reset_pools()
    celery_app.conf.update(task_always_eager=False, broker_url=CLOSED_PORT, result_backend=CLOSED_PORT)
    yield
    celery_app.conf.update(saved)
    reset_pools()


def test_a_run_whose_task_the_broker_refuses_is_failed_at_once_with_the_brokers_error(
    db, unreachable_broker, django_capture_on_commit_callbacks, monkeypatch, settings
):
    # How long the send may wait is what its retry policy sleeps (recorded here, not slept) plus one
    # connect timeout per try; a refused port costs no timeout. No wall clock, so a busy box cannot fail it.
    slept: list[float] = []
    monkeypatch.setattr(kombu.utils.functional, "sleep", slept.append)
    with pytest.raises(services.RunNotSent) as refused, django_capture_on_commit_callbacks(execute=True):
        services.run_request(kind=Run.Kind.RECOMMENDER)

    policy = settings.PIPELINE["SEND_RETRY_POLICY"]
    assert 1 <= len(slept) <= policy["max_retries"]  # it did retry, a bounded number of times
    assert sum(slept) <= policy["max_retries"] * policy["interval_max"] <= 5
    assert settings.CELERY_BROKER_CONNECTION_TIMEOUT <= 5
    run = Run.objects.get()
    assert run.status == Run.Status.FAILED
    assert "Connection refused" in run.error and "127.0.0.1:1" in run.error
    assert "result store" not in run.error
    assert run.sent_at is None and run.finished_at is not None
    assert refused.value.run.pk == run.pk


def test_after_a_refused_send_the_next_request_is_accepted(
    db, unreachable_broker, django_capture_on_commit_callbacks
):
    with pytest.raises(services.RunNotSent), django_capture_on_commit_callbacks(execute=True):
        services.run_request(kind=Run.Kind.FORECAST)

    with django_capture_on_commit_callbacks(execute=False):
        again = services.run_request(kind=Run.Kind.FORECAST)  # not RunAlreadyActive

    assert again.status == Run.Status.QUEUED
    assert list(Run.objects.order_by("pk").values_list("status", flat=True)) == ["failed", "queued"]


@pytest.mark.django_db(transaction=True)
def test_start_run_against_an_unreachable_broker_exits_with_the_brokers_error(unreachable_broker):
    with pytest.raises(CommandError, match="Connection refused"):
        call_command("start_run", "recommender")

    assert Run.objects.get().status == Run.Status.FAILED


def test_a_run_sent_successfully_is_marked_sent(db, django_capture_on_commit_callbacks, monkeypatch):
    sent: list[tuple] = []
    monkeypatch.setattr(services, "_broker_is_eager", lambda: False)
    monkeypatch.setattr(services, "_send", lambda task, args: sent.append((task.name, args)))

    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_request(kind=Run.Kind.RECOMMENDER)

    run.refresh_from_db()
    assert sent == [("pipeline.tasks.recommender_retrain", (run.pk,))]
    assert run.status == Run.Status.QUEUED and run.sent_at is not None


@pytest.fixture
def grace(settings) -> int:
    settings.PIPELINE = {**settings.PIPELINE, "UNSENT_GRACE_SECONDS": 60}
    return 60


def created_ago(run: Run, seconds: float) -> None:
    Run.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))


def unsent_run(capture) -> Run:
    """A run saved and committed whose request never got to send it (the send callback is dropped)."""
    with capture(execute=False):
        return services.run_request(kind=Run.Kind.RECOMMENDER)


def test_a_run_never_sent_blocks_its_kind_only_for_the_grace(db, grace, django_capture_on_commit_callbacks):
    orphan = unsent_run(django_capture_on_commit_callbacks)
    created_ago(orphan, grace - 10)
    with pytest.raises(services.RunAlreadyActive):
        services.run_request(kind=Run.Kind.RECOMMENDER)

    created_ago(orphan, grace + 1)
    with django_capture_on_commit_callbacks(execute=False):
        fresh = services.run_request(kind=Run.Kind.RECOMMENDER)

    orphan.refresh_from_db()
    assert orphan.status == Run.Status.FAILED and "stopped before its task was sent" in orphan.error
    assert fresh.status == Run.Status.QUEUED


def test_the_recovery_task_fails_unsent_runs_but_not_sent_ones_waiting_in_the_queue(
    db, grace, django_capture_on_commit_callbacks
):
    orphan = unsent_run(django_capture_on_commit_callbacks)
    waiting = Run.objects.create(kind=Run.Kind.FORECAST, sent_at=timezone.now())
    created_ago(orphan, grace + 1)
    created_ago(waiting, grace + 1)

    report = tasks.recover_runs.apply().get()

    assert report["unsent"] == [orphan.pk]
    orphan.refresh_from_db()
    waiting.refresh_from_db()
    assert orphan.status == Run.Status.FAILED
    assert waiting.status == Run.Status.QUEUED


def test_a_delivery_marks_a_run_sent_even_if_its_sender_died_after_publishing(db, grace):
    run = Run.objects.create(kind=Run.Kind.RECOMMENDER)
    created_ago(run, grace + 1)

    claimed = services.run_begin(run_id=run.pk)

    assert claimed is not None and claimed.sent_at is not None
    assert services.run_reap_unsent() == []
