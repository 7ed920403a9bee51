"""The inventory replay of DESIGN.md, vectorised over products (no Django).

Start with S on hand and nothing on order; each day receive what arrives, serve
demand from stock (unserved demand is lost), and when the inventory position
(on hand + on order) is at or below s, order up to S, arriving ``lead_time`` days
later. Reports the fill rate and the average units on hand.

``rolling_replay`` is the nightly loop at engine level: the same day, but s and S are
recomputed every ``retrain_every`` days from the data up to that day (the shop's own
sales, so lost sales are not seen), orders are placed when a retrain's policy says so,
and each delivery's lead time varies by a seeded +-``jitter``. ``retrain_every=0`` holds
the first policy (the static baseline) and reviews every day, as ``replay`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

#: (window day, served units of the window so far: products x day) -> (reorder points, order-up-to levels)
PolicyFunction = Callable[[int, np.ndarray], tuple[np.ndarray, np.ndarray]]


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
    #: products out of stock at the end of a day, summed over the days
    stockout_product_days: int = 0
    #: per day: units demanded, served and on hand at the end of the day (rolling_replay only)
    daily: dict[str, np.ndarray] = field(default_factory=dict)
    #: seconds spent computing policies (rolling_replay only)
    policy_seconds: float = 0.0


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


def rolling_replay(
    demand: np.ndarray,
    policy: PolicyFunction,
    *,
    retrain_every: int,
    lead_time: int,
    jitter: float = 0.0,
    seed: int = 0,
    unit_cost: np.ndarray | None = None,
) -> ReplayResult:
    """Replay ``demand`` (products x days of the window) against policies recomputed as the shop would.

    ``policy(day, served)`` returns s and S from the data before window day ``day``: the
    history before the window plus ``served``, the units the replay sold so far (demand that
    found no stock was never recorded as a sale). Day 0's policy sets the starting stock (S).
    With ``retrain_every`` R >= 1 the policy is recomputed after every R-th day and orders are
    reviewed only then (suggestions come from a retrain); R = 0 holds day 0's policy and
    reviews every day. An order's lead time is ``lead_time`` times a seeded uniform factor in
    [1 - jitter, 1 + jitter], rounded, at least 1 day; one draw per product per day whether it
    orders or not, so two policies replayed with one seed meet the same delivery delays.
    """
    import time

    demand = np.asarray(demand, dtype=float)
    n, days = demand.shape
    rng = np.random.default_rng(seed)
    served_matrix = np.zeros((n, days))
    started = time.perf_counter()
    s, big_s = (np.asarray(v, dtype=float) for v in policy(0, served_matrix[:, :0]))
    policy_seconds = time.perf_counter() - started
    big_s = np.maximum(big_s, s)
    on_hand = big_s.copy()
    longest = max(1, int(np.floor(lead_time * (1 + jitter) + 0.5)))
    pipeline = np.zeros((n, longest + 1))
    cost = np.zeros(n) if unit_cost is None else np.asarray(unit_cost, dtype=float)
    held = value = 0.0
    orders = stockouts = 0
    rows = np.arange(n)
    daily = {name: np.zeros(days) for name in ("demanded", "served", "on_hand")}
    for day in range(days):
        on_hand += pipeline[:, 0]
        pipeline = np.roll(pipeline, -1, axis=1)
        pipeline[:, -1] = 0
        sold = np.minimum(on_hand, demand[:, day])
        served_matrix[:, day] = sold
        on_hand -= sold
        factors = rng.uniform(1 - jitter, 1 + jitter, n) if jitter else np.ones(n)
        retrain = retrain_every > 0 and (day + 1) % retrain_every == 0 and day + 1 < days
        if retrain:
            started = time.perf_counter()
            s, big_s = (np.asarray(v, dtype=float) for v in policy(day + 1, served_matrix[:, : day + 1]))
            big_s = np.maximum(big_s, s)
            policy_seconds += time.perf_counter() - started
        if retrain_every == 0 or retrain:
            position = on_hand + pipeline.sum(axis=1)
            reorder = position <= s
            delays = np.maximum(1, np.floor(lead_time * factors + 0.5).astype(int))
            pipeline[rows[reorder], delays[reorder] - 1] += (big_s - position)[reorder]
            orders += int(reorder.sum())
        held += on_hand.sum()
        value += float(on_hand @ cost)
        stockouts += int((on_hand <= 0).sum())
        daily["demanded"][day], daily["served"][day], daily["on_hand"][day] = (
            demand[:, day].sum(),
            sold.sum(),
            on_hand.sum(),
        )
    demanded = float(demand.sum())
    served = float(served_matrix.sum())
    return ReplayResult(
        fill_rate=served / demanded if demanded else 1.0,
        average_on_hand=held / max(days, 1),
        served=served,
        demanded=demanded,
        orders=orders,
        average_value_on_hand=value / max(days, 1),
        stockout_product_days=stockouts,
        daily=daily,
        policy_seconds=policy_seconds,
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


class ForecastPolicy:
    """The product's nightly policy as a ``PolicyFunction``: the engine's forecast, then ``reorder_plan``.

    ``history`` is products x days of demand before the window, starting where the shop's
    records start (as ``demand_histories`` reads them); ``next_weekday`` is the weekday of
    window day 0. Each call forecasts every product from the history plus the served units
    so far, exactly as a retrain would (``forecast_matrix``), and turns each forecast into s
    and S with the product's ``reorder_plan`` and its safety stock from rolling errors.
    As the nightly retrain does, each product's method is re-selected every
    ``reselect_every`` days and only refitted between (an ARIMA's statsmodels estimates are
    kept and the new days filtered with them).
    """

    def __init__(
        self,
        history: np.ndarray,
        *,
        next_weekday: int,
        lead_time: int,
        service_level: float,
        horizon: int = 28,
        policy_options: dict | None = None,
        reselect_every: int = 7,
        statsmodels_refit: bool = True,
        forecast_options: dict | None = None,
    ) -> None:
        self.history = np.asarray(history, dtype=float)
        self.next_weekday = next_weekday
        self.lead_time = lead_time
        self.service_level = service_level
        self.horizon = horizon
        self.policy_options = dict(policy_options or {})
        self.reselect_every = reselect_every
        self.statsmodels_refit = statsmodels_refit
        self.forecast_options = dict(forecast_options or {})
        self._selected_on: int | None = None
        self._methods: list[str | None] = []
        self._arima: list[np.ndarray | None] = []
        self.calls = 0

    def forecasts(self, day: int, served: np.ndarray) -> list:
        from .selection import forecast_matrix

        matrix = np.hstack([self.history, served]) if served.shape[1] else self.history
        reselect = self._selected_on is None or day - self._selected_on >= self.reselect_every
        results = forecast_matrix(
            matrix,
            next_weekday=(self.next_weekday + day) % 7,
            horizon=self.horizon,
            lead_time=self.lead_time,
            arima_params=None if reselect else self._arima,
            keep_methods=None if reselect else self._methods,
            statsmodels_refit=self.statsmodels_refit,
            **self.forecast_options,
        )
        if reselect:
            self._selected_on = day
            self._methods = [result.method for result in results]
            self._arima = [result.arima_params for result in results]
        self.calls += 1
        return results

    def levels(
        self, forecasts: list, matrix: np.ndarray, service_level: float
    ) -> tuple[np.ndarray, np.ndarray]:
        from ..policy import ROLLING_HISTORY_DAYS, SupplyTerms, reorder_plan

        terms = SupplyTerms(lead_time_days=self.lead_time)
        histories = matrix[:, -ROLLING_HISTORY_DAYS:]
        s, big_s = np.zeros(len(forecasts)), np.zeros(len(forecasts))
        for i, result in enumerate(forecasts):
            plan = reorder_plan(
                forecast=result.values,
                errors=result.lead_time_errors,
                service_level=service_level,
                terms=terms,
                history=histories[i],
                **self.policy_options,
            )
            s[i], big_s[i] = round(plan.reorder_point, 2), round(plan.order_up_to, 2)
        return s, big_s

    def __call__(self, day: int, served: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        matrix = np.hstack([self.history, served]) if served.shape[1] else self.history
        return self.levels(self.forecasts(day, served), matrix, self.service_level)
