"""Staff start runs from the admin; the nightly schedules exist and stay editable."""

from __future__ import annotations

import importlib
import json

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from pipeline import services
from pipeline.models import Run

default_schedules = importlib.import_module("pipeline.migrations.0002_default_schedules")


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    client.user = user
    return client


def test_the_run_list_shows_a_start_button_for_each_kind(staff_client):
    page = staff_client.get(reverse("admin:pipeline_run_changelist")).content.decode()

    assert reverse("admin:pipeline_run_start", args=["recommender"]) in page
    assert reverse("admin:pipeline_run_start", args=["forecast"]) in page
    assert "Retrain recommender now" in page
    assert "Retrain forecasts now" in page


def test_the_start_button_queues_a_run_recorded_as_started_by_that_staff_member(staff_client):
    response = staff_client.post(reverse("admin:pipeline_run_start", args=["forecast"]), follow=True)

    run = Run.objects.get()
    assert run.kind == Run.Kind.FORECAST
    assert run.requested_by == staff_client.user
    assert run.trigger == Run.Trigger.ADMIN
    assert f"run #{run.pk}" in response.content.decode()


def test_pressing_start_while_a_run_is_active_shows_the_refusal_and_starts_nothing(staff_client):
    active = services.run_request(kind=Run.Kind.RECOMMENDER)

    response = staff_client.post(reverse("admin:pipeline_run_start", args=["recommender"]), follow=True)

    assert Run.objects.count() == 1
    assert f"already queued (run #{active.pk}" in response.content.decode()


def test_the_start_button_refuses_a_get_and_staff_without_permission(client, db):
    user = get_user_model().objects.create_user("clerk", "clerk@example.com", "pw", is_staff=True)
    client.force_login(user)

    assert client.get(reverse("admin:pipeline_run_start", args=["forecast"])).status_code == 405
    client.post(reverse("admin:pipeline_run_start", args=["forecast"]))
    assert not Run.objects.exists()


def test_the_stuck_run_action_marks_active_runs_failed_so_a_new_one_can_start(staff_client):
    stuck = services.run_request(kind=Run.Kind.FORECAST)

    staff_client.post(
        reverse("admin:pipeline_run_changelist"),
        {"action": "mark_failed", "_selected_action": [stuck.pk]},
    )

    stuck.refresh_from_db()
    assert stuck.status == Run.Status.FAILED
    assert "boss" in stuck.error
    services.run_request(kind=Run.Kind.FORECAST)


def test_the_default_schedules_retrain_the_recommender_nightly_and_the_forecast_after_it(db):
    # A transactional test may have flushed the migration's rows; the migration's own code restores them.
    default_schedules.create_schedules(apps, None)
    default_schedules.create_schedules(apps, None)

    recommender = PeriodicTask.objects.get(name="Nightly recommender retrain")
    forecast = PeriodicTask.objects.get(name="Nightly forecast retrain and reorder suggestions")
    assert PeriodicTask.objects.filter(task="pipeline.tasks.scheduled_retrain").count() == 2
    assert json.loads(recommender.kwargs) == {"kind": "recommender"}
    assert json.loads(forecast.kwargs) == {"kind": "forecast"}
    assert recommender.enabled and forecast.enabled
    assert int(recommender.crontab.hour) < int(forecast.crontab.hour)
    assert recommender.crontab.day_of_week == "*"


def test_the_schedules_are_editable_in_the_admin(staff_client):
    default_schedules.create_schedules(apps, None)
    task = PeriodicTask.objects.get(name="Nightly recommender retrain")

    page = staff_client.get(reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]))

    assert page.status_code == 200
    assert "Nightly recommender retrain" in page.content.decode()


def test_the_recommender_version_list_has_a_retrain_button_that_starts_a_run(staff_client):
    changelist = reverse("admin:recommender_modelversion_changelist")
    page = staff_client.get(changelist).content.decode()
    assert reverse("admin:pipeline_run_start", args=["recommender"]) in page
    assert "Retrain recommender now" in page

    response = staff_client.post(
        reverse("admin:pipeline_run_start", args=["recommender"]), {"next": changelist}
    )

    assert response.status_code == 302 and response["Location"] == changelist
    assert Run.objects.get().kind == Run.Kind.RECOMMENDER


def test_the_forecast_run_list_has_a_retrain_button_that_starts_a_forecast_run(staff_client):
    changelist = reverse("admin:inventory_forecastrun_changelist")
    page = staff_client.get(changelist).content.decode()
    assert reverse("admin:pipeline_run_start", args=["forecast"]) in page
    assert "Retrain forecasts now" in page

    staff_client.post(reverse("admin:pipeline_run_start", args=["forecast"]), {"next": changelist})

    assert Run.objects.get().kind == Run.Kind.FORECAST
