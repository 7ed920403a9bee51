from datetime import UTC, datetime

import numpy as np
import pytest
from django.db import IntegrityError, transaction

from recommender import services
from recommender.engine.artifacts import ArtifactIntegrityError
from recommender.models import CustomerRecommendation, Mode, ModelVersion, PopularProduct, SimilarProduct


def test_training_stores_lists_metrics_and_artifacts_and_activates_the_version(shop):
    stages = []
    version = services.recommender_train(progress=lambda stage, done, total: stages.append(stage))
    assert version.status == ModelVersion.Status.ACTIVE and version.is_active
    n_customers = len(shop.customers)
    for mode in Mode.values:
        per_customer = (
            CustomerRecommendation.objects.filter(version=version, mode=mode).values("customer").distinct()
        )
        assert per_customer.count() == n_customers
    assert SimilarProduct.objects.filter(version=version).exists()
    assert PopularProduct.objects.filter(version=version).exists()
    assert {"hybrid", "popularity"} <= set(version.metrics)
    assert {"item_similarity", "als_factors"} <= set(version.artifacts.values_list("name", flat=True))
    assert {"load data", "final fit", "customer lists", "similar products"} <= set(stages)


def test_mode_new_lists_hold_no_product_the_customer_bought_before_training(shop):
    version = services.recommender_train()
    customer = shop.customers["c0"]
    bought = set(customer.orders.values_list("lines__product_id", flat=True))
    stored = set(
        CustomerRecommendation.objects.filter(version=version, customer=customer, mode=Mode.NEW).values_list(
            "product_id", flat=True
        )
    )
    assert stored and not (stored & bought)


def test_reasons_name_a_product_the_customer_actually_bought(shop):
    version = services.recommender_train()
    rows = CustomerRecommendation.objects.filter(version=version, reason_product__isnull=False)
    assert rows.exists()
    for row in rows[:50]:
        assert row.customer.orders.filter(lines__product=row.reason_product).exists()


def test_as_of_trains_only_on_purchases_before_the_date(shop):
    early = datetime(2024, 3, 1, tzinfo=UTC)
    version = services.recommender_train(as_of=early, activate=False)
    assert version.status == ModelVersion.Status.READY and not version.is_active
    assert version.data_end < early


def test_a_failed_training_leaves_the_previous_version_active_with_complete_lists(shop, monkeypatch):
    first = services.recommender_train()
    rows_before = CustomerRecommendation.objects.filter(version=first).count()

    def explode(*args, **kwargs):
        raise RuntimeError("similarity exploded")

    monkeypatch.setattr(services, "_write_similar_products", explode)
    with pytest.raises(RuntimeError, match="similarity exploded"):
        services.recommender_train()
    failed = ModelVersion.objects.exclude(pk=first.pk).get()
    assert failed.status == ModelVersion.Status.FAILED
    assert "similarity exploded" in failed.error
    assert not CustomerRecommendation.objects.filter(version=failed).exists()
    first.refresh_from_db()
    assert first.is_active
    assert CustomerRecommendation.objects.filter(version=first).count() == rows_before


def test_redelivered_run_key_after_a_crash_reuses_the_version_and_yields_exactly_one(shop, monkeypatch):
    calls = {"n": 0}
    real = services._write_customer_lists

    def crash_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            real(*args, **kwargs)  # partial work is written, then the worker dies
            raise KeyboardInterrupt("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "_write_customer_lists", crash_once)
    with pytest.raises(KeyboardInterrupt):
        services.recommender_train(run_key="run-1")
    version = services.recommender_train(run_key="run-1")
    assert ModelVersion.objects.count() == 1
    assert version.status == ModelVersion.Status.ACTIVE
    assert services.recommender_train(run_key="run-1").pk == version.pk
    assert ModelVersion.objects.count() == 1


def test_run_key_of_a_ready_version_returns_it_untouched(shop):
    version = services.recommender_train(run_key="nightly", activate=False)
    finished = version.finished_at
    again = services.recommender_train(run_key="nightly")
    assert again.pk == version.pk and again.finished_at == finished
    assert again.status == ModelVersion.Status.READY


def test_activate_and_roll_back_switch_the_single_active_version(shop):
    first = services.recommender_train()
    second = services.recommender_train()
    first.refresh_from_db()
    assert second.is_active and not first.is_active and first.status == ModelVersion.Status.READY
    rolled = services.model_version_rollback()
    assert rolled.pk == first.pk
    assert list(ModelVersion.objects.filter(is_active=True).values_list("pk", flat=True)) == [first.pk]


def test_failed_versions_cannot_be_activated(shop, monkeypatch):
    monkeypatch.setattr(services, "_write_popular", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        services.recommender_train()
    failed = ModelVersion.objects.get()
    with pytest.raises(services.RecommenderError):
        services.model_version_activate(version=failed)


def test_the_database_refuses_two_active_versions(db):
    now = datetime(2024, 1, 1, tzinfo=UTC)
    ModelVersion.objects.create(as_of=now, status=ModelVersion.Status.ACTIVE, is_active=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(as_of=now, status=ModelVersion.Status.ACTIVE, is_active=True)


def test_pruning_keeps_the_newest_versions_and_the_active_one(shop, settings):
    settings.RECOMMENDER = {**settings.RECOMMENDER, "KEEP_VERSIONS": 2}
    active = services.recommender_train()
    for _ in range(3):
        services.recommender_train(activate=False)
    services.model_versions_prune(keep=2)
    assert ModelVersion.objects.count() == 3
    assert ModelVersion.objects.filter(pk=active.pk, is_active=True).exists()


def test_a_tampered_artifact_is_refused_on_load(shop, settings):
    version = services.recommender_train()
    arrays = services.artifact_arrays(version=version, name="als_factors")
    assert arrays["item_factors"].shape[0] == len(shop.products)
    artifact = version.artifacts.get(name="als_factors")
    path = settings.ARTIFACTS_DIR / artifact.path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError):
        services.artifact_arrays(version=version, name="als_factors")


def test_ratings_train_a_rating_model_with_metrics_and_blend_into_lists(shop):
    from shop.models import Customer, Rating

    rng = np.random.default_rng(0)
    customers, products = list(shop.customers.values()), list(shop.products.values())
    Rating.objects.bulk_create(
        Rating(customer=c, product=p, stars=float(rng.integers(1, 6)))
        for c in customers
        for p in rng.choice(products, size=8, replace=False)
    )
    rater = Customer.objects.create(external_id="rates-but-never-bought")
    Rating.objects.bulk_create(Rating(customer=rater, product=p, stars=5.0) for p in products[:10])
    version = services.recommender_train()
    assert version.rating_metrics["rmse"] > 0 and version.rating_metrics["mae"] > 0
    assert version.rating_metrics["holdout_ratings"] > 0
    assert "rating_factors" in set(version.artifacts.values_list("name", flat=True))
    rater_rows = CustomerRecommendation.objects.filter(version=version, customer=rater)
    assert rater_rows.filter(mode=Mode.ALL).exists()
    # A buy-again reason always counts real purchases; someone who never bought gets none.
    lists = CustomerRecommendation.objects.filter(version=version)
    assert not lists.filter(reason="regular", reason_count__isnull=True).exists()
    assert not rater_rows.filter(reason="regular").exists()
