"""Daily demand series from sale and cancellation events (no Django).

Demand per product per day is units sold minus units cancelled or returned that
day, floored at zero (a return does not make demand negative). Days without
events are zeros, so every series is contiguous.
"""

from __future__ import annotations

import pandas as pd


def daily_demand(
    events: pd.DataFrame, *, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Products x days matrix of net units, floored at zero.

    ``events`` has columns ``product``, ``day`` (datetime64, normalised) and ``quantity``
    (positive for sales, negative for cancellations). ``start``/``end`` are inclusive.
    """
    if events.empty:
        days = pd.date_range(start, end, freq="D") if start is not None and end is not None else []
        return pd.DataFrame(columns=pd.DatetimeIndex(days), dtype=float)
    net = events.groupby(["product", "day"])["quantity"].sum().clip(lower=0)
    start = pd.Timestamp(start) if start is not None else net.index.get_level_values("day").min()
    end = pd.Timestamp(end) if end is not None else net.index.get_level_values("day").max()
    matrix = net.unstack(fill_value=0)
    days = pd.date_range(start, end, freq="D")
    return matrix.reindex(columns=days, fill_value=0).astype(float)
