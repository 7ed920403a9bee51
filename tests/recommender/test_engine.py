import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from recommender.engine.artifacts import ArtifactIntegrityError, load_arrays, save_arrays
from recommender.engine.hybrid import HybridRecommender, evaluate_protocol, evaluate_scores, exclude_seen
from recommender.engine.interactions import build_interactions, time_split
from recommender.engine.rankers import (
    ALSRanker,
    BuyAgainRanker,
    ContentSimilarity,
    ItemKNNRanker,
    PopularityRanker,
)

from .synthetic import cut_date, synthetic_purchases


@pytest.fixture(scope="module")
def split():
    return time_split(synthetic_purchases(), cut_date())


def _random_recall(split, mode: str, seed: int = 0) -> float:
    rows = np.array(sorted(split.truth_all))
    scores = np.random.default_rng(seed).random((len(rows), split.train.shape[1]))
    truth = split.truth_all if mode == "all" else split.truth_new
    if mode == "new":
        scores = exclude_seen(scores, split.train, rows)
    return evaluate_scores(scores, rows, truth, split.train.shape[1]).recall


@pytest.mark.parametrize(
    "ranker",
    [
        PopularityRanker(),
        BuyAgainRanker(),
        ItemKNNRanker(weighting="bm25"),
        ItemKNNRanker(weighting="cosine"),
        ALSRanker(factors=8, iterations=10),
    ],
    ids=["popularity", "buy_again", "knn_bm25", "knn_cosine", "als"],
)
def test_each_ranker_beats_random_on_a_shop_with_planted_structure(split, ranker):
    rows = np.array(sorted(split.truth_all))
    scores = ranker.fit(split.train).score(rows)
    recall = evaluate_scores(scores, rows, split.truth_all, split.train.shape[1]).recall
    assert recall > _random_recall(split, "all") + 0.05


@pytest.mark.parametrize(
    "ranker",
    [ItemKNNRanker(), ALSRanker(factors=8, iterations=10)],
    ids=["knn", "als"],
)
def test_collaborative_rankers_beat_random_on_new_products(split, ranker):
    rows = np.array(sorted(split.truth_all))
    scores = exclude_seen(ranker.fit(split.train).score(rows), split.train, rows)
    recall = evaluate_scores(scores, rows, split.truth_new, split.train.shape[1]).recall
    assert recall > _random_recall(split, "new") + 0.05


def test_hybrid_is_at_least_as_good_as_its_best_component_on_the_protocol():
    purchases = synthetic_purchases()
    results = evaluate_protocol(purchases, cut_date(), validation_days=30)
    best_component = max(
        results[name]["all"].recall for name in ("buy_again", "item_knn", "als", "popularity")
    )
    assert results["hybrid"]["all"].recall >= best_component - 0.03
    assert results["hybrid"]["all"].recall > results["popularity"]["all"].recall
    assert results["hybrid"]["new"].recall > results["popularity"]["new"].recall - 0.02


def test_hybrid_mode_new_never_recommends_a_product_the_customer_bought():
    purchases = synthetic_purchases()
    hybrid = HybridRecommender(validation_days=30).fit(purchases)
    rows = np.arange(hybrid.interactions_.shape[0])
    recs = hybrid.recommend(rows, 10, "new")
    bought = hybrid.interactions_.confidence.toarray() > 0
    for row in rows:
        items = recs.items[row][recs.items[row] >= 0]
        assert not bought[row, items].any()


def test_hybrid_tunes_weights_on_a_validation_split_and_reports_metrics_beside_popularity():
    hybrid = HybridRecommender(validation_days=30).fit(synthetic_purchases())
    assert set(hybrid.weights_) == {"all", "new"}
    assert {"hybrid", "popularity"} <= set(hybrid.validation_metrics_)
    assert hybrid.validation_metrics_["hybrid"]["all"].customers > 0


