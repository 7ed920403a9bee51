"""Without a broker, the admin's retrain button runs off the request, in a thread, under the same run."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.urls import reverse

from pipeline import services
from pipeline.models import Run
from recommender.models import ModelVersion
from tests.pipeline.shop_data import build_shop_history


def wait_for_background_runs(timeout: float = 120) -> None:
    for thread in list(services.background_threads):
        thread.join(timeout)
        assert not thread.is_alive(), f"{thread.name} still running after {timeout} s"


@pytest.fixture
def gated_training(monkeypatch):
    """Hold the retrain at its start until the test opens the gate, so 'answers at once' is observable."""
    import recommender.services

    gate = threading.Event()
    real_train = recommender.services.recommender_train

    def train(**kwargs):
        assert gate.wait(60), "the test never released the retrain"
        return real_train(**kwargs)

    monkeypatch.setattr(recommender.services, "recommender_train", train)
    return gate


@pytest.mark.django_db(transaction=True)
def test_the_admin_button_without_a_broker_answers_before_the_retrain_ends_and_the_run_completes(
    client, gated_training
):
    build_shop_history()
    staff = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(staff)

    response = client.post(reverse("admin:pipeline_run_start", args=["recommender"]), follow=True)

    # The retrain is still held at its gate, so the page can only have come back because it did not wait.
    run = Run.objects.get()
    assert response.status_code == 200
    assert f"run #{run.pk}" in response.content.decode()
    assert run.is_active
    assert not ModelVersion.objects.exists()
    with pytest.raises(services.RunAlreadyActive):  # the same overlap guard holds while it runs
        services.run_request(kind=Run.Kind.RECOMMENDER, background=True)

    gated_training.set()
    wait_for_background_runs()

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.requested_by == staff and run.attempts == 1
    assert ModelVersion.objects.get(is_active=True).pk == run.model_version_id


@pytest.mark.django_db(transaction=True)
def test_a_background_run_closes_its_database_connection_when_it_ends(monkeypatch):
    closed_in: list[str] = []
    real_close_all = connections.close_all

    def close_all():
        closed_in.append(threading.current_thread().name)
        real_close_all()

    monkeypatch.setattr(connections, "close_all", close_all)

    run = services.run_request(kind=Run.Kind.RECOMMENDER, background=True)
    wait_for_background_runs()

    run.refresh_from_db()
    assert not run.is_active  # no shop data: the run fails, and still ends and cleans up
    assert f"pipeline-run-{run.pk}" in closed_in  # (its lease renewer closes its own too)


@pytest.mark.django_db(transaction=True)
def test_without_background_an_eager_run_still_executes_inline_in_the_caller():
    build_shop_history()

    run = services.run_request(kind=Run.Kind.RECOMMENDER)

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert not [t for t in services.background_threads if t.is_alive()]
