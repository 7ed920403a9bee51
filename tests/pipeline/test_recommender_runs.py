"""Recommender retrains as tracked runs, executed eagerly (the embedded default)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import OperationalError

import recommender.services
from pipeline import services
from pipeline.models import Run
from recommender.models import CustomerRecommendation, ModelVersion
from tests.pipeline.shop_data import build_shop_history


@pytest.fixture
def shop_history(db):
    return build_shop_history()


def start_and_run(kind: str, capture) -> Run:
    with capture(execute=True):
        run = services.run_request(kind=kind)
    run.refresh_from_db()
    return run


def test_a_recommender_run_trains_and_activates_a_version_and_records_its_progress(
    shop_history, django_capture_on_commit_callbacks
):
    run = start_and_run(Run.Kind.RECOMMENDER, django_capture_on_commit_callbacks)

    assert run.status == Run.Status.SUCCEEDED, run.error
    version = ModelVersion.objects.get()
    assert run.model_version_id == version.pk
    assert version.is_active
    assert CustomerRecommendation.objects.filter(version=version).exists()
    assert run.progress_total > 0 and run.progress_done == run.progress_total
    assert run.started_at <= run.finished_at
    assert run.attempts == 1


def test_a_dependency_that_fails_twice_is_retried_and_the_run_succeeds_with_one_version(
    shop_history, django_capture_on_commit_callbacks, monkeypatch
):
    real_train = recommender.services.recommender_train
    calls = []

    def flaky_train(**kwargs):
        calls.append(kwargs["run_key"])
        if len(calls) <= 2:
            raise OperationalError("could not connect to server")
        return real_train(**kwargs)

    monkeypatch.setattr(recommender.services, "recommender_train", flaky_train)

    run = start_and_run(Run.Kind.RECOMMENDER, django_capture_on_commit_callbacks)

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert len(calls) == 3 and len(set(calls)) == 1
    assert run.attempts == 3
    assert ModelVersion.objects.count() == 1


def test_a_permanent_error_fails_the_run_at_once_and_keeps_the_active_version_and_its_lists(
    shop_history, django_capture_on_commit_callbacks, monkeypatch
):
    first = start_and_run(Run.Kind.RECOMMENDER, django_capture_on_commit_callbacks)
    assert first.status == Run.Status.SUCCEEDED, first.error
    active = ModelVersion.objects.get(is_active=True)
    lists_before = CustomerRecommendation.objects.filter(version=active).count()
    calls = []

    def broken_lists(*args, **kwargs):
        calls.append(1)
        raise ValueError("customer lists cannot be written")

    monkeypatch.setattr(recommender.services, "_write_customer_lists", broken_lists)

    failed = start_and_run(Run.Kind.RECOMMENDER, django_capture_on_commit_callbacks)
    assert failed.pk != first.pk

    assert failed.status == Run.Status.FAILED
    assert "ValueError: customer lists cannot be written" in failed.error
    assert failed.attempts == 1 and len(calls) == 1
    assert ModelVersion.objects.get(is_active=True).pk == active.pk
    assert CustomerRecommendation.objects.filter(version=active).count() == lists_before


@pytest.mark.django_db(transaction=True)
def test_start_run_command_with_wait_runs_a_recommender_retrain_and_reports_success(capsys):
    build_shop_history()

    call_command("start_run", "recommender", "--wait", "--poll", "0.01", "--as-of", "2100-01-01")

    run = Run.objects.get()
    assert capsys.readouterr().out.strip() == f"run {run.pk} succeeded"
    assert run.trigger == Run.Trigger.COMMAND
    assert run.as_of.isoformat() == "2100-01-01T00:00:00+00:00"
    assert ModelVersion.objects.get(is_active=True).pk == run.model_version_id