def test_reasons_name_a_product_from_the_customers_history_when_a_neighbour_explains_the_item():
    hybrid = HybridRecommender(validation_days=30).fit(synthetic_purchases())
    rows = np.arange(10)
    recs = hybrid.recommend(rows, 10, "new")
    history = hybrid.interactions_.confidence.toarray() > 0
    explained = recs.reason_items >= 0
    assert explained.any()
    for row, col in zip(*np.nonzero(explained), strict=True):
        assert history[rows[row], recs.reason_items[row, col]]


def test_unfitted_estimators_refuse_to_score():
    with pytest.raises(NotFittedError):
        ItemKNNRanker().score(np.array([0]))
    with pytest.raises(NotFittedError):
        HybridRecommender().score(np.array([0]))
    with pytest.raises(NotFittedError):
        ContentSimilarity().similarity()


def test_confidence_counts_distinct_orders_not_lines():
    purchases = pd.DataFrame(
        {
            "customer": ["a", "a", "a", "b"],
            "product": ["x", "x", "x", "y"],
            "order": ["o1", "o1", "o2", "o3"],
            "placed_at": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-05", "2024-01-02"]),
        }
    )
    interactions = build_interactions(purchases)
    assert interactions.confidence[0, 0] == 2
    assert interactions.confidence[1, 1] == 1


def test_ages_are_measured_whatever_the_time_zones_of_purchases_and_as_of():
    empty = pd.DataFrame(
        {
            "customer": pd.Series([], dtype=int),
            "product": pd.Series([], dtype=int),
            "order": pd.Series([], dtype=int),
            "placed_at": pd.Series([], dtype="datetime64[ns, UTC]"),
        }
    )
    assert build_interactions(empty, products=np.array([1, 2]), customers=np.array([7])).shape == (1, 2)

    aware = pd.DataFrame(
        {"customer": [1], "product": [1], "order": [1], "placed_at": pd.to_datetime(["2024-01-01"], utc=True)}
    )
    naive_as_of = build_interactions(aware, as_of=pd.Timestamp("2024-01-31"), half_life_days=30.0)
    assert naive_as_of.recency[0, 0] == pytest.approx(0.5)
    naive = aware.assign(placed_at=aware.placed_at.dt.tz_localize(None))
    aware_as_of = build_interactions(naive, as_of=pd.Timestamp("2024-01-31", tz="UTC"), half_life_days=30.0)
    assert aware_as_of.recency[0, 0] == pytest.approx(0.5)


def test_time_split_tests_only_returning_customers_and_known_products():
    purchases = pd.DataFrame(
        {
            "customer": ["a", "a", "b", "c", "a", "c"],
            "product": ["x", "y", "x", "x", "z", "y"],
            "order": ["o1", "o2", "o3", "o4", "o5", "o6"],
            "placed_at": pd.to_datetime(
                ["2024-01-01", "2024-02-01", "2024-02-02", "2024-01-03", "2024-02-03", "2024-01-04"]
            ),
        }
    )
    # z is in the catalogue but first sold after the cut: no model could know it, so no truth holds it.
    split = time_split(purchases, pd.Timestamp("2024-01-15"), products=np.array(["x", "y", "z"]))
    customers = split.train.customer_index()
    assert set(split.truth_all) == {customers["a"]}  # b is new after the cut
    assert split.truth_all[customers["a"]] == {1}
    assert split.truth_new == {customers["a"]: {1}}


def test_content_similarity_puts_products_with_shared_words_closest():
    content = ContentSimilarity().fit(["red wooden heart", "red wooden star", "blue ceramic mug"])
    sim = content.similarity()
    assert sim[0, 1] > sim[0, 2]


def test_artifact_round_trips_and_a_tampered_file_is_refused(tmp_path):
    path = tmp_path / "factors.npz"
    sha = save_arrays(path, {"factors": np.arange(6.0).reshape(2, 3)})
    np.testing.assert_array_equal(load_arrays(path, sha)["factors"], np.arange(6.0).reshape(2, 3))
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError):
        load_arrays(path, sha)


def test_object_arrays_are_refused_because_they_would_need_pickling(tmp_path):
    with pytest.raises(ValueError):
        save_arrays(tmp_path / "x.npz", {"bad": np.array([{"a": 1}], dtype=object)})
