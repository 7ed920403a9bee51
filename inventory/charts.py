"""SVG charts for the admin, written directly as SVG elements.

Drawing with matplotlib took 2 to 3 s a chart on a loaded 2-core machine (plus 1.5 s to import it)
and produced 70 kB of markup; these few lines and rectangles take milliseconds, scale to their
container through the ``viewBox``, and need no heavy import when the admin loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from html import escape

import numpy as np

# Recent weeks set the y-axis: one huge day long ago must not flatten the weeks a buyer acts on.
Y_SCALE_RECENT_DAYS = 56
WIDTH, LEFT, RIGHT = 900, 56, 16
FONT = 'font-family="system-ui,sans-serif" font-size="11"'
BIG = 14  # the accuracy chart is drawn narrower than its viewBox: larger type stays legible
COLOURS = {
    "sold": "#9bb7d4",
    "forecast": "#c0392b",
    "band": "#e67e22",
    "position": "#2c3e50",
    "reorder": "#e67e22",
    "order": "#27ae60",
    "clipped": "#7f1d1d",
    "grid": "#d0d7de",
    "naive": "#7f8c8d",
}


def _day(day: date) -> str:
    """The house style's date (shop.formats.day, restated here: this module imports no Django)."""
    return f"{day.day} {day:%b %Y}"


def _line(x1: float, x2: float, y1: float, y2: float, colour: str, extra: str = "") -> str:
    return f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y1:.1f}" y2="{y2:.1f}" stroke="{colour}" {extra}/>'


