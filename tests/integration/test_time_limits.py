"""Time limits end a runaway retrain and the run records why, whether the task could clean up or not."""

from __future__ import annotations

import pytest

from pipeline import tasks
from pipeline.models import Run
from recommender.models import ModelVersion
from tests.integration.conftest import wait_for
from tests.pipeline.shop_data import build_shop_history

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def ended(run: Run):
    def check() -> bool:
        run.refresh_from_db()
        return not run.is_active

    return check


def test_the_soft_time_limit_fails_the_run_and_marks_its_half_trained_version_failed(workers):
    build_shop_history()
    workers.start(PIPELINE_STAGE_DELAY_SECONDS="1")
    run = Run.objects.create(kind=Run.Kind.RECOMMENDER)

    # The sender's limits travel in the message (here: this test's), so set them on the call.
    tasks.recommender_retrain.apply_async(args=[run.pk], soft_time_limit=2, time_limit=30)
    wait_for(ended(run), timeout=60, message="the run never ended", logs=workers.logs)

    assert run.status == Run.Status.FAILED
    assert "SoftTimeLimitExceeded" in run.error
    assert ModelVersion.objects.get(run_key=run.run_key).status == ModelVersion.Status.FAILED
    assert not ModelVersion.objects.filter(is_active=True).exists()


def test_the_hard_time_limit_kills_the_task_and_the_worker_records_the_failure_on_the_run(workers):
    build_shop_history()
    workers.start(PIPELINE_STAGE_DELAY_SECONDS="1", CELERY_TASK_SOFT_TIME_LIMIT="0")
    run = Run.objects.create(kind=Run.Kind.RECOMMENDER)

    tasks.recommender_retrain.apply_async(args=[run.pk], soft_time_limit=0, time_limit=3)
    wait_for(ended(run), timeout=60, message="the run never ended", logs=workers.logs)

    assert run.status == Run.Status.FAILED
    assert "TimeLimitExceeded" in run.error
    assert not ModelVersion.objects.filter(is_active=True).exists()
