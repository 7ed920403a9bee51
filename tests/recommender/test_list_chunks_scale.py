"""Customer lists fanned out as leased chunks: the same lists as in one process, eager or on a real worker."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from recommender import services
from recommender.models import CustomerListChunk, CustomerRecommendation
from tests.integration.conftest import real_broker, redis_db, workers  # noqa: F401 (fixtures)

from .conftest import build_shop

FIELDS = [name for name in services.CUSTOMER_LIST_FIELDS if name != "version"]


def _lists(version) -> list[tuple]:
    rows = CustomerRecommendation.objects.filter(version=version).order_by("customer", "mode", "rank")
    # Scores to 5 digits: a block of other customers changes float32 sums in the last bits (BLAS).
    return [(*row[:4], round(row[4], 5), *row[5:]) for row in rows.values_list(*FIELDS)]


def _chunked(settings, size: int) -> None:
    settings.RECOMMENDER = {**settings.RECOMMENDER, "LIST_CHUNK_CUSTOMERS": size}


@pytest.mark.django_db
def test_chunked_lists_in_eager_mode_equal_the_lists_of_one_pass(settings):
    build_shop(n_customers=40)
    whole = services.recommender_train(activate=False)
    _chunked(settings, 7)
    chunked = services.recommender_train(activate=False)

    assert chunked.status == chunked.Status.READY
    assert _lists(chunked) == _lists(whole)
    assert chunked.counts["customer_list_rows"] == whole.counts["customer_list_rows"] > 0
    chunks = list(CustomerListChunk.objects.filter(version=chunked))
    assert len(chunks) == -(-chunked.counts["customers"] // 7)
    assert all(chunk.status == CustomerListChunk.Status.DONE and chunk.attempts == 1 for chunk in chunks)
    assert [(c.start, c.stop) for c in chunks][-1][1] == chunked.counts["customers"]
    # The engine file the workers read is gone once every chunk is done.
    assert not services._engine_path(chunked.pk).exists()


@pytest.mark.django_db
def test_a_live_lease_keeps_a_second_copy_out_and_an_expired_one_is_taken_over(settings):
    build_shop(n_customers=20)
    _chunked(settings, 5)
    version = services.recommender_train(activate=False)
    before = _lists(version)
    chunk = CustomerListChunk.objects.filter(version=version).order_by("index").first()
    # Another worker holds the chunk: a duplicate delivery exits without writing.
    far = timezone.now() + timedelta(minutes=5)
    CustomerListChunk.objects.filter(pk=chunk.pk).update(
        status=CustomerListChunk.Status.RUNNING, lease_owner="other:1:1", lease_expires_at=far
    )
    assert services.customer_list_chunk_run(version_id=version.pk, chunk_id=chunk.pk) == 0
    # Its lease ran out (the worker died): the chunk is claimed again and rewritten, with no duplicate.
    CustomerListChunk.objects.filter(pk=chunk.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert services.customer_list_chunk_run(version_id=version.pk, chunk_id=chunk.pk) > 0
    taken = CustomerListChunk.objects.get(pk=chunk.pk)
    assert taken.status == CustomerListChunk.Status.DONE and taken.attempts == 2
    assert taken.lease_owner != "other:1:1"
    assert _lists(version) == before
    # Without the engine (the version was cleared), a chunk is released, not half done.
    services._ENGINE_STATES.clear()
    CustomerListChunk.objects.filter(pk=chunk.pk).update(status=CustomerListChunk.Status.PENDING)
    assert services.customer_list_chunk_run(version_id=version.pk, chunk_id=chunk.pk) == 0
    assert CustomerListChunk.objects.get(pk=chunk.pk).status == CustomerListChunk.Status.PENDING


@pytest.mark.django_db
def test_a_done_chunk_is_never_written_twice(settings):
    build_shop(n_customers=20)
    _chunked(settings, 6)
    version = services.recommender_train(activate=False)
    chunk = CustomerListChunk.objects.filter(version=version).first()
    rows = CustomerRecommendation.objects.filter(version=version).count()
    assert services.customer_list_chunk_run(version_id=version.pk, chunk_id=chunk.pk) == 0
    assert CustomerRecommendation.objects.filter(version=version).count() == rows


def test_a_real_worker_computes_chunks_beside_the_trainer(workers, settings):  # noqa: F811
    """Two processes share the chunks: the trainer (this test) and a Celery worker on the training queue."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    build_shop(n_customers=60)
    whole = services.recommender_train(activate=False)
    _chunked(settings, 2)
    workers.start()
    chunked = services.recommender_train(activate=False)

    assert _lists(chunked) == _lists(whole)
    owners = set(CustomerListChunk.objects.filter(version=chunked).values_list("lease_owner", flat=True))
    mine = {owner for owner in owners if owner.split(":")[1] == str(os.getpid())}
    assert mine and owners - mine, f"expected chunks done by this process and by the worker: {owners}"


@pytest.mark.django_db
def test_a_worker_whose_chunk_was_taken_helps_with_the_pending_ones(settings):
    build_shop(n_customers=30)
    _chunked(settings, 4)
    version = services.recommender_train(activate=False)
    before = _lists(version)
    chunks = list(CustomerListChunk.objects.filter(version=version).order_by("index"))
    CustomerListChunk.objects.filter(pk__in=[c.pk for c in chunks[2:]]).update(
        status=CustomerListChunk.Status.PENDING
    )
    # Its own chunk is done: it goes on with every pending chunk, and the lists stay the same.
    assert services.customer_list_chunks_work(version_id=version.pk, chunk_id=chunks[0].pk) > 0
    assert not CustomerListChunk.objects.filter(version=version).exclude(status=CustomerListChunk.Status.DONE)
    assert _lists(version) == before
    # Without the engine (the version was cleared) it stops at once instead of spinning.
    services._ENGINE_STATES.clear()
    CustomerListChunk.objects.filter(pk=chunks[3].pk).update(status=CustomerListChunk.Status.PENDING)
    assert services.customer_list_chunks_work(version_id=version.pk, chunk_id=chunks[3].pk) == 0
