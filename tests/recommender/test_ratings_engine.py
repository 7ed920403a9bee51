import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from recommender.engine.ratings import RatingModel, cross_validate_ratings, holdout_svd, search_svd


def synthetic_ratings(n_users: int = 40, n_items: int = 25, seed: int = 0) -> pd.DataFrame:
    """Stars from a planted taste (two user types like two item types) plus noise, on half-star steps."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        for item in rng.choice(n_items, size=15, replace=False):
            liked = (user % 2) == (item % 2)
            stars = np.clip(np.round((4.2 if liked else 1.8) + rng.normal(0, 0.4), 0), 0.5, 5.0)
            rows.append((f"u{user}", f"i{item}", float(stars)))
    return pd.DataFrame(rows, columns=["customer", "product", "stars"])


def test_unknown_customer_or_product_gets_the_global_mean_flagged_impossible():
    ratings = synthetic_ratings()
    model = RatingModel(n_factors=5, n_epochs=10).fit(ratings)
    prediction = model.predict("nobody", "i1")
    assert prediction.impossible
    assert prediction.estimate == pytest.approx(ratings.stars.mean())
    assert model.predict("u1", "no-such-product").impossible


def test_predictions_follow_the_planted_taste():
    model = RatingModel(n_factors=5, n_epochs=40, reg_all=0.05).fit(synthetic_ratings())
    liked, disliked = model.predict("u0", "i0"), model.predict("u0", "i1")
    assert not liked.impossible
    assert liked.estimate > disliked.estimate + 1.0


def test_vectorised_matrix_prediction_matches_per_pair_prediction():
    model = RatingModel(n_factors=5, n_epochs=10).fit(synthetic_ratings())
    matrix = model.predict_matrix(np.arange(5), np.arange(7))
    for u in range(5):
        for i in range(7):
            assert matrix[u, i] == pytest.approx(
                model.predict(model.customers_[u], model.products_[i]).estimate
            )


def test_rating_model_round_trips_through_plain_arrays():
    model = RatingModel(n_factors=5, n_epochs=10).fit(synthetic_ratings())
    again = RatingModel.from_arrays(model.to_arrays())
    assert again.predict("u3", "i4") == model.predict("u3", "i4")


def test_unfitted_rating_model_refuses_to_predict():
    with pytest.raises(NotFittedError):
        RatingModel().predict("u", "i")


def test_cross_validation_and_search_report_rmse_and_mae_better_than_a_constant():
    ratings = synthetic_ratings()
    constant_rmse = float(np.sqrt(((ratings.stars - ratings.stars.mean()) ** 2).mean()))
    scores = cross_validate_ratings(
        ratings, params={"n_factors": 5, "n_epochs": 60, "lr_all": 0.02, "reg_all": 0.05}, folds=3
    )
    assert scores["rmse"] < constant_rmse
    assert 0 < scores["mae"] < scores["rmse"] + 1e-9
    params, metrics = search_svd(
        ratings, param_distributions={"n_factors": [2, 5], "n_epochs": [10, 30]}, n_iter=2, cv=2
    )
    assert set(params) == {"n_factors", "n_epochs"}
    assert metrics["rmse"] > 0 and metrics["mae"] > 0


def test_the_search_is_seeded_so_the_same_ratings_choose_the_same_parameters_and_scores():
    ratings = synthetic_ratings(seed=4)
    grid = {"n_factors": [2, 5, 10], "n_epochs": [10, 30], "lr_all": [0.005, 0.02]}
    first = search_svd(ratings, param_distributions=grid, n_iter=3, cv=3)
    second = search_svd(ratings, param_distributions=grid, n_iter=3, cv=3)
    assert first == second
    other_seed = search_svd(ratings, param_distributions=grid, n_iter=3, cv=3, random_state=7)
    assert other_seed[1]["rmse"] != first[1]["rmse"]


def test_a_versions_rating_scores_come_from_ratings_the_search_never_saw():
    ratings = synthetic_ratings(n_users=60, seed=5)
    grid = {"n_factors": [2, 5], "n_epochs": [20, 40]}
    params, metrics = holdout_svd(ratings, param_distributions=grid, n_iter=2, cv=2, holdout=0.25)
    held = np.random.default_rng(0).random(len(ratings)) < 0.25
    assert metrics["holdout_ratings"] == held.sum() > 0
    # The same parameters learned from the other ratings, scored on the held-back ones.
    model = RatingModel(**{"n_epochs": 20, "lr_all": 0.005, "reg_all": 0.02, **params}).fit(ratings[~held])
    test = ratings[held]
    estimates = np.array(
        [model.predict(c, p).estimate for c, p in zip(test.customer, test["product"], strict=True)]
    )
    assert metrics["rmse"] == pytest.approx(float(np.sqrt(np.mean((estimates - test.stars) ** 2))), rel=1e-9)
    assert metrics["search_rmse"] != metrics["rmse"]


def test_the_evaluate_commands_tuned_svd_is_the_rating_models_default():
    from recommender.management.commands.evaluate_recommender import TUNED_SVD

    assert {name: getattr(RatingModel(), name) for name in TUNED_SVD} == TUNED_SVD
