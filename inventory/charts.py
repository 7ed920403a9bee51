"""SVG charts for the admin, drawn with a matplotlib ``Figure`` (never pyplot: it is not thread-safe)."""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def forecast_chart_svg(
    *,
    history: pd.Series,
    forecast: np.ndarray,
    as_of: date,
    lead_time_errors: np.ndarray,
    lead_time_days: int,
    reorder_point: float | None = None,
    position: float | None = None,
) -> str:
    """Two panels: daily history and forecast with an 80% band; projected stock against the reorder point.

    The band spreads the 10th and 90th percentiles of the backtest lead-time total
    error evenly over the lead time's days.
    """
    days = pd.date_range(as_of, periods=len(forecast), freq="D")
    errors = np.asarray(lead_time_errors, dtype=float)
    low, high = (np.quantile(errors, [0.1, 0.9]) / max(lead_time_days, 1)) if len(errors) else (0.0, 0.0)
    figure = Figure(figsize=(9, 5.5), layout="constrained")
    demand_axes, stock_axes = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    demand_axes.bar(history.index, history.to_numpy(), width=1.0, color="#9bb7d4", label="units sold")
    demand_axes.plot(days, forecast, color="#c0392b", linewidth=2, label="forecast")
    demand_axes.fill_between(
        days,
        np.clip(forecast + low, 0, None),
        forecast + high,
        color="#c0392b",
        alpha=0.2,
        label="80% backtest band",
    )
    demand_axes.axvline(as_of, color="grey", linestyle=":")
    demand_axes.set_ylabel("units per day")
    demand_axes.legend(loc="upper left", fontsize=8)
    if position is not None:
        projected = position - np.cumsum(forecast)
        stock_axes.step(days, projected, where="post", color="#2c3e50", label="projected position")
    if reorder_point is not None:
        stock_axes.axhline(
            reorder_point, color="#e67e22", linestyle="--", label=f"reorder point {reorder_point:.0f}"
        )
    stock_axes.axhline(0, color="black", linewidth=0.5)
    stock_axes.set_ylabel("units")
    stock_axes.legend(loc="upper right", fontsize=8)
    figure.autofmt_xdate()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]
