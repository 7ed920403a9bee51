"""Forecasting many products at once: every method, every backtest origin, one products x days matrix.

statsforecast's design (DESIGN.md): the cheap methods are array operations over the whole
matrix, and the recursive ones loop over days (a few hundred steps), never over products.

* Moving averages and weekday-profile means are window sums read off cumulative sums at each
  origin.
* Croston / SBA and TSB smooth sale sizes and intervals with one pass over the days for every
  product together; TSB's daily probability is an exponential filter (``scipy.signal.lfilter``).
* Holt-Winters (additive weekly season, with and without a damped trend) runs in error-correction
  form for every product and every point of a small grid of smoothing parameters at once, from
  analytic starting values (first two weeks' level and weekday deviations). Each origin takes the
  grid point with the smallest one-step squared error *before that origin*, read off a running
  sum, so one pass over the days fits every origin.
* ARIMA(5,1,0) is fitted by conditional least squares (the CSS estimator of Box and Jenkins):
  the lagged differences' cross-products are summed up to each origin and every product's
  5 x 5 system solved together.

Values before a product's first sale are NaN: a product that did not exist has no demand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import product as grid_product

import numpy as np

#: a forecast function: (history matrix, origin column, horizon) -> (products, horizon)
Forecaster = Callable[["Panel", int, int], np.ndarray]


@dataclass
class Panel:
    """A products x days matrix (NaN before each product's first sale) and the weekday of column 0."""

    values: np.ndarray
    weekday0: int

    def __post_init__(self) -> None:
        self.valid = np.isfinite(self.values)
        filled = np.where(self.valid, self.values, 0.0)
        zero = np.zeros((len(filled), 1))
        self.cumsum = np.hstack([zero, np.cumsum(filled, axis=1)])
        self.count = np.hstack([zero, np.cumsum(self.valid, axis=1)])
        self.start = np.where(self.valid.any(axis=1), np.argmax(self.valid, axis=1), self.values.shape[1])

    @property
    def n(self) -> int:
        return self.values.shape[0]

    def weekday(self, column: int | np.ndarray) -> int | np.ndarray:
        return (self.weekday0 + column) % 7

    def window_mean(self, origin: int, window: int) -> np.ndarray:
        """Mean of the known values in the ``window`` days before ``origin`` (0 when none)."""
        lo = max(0, origin - window)
        total = self.cumsum[:, origin] - self.cumsum[:, lo]
        count = self.count[:, origin] - self.count[:, lo]
        return np.divide(total, count, out=np.zeros(self.n), where=count > 0)


# --- cheap methods: closed forms at each origin ------------------------------------------------------


def moving_average(window: int) -> Forecaster:
    def forecast(panel: Panel, origin: int, horizon: int) -> np.ndarray:
        return np.repeat(panel.window_mean(origin, window)[:, None], horizon, axis=1)

    return forecast


def weekday_profiles(panel: Panel, origin: int, *, weeks: int = 16, prior_weight: float = 2.0) -> np.ndarray:
    """Weekday multipliers (products x 7, mean about 1) from the last ``weeks`` weeks before ``origin``.

    Shrunk towards 1 by pseudo-observations, so a product with a handful of sales does
    not get a profile that is all noise; the matrix form of ``methods.weekday_profile``.
    """
    lo = max(0, origin - 7 * weeks)
    block = panel.values[:, lo:origin]
    known = panel.valid[:, lo:origin]
    filled = np.where(known, block, 0.0)
    weekdays = panel.weekday(np.arange(lo, origin))
    totals = np.stack([filled[:, weekdays == d].sum(axis=1) for d in range(7)], axis=1)
    counts = np.stack([known[:, weekdays == d].sum(axis=1) for d in range(7)], axis=1).astype(float)
    days = known.sum(axis=1)
    mean = np.divide(filled.sum(axis=1), days, out=np.zeros(panel.n), where=days > 0)
    per_day = np.where(counts > 0, totals / np.maximum(counts, 1), mean[:, None])
    multipliers = np.divide(per_day, mean[:, None], out=np.ones_like(per_day), where=mean[:, None] > 0)
    nonzero = np.maximum((filled > 0).sum(axis=1), 1)
    strength = (nonzero / (nonzero + prior_weight * 7))[:, None]
    profile = strength * multipliers + (1 - strength)
    return np.where(mean[:, None] > 0, profile, 1.0)


def weekly_profile_mean(window: int, profile_weeks: int = 16) -> Forecaster:
    """The ``window``-day mean times the weekday profile: ``methods.WeeklyProfileMean`` for every product."""

    def forecast(panel: Panel, origin: int, horizon: int) -> np.ndarray:
        level = panel.window_mean(origin, window)
        profile = weekday_profiles(panel, origin, weeks=profile_weeks)
        return level[:, None] * profile[:, panel.weekday(origin + np.arange(horizon))]

    return forecast


def seasonal_naive(season: int = 7) -> Forecaster:
    """The last ``season`` days repeated: the naive baseline every backtest is reported against."""

    def forecast(panel: Panel, origin: int, horizon: int) -> np.ndarray:
        last = np.nan_to_num(panel.values[:, origin - season : origin])
        return np.tile(last, (1, (horizon + season - 1) // season))[:, :horizon]

    return forecast


# --- intermittent demand: one pass over the days ------------------------------------------------------


def _size_interval_states(panel: Panel, origins: Sequence[int], alpha: float) -> dict[int, tuple]:
    """Croston's smoothed sale size and interval for every product, as they stand at each origin."""
    n, days = panel.values.shape
    size = np.zeros(n)
    interval = np.ones(n)
    last = np.full(n, -1)
    sales = np.where(panel.valid, panel.values, 0.0) > 0
    wanted = set(origins)
    states = {}
    for t in range(days + 1):
        if t in wanted:
            states[t] = (size.copy(), interval.copy(), last >= 0)
        if t == days:
            break
        hit = sales[:, t]
        if not hit.any():
            continue
        first = hit & (last < 0)
        again = hit & (last >= 0)
        size[first] = panel.values[first, t]
        size[again] += alpha * (panel.values[again, t] - size[again])
        interval[again] += alpha * ((t - last[again]) - interval[again])
        last[hit] = t
    return states


def croston(alpha: float = 0.1, variant: str = "classic") -> Callable[[Panel, Sequence[int]], dict]:
    """Croston (``variant="sba"``: Syntetos-Boylan corrected): size / interval, flat, per origin."""
    correction = 1 - alpha / 2 if variant == "sba" else 1.0

    def rates(panel: Panel, origins: Sequence[int]) -> dict[int, np.ndarray]:
        states = _size_interval_states(panel, origins, alpha)
        return {
            o: np.where(seen, correction * size / interval, 0.0)
            for o, (size, interval, seen) in states.items()
        }

    return rates


def tsb(alpha: float = 0.1, beta: float = 0.05) -> Callable[[Panel, Sequence[int]], dict]:
    """Teunter-Syntetos-Babai: a sale's probability smoothed every day times its smoothed size.

    The probability starts at the share of sale days before the origin and is then
    exponentially smoothed over every day since the first sale: a linear filter, so the
    filter from zero plus the decayed starting value gives it at every origin at once.
    """

    def rates(panel: Panel, origins: Sequence[int]) -> dict[int, np.ndarray]:
        from scipy.signal import lfilter  # scipy costs start-up time; only a forecast needs it

        hits = (np.where(panel.valid, panel.values, 0.0) > 0).astype(float)
        smoothed = lfilter([beta], [1.0, -(1.0 - beta)], hits, axis=1)
        sale_days = np.hstack([np.zeros((panel.n, 1)), np.cumsum(hits, axis=1)])
        states = _size_interval_states(panel, origins, alpha)
        out = {}
        for origin in origins:
            elapsed = np.maximum(origin - panel.start, 0)
            share = np.divide(sale_days[:, origin], elapsed, out=np.zeros(panel.n), where=elapsed > 0)
            filtered = smoothed[:, origin - 1] if origin > 0 else np.zeros(panel.n)
            probability = filtered + (1.0 - beta) ** elapsed * share
            size, _, seen = states[origin]
            out[origin] = np.where(seen, probability * size, 0.0)
        return out

    return rates


# --- exponential smoothing: every grid point of every product in one pass -----------------------------

#: Smoothing grids. Kept small: each point is one more lane of the same pass over the days.
#: Chosen on the validation origins 2011-06-11, 07-09 and 08-06 (top 200 products): wider grids
#: (alpha up to 0.5, gamma up to 0.3) fitted the noise of single days and backtested worse.
HW_ALPHAS = (0.02, 0.05, 0.1, 0.2)
HW_GAMMAS = (0.0, 0.05)
HW_BETAS = (0.005, 0.02)
HW_PHIS = (0.9, 0.98)
#: Days whose one-step errors are not scored: the starting values are fitted to them.
HW_WARMUP = 14


def holt_winters_states(
    panel: Panel, origins: Sequence[int], *, damped: bool
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    """Additive weekly Holt-Winters (ETS(A,N,A), or ETS(A,Ad,A) when ``damped``) at each origin.

    Returns, per origin, the chosen grid point's level, trend, seasonal states (products x 7,
    indexed by weekday) and damping, chosen per product by the smallest sum of squared one-step
    errors before the origin.
    """
    grid = (
        list(grid_product(HW_ALPHAS, HW_GAMMAS, HW_BETAS, HW_PHIS))
        if damped
        else [(a, g, 0.0, 1.0) for a, g in grid_product(HW_ALPHAS, HW_GAMMAS)]
    )
    alpha, gamma, beta, phi = (np.array(column)[None, :] for column in zip(*grid, strict=True))
    n, days = panel.values.shape
    lanes = (n, len(grid))
    # Analytic starting values: the first two weeks' mean level and weekday deviations.
    idx = np.minimum(panel.start[:, None] + np.arange(HW_WARMUP)[None, :], days - 1)
    first = np.nan_to_num(np.take_along_axis(panel.values, idx, axis=1))
    level0 = first.mean(axis=1)
    season0 = np.zeros((n, 7))
    weekdays = panel.weekday(idx)
    for d in range(7):
        mask = weekdays == d
        season0[:, d] = np.where(mask, first, 0).sum(axis=1) / np.maximum(mask.sum(axis=1), 1) - level0
    # The damped model starts from the change between the two weeks' means (0 without a trend), the
    # level from their mean taken back to the day before the first one (the recursion starts there).
    slope0 = (first[:, 7:14].mean(axis=1) - first[:, :7].mean(axis=1)) / 7 if damped else np.zeros(n)
    level = np.repeat((level0 - 7.5 * slope0)[:, None], len(grid), axis=1)
    trend = np.repeat(slope0[:, None], len(grid), axis=1)
    season = np.repeat(season0[:, None, :], len(grid), axis=1)
    sse = np.zeros(lanes)
    wanted = set(origins)
    snapshots = {}
    scored_from = panel.start + HW_WARMUP
    for t in range(days + 1):
        if t in wanted:
            snapshots[t] = (level.copy(), trend.copy(), season.copy(), sse.copy())
        if t == days:
            break
        active = panel.valid[:, t]
        if not active.any():
            continue
        d = int(panel.weekday(t))
        y = panel.values[active, t][:, None]
        lv, tr, se = level[active], trend[active], season[active, :, d]
        error = y - (lv + phi * tr + se)
        level[active] = lv + phi * tr + alpha * error
        trend[active] = phi * tr + beta * error
        season[active, :, d] = se + gamma * error
        scored = active & (t >= scored_from)
        sse[scored] += error[scored[active]] ** 2
    out = {}
    rows = np.arange(n)
    for origin, (lv, tr, se, err) in snapshots.items():
        best = np.argmin(err, axis=1)
        out[origin] = (lv[rows, best], tr[rows, best], se[rows, best, :], phi[0, best])
    return out


def holt_winters(damped: bool = False) -> Callable[[Panel, Sequence[int], int], dict]:
    def forecasts(panel: Panel, origins: Sequence[int], horizon: int) -> dict[int, np.ndarray]:
        states = holt_winters_states(panel, origins, damped=damped)
        steps = np.arange(1, horizon + 1)
        out = {}
        for origin, (level, trend, season, phi) in states.items():
            # Damped trend: the sum of phi^1..phi^h times the trend (h times it when undamped).
            damping = np.cumsum(phi[:, None] ** steps[None, :], axis=1)
            weekdays = panel.weekday(origin + np.arange(horizon))
            out[origin] = level[:, None] + damping * trend[:, None] + season[:, weekdays]
        return out

    return forecasts


# --- ARIMA(p,1,0) by conditional least squares ----------------------------------------------------------


def arima_css(
    p: int = 5, *, ridge: float = 1e-6, shape_weeks: int | None = 16
) -> Callable[[Panel, Sequence[int], int], dict]:
    """ARIMA(p,1,0) without drift: AR(p) on the daily differences, fitted by least squares.

    Conditional least squares is the classical ARIMA estimator (statsforecast's and R's
    default starting point, "CSS"); for a pure AR part it is one linear solve per product.
    With ``shape_weeks`` the forecast keeps its total but takes the weekday profile of the
    last ``shape_weeks`` weeks: a non-seasonal ARIMA settles to a flat line within days, and
    on the validation origins the shaped forecast had the lower daily error.
    """

    def forecasts(panel: Panel, origins: Sequence[int], horizon: int) -> dict[int, np.ndarray]:
        values = panel.values
        n, days = values.shape
        diff = np.diff(values, axis=1)  # column j is day j+1 minus day j; NaN before the start
        lagged = np.stack([np.roll(diff, k, axis=1) for k in range(1, p + 1)], axis=2)
        lagged[:, :p, :] = np.nan
        usable = np.isfinite(diff) & np.isfinite(lagged).all(axis=2)
        target = np.where(usable, diff, 0.0)
        design = np.where(usable[:, :, None], lagged, 0.0)
        out = {}
        for origin in origins:
            stop = origin - 1  # differences up to day origin - 1
            x, y = design[:, :stop], target[:, :stop]
            xtx = np.einsum("ntj,ntk->njk", x, x) + ridge * np.eye(p)[None]
            xty = np.einsum("ntj,nt->nj", x, y)
            try:
                coef = np.linalg.solve(xtx, xty[:, :, None])[:, :, 0]
            except np.linalg.LinAlgError:
                coef = np.stack([np.linalg.lstsq(a, b, rcond=None)[0] for a, b in zip(xtx, xty, strict=True)])
            history = np.nan_to_num(diff[:, stop - p : stop][:, ::-1])  # most recent first
            last = np.nan_to_num(values[:, origin - 1])
            steps = np.empty((n, horizon))
            for h in range(horizon):
                step = (coef * history).sum(axis=1)
                steps[:, h] = step
                history = np.hstack([step[:, None], history[:, :-1]])
            forecast = last[:, None] + np.cumsum(steps, axis=1)
            if shape_weeks:
                profile = weekday_profiles(panel, origin, weeks=shape_weeks)
                profile = profile[:, panel.weekday(origin + np.arange(horizon))]
                forecast = forecast * profile / np.maximum(profile.mean(axis=1, keepdims=True), 1e-9)
            out[origin] = forecast
        return out

    return forecasts
