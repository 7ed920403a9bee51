import csv
import io

import pytest
from django.core.management import CommandError, call_command

from recommender.models import ModelVersion


def _run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_retrain_prints_the_metrics_table_with_the_popularity_baseline(shop):
    out, err = _run("retrain_recommender")
    assert ModelVersion.objects.get().is_active
    assert "Recall@10" in out and "hybrid" in out and "popularity" in out


def test_export_writes_the_csv_contract_for_every_customer_with_a_purchase(shop):
    _run("retrain_recommender")
    out, err = _run("export_recommendations", "--limit", "5", "--mode", "new", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["customer_external_id", "product_sku", "rank", "score", "reason"]
    assert {row["customer_external_id"] for row in rows} == set(shop.customers)
    assert all(1 <= int(row["rank"]) <= 5 for row in rows)
    assert "exporting" in err and "exporting" not in out


def test_export_as_of_trains_a_separate_inactive_version_on_earlier_data(shop):
    _run("retrain_recommender")
    out, _ = _run("export_recommendations", "--as-of", "2024-04-01", "--limit", "3")
    assert ModelVersion.objects.count() == 2
    earlier = ModelVersion.objects.get(is_active=False)
    assert earlier.as_of.date().isoformat() == "2024-04-01" and earlier.status == ModelVersion.Status.READY
    assert len(out.splitlines()) > 1


def test_export_without_a_version_fails_clearly(db):
    with pytest.raises(CommandError):
        _run("export_recommendations")


def test_evaluate_prints_every_ranker_and_the_hybrid_for_both_modes(shop):
    out, _ = _run("evaluate_recommender", "--cut", "2024-05-01")
    for name in ("buy_again", "item_knn", "als", "popularity", "hybrid"):
        assert f"{name}" in out
    assert out.count("hybrid") >= 2


def test_evaluate_ratings_cross_validates_the_rating_models(shop):
    from decimal import Decimal

    from shop.models import Rating

    customers, products = list(shop.customers.values()), list(shop.products.values())
    Rating.objects.bulk_create(
        Rating(customer=c, product=p, stars=Decimal("4.5") if (i + j) % 2 else Decimal("1.5"))
        for i, c in enumerate(customers)
        for j, p in enumerate(products[:20])
    )
    out, _ = _run("evaluate_recommender", "--ratings", "--folds", "3", "--models", "svd-default,svd-tuned")
    assert "svd-default" in out and "RMSE" in out and "MAE" in out
