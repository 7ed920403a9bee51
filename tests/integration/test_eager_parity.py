"""Eager execution (the embedded default) and a real worker give the same results on the same data."""

from __future__ import annotations

import pytest
from django.utils import timezone

from config.celery import app as celery_app
from inventory.models import ProductForecast
from pipeline import services
from pipeline.models import Run
from recommender.models import CustomerRecommendation, PopularProduct, SimilarProduct
from tests.integration.conftest import wait_for
from tests.pipeline.shop_data import build_shop_history

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def recommender_lists(version_id: int) -> dict[str, list[tuple]]:
    return {
        "customers": list(
            CustomerRecommendation.objects.filter(version_id=version_id)
            .order_by("customer_id", "mode", "rank")
            .values_list("customer_id", "mode", "rank", "product_id", "reason")
        ),
        "similar": list(
            SimilarProduct.objects.filter(version_id=version_id)
            .order_by("product_id", "rank")
            .values_list("product_id", "rank", "similar_id")
        ),
        "popular": list(
            PopularProduct.objects.filter(version_id=version_id)
            .order_by("rank")
            .values_list("rank", "product_id")
        ),
    }


def run_eagerly(kind: str, as_of) -> Run:
    celery_app.conf.task_always_eager = True
    try:
        run = services.run_request(kind=kind, as_of=as_of)
    finally:
        celery_app.conf.task_always_eager = False
    run.refresh_from_db()
    return run


def run_on_worker(kind: str, as_of, workers) -> Run:
    run = services.run_request(kind=kind, as_of=as_of)

    def ended() -> bool:
        run.refresh_from_db()
        return not run.is_active

    wait_for(ended, timeout=120, message=f"the {kind} run on the worker never ended", logs=workers.logs)
    return run


def test_a_recommender_run_gives_the_same_lists_eagerly_and_on_a_real_worker(workers):
    build_shop_history()
    as_of = timezone.now()

    eager = run_eagerly(Run.Kind.RECOMMENDER, as_of)
    assert eager.status == Run.Status.SUCCEEDED, eager.error
    workers.start()
    remote = run_on_worker(Run.Kind.RECOMMENDER, as_of, workers)
    assert remote.status == Run.Status.SUCCEEDED, remote.error

    assert remote.model_version_id != eager.model_version_id
    eager_lists = recommender_lists(eager.model_version_id)
    assert eager_lists["customers"] and eager_lists["similar"] and eager_lists["popular"]
    assert recommender_lists(remote.model_version_id) == eager_lists


def test_a_forecast_run_gives_the_same_forecasts_eagerly_and_fanned_out_over_a_real_worker(workers, settings):
    build_shop_history(products=20)
    as_of = timezone.now()
    settings.PIPELINE = {**settings.PIPELINE, "FORECAST_CHUNK_SIZE": 4}

    eager = run_eagerly(Run.Kind.FORECAST, as_of)
    assert eager.status == Run.Status.SUCCEEDED, eager.error
    workers.start(concurrency=2, PIPELINE_FORECAST_CHUNK_SIZE="4")
    remote = run_on_worker(Run.Kind.FORECAST, as_of, workers)
    assert remote.status == Run.Status.SUCCEEDED, remote.error

    def forecasts(forecast_run_id: int) -> dict[int, tuple]:
        rows = ProductForecast.objects.filter(run_id=forecast_run_id).order_by("product_id")
        return {row.product_id: forecast_signature(row) for row in rows}

    assert remote.forecast_run_id != eager.forecast_run_id
    eager_forecasts = forecasts(eager.forecast_run_id)
    assert len(eager_forecasts) == 20
    assert forecasts(remote.forecast_run_id) == eager_forecasts


def forecast_signature(row) -> tuple:
    """Every stored field of a product's forecast except its identity and timestamps."""
    skip = {"id", "run", "created_at", "updated_at"}
    return tuple(
        (field.attname, getattr(row, field.attname))
        for field in row._meta.concrete_fields
        if field.name not in skip
    )
