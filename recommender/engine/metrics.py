"""Top-N metrics of the evaluation protocol: Recall@k, NDCG@k, HR@k and catalogue coverage.

Rankings are arrays of product indices per customer (best first); truth is a set of product
indices per customer. Recall divides the hits by ``min(k, |truth|)`` so that a perfect list
scores 1 even when the customer bought more than k products.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


def recall_at_k(ranked: Sequence[int], truth: set[int], k: int = 10) -> float:
    if not truth:
        raise ValueError("recall is undefined for an empty truth set")
    hits = len(set(list(ranked)[:k]) & truth)
    return hits / min(k, len(truth))


def hit_rate_at_k(ranked: Sequence[int], truth: set[int], k: int = 10) -> float:
    return 1.0 if set(list(ranked)[:k]) & truth else 0.0


def ndcg_at_k(ranked: Sequence[int], truth: set[int], k: int = 10) -> float:
    """Binary-relevance NDCG: gains 1/log2(rank + 1), normalised by the best possible order."""
    if not truth:
        raise ValueError("NDCG is undefined for an empty truth set")
    gains = np.array([1.0 if item in truth else 0.0 for item in list(ranked)[:k]])
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = float((gains * discounts[: len(gains)]).sum())
    ideal = float(discounts[: min(k, len(truth))].sum())
    return dcg / ideal


def catalogue_coverage(rankings: Sequence[Sequence[int]], n_products: int, k: int = 10) -> float:
    """Share of the catalogue that appears in at least one customer's top k."""
    if n_products <= 0:
        return 0.0
    shown: set[int] = set()
    for ranked in rankings:
        shown.update(list(ranked)[:k])
    return len(shown) / n_products


@dataclass(frozen=True)
class RankingMetrics:
    recall: float
    ndcg: float
    hit_rate: float
    coverage: float
    customers: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def evaluate_rankings(
    rankings: dict[int, Sequence[int]], truth: dict[int, set[int]], n_products: int, k: int = 10
) -> RankingMetrics:
    """Averages the metrics over customers with a non-empty truth set; a missing ranking scores 0."""
    recalls, ndcgs, hits = [], [], []
    for customer, bought in truth.items():
        if not bought:
            continue
        ranked = rankings.get(customer, [])
        recalls.append(recall_at_k(ranked, bought, k))
        ndcgs.append(ndcg_at_k(ranked, bought, k))
        hits.append(hit_rate_at_k(ranked, bought, k))
    evaluated = [rankings.get(customer, []) for customer, bought in truth.items() if bought]
    return RankingMetrics(
        recall=float(np.mean(recalls)) if recalls else 0.0,
        ndcg=float(np.mean(ndcgs)) if ndcgs else 0.0,
        hit_rate=float(np.mean(hits)) if hits else 0.0,
        coverage=catalogue_coverage(evaluated, n_products, k),
        customers=len(recalls),
    )


def recall_at_k_batch(top: np.ndarray, truth: np.ndarray, k: int = 10) -> np.ndarray:
    """Vectorised Recall@k: ``top`` holds each row's ranked product indices (-1 for none), ``truth``
    a dense boolean matrix of the same rows. Rows without truth give NaN."""
    top = top[:, :k]
    valid = top >= 0
    hits = np.take_along_axis(truth, np.where(valid, top, 0), axis=1) & valid
    sizes = truth.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sizes > 0, hits.sum(axis=1) / np.minimum(k, sizes), np.nan)


def truth_matrix(truth: dict[int, set[int]], rows: np.ndarray, n_products: int) -> np.ndarray:
    """The truth sets of ``rows`` (in that order) as a dense boolean matrix."""
    position = {int(row): i for i, row in enumerate(rows.tolist())}
    r, c = [], []
    for row, items in truth.items():
        if row in position:
            r.extend([position[row]] * len(items))
            c.extend(items)
    out = np.zeros((len(rows), n_products), dtype=bool)
    out[r, c] = True
    return out
