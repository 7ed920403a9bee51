"""Reorder policy: pure arithmetic over forecasts, backtest errors and supply terms (no Django).

    inventory position  = on hand + on order - reserved
    lead-time demand    = sum of the daily forecast over the lead time
    safety stock        = max(service-level quantile, z * rms) of the backtest errors of the
                          lead-time total (actual minus forecast), never negative
    reorder point s     = lead-time demand + safety stock
    order quantity Q    = EOQ sqrt(2 D K / (h c)) or days of cover, raised to the minimum order
                          and rounded up to whole packs
    order-up-to S       = s + Q

The errors come from the forecaster's own backtest, so a product whose method
forecasts well holds little safety stock; the empirical quantile follows the skew of
bulk orders, and a normal bound on the same errors takes over where the quantile
runs out of data (high service levels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import NormalDist

import numpy as np


@dataclass(frozen=True)
class SupplyTerms:
    lead_time_days: int
    unit_cost: float = 0.0
    minimum_order: int = 1
    pack_size: int = 1


@dataclass(frozen=True)
class ReorderPlan:
    lead_time_demand: float
    safety_stock: float
    reorder_point: float
    order_quantity: int
    order_up_to: float
    inventory_position: float
    suggested_quantity: int
    stockout_date: date | None
    reason: str


def inventory_position(*, on_hand: float, on_order: float, reserved: float) -> float:
    return on_hand + on_order - reserved


def lead_time_demand(forecast: np.ndarray, lead_time_days: int) -> float:
    """Total forecast over the lead time; past the horizon the last week's mean rate continues."""
    forecast = np.asarray(forecast, dtype=float)
    if lead_time_days <= len(forecast):
        return float(forecast[:lead_time_days].sum())
    tail_rate = forecast[-7:].mean() if len(forecast) else 0.0
    return float(forecast.sum() + tail_rate * (lead_time_days - len(forecast)))


def safety_stock(errors: np.ndarray, service_level: float) -> float:
    """Units above the forecast lead-time demand that cover ``service_level`` of backtest errors.

    ``errors`` are lead-time totals, actual minus forecast. The answer is the larger
    of their empirical ``service_level`` quantile and the normal bound
    ``z * rms(errors)``: the quantile follows the skew of bulk orders, but it can never
    exceed the largest error seen, so at high service levels the normal bound takes
    over. Never negative.
    """
    if not 0 < service_level < 1:
        raise ValueError(f"Service level must be between 0 and 1, got {service_level}.")
    errors = np.asarray(errors, dtype=float)
    errors = errors[np.isfinite(errors)]
    if not len(errors):
        return 0.0
    empirical = float(np.quantile(errors, service_level, method="linear"))
    normal = NormalDist().inv_cdf(service_level) * float(np.sqrt(np.mean(errors**2)))
    return max(0.0, empirical, normal)


def economic_order_quantity(
    *, annual_demand: float, ordering_cost: float, holding_cost_rate: float, unit_cost: float
) -> float:
    """Wilson's EOQ: sqrt(2 D K / (h c)). Zero when there is no demand; undefined without a holding cost."""
    if annual_demand <= 0:
        return 0.0
    holding = holding_cost_rate * unit_cost
    if holding <= 0:
        raise ValueError("EOQ needs a positive holding cost (holding cost rate times unit cost).")
    return math.sqrt(2 * annual_demand * ordering_cost / holding)


def round_to_supply_terms(quantity: float, *, minimum_order: int = 1, pack_size: int = 1) -> int:
    """Raise to the supplier's minimum order, then round up to whole packs. Nothing to order stays zero."""
    if quantity <= 0:
        return 0
    pack_size = max(1, int(pack_size))
    quantity = max(float(quantity), float(minimum_order))
    return int(math.ceil(quantity / pack_size - 1e-9) * pack_size)


def order_quantity(
    *,
    daily_demand: float,
    terms: SupplyTerms,
    ordering_cost: float,
    holding_cost_rate: float,
    cover_days: int = 14,
) -> int:
    """EOQ when the unit cost is known, otherwise ``cover_days`` of mean demand; then supply-term rounding."""
    if terms.unit_cost > 0 and holding_cost_rate > 0:
        raw = economic_order_quantity(
            annual_demand=daily_demand * 365,
            ordering_cost=ordering_cost,
            holding_cost_rate=holding_cost_rate,
            unit_cost=terms.unit_cost,
        )
    else:
        raw = daily_demand * cover_days
    return round_to_supply_terms(raw, minimum_order=terms.minimum_order, pack_size=terms.pack_size)


def projected_stockout(*, position: float, forecast: np.ndarray, as_of: date) -> date | None:
    """The first day cumulative forecast demand exceeds the stock available; None within the horizon."""
    cumulative = np.cumsum(np.asarray(forecast, dtype=float))
    beyond = np.flatnonzero(cumulative > position)
    return as_of + timedelta(days=int(beyond[0])) if len(beyond) else None


def reorder_plan(
    *,
    forecast: np.ndarray,
    errors: np.ndarray,
    service_level: float,
    terms: SupplyTerms,
    on_hand: float = 0,
    on_order: float = 0,
    reserved: float = 0,
    ordering_cost: float = 20.0,
    holding_cost_rate: float = 0.25,
    cover_days: int = 14,
    as_of: date | None = None,
) -> ReorderPlan:
    """The whole policy for one product: s, Q, S, and what to order now (up to S when position <= s)."""
    forecast = np.asarray(forecast, dtype=float)
    demand = lead_time_demand(forecast, terms.lead_time_days)
    buffer = safety_stock(errors, service_level)
    s = demand + buffer
    daily = float(forecast.mean()) if len(forecast) else 0.0
    quantity = order_quantity(
        daily_demand=daily,
        terms=terms,
        ordering_cost=ordering_cost,
        holding_cost_rate=holding_cost_rate,
        cover_days=cover_days,
    )
    big_s = s + quantity
    position = inventory_position(on_hand=on_hand, on_order=on_order, reserved=reserved)
    suggested = 0
    reason = f"position {position:g} above reorder point {s:.1f}"
    if daily > 0 and position <= s:
        suggested = round_to_supply_terms(
            big_s - position, minimum_order=terms.minimum_order, pack_size=terms.pack_size
        )
        reason = (
            f"position {position:g} <= reorder point {s:.1f} (lead-time demand {demand:.1f} "
            f"+ safety stock {buffer:.1f} at {service_level:.0%}); order up to {big_s:.1f}"
        )
    stockout = projected_stockout(position=position, forecast=forecast, as_of=as_of) if as_of else None
    return ReorderPlan(demand, buffer, s, quantity, big_s, position, suggested, stockout, reason)
