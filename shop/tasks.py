"""Periodic shop housekeeping on Celery: each task calls one service and returns a count."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="shop.tasks.expire_reservations", acks_late=True)
def expire_reservations() -> int:
    """Cancel open orders whose reservation lapsed, releasing their stock; safe to run twice."""
    return services.order_expire_stale()


@shared_task(name="shop.tasks.purge_idempotency_keys", acks_late=True)
def purge_idempotency_keys() -> int:
    """Forget Idempotency-Keys older than their window."""
    return services.idempotency_keys_purge()
