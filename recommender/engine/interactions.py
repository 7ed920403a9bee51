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
    # Basket level (one row per customer order, one-hot over products), for basket-sequence models:
    # the customer row of each basket and its position counted back from the customer's latest (0).
    baskets: sp.csr_matrix | None = None
    basket_customer: np.ndarray | None = None
    basket_position: np.ndarray | None = None

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
    as_of = _as_of_like(placed, as_of)
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
    baskets, basket_customer, basket_position = _baskets(pairs[keep], rows, cols, placed[keep], shape)
    return Interactions(
        customers,
        products,
        confidence,
        recency,
        recent_popularity,
        as_of,
        baskets,
        basket_customer,
        basket_position,
    )


def _as_of_like(placed: pd.Series, as_of: pd.Timestamp | None) -> pd.Timestamp:
    """The reference time, in the purchases' time zone (or naive like them) so ages can be subtracted."""
    tz = placed.dt.tz
    if as_of is None:
        return placed.max() if len(placed) else pd.Timestamp.now(tz=tz)
    as_of = pd.Timestamp(as_of)
    if tz is not None:
        return as_of.tz_localize(tz) if as_of.tzinfo is None else as_of.tz_convert(tz)
    return as_of.tz_convert("UTC").tz_localize(None) if as_of.tzinfo is not None else as_of


def _baskets(
    pairs: pd.DataFrame, rows: np.ndarray, cols: np.ndarray, placed: pd.Series, shape: tuple[int, int]
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """One-hot basket matrix; baskets are (customer, order) pairs, positioned from the customer's latest."""
    if not len(rows):
        return sp.csr_matrix((0, shape[1]), dtype=np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64)
    order_code, orders = pd.factorize(pairs["order"].to_numpy())
    keys, basket_id = np.unique(rows.astype(np.int64) * len(orders) + order_code, return_inverse=True)
    n_baskets = len(keys)
    basket_customer = keys // len(orders)
    basket_time = np.full(n_baskets, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(basket_time, basket_id, pd.DatetimeIndex(placed).asi8)
    # Latest first within each customer; ties (same timestamp) broken by basket id, deterministic.
    by_recency = np.lexsort((-np.arange(n_baskets), -basket_time, basket_customer))
    sorted_customers = basket_customer[by_recency]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_customers)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, n_baskets]))
    position = np.empty(n_baskets, dtype=np.int64)
    position[by_recency] = np.arange(n_baskets) - run_start
    baskets = sp.csr_matrix(
        (np.ones(len(cols), dtype=np.float32), (basket_id, cols)), shape=(n_baskets, shape[1])
    )
    baskets.sum_duplicates()
    baskets.data[:] = 1.0
    return baskets, basket_customer, position


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
