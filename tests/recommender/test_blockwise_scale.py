"""No customers x products array: validation and rating scores, block by block, give the dense results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender import services
from recommender.engine import hybrid as hybrid_module
from recommender.engine.hybrid import (
    COMPONENTS,
    HybridRecommender,
    component_scores,
    tune_weights,
    validate_blockwise,
    validation_metrics,
)
from recommender.engine.interactions import time_split
from recommender.engine.ratings import RatingModel

from .synthetic import cut_date, synthetic_purchases


@pytest.fixture(scope="module")
def split_and_components():
    purchases = synthetic_purchases(n_customers=150, seed=5)
    split = time_split(purchases, cut_date(60), half_life_days=90.0)
    components = HybridRecommender()._fit_components(split.train, lambda *a: None, "validation fit")
    rows = np.array(sorted(split.truth_all), dtype=np.int64)
    return split, components, rows


@pytest.mark.parametrize("block", [1, 7, 64, 10_000])
def test_block_wise_validation_equals_the_dense_search_and_metrics(split_and_components, block):
    split, components, rows = split_and_components
    assert len(rows) > 20
    dense = component_scores(components, rows)
    weights, recalls = tune_weights(dense, split.train, rows, split.truth_all, split.truth_new)
    metrics = validation_metrics(dense, weights, split, rows)

    got_weights, got_recalls, got_metrics = validate_blockwise(components, split, rows, block=block)

    assert got_weights == weights
    assert got_recalls == recalls
    assert set(got_metrics) == set(metrics) == {*COMPONENTS, "hybrid"}
    for name in metrics:
        for mode in ("all", "new"):
            assert got_metrics[name][mode].as_dict() == pytest.approx(metrics[name][mode].as_dict())


def test_validation_never_scores_more_than_a_block_of_customers(split_and_components, monkeypatch):
    split, components, rows = split_and_components
    shapes = []
    real = hybrid_module.component_scores

    def recording(components, block_rows):
        shapes.append(len(block_rows))
        return real(components, block_rows)

    monkeypatch.setattr(hybrid_module, "component_scores", recording)
    validate_blockwise(components, split, rows, block=16)
    assert max(shapes) <= 16
    assert sum(shapes) == len(rows)


def test_the_weight_search_samples_customers_past_its_cap(monkeypatch):
    purchases = synthetic_purchases(n_customers=150, seed=5)
    seen = []
    real = hybrid_module.validate_blockwise

    def recording(components, split, rows, grid=None, block=hybrid_module.VALIDATION_BLOCK):
        seen.append(rows)
        return real(components, split, rows, grid, block)

    monkeypatch.setattr(hybrid_module, "validate_blockwise", recording)
    HybridRecommender(validation_days=60, validation_max_customers=25).fit(purchases)
    HybridRecommender(validation_days=60, validation_max_customers=25).fit(purchases)
    assert len(seen[0]) == 25 and (np.diff(seen[0]) > 0).all()
    np.testing.assert_array_equal(seen[0], seen[1])  # seeded: the same sample every time


def _dense_rating_scores(model, ratings, customers, products):
    """The previous ``_rating_scores``: every customer x product at once (the oracle)."""
    scores = np.zeros((len(customers), len(products)), dtype=np.float32)
    rated = np.zeros_like(scores, dtype=bool)
    model_rows = pd.Index(model.customers_).get_indexer(customers.astype(str))
    model_cols = pd.Index(model.products_).get_indexer(products.astype(str))
    has_row, has_col = model_rows >= 0, model_cols >= 0
    if has_row.any() and has_col.any():
        stars = model.predict_matrix(model_rows[has_row], model_cols[has_col], clip=False)
        block = ((stars - 0.5) / 4.5 * services.RATING_WEIGHT).astype(np.float32)
        scores[np.ix_(np.flatnonzero(has_row), np.flatnonzero(has_col))] = block
    rows = pd.Index(customers).get_indexer(ratings["customer"])
    cols = pd.Index(products).get_indexer(ratings["product"])
    keep = (rows >= 0) & (cols >= 0)
    rated[rows[keep], cols[keep]] = True
    return scores, rated


def test_rating_scores_by_block_equal_the_dense_array():
    rng = np.random.default_rng(2)
    n = 400
    ratings = pd.DataFrame(
        {
            "customer": rng.integers(0, 60, n),
            "product": rng.integers(100, 140, n),
            "stars": rng.integers(1, 11, n) / 2,
        }
    ).drop_duplicates(["customer", "product"])
    model = RatingModel(n_factors=4, n_epochs=5).fit(ratings)
    # Customers and products beyond the rated ones: some without a model row or column.
    customers = np.arange(0, 80, dtype=np.int64)
    products = np.arange(95, 150, dtype=np.int64)
    dense_scores, dense_rated = _dense_rating_scores(model, ratings, customers, products)

    blocks = services.RatingBlocks(model, ratings, customers, products)
    for start in range(0, len(customers), 13):
        rows = np.arange(start, min(start + 13, len(customers)))
        scores, rated = blocks.block(rows)
        assert scores.shape == (len(rows), len(products))
        np.testing.assert_array_equal(scores, dense_scores[rows])
        np.testing.assert_array_equal(rated, dense_rated[rows])


def test_customer_lists_score_one_block_at_a_time(monkeypatch):
    """The list precompute hands the engine at most CHUNK_ROWS customers with their rating scores."""
    hybrid = HybridRecommender(validation_days=30).fit(synthetic_purchases(n_customers=120, seed=3))
    shapes = []

    def recommend_modes(rows, k, *, modes, extra_scores=None, extra_exclude=None):
        shapes.append((len(rows), None if extra_scores is None else extra_scores.shape))
        return real(rows, k, modes=modes, extra_scores=extra_scores, extra_exclude=extra_exclude)

    real = hybrid.recommend_modes
    monkeypatch.setattr(hybrid, "recommend_modes", recommend_modes)
    monkeypatch.setattr(services, "CHUNK_ROWS", 32)
    monkeypatch.setattr(services, "_bulk_insert", lambda model, fields, columns: len(columns[0]))
    customers = hybrid.interactions_.customers
    ratings = pd.DataFrame(
        {"customer": customers[:30].repeat(2), "product": hybrid.interactions_.products[:60], "stars": 4.0}
    )
    model = RatingModel(n_factors=4, n_epochs=3).fit(ratings)

    class Version:
        pk = 1

    services._write_customer_lists(Version(), hybrid, model, ratings, lambda *a: None)
    assert max(rows for rows, _ in shapes) <= 32
    assert all(shape == (rows, len(hybrid.interactions_.products)) for rows, shape in shapes)
    assert sum(rows for rows, _ in shapes) == len(customers)
