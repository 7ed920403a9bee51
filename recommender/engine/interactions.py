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
    # Day of each pair's latest purchase (days since 1970-01-01), for reasons such as
    # "you bought this 3 times, last on 2011-09-12".
    last_day: sp.csr_matrix | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.confidence.shape

    def customer_index(self) -> dict:
        return {customer: row for row, customer in enumerate(self.customers.tolist())}


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
    return Interactions(
        customers,
        products,
        confidence,
        recency,
        recent_popularity,
        as_of,
        _last_day(rows, cols, placed[keep], shape),
    )


def _last_day(rows: np.ndarray, cols: np.ndarray, placed: pd.Series, shape: tuple[int, int]) -> sp.csr_matrix:
    """Latest purchase day of each (customer, product) pair, as days since 1970-01-01."""
    if not len(rows):
        return sp.csr_matrix(shape, dtype=np.int32)
    days = pd.DatetimeIndex(placed).tz_localize(None).to_numpy().astype("datetime64[D]").astype(np.int64)
    keys = rows.astype(np.int64) * shape[1] + cols
    # Sorted by key then day, the last entry of each key is its latest day.
    order = np.lexsort((days, keys))
    keys, days = keys[order], days[order]
    last = np.r_[keys[1:] != keys[:-1], True]
    keys, days = keys[last], days[last]
    return sp.csr_matrix(
        (days.astype(np.int32), (keys // shape[1], keys % shape[1])), shape=shape, dtype=np.int32
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


@dataclass
class TimeSplit:
    """Training interactions before a cut, and each returning customer's products bought on or after it."""

    train: Interactions
    truth_all: dict[int, set[int]]
    truth_new: dict[int, set[int]]


def time_split(
    purchases: pd.DataFrame, cut: pd.Timestamp, *, products: np.ndarray | None = None, **build_kwargs
) -> TimeSplit:
    """The DESIGN.md protocol: truth counts only customers seen before the cut and products known then.

    A product is known at the cut when someone bought it before the cut: a product first sold after
    it (even one already in ``products``, the catalogue) is something no model could have learned.
    """
    cut = pd.Timestamp(cut)
    placed = pd.to_datetime(purchases.placed_at)
    before, after = purchases[placed < cut], purchases[placed >= cut]
    train = build_interactions(before, products=products, as_of=cut, **build_kwargs)
    known = np.asarray(train.confidence.getnnz(axis=0)) > 0
    rows = pd.Index(train.customers).get_indexer(after["customer"])
    cols = pd.Index(train.products).get_indexer(after["product"])
    keep = (rows >= 0) & (cols >= 0)
    keep[keep] = known[cols[keep]]
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
