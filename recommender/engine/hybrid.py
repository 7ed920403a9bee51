"""The hybrid ranker: buy-again, item-kNN (BM25), ALS and popularity blended with tuned weights.

Weights are chosen by Recall@10 on a validation time split inside the training data (the last
``validation_days`` before ``as_of``, default 90: as long as the protocol's test horizon),
separately for the two modes, then every component is refitted on all the training data.
Mode ``all`` may recommend products the customer already bought ("buy again" placements);
mode ``new`` excludes them ("discover" placements).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

from .interactions import Interactions, build_interactions, time_split
from .metrics import RankingMetrics, evaluate_rankings, recall_at_k_batch, truth_matrix
from .rankers import ALSRanker, BuyAgainRanker, ItemKNNRanker, PopularityRanker, Ranker
from .topk import top_k_indices

MODES = ("all", "new")
COMPONENTS = ("buy_again", "item_knn", "als", "popularity")
# Components whose recommendations are explained by a product from the customer's history.
EXPLAINED_BY_HISTORY = ("item_knn", "als")

ProgressCallback = Callable[[str, int, int], None]
# Validation customers scored at a time: every dense array is at most this many rows x products.
VALIDATION_BLOCK = 1024
# Weight search on at most this many validation customers (a seeded sample beyond it): the search
# blends and ranks every customer x product once per grid point, so without a cap its cost grows with
# customers x products. The shared file's 90-day window has 1,494 of them, so its weights are
# unchanged; a larger shop searches on as many customers, at a cost that grows with its catalogue only.
VALIDATION_MAX_CUSTOMERS = 1500
TOP_K_EVAL = 10


def _row_max_normalise(scores: np.ndarray) -> np.ndarray:
    """Negatives to 0, each row divided by its maximum. In place: the rankers hand over fresh arrays, and
    a block x products copy per step was most of this function's time at 3x the shared file."""
    peak = scores.max(axis=1, keepdims=True)
    peak[peak <= 0] = 1.0
    np.maximum(scores, 0.0, out=scores)
    scores /= peak
    return scores


def make_components(random_state: int = 0) -> dict[str, Ranker]:
    return {
        "buy_again": BuyAgainRanker(frequency_weight=0.5, repeat_exponent=0.5),
        "item_knn": ItemKNNRanker(neighbours=100, weighting="bm25"),
        "als": ALSRanker(
            factors=64, regularization=0.05, alpha=10.0, iterations=15, random_state=random_state
        ),
        "popularity": PopularityRanker(),
    }


def component_scores(components: dict[str, Ranker], rows: np.ndarray) -> dict[str, np.ndarray]:
    """Each component's scores on a common 0..1 scale, so blend weights are comparable."""
    out = {}
    for name, ranker in components.items():
        raw = ranker.score(rows)
        # Saturating transform: the third purchase of a product adds less than the first.
        if name == "buy_again":
            np.negative(raw, out=raw)  # 1 - exp(-raw), without three block-sized temporaries
            np.exp(raw, out=raw)
            out[name] = np.subtract(1.0, raw, out=raw)
        else:
            out[name] = _row_max_normalise(raw)
    return out


