"""Vectorised top-k selection over dense score matrices."""

from __future__ import annotations

import numpy as np


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` highest scores in each row, best first.

    ``argpartition`` finds the k best in linear time; only those k are then sorted.
    ``-inf`` marks excluded products; callers drop them with ``scores[rows, idx] > -inf``.
    """
    scores = np.atleast_2d(scores)
    k = min(k, scores.shape[1])
    if k <= 0:
        return np.empty((scores.shape[0], 0), dtype=np.int64)
    n = scores.shape[1]
    if k < n:
        # Partition around the (n-k)-th smallest: the last k columns hold the k largest (no negated copy).
        part = np.argpartition(scores, n - k, axis=1)[:, n - k :]
    else:
        part = np.tile(np.arange(scores.shape[1]), (scores.shape[0], 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)
