"""Runs are enqueued only when the transaction that created them commits."""

from __future__ import annotations

import pytest
from django.db import transaction

from pipeline import services
from pipeline.models import Run

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


class Abandon(Exception):
    pass


def test_a_run_requested_inside_a_rolled_back_transaction_sends_nothing_to_the_broker(
    postgres, transactional_db, real_broker, redis_db
):
    with pytest.raises(Abandon), transaction.atomic():
        services.run_request(kind=Run.Kind.RECOMMENDER)
        raise Abandon

    assert redis_db.llen("training") == 0
    assert redis_db.llen("default") == 0
    assert not Run.objects.exists()


def test_a_committed_run_request_puts_exactly_one_message_on_the_training_queue(
    postgres, transactional_db, real_broker, redis_db
):
    with transaction.atomic():
        run = services.run_request(kind=Run.Kind.RECOMMENDER)
        assert redis_db.llen("training") == 0, "the message must wait for the commit"

    assert redis_db.llen("training") == 1
    assert Run.objects.get().pk == run.pk
    assert run.status == Run.Status.QUEUED