def blend(scores: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    total = None
    for name, weight in weights.items():
        if weight and name in scores:
            total = scores[name] * weight if total is None else total + scores[name] * weight
    if total is None:
        total = np.zeros_like(next(iter(scores.values())))
    return total


def exclude_seen(scores: np.ndarray, interactions: Interactions, rows: np.ndarray) -> np.ndarray:
    seen = interactions.confidence[rows]
    scores = scores.copy()
    scores[seen.nonzero()] = -np.inf
    return scores


def rank(scores: np.ndarray, k: int) -> np.ndarray:
    return top_k_indices(scores, k)


def evaluate_scores(
    scores: np.ndarray, rows: np.ndarray, truth: dict[int, set[int]], n_products: int, k: int = 10
) -> RankingMetrics:
    top = rank(scores, k)
    finite = np.isfinite(np.take_along_axis(scores, top, axis=1))
    rankings = {int(row): top[i][finite[i]].tolist() for i, row in enumerate(rows)}
    return evaluate_rankings(rankings, truth, n_products, k)


DEFAULT_GRID = {
    "buy_again": (1.0,),
    "item_knn": (0.1, 0.2, 0.4),
    "als": (0.0, 0.2, 0.4),
    "popularity": (0.1, 0.3, 0.6, 1.0),
}


def tune_weights(
    scores: dict[str, np.ndarray],
    interactions: Interactions,
    rows: np.ndarray,
    truth_all: dict[int, set[int]],
    truth_new: dict[int, set[int]],
    grid: dict[str, tuple[float, ...]] | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Grid search of blend weights by Recall@10, per mode; returns the weights and the validation recalls."""
    grid = grid or DEFAULT_GRID
    names = list(grid)
    n_products = interactions.shape[1]
    best: dict[str, tuple[float, dict[str, float]]] = {mode: (-1.0, {}) for mode in MODES}
    truth_all_matrix = truth_matrix(truth_all, rows, n_products)
    new_mask = np.array([int(row) in truth_new for row in rows])
    new_rows = rows[new_mask]
    truth_new_matrix = truth_matrix(truth_new, new_rows, n_products)
    new_scores = {name: s[new_mask] for name, s in scores.items()}
    seen = interactions.confidence[new_rows].toarray() > 0
    for combo in itertools.product(*(grid[name] for name in names)):
        weights = dict(zip(names, combo, strict=True))
        recall_all = float(np.nanmean(recall_at_k_batch(rank(blend(scores, weights), 10), truth_all_matrix)))
        if recall_all > best["all"][0]:
            best["all"] = (recall_all, weights)
        if weights.get("buy_again", 0) == grid["buy_again"][0] and len(new_rows):
            # Buy-again scores only seen products, which mode "new" removes: one weight value suffices.
            new_blend = np.where(seen, -np.inf, blend(new_scores, weights))
            recall_new = float(np.nanmean(recall_at_k_batch(rank(new_blend, 10), truth_new_matrix)))
            if recall_new > best["new"][0]:
                best["new"] = (recall_new, weights)
    return {mode: best[mode][1] for mode in MODES}, {mode: best[mode][0] for mode in MODES}


def validation_metrics(
    scores: dict[str, np.ndarray], weights: dict[str, dict[str, float]], split, rows: np.ndarray
) -> dict[str, dict[str, RankingMetrics]]:
    """Metrics of each component alone (popularity is the baseline) and of the tuned blend, per mode."""
    n_products = split.train.shape[1]
    out: dict[str, dict[str, RankingMetrics]] = {}
    for name in [*scores, "hybrid"]:
        out[name] = {}
        for mode, truth in (("all", split.truth_all), ("new", split.truth_new)):
            blended = blend(scores, weights[mode]) if name == "hybrid" else scores[name]
            if mode == "new":
                blended = exclude_seen(blended, split.train, rows)
            out[name][mode] = evaluate_scores(blended, rows, truth, n_products)
    return out


def _top_finite(scores: np.ndarray, k: int) -> np.ndarray:
    """Each row's top-k columns, best first, with -1 where the score is -inf (an excluded product)."""
    top = rank(scores, k)
    return np.where(np.isfinite(np.take_along_axis(scores, top, axis=1)), top, -1)


def _masked(scores: np.ndarray, seen: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    out = scores.copy()
    out[seen] = -np.inf
    return out


def _recalls(top: np.ndarray, rows: np.ndarray, truth: dict[int, set[int]], n_products: int) -> np.ndarray:
    """``recall_at_k_batch`` with no dense truth matrix: hits are looked up as sorted (row, product) keys."""
    keys = np.array(
        sorted(int(row) * n_products + col for row in rows.tolist() for col in truth.get(int(row), ())),
        dtype=np.int64,
    )
    sizes = np.array([len(truth.get(int(row), ())) for row in rows.tolist()], dtype=np.int64)
    valid = top >= 0
    wanted = rows[:, None].astype(np.int64) * n_products + np.where(valid, top, 0)
    where = np.searchsorted(keys, wanted)
    hits = (where < len(keys)) & (keys[np.minimum(where, max(len(keys) - 1, 0))] == wanted) & valid
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sizes > 0, hits.sum(axis=1) / np.minimum(top.shape[1], sizes), np.nan)


def validate_blockwise(
    components: dict[str, Ranker],
    split,
    rows: np.ndarray,
    grid: dict[str, tuple[float, ...]] | None = None,
    block: int = VALIDATION_BLOCK,
) -> tuple[dict[str, dict[str, float]], dict[str, float], dict[str, dict[str, RankingMetrics]]]:
    """``tune_weights`` then ``validation_metrics``, with the same results, scoring ``block`` rows at a time.

    Only each row's top 10 per grid point and mode is kept, never a rows x products array: memory is
    block x products whatever the number of validation customers.
    """
    grid = grid or DEFAULT_GRID
    names = list(grid)
    combos = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(grid[n] for n in names))]
    # Mode "new" is searched over one buy-again weight (it scores only seen products, which "new" drops);
    # the empty blend is what "new" falls back to when no customer bought anything new.
    searched_new = [weights.get("buy_again", 0) == grid["buy_again"][0] for weights in combos]
    combos.append({})
    searched_new.append(False)
    n_products = split.train.shape[1]
    k = TOP_K_EVAL
    top_all = np.full((len(combos), len(rows), k), -1, dtype=np.int64)
    top_new = np.full((len(combos), len(rows), k), -1, dtype=np.int64)
    alone: dict[str, dict[str, np.ndarray]] = {}
    for start in range(0, len(rows), block):
        part = slice(start, min(start + block, len(rows)))
        scores = component_scores(components, rows[part])
        seen = split.train.confidence[rows[part]].nonzero()
        for name, values in scores.items():
            alone.setdefault(name, {m: np.full((len(rows), k), -1, dtype=np.int64) for m in MODES})
            alone[name]["all"][part] = _top_finite(values, k)
            alone[name]["new"][part] = _top_finite(_masked(values, seen), k)
        for index, weights in enumerate(combos):
            total = blend(scores, weights)
            top_all[index, part] = _top_finite(total, k)
            top_new[index, part] = _top_finite(_masked(total, seen), k)
        del scores

    new_mask = np.array([int(row) in split.truth_new for row in rows], dtype=bool)
    best: dict[str, tuple[float, int | None]] = {mode: (-1.0, None) for mode in MODES}
    for index in range(len(combos) - 1):
        recall_all = float(np.nanmean(_recalls(top_all[index], rows, split.truth_all, n_products)))
        if recall_all > best["all"][0]:
            best["all"] = (recall_all, index)
        if searched_new[index] and new_mask.any():
            recall = _recalls(top_new[index][new_mask], rows[new_mask], split.truth_new, n_products)
            recall_new = float(np.nanmean(recall))
            if recall_new > best["new"][0]:
                best["new"] = (recall_new, index)
    chosen = {mode: (len(combos) - 1 if best[mode][1] is None else best[mode][1]) for mode in MODES}
    weights = {mode: combos[chosen[mode]] for mode in MODES}
    recalls = {mode: best[mode][0] for mode in MODES}

    kept = set(rows.tolist())
    truths = {
        "all": {row: items for row, items in split.truth_all.items() if row in kept},
        "new": {row: items for row, items in split.truth_new.items() if row in kept},
    }
    tops = {name: by_mode for name, by_mode in alone.items()}
    tops["hybrid"] = {"all": top_all[chosen["all"]], "new": top_new[chosen["new"]]}
    metrics: dict[str, dict[str, RankingMetrics]] = {}
    for name, by_mode in tops.items():
        metrics[name] = {}
        for mode in MODES:
            rankings = {
                int(row): [int(c) for c in top if c >= 0]
                for row, top in zip(rows, by_mode[mode], strict=True)
            }
            metrics[name][mode] = evaluate_rankings(rankings, truths[mode], n_products, k)
    return weights, recalls, metrics


