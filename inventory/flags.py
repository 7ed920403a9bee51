"""What a buyer must look at before signing a suggestion, and its reason in a few words (no Django).

A flag is a cause code, stored in ``ReorderSuggestion.flags`` so that the worklist filters and
counts flagged rows in the database. The causes:

    above_sales      the quantity is far above recent sales: more than ``above_sales_days`` days of
                     what sold in the last ``recent_days`` (8 weeks)
    cover_capped     the order was capped at the cover bound, and the policy wanted more than
                     ``capped_wanted_days`` days of forecast demand (EOQ for a cheap product can ask
                     for years of stock; a cap that trims a few weeks is routine)
    forecast_jump    the daily forecast moved by more than ``jump_ratio`` times (up or down, and by at
                     least ``jump_min_units`` units over 28 days) since the product's previous run
    no_recent_sales  nothing sold in the last 8 weeks, yet the policy orders
    minimum_order    the supplier's minimum order is more than ``minimum_order_ratio`` times what
                     the policy needed

The thresholds are settings (``INVENTORY["FLAG_*"]``), chosen on a validation run so that about one
suggestion in ten or fewer is flagged (docs/BENCHMARKS.md, "Flags that pick out").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

#: Cause code -> the cause in a few words (the worklist's flag column and filter).
CAUSES: dict[str, str] = {
    "above_sales": "above recent sales",
    "cover_capped": "cover capped",
    "forecast_jump": "forecast jumped",
    "no_recent_sales": "no sales in 8 weeks",
    "minimum_order": "minimum order",
}

#: Eight weeks: "no sales in 8 weeks" and the window "recent sales" are measured over.
RECENT_DAYS = 56


@dataclass(frozen=True)
class FlagThresholds:
    above_sales_days: float
    capped_wanted_days: float
    jump_ratio: float
    jump_min_units: float
    minimum_order_ratio: float
    recent_days: int = RECENT_DAYS


@dataclass(frozen=True)
class FlagInputs:
    """What the rules read about one suggestion; every figure is known when the run finishes."""

    quantity: int
    #: units sold in the ``recent_days`` before the run's as-of date
    recent_units: float
    #: days from the last sale to the as-of date (None: never sold before it)
    days_since_last_sale: int | None
    #: the policy's adjustments ("cover", "minimum_order", "pack_size", "safety_stock", "whole_unit")
    adjustments: tuple[str, ...]
    #: units the policy needed before the supplier's minimum order and pack size rounded them up
    needed: float
    #: what the policy wanted before the cover bound, in days of forecast demand (None: no demand)
    wanted_days: float | None
    minimum_order: int
    #: mean daily forecast of this run and of the product's previous run (None: no previous forecast)
    daily_forecast: float
    previous_daily_forecast: float | None


def jump_ratio(now: float, before: float | None) -> float:
    """How many times the daily forecast moved, either way (1.0: unchanged; inf: from or to zero)."""
    if before is None:
        return 1.0
    low, high = sorted((max(now, 0.0), max(before, 0.0)))
    if high == 0:
        return 1.0
    return math.inf if low == 0 else high / low


def above_sales_days(inputs: FlagInputs, recent_days: int = RECENT_DAYS) -> float | None:
    """The quantity in days of recent sales (None without recent sales: that is its own cause)."""
    if inputs.recent_units <= 0:
        return None
    return inputs.quantity / (inputs.recent_units / recent_days)


def capped_wanted_days(inputs: FlagInputs) -> float | None:
    """Days of forecast demand the policy wanted, when the cover bound capped the order."""
    if "cover" not in inputs.adjustments:
        return None
    return inputs.wanted_days


def forecast_jump(inputs: FlagInputs, min_units: float) -> float | None:
    """How many times the daily forecast moved since the previous run, if by ``min_units`` over 28 days."""
    if inputs.previous_daily_forecast is None:
        return None
    if abs(inputs.daily_forecast - inputs.previous_daily_forecast) * 28 < min_units:
        return None
    return jump_ratio(inputs.daily_forecast, inputs.previous_daily_forecast)


def minimum_order_multiple(inputs: FlagInputs) -> float | None:
    """The supplier's minimum order over what the policy needed, when the minimum set the quantity."""
    if "minimum_order" not in inputs.adjustments:
        return None
    return inputs.minimum_order / max(inputs.needed, 1.0)


def flag_causes(inputs: FlagInputs, thresholds: FlagThresholds) -> list[str]:
    """The cause codes that apply, in ``CAUSES`` order (empty when nothing stands out)."""
    causes = []
    days = above_sales_days(inputs, thresholds.recent_days)
    if days is not None and days > thresholds.above_sales_days:
        causes.append("above_sales")
    wanted = capped_wanted_days(inputs)
    if wanted is not None and wanted > thresholds.capped_wanted_days:
        causes.append("cover_capped")
    jump = forecast_jump(inputs, thresholds.jump_min_units)
    if jump is not None and jump > thresholds.jump_ratio:
        causes.append("forecast_jump")
    if inputs.days_since_last_sale is None or inputs.days_since_last_sale >= thresholds.recent_days:
        causes.append("no_recent_sales")
    multiple = minimum_order_multiple(inputs)
    if multiple is not None and multiple > thresholds.minimum_order_ratio:
        causes.append("minimum_order")
    return causes


def describe(code: str) -> str:
    """A flag's cause in a few words; an unknown code (from a later version) is shown as it is."""
    return CAUSES.get(code, code.replace("_", " "))


def _in_days(days: int) -> str:
    if days <= 0:
        return "today"
    if days >= 14:
        return f"in {days // 7} weeks"
    return f"in {days} day" + ("" if days == 1 else "s")


def headline(
    *,
    available: float,
    stockout: date | None,
    as_of: date,
    adjustments: tuple[str, ...] = (),
    pack_size: int = 1,
) -> str:
    """The reason in a few words: "out of stock", "stock-out in 3 days, cover capped" (under 40 chars)."""
    if available <= 0:
        words = ["out of stock"]
    elif stockout is not None:
        words = [f"stock-out {_in_days((stockout - as_of).days)}"]
    else:
        words = ["below reorder point"]
    # One qualifier at most, the one that changed the quantity most: the list stays one line a row.
    if "minimum_order" in adjustments:
        words.append("minimum order")
    elif "cover" in adjustments:
        words.append("cover capped")
    elif "pack_size" in adjustments:
        words.append(f"packs of {pack_size:,}")
    elif "safety_stock" in adjustments:
        words.append("buffer capped")
    return ", ".join(words)
