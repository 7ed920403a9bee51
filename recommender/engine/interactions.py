"""Purchase lines to customer x product matrices, and the time split of the evaluation protocol.

The input is a data frame of sale lines with columns ``customer``, ``product``, ``order`` and
``placed_at`` (any hashable ids, a datetime column). The confidence of a (customer, product)
pair is the number of distinct orders containing it; the recency-weighted matrix sums
``0.5 ** (age_days / half_life_days)`` over those orders, so frequent and recent purchases both
count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

PURCHASE_COLUMNS = ("customer", "product", "order", "placed_at")


@dataclass
class Interactions:
    """Customer x product matrices over fixed id orders (rows: ``customers``, columns: ``products``)."""

    customers: np.ndarray
    products: np.ndarray
    confidence: sp.csr_matrix
    recency: sp.csr_matrix
    recent_popularity: np.ndarray
    as_of: pd.Timestamp

    @property
    def shape(self) -> tuple[int, int]:
        return self.confidence.shape

    def customer_index(self) -> dict:
        return {customer: row for row, customer in enumerate(self.customers.tolist())}

    def product_index(self) -> dict:
        return {product: col for col, product in enumerate(self.products.tolist())}


def _distinct_pairs(purchases: pd.DataFrame) -> pd.DataFrame:
    missing = set(PURCHASE_COLUMNS) - set(purchases.columns)
    if missing:
        raise ValueError(f"purchases lack columns {sorted(missing)}")
    # One row per (customer, product, order): several lines of one product on one order count once.
    return (
        purchases.groupby(["customer", "product", "order"], sort=False, observed=True)
        .placed_at.max()
        .reset_index()
    )


def build_interactions(
    purchases: pd.DataFrame,
    *,
    products: np.ndarray | None = None,
    customers: np.ndarray | None = None,
    as_of: pd.Timestamp | None = None,
    half_life_days: float = 90.0,
    popularity_window_days: int = 30,
) -> Interactions:
    """Builds the matrices; ``products`` and ``customers`` fix the id order and may hold ids without sales."""
    pairs = _distinct_pairs(purchases)
    placed = pd.to_datetime(pairs.placed_at)
    as_of = (
        pd.Timestamp(as_of) if as_of is not None else (placed.max() if len(placed) else pd.Timestamp.now())
    )
    if products is None:
        products = np.sort(pairs["product"].unique())
    if customers is None:
        customers = np.sort(pairs["customer"].unique())
    products, customers = np.asarray(products), np.asarray(customers)
    cols = pd.Index(products).get_indexer(pairs["product"])
    rows = pd.Index(customers).get_indexer(pairs["customer"])
    keep = (cols >= 0) & (rows >= 0)
    rows, cols = rows[keep], cols[keep]
    age_days = ((as_of - placed[keep]).dt.total_seconds() / 86400.0).clip(lower=0).to_numpy()
    shape = (len(customers), len(products))
    confidence = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=shape)
    decay = np.power(0.5, age_days / half_life_days).astype(np.float32)
    recency = sp.csr_matrix((decay, (rows, cols)), shape=shape)
    confidence.sum_duplicates()
    recency.sum_duplicates()
    recent = age_days <= popularity_window_days
    recent_popularity = np.bincount(cols[recent], minlength=len(products)).astype(np.float32)
    return Interactions(customers, products, confidence, recency, recent_popularity, as_of)


@dataclass
class TimeSplit:
    """Training interactions before a cut, and each returning customer's products bought on or after it."""

    train: Interactions
    truth_all: dict[int, set[int]]
    truth_new: dict[int, set[int]]


def time_split(
    purchases: pd.DataFrame, cut: pd.Timestamp, *, products: np.ndarray | None = None, **build_kwargs
) -> TimeSplit:
    """The DESIGN.md protocol: truth counts only customers seen before the cut and products known then."""
    cut = pd.Timestamp(cut)
    placed = pd.to_datetime(purchases.placed_at)
    before, after = purchases[placed < cut], purchases[placed >= cut]
    train = build_interactions(before, products=products, as_of=cut, **build_kwargs)
    rows = pd.Index(train.customers).get_indexer(after["customer"])
    cols = pd.Index(train.products).get_indexer(after["product"])
    keep = (rows >= 0) & (cols >= 0)
    truth_all: dict[int, set[int]] = {}
    for row, col in zip(rows[keep].tolist(), cols[keep].tolist(), strict=True):
        truth_all.setdefault(row, set()).add(col)
    seen = train.confidence
    truth_new = {}
    for row, bought in truth_all.items():
        new = bought - set(seen.indices[seen.indptr[row] : seen.indptr[row + 1]].tolist())
        if new:
            truth_new[row] = new
    return TimeSplit(train, truth_all, truth_new)