@dataclass
class Recommendations:
    """Top-k per customer row: product column indices, blended scores and reason kind per item."""

    items: np.ndarray
    scores: np.ndarray
    reasons: np.ndarray
    reason_items: np.ndarray


class HybridRecommender:
    """Blend of the purchase rankers; see the module docstring."""

    def __init__(
        self,
        validation_days: int = 90,
        half_life_days: float = 90.0,
        random_state: int = 0,
        grid: dict[str, tuple[float, ...]] | None = None,
        validation_max_customers: int = VALIDATION_MAX_CUSTOMERS,
    ):
        self.validation_max_customers = validation_max_customers
        self.validation_days = validation_days
        self.half_life_days = half_life_days
        self.random_state = random_state
        self.grid = grid

    def fit(
        self,
        purchases: pd.DataFrame,
        *,
        products: np.ndarray | None = None,
        customers: np.ndarray | None = None,
        as_of: pd.Timestamp | None = None,
        progress: ProgressCallback | None = None,
    ) -> HybridRecommender:
        progress = progress or (lambda stage, done, total: None)
        placed = pd.to_datetime(purchases.placed_at)
        as_of = (
            pd.Timestamp(as_of)
            if as_of is not None
            else (placed.max() if len(placed) else pd.Timestamp.now())
        )
        products = np.sort(purchases["product"].unique()) if products is None else np.asarray(products)
        purchases, placed = purchases[placed < as_of], placed[placed < as_of]
        # Recency (decay, "popular this month", the validation window) counts back from the latest
        # sale, not from the wall clock: a shop whose data stops early still has a recent past.
        if len(placed):
            as_of = min(as_of, placed.max() + pd.Timedelta(seconds=1))
        self.reference_time_ = as_of
        validation_cut = as_of - pd.Timedelta(days=self.validation_days)
        self.weights_ = {
            mode: {"buy_again": 1.0, "item_knn": 0.2, "als": 0.2, "popularity": 0.6} for mode in MODES
        }
        self.validation_recall_ = {mode: float("nan") for mode in MODES}
        self.validation_metrics_: dict[str, dict[str, RankingMetrics]] = {}
        earlier = purchases[placed < validation_cut]
        if len(earlier) and (placed >= validation_cut).any():
            split = time_split(
                purchases,
                validation_cut,
                products=products,
                half_life_days=self.half_life_days,
            )
            rows = np.array(sorted(split.truth_all), dtype=np.int64)
            if len(rows) > self.validation_max_customers:
                sample = np.random.default_rng(self.random_state).choice(
                    rows, self.validation_max_customers, replace=False
                )
                rows = np.sort(sample)
            if len(rows):
                progress("validation fit", 0, len(COMPONENTS))
                components = self._fit_components(split.train, progress, "validation fit")
                progress("weight search", 0, 1)
                self.weights_, self.validation_recall_, self.validation_metrics_ = validate_blockwise(
                    components, split, rows, self.grid
                )
                progress("weight search", 1, 1)
        self.interactions_ = build_interactions(
            purchases,
            products=products,
            customers=customers,
            as_of=as_of,
            half_life_days=self.half_life_days,
        )
        self.components_ = self._fit_components(self.interactions_, progress, "final fit")
        return self

    def _fit_components(self, interactions: Interactions, progress: ProgressCallback, stage: str) -> dict:
        components = make_components(self.random_state)
        for done, ranker in enumerate(components.values(), start=1):
            ranker.fit(interactions)
            progress(stage, done, len(components))
        return components

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise NotFittedError("HybridRecommender is not fitted; call fit() first")

    def score(self, rows: np.ndarray, mode: str = "all") -> np.ndarray:
        self._check_fitted()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        scores = blend(component_scores(self.components_, rows), self.weights_[mode])
        return exclude_seen(scores, self.interactions_, rows) if mode == "new" else scores

    def recommend(
        self,
        rows: np.ndarray,
        k: int,
        mode: str = "all",
        *,
        extra_scores: np.ndarray | None = None,
        extra_exclude: np.ndarray | None = None,
    ) -> Recommendations:
        """Top-k per row with the reason for each item; excluded products (score -inf) come back as -1.

        ``extra_scores`` (already weighted, e.g. predicted stars of customers with ratings) is added
        to the blend under the reason ``"ratings"``; ``extra_exclude`` marks more products to drop in
        mode ``new`` (e.g. the ones a customer rated).
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        return self.recommend_modes(
            rows, k, modes=(mode,), extra_scores=extra_scores, extra_exclude=extra_exclude
        )[mode]

    def recommend_modes(
        self,
        rows: np.ndarray,
        k: int,
        *,
        modes: tuple[str, ...] = MODES,
        extra_scores: np.ndarray | None = None,
        extra_exclude: np.ndarray | None = None,
    ) -> dict[str, Recommendations]:
        """``recommend`` for several modes of the same rows: each component scores the rows once."""
        self._check_fitted()
        parts = component_scores(self.components_, rows)
        if extra_scores is not None:
            parts["ratings"] = extra_scores
        names = [name for name in (*COMPONENTS, "ratings") if name in parts]
        history = self.interactions_.recency[rows].tocsr()
        history.sort_indices()
        out = {}
        for mode in modes:
            weights = dict(self.weights_[mode])
            if extra_scores is not None:
                weights["ratings"] = 1.0
            total = blend(parts, weights)
            if mode == "new":
                total = exclude_seen(total, self.interactions_, rows)
                if extra_exclude is not None:
                    total[extra_exclude] = -np.inf
            items = rank(total, k)
            scores = np.take_along_axis(total, items, axis=1)
            contributions = np.stack(
                [np.take_along_axis(parts[name], items, axis=1) * weights.get(name, 0.0) for name in names]
            )
            reasons = np.array(names, dtype=object)[contributions.argmax(axis=0)]
            # Only co-purchase reasons name a past product ("because you bought X").
            reason_items = self._explaining_items(history, items, np.isin(reasons, EXPLAINED_BY_HISTORY))
            items = np.where(np.isfinite(scores), items, -1)
            out[mode] = Recommendations(
                items=items, scores=scores, reasons=reasons, reason_items=reason_items
            )
        return out

    def _explaining_items(self, history: sp.csr_matrix, items: np.ndarray, need: np.ndarray) -> np.ndarray:
        """For each recommended item where ``need`` is set, the customer's past product most similar
        to it (-1 if none, and wherever ``need`` is not set).

        "Most similar" is the largest similarity[past, item] x the past product's recency weight;
        ties go to the lowest column. One flat array holds every (item, past product) pair of the
        block, read from a dense copy of the block's corner of the similarity matrix, so the
        arg-max is a segmented reduction, with no loop per customer.
        """
        out = np.full(items.shape, -1, dtype=np.int64)
        lengths_by_row = np.diff(history.indptr)
        row_of, slot = np.nonzero(need & (items >= 0) & (lengths_by_row[:, None] > 0))
        if not len(row_of):
            return out
        n = self.interactions_.shape[1]
        lengths = lengths_by_row[row_of]
        seg_start = np.r_[0, np.cumsum(lengths)[:-1]]
        position = np.repeat(history.indptr[row_of] - seg_start, lengths) + np.arange(int(lengths.sum()))
        past = history.indices[position]
        targets = items[row_of, slot]
        # Only the block's past products (rows) and recommended items (columns) are ever read.
        past_set, target_set = np.unique(history.indices), np.unique(targets)
        where_past, where_target = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        where_past[past_set], where_target[target_set] = np.arange(len(past_set)), np.arange(len(target_set))
        corner = self.components_["item_knn"].similarity_[past_set][:, target_set].toarray()
        value = corner[where_past[past], np.repeat(where_target[targets], lengths)]
        value *= history.data[position]
        best_value = np.maximum.reduceat(value, seg_start)
        at_best = value == np.repeat(best_value, lengths)
        best = np.minimum.reduceat(np.where(at_best, past, n), seg_start)
        explained = best_value > 0
        out[row_of[explained], slot[explained]] = best[explained]
        return out

    def similar_products(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Each product's top-k co-purchase neighbours (BM25 item-kNN), padded with -1 and score 0.

        Each row's stored neighbours are laid into a padded matrix and sorted there at once.
        """
        self._check_fitted()
        similarity = self.components_["item_knn"].similarity_.tocsr()
        n = similarity.shape[0]
        lengths = np.diff(similarity.indptr)
        width = max(int(lengths.max()) if n else 0, 1)
        row = np.repeat(np.arange(n), lengths)
        slot = np.arange(similarity.nnz) - similarity.indptr[row]
        keep = (similarity.data > 0) & (similarity.indices != row)
        values = np.full((n, width), -np.inf, dtype=np.float32)
        columns = np.full((n, width), -1, dtype=np.int64)
        values[row, slot] = np.where(keep, similarity.data, -np.inf)
        columns[row, slot] = similarity.indices
        order = np.argsort(-values, axis=1, kind="stable")[:, :k]
        top_values = np.take_along_axis(values, order, axis=1)
        found = np.isfinite(top_values)
        items = np.full((n, k), -1, dtype=np.int64)
        scores = np.zeros((n, k), dtype=np.float32)
        items[:, : order.shape[1]] = np.where(found, np.take_along_axis(columns, order, axis=1), -1)
        scores[:, : order.shape[1]] = np.where(found, top_values, 0.0)
        return items, scores


