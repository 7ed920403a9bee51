"""The precompute as it was before it was vectorised: one customer (or product) at a time.

Kept only as the oracle that the block-wise, vectorised precompute must reproduce exactly.
"""

from __future__ import annotations

import numpy as np

from recommender.engine.hybrid import COMPONENTS, blend, component_scores, exclude_seen, rank


def recommend(hybrid, rows: np.ndarray, k: int, mode: str, extra_scores=None, extra_exclude=None):
    """Items, scores, reason components and explaining items of one mode, scored for that mode alone."""
    parts = component_scores(hybrid.components_, rows)
    weights = dict(hybrid.weights_[mode])
    if extra_scores is not None:
        parts["ratings"] = extra_scores
        weights["ratings"] = 1.0
    total = blend(parts, weights)
    if mode == "new":
        total = exclude_seen(total, hybrid.interactions_, rows)
        if extra_exclude is not None:
            total[extra_exclude] = -np.inf
    items = rank(total, k)
    scores = np.take_along_axis(total, items, axis=1)
    names = [name for name in (*COMPONENTS, "ratings") if name in parts]
    contributions = np.stack(
        [np.take_along_axis(parts[name], items, axis=1) * weights.get(name, 0.0) for name in names]
    )
    reasons = np.array(names, dtype=object)[contributions.argmax(axis=0)]
    reason_items = explaining_items(hybrid, rows, items)
    items = np.where(np.isfinite(scores), items, -1)
    return items, scores, reasons, reason_items


def explaining_items(hybrid, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
    history = hybrid.interactions_.recency[rows].tocsr()
    similarity = hybrid.components_["item_knn"].similarity_.T.tocsr()
    out = np.full(items.shape, -1, dtype=np.int64)
    for i in range(len(rows)):
        past = history.indices[history.indptr[i] : history.indptr[i + 1]]
        if not len(past):
            continue
        weights = history.data[history.indptr[i] : history.indptr[i + 1]]
        block = similarity[items[i]][:, past].toarray() * weights[None, :]
        best = block.argmax(axis=1)
        found = block[np.arange(len(best)), best] > 0
        out[i, found] = past[best[found]]
    return out


def similar_products(hybrid, k: int) -> tuple[np.ndarray, np.ndarray]:
    similarity = hybrid.components_["item_knn"].similarity_.tocsr()
    n = similarity.shape[0]
    items = np.full((n, k), -1, dtype=np.int64)
    scores = np.zeros((n, k), dtype=np.float32)
    for row in range(n):
        start, stop = similarity.indptr[row], similarity.indptr[row + 1]
        cols, values = similarity.indices[start:stop], similarity.data[start:stop]
        keep = (values > 0) & (cols != row)
        cols, values = cols[keep], values[keep]
        order = np.argsort(-values, kind="stable")[:k]
        items[row, : len(order)], scores[row, : len(order)] = cols[order], values[order]
    return items, scores


def similar_product_rows(hybrid, content, k: int) -> list[tuple[int, int, int, float, str]]:
    """(product, rank, similar, score, reason) rows: co-purchase neighbours, then content ones."""
    from recommender.engine.topk import top_k_indices

    products = hybrid.interactions_.products
    knn_items, knn_scores = similar_products(hybrid, k)
    out = []
    rows = np.arange(len(products))
    sim = content.similarity(rows)
    sim[rows, rows] = -np.inf
    content_items = top_k_indices(sim, 2 * k)
    for row in rows.tolist():
        chosen = [
            (int(col), float(score), "together")
            for col, score in zip(knn_items[row], knn_scores[row], strict=True)
            if col >= 0
        ]
        have = {col for col, _, _ in chosen}
        for col in content_items[row].tolist():
            if len(chosen) >= k:
                break
            if col not in have and sim[row, col] > 0:
                chosen.append((col, float(sim[row, col]), "similar"))
                have.add(col)
        out.extend(
            (int(products[row]), rank, int(products[col]), score, reason)
            for rank, (col, score, reason) in enumerate(chosen[:k], start=1)
        )
    return out
