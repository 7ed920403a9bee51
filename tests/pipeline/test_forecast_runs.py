"""Forecast retrains as tracked runs: products fan out as chunks, then one finish step, executed eagerly."""

from __future__ import annotations

import math

import pytest

import inventory.services
from inventory.models import ProductForecast
from pipeline import services, tasks
from pipeline.models import Run
from tests.pipeline.shop_data import build_shop_history


@pytest.fixture
def shop_history(db, settings):
    settings.PIPELINE = {**settings.PIPELINE, "FORECAST_CHUNK_SIZE": 5}
    return build_shop_history(products=23)


def start_and_run(capture) -> Run:
    with capture(execute=True):
        run = services.run_request(kind=Run.Kind.FORECAST)
    run.refresh_from_db()
    return run


def test_a_forecast_run_forecasts_every_product_once_in_chunks_and_then_finishes(
    shop_history, django_capture_on_commit_callbacks, monkeypatch
):
    chunks: list[list[int]] = []
    finished: list[int] = []
    real_chunk, real_finish = inventory.services.forecast_chunk, inventory.services.forecast_run_finish

    def spy_chunk(*, run_id, product_ids):
        chunks.append(list(product_ids))
        return real_chunk(run_id=run_id, product_ids=product_ids)

    def spy_finish(*, run_id):
        finished.append(run_id)
        return real_finish(run_id=run_id)

    monkeypatch.setattr(inventory.services, "forecast_chunk", spy_chunk)
    monkeypatch.setattr(inventory.services, "forecast_run_finish", spy_finish)

    run = start_and_run(django_capture_on_commit_callbacks)

    assert run.status == Run.Status.SUCCEEDED, run.error
    forecast_run = inventory.services.ForecastRun.objects.get(pk=run.forecast_run_id)
    product_ids = inventory.services.forecast_run_product_ids(run=forecast_run)
    assert len(product_ids) > 5
    assert len(chunks) == math.ceil(len(product_ids) / 5)
    assert all(len(chunk) <= 5 for chunk in chunks)
    assert sorted(pid for chunk in chunks for pid in chunk) == sorted(product_ids)
    assert finished == [forecast_run.pk]
    stored = list(ProductForecast.objects.filter(run=forecast_run).values_list("product_id", flat=True))
    assert sorted(stored) == sorted(product_ids)
    assert run.progress_total == len(product_ids) and run.progress_done == run.progress_total


def test_a_chunk_with_a_permanent_error_fails_the_run_with_that_error_and_nothing_is_finished(
    shop_history, django_capture_on_commit_callbacks, monkeypatch
):
    real_chunk = inventory.services.forecast_chunk
    finished: list[int] = []

    def chunk_that_breaks_on_its_third_call(*, run_id, product_ids, calls=[]):  # noqa: B006 - a call counter
        calls.append(1)
        if len(calls) == 3:
            raise ZeroDivisionError("series of length zero")
        return real_chunk(run_id=run_id, product_ids=product_ids)

    monkeypatch.setattr(inventory.services, "forecast_chunk", chunk_that_breaks_on_its_third_call)
    monkeypatch.setattr(inventory.services, "forecast_run_finish", lambda *, run_id: finished.append(run_id))

    run = start_and_run(django_capture_on_commit_callbacks)

    assert run.status == Run.Status.FAILED
    assert "ZeroDivisionError: series of length zero" in run.error
    assert finished == []


def test_finish_forecasts_products_whose_chunk_has_not_been_stored_before_closing_the_run(
    shop_history, django_capture_on_commit_callbacks, monkeypatch
):
    with django_capture_on_commit_callbacks(execute=False):
        run = services.run_request(kind=Run.Kind.FORECAST)
    services.run_begin(run_id=run.pk)
    forecast_run = inventory.services.forecast_run_start(run_key=run.run_key)
    product_ids = inventory.services.forecast_run_product_ids(run=forecast_run)
    inventory.services.forecast_chunk(run_id=forecast_run.pk, product_ids=product_ids[:3])

    tasks.forecast_finish.apply(args=[run.pk, forecast_run.pk]).get()

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    stored = list(ProductForecast.objects.filter(run=forecast_run).values_list("product_id", flat=True))
    assert sorted(stored) == sorted(product_ids)