def evaluate_protocol(
    purchases: pd.DataFrame,
    cut: pd.Timestamp,
    *,
    products: np.ndarray | None = None,
    progress: ProgressCallback | None = None,
    **hybrid_kwargs,
) -> dict[str, dict[str, RankingMetrics]]:
    """DESIGN.md protocol: train before ``cut``, test on returning customers' products after it.

    Returns metrics per ranker (each component alone, popularity as the baseline, and the hybrid)
    and per mode. The hybrid is scored on the lists the service stores (``recommend_modes``, the
    precompute of every customer's list), so the figure is the served lists' figure.
    """
    products = np.sort(purchases["product"].unique()) if products is None else np.asarray(products)
    split = time_split(purchases, cut, products=products)
    hybrid = HybridRecommender(**hybrid_kwargs).fit(
        purchases[pd.to_datetime(purchases.placed_at) < pd.Timestamp(cut)],
        products=products,
        customers=split.train.customers,
        as_of=pd.Timestamp(cut),
        progress=progress,
    )
    rows = np.array(sorted(split.truth_all), dtype=np.int64)
    n_products = len(products)
    parts = component_scores(hybrid.components_, rows)
    results: dict[str, dict[str, RankingMetrics]] = {}
    for name, scores in parts.items():
        results[name] = {}
        for mode, truth in (("all", split.truth_all), ("new", split.truth_new)):
            ranked = exclude_seen(scores, hybrid.interactions_, rows) if mode == "new" else scores
            results[name][mode] = evaluate_scores(ranked, rows, truth, n_products)
    lists = hybrid.recommend_modes(rows, 10)
    results["hybrid"] = {}
    for mode, truth in (("all", split.truth_all), ("new", split.truth_new)):
        items = lists[mode].items
        rankings = {int(row): items[i][items[i] >= 0].tolist() for i, row in enumerate(rows)}
        results["hybrid"][mode] = evaluate_rankings(rankings, truth, n_products, 10)
    return results
