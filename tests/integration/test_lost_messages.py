"""A broker that loses a queued run's message (a flush, or a restart without persistence)."""

from __future__ import annotations

import time

import pytest

from pipeline import services
from pipeline.models import Run
from recommender.models import ModelVersion
from tests.integration.conftest import wait_for
from tests.pipeline.shop_data import build_shop_history

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

SILENCE_SECONDS = 3


def test_a_run_whose_message_redis_lost_is_failed_and_the_next_request_trains(workers, redis_db, settings):
    settings.PIPELINE = {**settings.PIPELINE, "SILENT_RUN_SECONDS": SILENCE_SECONDS}
    build_shop_history()
    lost = services.run_request(kind=Run.Kind.RECOMMENDER)
    assert redis_db.llen("training") == 1
    redis_db.flushdb()
    workers.start()

    time.sleep(SILENCE_SECONDS + 1)  # a worker is up, yet nothing can deliver the lost run
    lost.refresh_from_db()
    assert lost.status == Run.Status.QUEUED

    retry = services.run_request(kind=Run.Kind.RECOMMENDER)

    lost.refresh_from_db()
    assert lost.status == Run.Status.FAILED and "message was lost" in lost.error
    wait_for(
        lambda: Run.objects.get(pk=retry.pk).status == Run.Status.SUCCEEDED,
        timeout=120,
        message="the run requested after the loss never finished",
        logs=workers.logs,
    )
    retry.refresh_from_db()
    assert ModelVersion.objects.get(is_active=True).pk == retry.model_version_id
