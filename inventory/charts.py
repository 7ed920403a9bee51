"""SVG charts for the admin, drawn with a matplotlib ``Figure`` (never pyplot: it is not thread-safe).

matplotlib is imported inside the drawing function: the admin is loaded by every management
command, and the library costs about a second of start-up.
"""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# Recent weeks set the y-axis: one huge day long ago must not flatten the weeks a buyer acts on.
Y_SCALE_RECENT_DAYS = 56


def _y_limit(recent: np.ndarray, forecast_high: np.ndarray) -> float:
    """Top of the demand axis: the recent peak or the forecast band, whichever is higher, plus headroom."""
    peak = max(float(np.max(recent, initial=0.0)), float(np.max(forecast_high, initial=0.0)), 1.0)
    return peak * 1.15


def forecast_chart_svg(
    *,
    history: pd.Series,
    forecast: np.ndarray,
    as_of: date,
    lead_time_errors: np.ndarray,
    lead_time_days: int,
    reorder_point: float | None = None,
    position: float | None = None,
    order_quantity: int | None = None,
) -> str:
    """Two panels: daily history and forecast with an 80% band; projected stock against the reorder point.

    The band spreads the 10th and 90th percentiles of the backtest lead-time total error
    evenly over the lead time's days. Days above the demand axis (scaled to the recent weeks
    and the forecast) are clipped and marked with a triangle and their value. With an order
    quantity, the projected stock shows it arriving one lead time after the as-of date.
    The SVG scales to its container: fixed width and height are replaced by a ``viewBox``.
    """
    import pandas as pd
    from matplotlib.figure import Figure

    days = pd.date_range(as_of, periods=len(forecast), freq="D")
    errors = np.asarray(lead_time_errors, dtype=float)
    low, high = (np.quantile(errors, [0.1, 0.9]) / max(lead_time_days, 1)) if len(errors) else (0.0, 0.0)
    band_low, band_high = np.clip(forecast + low, 0, None), np.clip(forecast + high, 0, None)
    values = history.to_numpy(dtype=float)
    recent = values[history.index >= pd.Timestamp(as_of - timedelta(days=Y_SCALE_RECENT_DAYS))]
    top = _y_limit(recent, band_high)

    figure = Figure(figsize=(9, 5.2), layout="constrained")
    demand_axes, stock_axes = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    demand_axes.bar(history.index, np.minimum(values, top), width=1.0, color="#9bb7d4", label="units sold")
    clipped = values > top
    if clipped.any():
        demand_axes.plot(
            history.index[clipped],
            np.full(clipped.sum(), top * 0.97),
            linestyle="none",
            marker="^",
            color="#7f1d1d",
            label="day above the scale",
        )
        for day, value in zip(history.index[clipped], values[clipped], strict=True):
            demand_axes.annotate(f"{value:.0f}", (day, top * 0.97), fontsize=7, ha="center", va="top")
    demand_axes.fill_between(
        days, band_low, band_high, color="#e67e22", alpha=0.35, linewidth=0, label="80% backtest band"
    )
    demand_axes.plot(days, forecast, color="#c0392b", linewidth=2, label="forecast")
    demand_axes.axvline(as_of, color="grey", linestyle=":")
    demand_axes.set_ylim(0, top)
    demand_axes.set_ylabel("units per day")
    demand_axes.legend(loc="upper left", fontsize=8, ncols=2)
    if position is not None:
        projected = position - np.cumsum(forecast)
        if order_quantity:
            arrival = as_of + timedelta(days=lead_time_days)
            projected = projected + np.where(days >= pd.Timestamp(arrival), order_quantity, 0)
            stock_axes.axvline(arrival, color="#27ae60", linestyle="--", linewidth=1)
            stock_axes.annotate(
                f"order {order_quantity} arrives",
                (pd.Timestamp(arrival), 0),
                xytext=(4, 6),
                textcoords="offset points",
                fontsize=8,
                color="#27ae60",
            )
            stock_axes.axvline(as_of, color="#27ae60", linestyle=":", linewidth=1, label="order today")
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
    return responsive_svg(svg[svg.index("<svg") :])


def responsive_svg(svg: str) -> str:
    """Drop the fixed size of the root element so the ``viewBox`` scales the chart to its container."""
    head_end = svg.index(">")
    head = re.sub(r'\s(width|height)="[^"]*"', "", svg[:head_end])
    return f'{head} style="width:100%;height:auto;max-width:900px"{svg[head_end:]}'


def accuracy_chart_svg(*, labels: list[str], model: list[float | None], naive: list[float | None]) -> str:
    """Median MASE of each forecast run beside the naive baseline's, as a small line chart."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 2.6), layout="constrained")
    axes = figure.subplots()
    x = np.arange(len(labels))
    as_float = lambda xs: np.array([np.nan if v is None else v for v in xs], dtype=float)  # noqa: E731
    axes.plot(x, as_float(model), marker="o", color="#c0392b", label="forecast (median MASE)")
    axes.plot(x, as_float(naive), marker="s", linestyle="--", color="#7f8c8d", label="naive baseline")
    axes.set_xticks(x, labels, fontsize=7)
    axes.set_ylabel("MASE (lower is better)", fontsize=8)
    axes.set_ylim(bottom=0)
    axes.legend(fontsize=7, loc="lower left")
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return responsive_svg(svg[svg.index("<svg") :])
