"""The inventory replay of DESIGN.md, vectorised over products (no Django).

Start with S on hand and nothing on order; each day receive what arrives, serve
demand from stock (unserved demand is lost), and when the inventory position
(on hand + on order) is at or below s, order up to S, arriving ``lead_time`` days
later. Reports the fill rate and the average units on hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ReplayResult:
    fill_rate: float
    average_on_hand: float
    served: float
    demanded: float
    #: purchase orders placed (each costs the ordering cost)
    orders: int = 0
    #: average stock value on hand per day, when unit costs are given
    average_value_on_hand: float = 0.0


def replay(
    demand: np.ndarray,
    reorder_point: np.ndarray,
    order_up_to: np.ndarray,
    lead_time: int,
    unit_cost: np.ndarray | None = None,
) -> ReplayResult:
    """``demand`` is products x days; ``reorder_point``, ``order_up_to``, ``unit_cost``: one per product."""
    demand = np.asarray(demand, dtype=float)
    s = np.asarray(reorder_point, dtype=float)
    big_s = np.maximum(np.asarray(order_up_to, dtype=float), s)
    on_hand = big_s.copy()
    pipeline = np.zeros((len(s), lead_time + 1))
    served = held = value = 0.0
    orders = 0
    cost = np.zeros(len(s)) if unit_cost is None else np.asarray(unit_cost, dtype=float)
    for day in range(demand.shape[1]):
        on_hand += pipeline[:, 0]
        pipeline = np.roll(pipeline, -1, axis=1)
        pipeline[:, -1] = 0
        sold = np.minimum(on_hand, demand[:, day])
        served += sold.sum()
        on_hand -= sold
        position = on_hand + pipeline.sum(axis=1)
        reorder = position <= s
        pipeline[reorder, lead_time - 1] += (big_s - position)[reorder]
        orders += int(reorder.sum())
        held += on_hand.sum()
        value += float(on_hand @ cost)
    demanded = float(demand.sum())
    return ReplayResult(
        fill_rate=served / demanded if demanded else 1.0,
        average_on_hand=held / max(demand.shape[1], 1),
        served=float(served),
        demanded=demanded,
        orders=orders,
        average_value_on_hand=value / max(demand.shape[1], 1),
    )


def units_for_fill_rate(points: list[tuple[float, float]], target: float = 0.95) -> float:
    """Average units on hand needed for ``target`` fill rate, interpolated between (fill rate, units) points.

    Infinite when no point reaches the target.
    """
    ordered = sorted(points)
    fills = np.array([p[0] for p in ordered])
    units = np.array([p[1] for p in ordered])
    if not len(fills) or fills.max() < target:
        return float("inf")
    j = int(np.argmax(fills >= target))
    if j == 0:
        return float(units[0])
    share = (target - fills[j - 1]) / (fills[j] - fills[j - 1])
    return float(units[j - 1] + share * (units[j] - units[j - 1]))
