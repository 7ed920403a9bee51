"""Celery tasks of the recommender: one chunk of a version's customer lists.

Training (``services.recommender_train`` with ``RECOMMENDER["LIST_CHUNK_CUSTOMERS"]`` set) plans
the chunks and sends one of these per chunk to the training queue; every worker serving that queue
takes some, under a lease (``CustomerListChunk``). Idempotent: a copy that finds its chunk done or
leased by a live worker returns 0, so ``acks_late`` redelivery is safe.
"""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="recommender.tasks.customer_list_chunk", acks_late=True, reject_on_worker_lost=True)
def customer_list_chunk(version_id: int, chunk_id: int) -> int:
    return services.customer_list_chunks_work(version_id=version_id, chunk_id=chunk_id)
