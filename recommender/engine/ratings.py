"""Star-rating predictors on Surprise: SVD (default), SVD++ and KNNBaseline, with cross-validation
and randomized hyperparameter search. The input is a data frame with columns ``customer``,
``product`` and ``stars``.

``predict`` for an unknown customer or product returns the global mean with ``impossible=True``
(Surprise's ``was_impossible``), never an error. ``predict_matrix`` scores many pairs at once from
the learned biases and factors, with no per-pair loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError
from surprise import SVD, Dataset, KNNBaseline, Reader, SVDpp
from surprise.model_selection import KFold, RandomizedSearchCV, cross_validate

ALGORITHMS = {"svd": SVD, "svdpp": SVDpp, "knnbaseline": KNNBaseline}
RATING_SCALE = (0.5, 5.0)


def to_surprise(ratings: pd.DataFrame) -> Dataset:
    frame = ratings[["customer", "product", "stars"]].astype(
        {"customer": str, "product": str, "stars": float}
    )
    return Dataset.load_from_df(frame, Reader(rating_scale=RATING_SCALE))


@dataclass(frozen=True)
class RatingPrediction:
    estimate: float
    impossible: bool


def cross_validate_ratings(
    ratings: pd.DataFrame,
    *,
    algorithm: str = "svd",
    params: dict | None = None,
    folds: int = 5,
    random_state: int = 0,
) -> dict[str, float]:
    """Mean RMSE and MAE over ``KFold(folds, random_state)``, the DESIGN.md protocol."""
    estimator = ALGORITHMS[algorithm](**_with_seed(algorithm, params or {}, random_state))
    result = cross_validate(
        estimator,
        to_surprise(ratings),
        measures=["rmse", "mae"],
        cv=KFold(n_splits=folds, random_state=random_state),
    )
    return {"rmse": float(np.mean(result["test_rmse"])), "mae": float(np.mean(result["test_mae"]))}


def search_svd(
    ratings: pd.DataFrame, *, param_distributions: dict, n_iter: int, cv: int, random_state: int = 0
) -> tuple[dict, dict[str, float]]:
    """Surprise's RandomizedSearchCV over SVD: the parameters of best CV RMSE, with their RMSE and MAE.

    Everything random is seeded: the parameter draws, the folds (shuffled ``KFold``) and each
    candidate SVD's initial factors, so the same ratings always choose the same parameters.
    The returned scores are the search's own (optimistic: they chose the winner); ``holdout_svd``
    gives a version's honest ones.
    """
    # Surprise draws list-valued candidates with numpy's global generator, ignoring random_state
    # (surprise/model_selection/search.py, _sample_parameters): seed it for the draw and put the
    # caller's generator state back.
    outside_state = np.random.get_state()
    np.random.seed(random_state)
    try:
        search = RandomizedSearchCV(
            SVD,
            {**param_distributions, "random_state": [random_state]},
            n_iter=n_iter,
            measures=["rmse", "mae"],
            cv=KFold(n_splits=cv, random_state=random_state, shuffle=True),
            random_state=random_state,
            n_jobs=1,
        )
    finally:
        np.random.set_state(outside_state)
    search.fit(to_surprise(ratings))
    best = int(np.argmin(search.cv_results["mean_test_rmse"]))
    params = {
        key: _plain(value)
        for key, value in search.cv_results["params"][best].items()
        if key != "random_state"
    }
    metrics = {
        "rmse": float(search.cv_results["mean_test_rmse"][best]),
        "mae": float(search.cv_results["mean_test_mae"][best]),
        "folds": cv,
    }
    return params, metrics


def holdout_svd(
    ratings: pd.DataFrame,
    *,
    param_distributions: dict,
    n_iter: int,
    cv: int,
    holdout: float = 0.2,
    random_state: int = 0,
) -> tuple[dict, dict[str, float]]:
    """Searches SVD parameters on all but a seeded ``holdout`` share of the ratings, then scores the
    chosen parameters on that held-back share, which the search never saw.

    Returns the parameters and ``rmse``/``mae`` on the held-back ratings, beside the search's own
    cross-validated ``search_rmse`` (kept only to show how optimistic it is).
    """
    held = np.random.default_rng(random_state).random(len(ratings)) < holdout
    train, test = ratings[~held], ratings[held]
    params, search = search_svd(
        train, param_distributions=param_distributions, n_iter=n_iter, cv=cv, random_state=random_state
    )
    model = SVD(**params, random_state=random_state).fit(to_surprise(train).build_full_trainset())
    pairs = test[["customer", "product", "stars"]].astype({"customer": str, "product": str, "stars": float})
    predictions = model.test(list(pairs.itertuples(index=False, name=None)))
    errors = np.array([prediction.est - prediction.r_ui for prediction in predictions])
    metrics = {
        "rmse": float(np.sqrt(np.mean(errors**2))) if len(errors) else float("nan"),
        "mae": float(np.mean(np.abs(errors))) if len(errors) else float("nan"),
        "holdout_ratings": int(held.sum()),
        "search_rmse": search["rmse"],
        "folds": cv,
    }
    return params, metrics


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def _with_seed(algorithm: str, params: dict, random_state: int) -> dict:
    params = dict(params)
    if algorithm in {"svd", "svdpp"}:
        params.setdefault("random_state", random_state)
    return params


class RatingModel:
    """Biased matrix factorisation of star ratings (Surprise SVD); exports its factors as plain arrays."""

    def __init__(
        self,
        n_factors: int = 100,
        n_epochs: int = 40,
        lr_all: float = 0.01,
        reg_all: float = 0.1,
        random_state: int = 0,
    ):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr_all = lr_all
        self.reg_all = reg_all
        self.random_state = random_state

    def fit(self, ratings: pd.DataFrame) -> RatingModel:
        algo = SVD(
            n_factors=self.n_factors,
            n_epochs=self.n_epochs,
            lr_all=self.lr_all,
            reg_all=self.reg_all,
            random_state=self.random_state,
        )
        trainset = to_surprise(ratings).build_full_trainset()
        algo.fit(trainset)
        self.customers_ = np.array([trainset.to_raw_uid(i) for i in range(trainset.n_users)])
        self.products_ = np.array([trainset.to_raw_iid(i) for i in range(trainset.n_items)])
        self.global_mean_ = float(trainset.global_mean)
        self.user_bias_, self.item_bias_ = algo.bu.astype(np.float64), algo.bi.astype(np.float64)
        self.user_factors_, self.item_factors_ = algo.pu.astype(np.float64), algo.qi.astype(np.float64)
        self._index()
        return self

    def _index(self) -> None:
        self._customer_pos = {c: i for i, c in enumerate(self.customers_.tolist())}
        self._product_pos = {p: i for i, p in enumerate(self.products_.tolist())}

    def _check_fitted(self) -> None:
        if not hasattr(self, "global_mean_"):
            raise NotFittedError("RatingModel is not fitted; call fit() first")

    def predict(self, customer, product) -> RatingPrediction:
        self._check_fitted()
        u, i = self._customer_pos.get(str(customer)), self._product_pos.get(str(product))
        if u is None or i is None:
            return RatingPrediction(self.global_mean_, True)
        est = (
            self.global_mean_
            + self.user_bias_[u]
            + self.item_bias_[i]
            + self.user_factors_[u] @ self.item_factors_[i]
        )
        return RatingPrediction(float(np.clip(est, *RATING_SCALE)), False)

    def predict_matrix(
        self, customer_rows: np.ndarray, product_cols: np.ndarray | None = None, *, clip: bool = True
    ) -> np.ndarray:
        """Estimated stars for every (customer, product) pair of the given model rows and columns.

        ``clip=False`` keeps estimates above 5 apart, which ranking needs (clipped, they all tie).
        """
        self._check_fitted()
        cols = np.arange(len(self.products_)) if product_cols is None else product_cols
        est = (
            self.global_mean_
            + self.user_bias_[customer_rows][:, None]
            + self.item_bias_[cols][None, :]
            + self.user_factors_[customer_rows] @ self.item_factors_[cols].T
        )
        return np.clip(est, *RATING_SCALE) if clip else est

    def to_arrays(self) -> dict[str, np.ndarray]:
        self._check_fitted()
        return {
            "customers": self.customers_.astype(str),
            "products": self.products_.astype(str),
            "global_mean": np.array([self.global_mean_]),
            "user_bias": self.user_bias_,
            "item_bias": self.item_bias_,
            "user_factors": self.user_factors_,
            "item_factors": self.item_factors_,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], **params) -> RatingModel:
        model = cls(**params)
        model.customers_, model.products_ = arrays["customers"].astype(str), arrays["products"].astype(str)
        model.global_mean_ = float(arrays["global_mean"][0])
        model.user_bias_, model.item_bias_ = arrays["user_bias"], arrays["item_bias"]
        model.user_factors_, model.item_factors_ = arrays["user_factors"], arrays["item_factors"]
        model._index()
        return model
