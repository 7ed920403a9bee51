import numpy as np
import pytest

from recommender.engine.metrics import (
    catalogue_coverage,
    evaluate_rankings,
    hit_rate_at_k,
    ndcg_at_k,
    recall_at_k,
    recall_at_k_batch,
    truth_matrix,
)
from recommender.engine.topk import top_k_indices


def test_recall_divides_hits_by_the_smaller_of_k_and_the_truth_size():
    assert recall_at_k([1, 2, 3], {2, 9}, k=3) == pytest.approx(0.5)
    # 12 relevant products, 2 in the top 10: recall is 2/10, not 2/12.
    assert recall_at_k(list(range(10)), set(range(8, 20)), k=10) == pytest.approx(0.2)


def test_recall_only_counts_the_first_k_items():
    assert recall_at_k([5, 6, 7], {7}, k=2) == 0.0


def test_ndcg_matches_a_hand_computed_case():
    # Hits at ranks 1 and 3 of 3, truth of size 2: DCG = 1 + 1/log2(4) = 1.5; ideal = 1 + 1/log2(3).
    expected = 1.5 / (1 + 1 / np.log2(3))
    assert ndcg_at_k([10, 11, 12], {10, 12}, k=3) == pytest.approx(expected)


def test_ndcg_is_one_for_a_perfect_order_and_zero_without_hits():
    assert ndcg_at_k([1, 2], {1, 2}, k=10) == pytest.approx(1.0)
    assert ndcg_at_k([3, 4], {1, 2}, k=10) == 0.0


def test_hit_rate_is_one_when_any_relevant_item_is_in_the_top_k():
    assert hit_rate_at_k([4, 5, 6], {6}, k=3) == 1.0
    assert hit_rate_at_k([4, 5, 6], {6}, k=2) == 0.0


def test_coverage_counts_distinct_products_shown_in_top_k_over_the_catalogue():
    assert catalogue_coverage([[1, 2, 3], [3, 4, 9]], n_products=10, k=2) == pytest.approx(4 / 10)


def test_evaluate_rankings_averages_over_customers_with_truth_and_scores_missing_lists_as_zero():
    metrics = evaluate_rankings({0: [1, 2], 1: [5]}, {0: {1}, 1: {6}, 2: {7}, 3: set()}, n_products=10, k=2)
    assert metrics.customers == 3
    assert metrics.recall == pytest.approx(1 / 3)
    assert metrics.hit_rate == pytest.approx(1 / 3)


def test_empty_truth_is_refused_rather_than_scored():
    with pytest.raises(ValueError):
        recall_at_k([1], set())


def test_vectorised_recall_agrees_with_the_per_customer_function():
    rng = np.random.default_rng(1)
    scores = rng.random((30, 40))
    truth = {row: set(rng.choice(40, size=rng.integers(1, 15), replace=False).tolist()) for row in range(30)}
    top = top_k_indices(scores, 10)
    batch = recall_at_k_batch(top, truth_matrix(truth, np.arange(30), 40))
    single = [recall_at_k(top[row].tolist(), truth[row]) for row in range(30)]
    np.testing.assert_allclose(batch, single)


def test_top_k_indices_returns_the_k_best_columns_in_descending_order():
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [3.0, 1.0, 2.0, 0.0]])
    np.testing.assert_array_equal(top_k_indices(scores, 3), [[1, 3, 2], [0, 2, 1]])
