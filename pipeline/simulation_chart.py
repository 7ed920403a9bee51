"""The admin's chart of a finished simulation: fill rate and stock value day by day, as plain SVG.

Drawn with the helpers of ``inventory.charts`` (the house style of every admin chart: no
JavaScript, no CDN, scaled by its ``viewBox``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from inventory.charts import COLOURS, _Axis, _legend, _polyline, _svg, _text


def simulation_chart_svg(
    *, days: Sequence[date], fill_rates: Sequence[float | None], stock_values: Sequence[float]
) -> str:
    """Two panels over the replayed days: units filled / units demanded (%), and stock value at cost."""
    if not days:
        return ""
    first, last = days[0], days[-1] if len(days) > 1 else days[0]
    fill = _Axis(first=first, last=last, low=0, high=100, top=28, height=170)
    parts = fill.frame("fill rate, % of units")
    points = [(fill.x(d), fill.y(100 * r)) for d, r in zip(days, fill_rates, strict=True) if r is not None]
    parts.append(_polyline(points, COLOURS["forecast"], 'stroke-width="2" class="fill-rate"'))
    for d, r in zip(days, fill_rates, strict=True):
        if r is not None:
            parts.append(
                f'<circle cx="{fill.x(d):.1f}" cy="{fill.y(100 * r):.1f}" r="2" '
                f'fill="{COLOURS["forecast"]}"/>'
            )
    parts += _legend([("units served / units demanded, per day", COLOURS["forecast"])], y=18)

    top = max(max(stock_values, default=0.0), 1.0) * 1.1
    stock = _Axis(first=first, last=last, low=0, high=top, top=250, height=170)
    parts += stock.frame("stock value at cost")
    parts.append(
        _polyline(
            [(stock.x(d), stock.y(v)) for d, v in zip(days, stock_values, strict=True)],
            COLOURS["position"],
            'stroke-width="2" class="stock-value"',
        )
    )
    parts += _legend([("stock value at the end of the day", COLOURS["position"])], y=240)
    parts += stock.dates()
    if len(days) == 1:
        parts.append(_text(60, 470, "one day replayed"))
    return _svg(480, parts, "Simulation: fill rate and stock value by day")