def _text(x: float, y: float, content: str, extra: str = "", size: int = 11) -> str:
    font = f'font-family="system-ui,sans-serif" font-size="{size}"'
    return f'<text x="{x:.1f}" y="{y:.1f}" {font} {extra}>{escape(content)}</text>'


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering ``low`` to ``high``."""
    raw = max((high - low) / count, 1e-9)
    power = 10 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = np.ceil(low / step) * step
    return [float(v) for v in np.arange(first, high + step * 1e-6, step)]


class _Axis:
    """Maps days and values of one panel to SVG coordinates."""

    def __init__(self, *, first: date, last: date, low: float, high: float, top: float, height: float):
        self.first, self.days = first, max((last - first).days, 1)
        self.low, self.high = low, high if high > low else low + 1
        self.top, self.height = top, height

    def x(self, day: date) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (day - self.first).days / self.days

    def y(self, value: float) -> float:
        share = (min(max(value, self.low), self.high) - self.low) / (self.high - self.low)
        return self.top + self.height * (1 - share)

    def frame(self, label: str) -> list[str]:
        parts = []
        for value in _ticks(self.low, self.high):
            y = self.y(value)
            parts.append(_line(LEFT, WIDTH - RIGHT, y, y, COLOURS["grid"]))
            tick = f"{value:,.0f}" if abs(value) >= 0.5 else "0"  # never "-0"
            parts.append(_text(LEFT - 6, y + 4, tick, 'text-anchor="end"'))
        middle = self.top + self.height / 2
        parts.append(
            f'<text transform="translate(12 {middle:.0f}) rotate(-90)" text-anchor="middle" {FONT}>'
            f"{escape(label)}</text>"
        )
        return parts

    def dates(self) -> list[str]:
        parts = []
        step = max(self.days // 8, 7)
        day = self.first
        while day <= self.first + timedelta(days=self.days - 3):  # no label cut at the right edge
            x = self.x(day)
            bottom = self.top + self.height
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 4}" stroke="#555"/>')
            parts.append(
                f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" {FONT}>{_day(day)}</text>'
            )
            day += timedelta(days=step)
        return parts


def _polyline(points: Sequence[tuple[float, float]], colour: str, extra: str = "") -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline points="{coords}" fill="none" stroke="{colour}" {extra}/>'


def _legend(items: Sequence[tuple[str, str]], *, y: float, size: int = 11) -> list[str]:
    parts, x = [], LEFT + 8
    font = f'font-family="system-ui,sans-serif" font-size="{size}"'
    for label, colour in items:
        parts.append(f'<rect x="{x}" y="{y - size + 2}" width="12" height="{size - 1}" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="{y}" {font}>{escape(label)}</text>')
        x += 24 + 0.56 * size * len(label)
    return parts


def _svg(height: int, parts: list[str], title: str) -> str:
    body = "".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'style="width:100%;height:auto;max-width:{WIDTH}px"><title>{escape(title)}</title>{body}</svg>'
    )


def forecast_chart_svg(
    *,
    history_days: Sequence[date],
    history: Sequence[float],
    forecast: np.ndarray,
    as_of: date,
    lead_time_errors: np.ndarray,
    lead_time_days: int,
    reorder_point: float | None = None,
    position: float | None = None,
    order_quantity: int | None = None,
) -> str:
    """Two panels: daily sales, forecast and 80% band; projected stock against the reorder point.

    The band spreads the 10th and 90th percentiles of the backtest lead-time total error evenly
    over the lead time's days. The demand axis is scaled to the recent weeks and the forecast;
    days above it are clipped and marked with a triangle and their value. With an order
    quantity, projected stock shows the order placed today arriving one lead time later.
    """
    forecast = np.asarray(forecast, dtype=float)
    values = np.asarray(history, dtype=float)
    errors = np.asarray(lead_time_errors, dtype=float)
    low, high = (np.quantile(errors, [0.1, 0.9]) / max(lead_time_days, 1)) if len(errors) else (0.0, 0.0)
    band_low, band_high = np.clip(forecast + low, 0, None), np.clip(forecast + high, 0, None)
    recent = [
        v for d, v in zip(history_days, values, strict=True) if d >= as_of - timedelta(Y_SCALE_RECENT_DAYS)
    ]
    top = max(max(recent, default=0.0), float(np.max(band_high, initial=0.0)), 1.0) * 1.15
    first = min(history_days, default=as_of)
    last = as_of + timedelta(days=len(forecast))
    days = [as_of + timedelta(days=i) for i in range(len(forecast))]

    demand = _Axis(first=first, last=last, low=0, high=top, top=28, height=250)
    parts = demand.frame("units per day")
    bar = max((WIDTH - LEFT - RIGHT) / demand.days - 0.5, 0.8)
    for day, value in zip(history_days, values, strict=True):
        if value <= 0:
            continue
        y = demand.y(min(value, top))
        x = demand.x(day)
        size = f'width="{bar:.1f}" height="{demand.y(0) - y:.1f}"'
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" {size} fill="{COLOURS["sold"]}"/>')
        if value > top:
            triangle = f"M{x - 4:.1f},{y + 8:.1f} L{x + bar / 2:.1f},{y:.1f} L{x + bar + 4:.1f},{y + 8:.1f} Z"
            parts.append(f'<path d="{triangle}" fill="{COLOURS["clipped"]}" class="clipped"/>')
            parts.append(_text(x + 6, y + 12, f"{value:,.0f}", f'fill="{COLOURS["clipped"]}"'))
    band = [(demand.x(d), demand.y(v)) for d, v in zip(days, band_high, strict=True)]
    band += [(demand.x(d), demand.y(v)) for d, v in reversed(list(zip(days, band_low, strict=True)))]
    if band:
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in band)
        parts.append(
            f'<polygon points="{coords}" fill="{COLOURS["band"]}" fill-opacity="0.35" class="band"/>'
        )
    parts.append(
        _polyline(
            [(demand.x(d), demand.y(v)) for d, v in zip(days, forecast, strict=True)],
            COLOURS["forecast"],
            'stroke-width="2"',
        )
    )
    x_now = demand.x(as_of)
    parts.append(
        f'<line x1="{x_now:.1f}" x2="{x_now:.1f}" y1="28" y2="278" stroke="#888" stroke-dasharray="2 3"/>'
    )
    parts += _legend(
        [
            ("units sold", COLOURS["sold"]),
            ("forecast", COLOURS["forecast"]),
            ("80% backtest band", COLOURS["band"]),
        ],
        y=18,
    )

    stock_top, height = 336, 150
    if position is not None:
        projected = position - np.cumsum(forecast)
        arrival = as_of + timedelta(days=lead_time_days)
        if order_quantity:
            projected = projected + np.array([order_quantity if d >= arrival else 0 for d in days])
        floor = min(0.0, float(np.min(projected, initial=0.0)))
        ceiling = max(float(np.max(projected, initial=0.0)), reorder_point or 0.0, position, 1.0) * 1.1
        # The stock panel spans the forecast only: the weeks in which the order decision plays out.
        stock = _Axis(first=as_of, last=last, low=floor, high=ceiling, top=stock_top, height=height)
        parts += stock.frame("units")
        parts.append(_line(LEFT, WIDTH - RIGHT, stock.y(0), stock.y(0), "#000"))
        steps = []
        for day, value in zip(days, projected, strict=True):
            steps += [
                (stock.x(day), stock.y(value)),
                (stock.x(min(day + timedelta(days=1), last)), stock.y(value)),
            ]
        parts.append(_polyline(steps, COLOURS["position"], 'stroke-width="2" class="projected"'))
        legend = [("projected stock", COLOURS["position"])]
        if reorder_point is not None:
            y = stock.y(reorder_point)
            parts.append(
                _line(
                    LEFT,
                    WIDTH - RIGHT,
                    y,
                    y,
                    COLOURS["reorder"],
                    'stroke-dasharray="6 4" class="reorder-point"',
                )
            )
            legend.append((f"reorder point {reorder_point:,.0f}", COLOURS["reorder"]))
        if order_quantity:
            x_arrival = stock.x(arrival)
            parts.append(
                f'<line x1="{x_arrival:.1f}" x2="{x_arrival:.1f}" y1="{stock_top}" y2="{stock_top + height}" '
                f'stroke="{COLOURS["order"]}" stroke-dasharray="4 3" class="order-arrival"/>'
            )
            parts.append(
                f'<text x="{x_arrival + 4:.1f}" y="{stock_top + 12}" {FONT} fill="{COLOURS["order"]}">'
                f"order of {order_quantity:,} placed {_day(as_of)} arrives {_day(arrival)}</text>"
            )
            legend.append(("suggested order", COLOURS["order"]))
        parts += stock.dates()
        parts += _legend(legend, y=stock_top - 8)
    parts += demand.dates()
    return _svg(
        stock_top + height + 24 if position is not None else 310, parts, "demand history and forecast"
    )


def accuracy_chart_svg(
    *,
    labels: list[str],
    model: list[float | None],
    naive: list[float | None],
    title: str = "forecast accuracy by run",
    model_label: str = "forecast, median MASE",
    naive_label: str = "seasonal naive, same days",
) -> str:
    """MASE per run as pairs of bars, forecast beside the naive baseline, each with its value (lower wins).

    Bars stay readable from one run to a dozen; a dashed line marks 1.0, the in-sample one-step
    naive error that MASE is scaled by.
    """
    values = [v for v in (*model, *naive) if v is not None]
    high = max(max(values, default=1.0) * 1.15, 1.1)
    height, top, plot = 280, 40, 190
    count = max(len(labels), 1)
    slot = (WIDTH - LEFT - RIGHT) / count
    bar = min(slot * 0.36, 56)

    def y(value: float) -> float:
        return top + plot * (1 - value / high)

    parts = []
    for value in _ticks(0, high):
        parts.append(_line(LEFT, WIDTH - RIGHT, y(value), y(value), COLOURS["grid"]))
        parts.append(_text(LEFT - 6, y(value) + 5, f"{value:.1f}", 'text-anchor="end"', size=BIG))
    parts.append(_line(LEFT, WIDTH - RIGHT, y(1.0), y(1.0), "#555", 'stroke-dasharray="5 4" class="one"'))
    for index, label in enumerate(labels):
        centre = LEFT + slot * (index + 0.5)
        for offset, series, colour, css in (
            (-bar, model, COLOURS["forecast"], "model"),
            (0.0, naive, COLOURS["naive"], "naive"),
        ):
            value = series[index] if index < len(series) else None
            if value is None:
                continue
            x = centre + offset
            parts.append(
                f'<rect class="{css}" x="{x:.1f}" y="{y(value):.1f}" width="{bar:.1f}" '
                f'height="{top + plot - y(value):.1f}" fill="{colour}"><title>{escape(label)}: '
                f"{value:.3f}</title></rect>"
            )
            parts.append(_text(x + bar / 2, y(value) - 5, f"{value:.2f}", 'text-anchor="middle"', size=BIG))
        parts.append(_text(centre, top + plot + 20, label, 'text-anchor="middle"', size=BIG))
    parts.append(_line(LEFT, WIDTH - RIGHT, top + plot, top + plot, "#000"))
    parts += _legend([(model_label, COLOURS["forecast"]), (naive_label, COLOURS["naive"])], y=18, size=14)
    parts.append(
        f'<text transform="translate(14 {top + plot / 2:.0f}) rotate(-90)" text-anchor="middle" '
        f'font-family="system-ui,sans-serif" font-size="13">MASE (lower is better)</text>'
    )
    return _svg(height, parts, title)
