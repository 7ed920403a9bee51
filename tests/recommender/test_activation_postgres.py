"""Activation is atomic under concurrency: needs real PostgreSQL connections (required in CI)."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connections

from recommender import selectors, services
from recommender.models import CustomerRecommendation, Mode, ModelVersion, Reason
from shop import services as shop_services
from shop.models import Customer, Product

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

LIST_LENGTH = 30


def _ready_version(customer: Customer, products: list[Product]) -> ModelVersion:
    version = ModelVersion.objects.create(
        as_of=datetime(2024, 1, 1, tzinfo=UTC), status=ModelVersion.Status.READY
    )
    CustomerRecommendation.objects.bulk_create(
        CustomerRecommendation(
            version=version,
            customer=customer,
            mode=Mode.ALL,
            rank=rank,
            product=product,
            score=1.0 / rank,
            reason=Reason.POPULAR,
        )
        for rank, product in enumerate(products, start=1)
    )
    return version


def test_readers_polling_during_activations_see_the_old_list_or_the_new_one_never_a_mix(postgres):
    customer = Customer.objects.create(external_id="reader")
    # Fillers first: a reader that found no active list would pad with them and be caught.
    fillers = [Product.objects.create(sku=f"F{i:03d}", name=f"filler {i}") for i in range(LIST_LENGTH)]
    products = [Product.objects.create(sku=f"A{i:03d}", name=f"product {i}") for i in range(2 * LIST_LENGTH)]
    shop_services.stock_set_levels(levels={p.pk: 10 for p in fillers + products})
    lists = {
        "old": _ready_version(customer, products[:LIST_LENGTH]),
        "new": _ready_version(customer, products[LIST_LENGTH:]),
    }
    expected = {
        frozenset(p.pk for p in products[:LIST_LENGTH]),
        frozenset(p.pk for p in products[LIST_LENGTH:]),
    }
    services.model_version_activate(version=lists["old"])
    stop = threading.Event()
    seen: list[frozenset] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                items = selectors.recommendations_for(customer=customer, limit=LIST_LENGTH)
                seen.append(frozenset(item.product.pk for item in items))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for flip in range(40):
            services.model_version_activate(version=lists["new" if flip % 2 == 0 else "old"])
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    assert len(seen) > 10
    mixed = [s for s in seen if s not in expected]
    assert not mixed, f"{len(mixed)} of {len(seen)} reads mixed two versions"
    assert ModelVersion.objects.filter(is_active=True).count() == 1


def test_concurrent_activations_leave_exactly_one_active_version(postgres):
    customer = Customer.objects.create(external_id="racer")
    products = [Product.objects.create(sku=f"B{i:03d}", name=f"product {i}") for i in range(4)]
    versions = [_ready_version(customer, products[i : i + 2]) for i in range(3)]
    barrier = threading.Barrier(len(versions))
    errors: list[BaseException] = []

    def activate(version: ModelVersion) -> None:
        try:
            barrier.wait(timeout=30)
            services.model_version_activate(version=version)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=activate, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert ModelVersion.objects.filter(is_active=True).count() == 1
    assert ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).count() == 1
