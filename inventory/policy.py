"""Reorder policy: pure arithmetic over forecasts, backtest errors and supply terms (no Django).

    inventory position  = on hand + on order - reserved
    lead-time demand    = sum of the daily forecast over the lead time
    safety stock        = z * rms of rolling lead-time errors (actual lead-time total minus a
                          28-day mean taken 0 to 56 days earlier, every day of the last 180 as an
                          origin); for a product with too little history, max(service-level
                          quantile, z * rms) of the forecaster's own backtest errors; at most
                          ``max_safety_stock_multiple`` x lead-time demand
    reorder point s     = lead-time demand + safety stock
    order quantity Q    = EOQ sqrt(2 D K / (h c)) or days of cover, at most ``max_cover_days`` of
                          forecast demand, raised to the minimum order and rounded up to whole packs
    order-up-to S       = s + Q

Why rolling errors: the forecaster's backtest gives a few dozen overlapping windows from
three origins, so its quantiles are noisy and miss how far demand drifts while a reorder
point stays in use; hundreds of windows from every recent day, with the level measured up
to eight weeks before the window, give a steadier spread that includes that drift. The same
z for every product is deliberate: with the order quantity in days of demand, equalising the
marginal fill per unit held across products gives every product the same critical fractile.
These rules and the two caps were chosen on replays that end before the test window
(docs/BENCHMARKS.md lists the validation cuts and the alternatives tried).

Every plan carries the two bounds a buyer judges a suggestion by, days of cover (suggested
quantity / daily forecast) and safety stock as a multiple of lead-time demand, and a reason
in plain words that says when a cap or the supplier's terms changed the quantity.
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
    #: suggested quantity (or Q when nothing is suggested) in days of forecast demand; None at zero demand
    days_of_cover: float | None = None
    #: safety stock / lead-time demand; None at zero demand
    safety_stock_multiple: float | None = None
    #: which bounds changed the plan: "safety_stock", "cover", "minimum_order", "pack_size", "whole_unit"
    adjustments: tuple[str, ...] = ()


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


#: Rolling-error settings: origins from the last ``ROLLING_DAYS`` days, a ``ROLLING_WINDOW``-day
#: mean as the forecast, taken ``ROLLING_LAGS`` days before the window (a level that is weeks old,
#: as a reorder point is by the end of its use).
ROLLING_DAYS = 180
ROLLING_WINDOW = 28
ROLLING_LAGS = (0, 14, 28, 42, 56)
#: Days of history the rolling errors can use (the oldest origin's window starts this far back).
ROLLING_HISTORY_DAYS = ROLLING_DAYS + ROLLING_WINDOW + max(ROLLING_LAGS)
#: Days between reviews of a product's position when suggestions come from the nightly retrain.
REVIEW_PERIOD_DAYS = 1
#: Fewer rolling errors than this (a product sold for under ~2 months): use the backtest errors.
MIN_ROLLING_ERRORS = 28


def rolling_lead_time_errors(
    history: np.ndarray,
    lead_time_days: int,
    *,
    days: int = ROLLING_DAYS,
    window: int = ROLLING_WINDOW,
    lags: tuple[int, ...] = ROLLING_LAGS,
) -> np.ndarray:
    """Actual lead-time totals minus ``lead_time_days`` x the ``window``-day mean ``lag`` days earlier.

    Every day of the last ``days`` of ``history`` (daily demand up to the as-of date) that
    has a full lead time after it and a full window before it is an origin, once per lag.
    ``history`` should start where the shop's records start, not at the product's first
    sale: a recent launch's ramp-up from zero then counts as error, as it should, since a
    new product's level is the least certain (on the validation replays, cuts 2011-03-01 and
    04-01, this held 156,603 and 139,588 units for a 95% fill rate where dropping the days
    before the first sale needed 158,269 and 142,447).
    """
    values = np.clip(np.nan_to_num(np.asarray(history, dtype=float)), 0, None)
    if not (values > 0).any() or lead_time_days < 1:
        return np.zeros(0)
    total = np.r_[0.0, np.cumsum(values)]
    starts = np.arange(max(0, len(values) - days), len(values) - lead_time_days + 1)
    errors = []
    for lag in lags:
        t = starts[starts - lag - window >= 0]
        actual = total[t + lead_time_days] - total[t]
        forecast = (total[t - lag] - total[t - lag - window]) / window * lead_time_days
        errors.append(actual - forecast)
    return np.concatenate(errors) if errors else np.zeros(0)


def normal_safety_stock(errors: np.ndarray, service_level: float) -> float:
    """``z(service_level) * rms(errors)``, never negative; the RMS keeps any bias of the errors."""
    if not 0 < service_level < 1:
        raise ValueError(f"Service level must be between 0 and 1, got {service_level}.")
    errors = np.asarray(errors, dtype=float)
    errors = errors[np.isfinite(errors)]
    if not len(errors):
        return 0.0
    return max(0.0, NormalDist().inv_cdf(service_level) * float(np.sqrt(np.mean(errors**2))))


def policy_safety_stock(
    *,
    backtest_errors: np.ndarray,
    service_level: float,
    lead_time_days: int,
    history: np.ndarray | None = None,
) -> tuple[float, str]:
    """The policy's safety stock and the rule that set it ("rolling" or "backtest").

    Rolling errors of the product's own history when there are at least
    ``MIN_ROLLING_ERRORS``; otherwise (no history given, or a new product) the
    forecaster's backtest errors through ``safety_stock``.
    """
    if history is not None:
        rolling = rolling_lead_time_errors(history, lead_time_days)
        if len(rolling) >= MIN_ROLLING_ERRORS:
            return normal_safety_stock(rolling, service_level), "rolling"
    return safety_stock(backtest_errors, service_level), "backtest"


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
    max_cover_days: float | None = None,
) -> int:
    """EOQ when the unit cost is known, otherwise ``cover_days`` of mean demand; then supply-term rounding.

    ``max_cover_days`` caps the quantity before rounding: EOQ for a cheap, slow product can
    otherwise ask for years of stock.
    """
    if terms.unit_cost > 0 and holding_cost_rate > 0:
        raw = economic_order_quantity(
            annual_demand=daily_demand * 365,
            ordering_cost=ordering_cost,
            holding_cost_rate=holding_cost_rate,
            unit_cost=terms.unit_cost,
        )
    else:
        raw = daily_demand * cover_days
    if max_cover_days is not None:
        raw = min(raw, daily_demand * max_cover_days)
    return round_to_supply_terms(raw, minimum_order=terms.minimum_order, pack_size=terms.pack_size)


def projected_stockout(*, position: float, forecast: np.ndarray, as_of: date) -> date | None:
    """The first day cumulative forecast demand exceeds the stock available; None within the horizon."""
    cumulative = np.cumsum(np.asarray(forecast, dtype=float))
    beyond = np.flatnonzero(cumulative > position)
    return as_of + timedelta(days=int(beyond[0])) if len(beyond) else None


def _days(units: float, daily: float) -> str:
    days = units / daily
    if days >= 14:
        return f"{days / 7:.0f} weeks"
    return f"{days:.0f} day" + ("" if round(days) == 1 else "s")


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
    max_cover_days: float | None = None,
    max_safety_stock_multiple: float | None = None,
    as_of: date | None = None,
    history: np.ndarray | None = None,
    review_days: int = 0,
) -> ReorderPlan:
    """The whole policy for one product: s, Q, S, and what to order now (up to S when position <= s).

    ``history`` is the product's daily demand before ``as_of``; with it, safety stock comes
    from rolling errors (see ``policy_safety_stock``), without it from ``errors`` alone.
    ``max_cover_days`` bounds both Q and the suggested quantity in days of forecast demand,
    ``max_safety_stock_multiple`` bounds safety stock in multiples of lead-time demand; only
    the supplier's minimum order or pack size can take a suggestion past the cover bound.
    ``review_days`` is the review period: the reorder point covers demand, and its errors,
    over the lead time plus these days (1 for suggestions made nightly).
    """
    forecast = np.asarray(forecast, dtype=float)
    # The reorder point protects the lead time plus the wait for the next review: an order not
    # placed tonight is placed tomorrow night at the earliest.
    protected = terms.lead_time_days + max(int(review_days), 0)
    demand = lead_time_demand(forecast, protected)
    buffer, rule = policy_safety_stock(
        backtest_errors=errors,
        service_level=service_level,
        lead_time_days=protected,
        history=history,
    )
    adjustments: list[str] = []
    if max_safety_stock_multiple is not None and demand > 0 and buffer > max_safety_stock_multiple * demand:
        buffer = max_safety_stock_multiple * demand
        adjustments.append("safety_stock")
    s = demand + buffer
    daily = float(forecast.mean()) if len(forecast) else 0.0
    quantity = order_quantity(
        daily_demand=daily,
        terms=terms,
        ordering_cost=ordering_cost,
        holding_cost_rate=holding_cost_rate,
        cover_days=cover_days,
        max_cover_days=max_cover_days,
    )
    big_s = s + quantity
    position = inventory_position(on_hand=on_hand, on_order=on_order, reserved=reserved)
    stockout = projected_stockout(position=position, forecast=forecast, as_of=as_of) if as_of else None
    suggested = 0
    if daily > 0 and position <= s:
        needed = big_s - position
        limit = daily * max_cover_days if max_cover_days is not None else math.inf
        if math.ceil(needed - 1e-9) > limit:
            # Whole units within the bound; a product selling less than one unit in the whole
            # window still gets one, the smallest possible order.
            needed = max(math.floor(limit), 1)
            adjustments.append("cover" if needed <= limit else "whole_unit")
        suggested = round_to_supply_terms(
            needed, minimum_order=terms.minimum_order, pack_size=terms.pack_size
        )
        if suggested > math.ceil(needed - 1e-9):
            adjustments.append("minimum_order" if needed < terms.minimum_order else "pack_size")
    days_of_cover = (suggested or quantity) / daily if daily > 0 else None
    multiple = buffer / demand if demand > 0 else None
    reason = _reason(
        position=position,
        daily=daily,
        stockout=stockout,
        as_of=as_of,
        terms=terms,
        suggested=suggested,
        reorder_point=s,
        service_level=service_level,
        adjustments=adjustments,
        max_cover_days=max_cover_days,
        max_safety_stock_multiple=max_safety_stock_multiple,
        rule=rule,
    )
    return ReorderPlan(
        demand,
        buffer,
        s,
        quantity,
        big_s,
        position,
        suggested,
        stockout,
        reason,
        days_of_cover=days_of_cover,
        safety_stock_multiple=multiple,
        adjustments=tuple(adjustments),
    )


def _reason(
    *,
    position: float,
    daily: float,
    stockout: date | None,
    as_of: date | None,
    terms: SupplyTerms,
    suggested: int,
    reorder_point: float,
    service_level: float,
    adjustments: list[str],
    max_cover_days: float | None,
    max_safety_stock_multiple: float | None,
    rule: str,
) -> str:
    """The plan in words a buyer reads: "You have 367 units, which will last about 12 days. ..."."""
    if daily <= 0:
        units = f"unit{'' if round(position) == 1 else 's'}"
        return f"You have {position:,.0f} {units} and no demand is forecast, so nothing needs ordering."
    if stockout is not None and as_of is not None:
        lasts = max((stockout - as_of).days, 0)
    else:
        lasts = max(position, 0) / daily
    have = f"You have {position:,.0f} unit{'' if round(position) == 1 else 's'}"
    if round(lasts) < 1:
        sentences = [f"{have}, which will run out within a day."]
    else:
        sentences = [f"{have}, which will last about {lasts:,.0f} day{'' if round(lasts) == 1 else 's'}."]
    if not suggested:
        sentences.append(
            f"An order takes {terms.lead_time_days} days to arrive; reorder when you are down to "
            f"{reorder_point:,.0f} units."
        )
        return " ".join(sentences)
    sentences.append(f"An order takes {terms.lead_time_days} days to arrive.")
    sentences.append(
        f"We suggest {suggested:,} unit{'' if suggested == 1 else 's'}, "
        f"enough for {_days(suggested, daily)} at the forecast rate, "
        f"to keep {service_level:.0%} of orders in stock."
    )
    if rule == "backtest":
        sentences.append(
            "This product has little sales history, so the buffer comes from its forecast errors."
        )
    if "safety_stock" in adjustments:
        sentences.append(
            f"The buffer for surprises is capped at {max_safety_stock_multiple:g} times the demand "
            "expected during delivery."
        )
    if "cover" in adjustments:
        sentences.append(f"The order is capped at {max_cover_days:g} days of forecast demand.")
    if "minimum_order" in adjustments:
        sentences.append(
            f"The supplier's minimum order is {terms.minimum_order:,} units, which sets the quantity."
        )
    if "pack_size" in adjustments:
        sentences.append(f"Rounded up to whole packs of {terms.pack_size:,}.")
    if "whole_unit" in adjustments:
        sentences.append(
            "One unit is the smallest order; it lasts that long because this product sells rarely."
        )
    return " ".join(sentences)
