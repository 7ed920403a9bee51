"""The block-wise, vectorised precompute produces the same lists as the per-customer one it replaced."""

from __future__ import annotations

import numpy as np
import pytest

from recommender import services
from recommender.engine.hybrid import EXPLAINED_BY_HISTORY, HybridRecommender
from recommender.models import CustomerRecommendation, Mode, SimilarProduct

from . import reference_precompute as reference
from .synthetic import synthetic_purchases


@pytest.fixture(scope="module")
def hybrid():
    return HybridRecommender(validation_days=30).fit(synthetic_purchases(n_customers=120, seed=3))


def _assert_same(hybrid, rows, k, extra=None, exclude=None):
    both = hybrid.recommend_modes(rows, k, extra_scores=extra, extra_exclude=exclude)
    for mode in ("all", "new"):
        items, scores, reasons, reason_items = reference.recommend(hybrid, rows, k, mode, extra, exclude)
        new = both[mode]
        np.testing.assert_array_equal(new.items, items)
        np.testing.assert_array_equal(new.scores, scores)
        np.testing.assert_array_equal(new.reasons, reasons)
        named = np.isin(reasons, EXPLAINED_BY_HISTORY)
        assert named.any()
        np.testing.assert_array_equal(new.reason_items[named], reason_items[named])
        assert (new.reason_items[~named] == -1).all()


def test_both_modes_from_one_scoring_match_the_per_customer_precompute(hybrid):
    _assert_same(hybrid, np.arange(hybrid.interactions_.shape[0]), 50)


def test_a_block_of_some_customers_with_rating_scores_matches_too(hybrid):
    rng = np.random.default_rng(1)
    rows = np.sort(rng.choice(hybrid.interactions_.shape[0], size=37, replace=False))
    n_products = hybrid.interactions_.shape[1]
    extra = (rng.random((len(rows), n_products)) * (rng.random((len(rows), 1)) < 0.5)).astype(np.float32)
    exclude = rng.random((len(rows), n_products)) < 0.05
    _assert_same(hybrid, rows, 20, extra, exclude)


def test_similar_products_match_the_per_product_loop(hybrid):
    items, scores = hybrid.similar_products(20)
    old_items, old_scores = reference.similar_products(hybrid, 20)
    np.testing.assert_array_equal(items, old_items)
    np.testing.assert_array_equal(scores, old_scores)


def _reference_rows(hybrid, k):
    """The stored rows as the per-customer precompute wrote them, keyed by (customer, mode, rank)."""
    interactions = hybrid.interactions_
    rows = np.arange(interactions.shape[0])
    kinds = {"buy_again": "regular", "item_knn": "because", "als": "together", "popularity": "popular"}
    expected = {}
    for mode in Mode.values:
        items, scores, reasons, reason_items = reference.recommend(hybrid, rows, k, mode)
        for row in rows:
            rank = 0
            for item, score, reason, because in zip(
                items[row], scores[row], reasons[row], reason_items[row], strict=True
            ):
                if item < 0:
                    continue
                rank += 1
                code = kinds[reason]
                named = code in ("because", "together") and because >= 0
                if code in ("because", "together") and not named:
                    code = "popular"
                # New rule: buy-again needs a purchase of the item to count.
                if code == "regular" and not interactions.confidence[row, item]:
                    code = "popular"
                expected[(int(interactions.customers[row]), mode, rank)] = (
                    int(interactions.products[item]),
                    float(score),
                    code,
                    int(interactions.products[because]) if named else None,
                )
    return expected


def test_stored_lists_are_the_lists_of_the_per_customer_precompute(shop, monkeypatch):
    captured = {}
    real_lists, real_similar = services._write_customer_lists, services._write_similar_products

    def capture_lists(version, hybrid, *args):
        captured["hybrid"] = hybrid
        return real_lists(version, hybrid, *args)

    def capture_similar(version, hybrid, content, *args):
        captured["content"] = content
        return real_similar(version, hybrid, content, *args)

    monkeypatch.setattr(services, "_write_customer_lists", capture_lists)
    monkeypatch.setattr(services, "_write_similar_products", capture_similar)
    version = services.recommender_train()
    hybrid = captured["hybrid"]
    stored = {
        (customer, mode, rank): (product, score, reason, because)
        for customer, mode, rank, product, score, reason, because in CustomerRecommendation.objects.filter(
            version=version
        ).values_list("customer_id", "mode", "rank", "product_id", "score", "reason", "reason_product_id")
    }
    expected = _reference_rows(hybrid, 50)
    assert stored.keys() == expected.keys()
    for key, (product, score, reason, because) in expected.items():
        got = stored[key]
        assert (got[0], got[2], got[3]) == (product, reason, because), key
        assert got[1] == pytest.approx(score, rel=1e-6)
    similar = list(
        SimilarProduct.objects.filter(version=version)
        .order_by("product_id", "rank")
        .values_list("product_id", "rank", "similar_id", "score", "reason")
    )
    old_similar = reference.similar_product_rows(hybrid, captured["content"], 20)
    assert [row[:3] + row[4:] for row in similar] == [row[:3] + row[4:] for row in old_similar]
    assert [row[3] for row in similar] == pytest.approx([row[3] for row in old_similar], rel=1e-6)


def test_a_buy_again_reason_needs_a_purchase_to_count_and_says_how_many_and_when():
    from types import SimpleNamespace

    import pandas as pd

    from recommender.engine.hybrid import Recommendations
    from recommender.engine.interactions import build_interactions

    purchases = pd.DataFrame(
        {
            "customer": [7, 7, 7],
            "product": [10, 10, 11],
            "order": [1, 2, 2],
            "placed_at": pd.to_datetime(["2024-01-02", "2024-03-05", "2024-03-05"]),
        }
    )
    hybrid = SimpleNamespace(interactions_=build_interactions(purchases, products=np.array([10, 11, 12])))
    # Buy-again "wins" item 12 only through a tie at zero: the customer never bought it.
    recs = Recommendations(
        items=np.array([[0, 1, 2]]),
        scores=np.array([[0.9, 0.5, 0.0]]),
        reasons=np.array([["buy_again", "buy_again", "buy_again"]], dtype=object),
        reason_items=np.full((1, 3), -1),
    )
    columns = dict(
        zip(
            services.CUSTOMER_LIST_FIELDS,
            services._customer_list_columns(1, hybrid, np.array([0]), "all", recs),
            strict=True,
        )
    )
    assert columns["reason"].tolist() == ["regular", "regular", "popular"]
    assert columns["reason_count"].tolist() == [2, 1, None]
    assert columns["reason_date"].tolist() == ["2024-03-05", "2024-03-05", None]
