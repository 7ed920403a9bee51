"""Per-series forecasting methods: the seed's statsmodels models and the loops the batch engine must match.

Production forecasting runs in ``batch`` over a whole products x days matrix. These
classes forecast one series at a time: ``HoltWinters`` and ``Arima`` (statsmodels) keep the
seed's methods reproducible and are the reference the batch engine's speed and accuracy are
measured against (``bench/bench_forecast.py --method``); the cheap ones are the plain loops
that the vectorised versions are tested against.

Every method follows the scikit-learn convention: hyperparameters in ``__init__``,
``fit(series) -> self`` on a daily ``pd.Series`` with a contiguous ``DatetimeIndex``,
learned state in attributes ending in ``_``, and ``predict(horizon)`` returning the
next ``horizon`` days as a non-negative array. Predicting before fitting raises
``NotFittedError``. Statsmodels warnings are captured into ``warnings_`` so the
selector can treat a non-converged fit as a reason to fall back.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


class NotFittedError(RuntimeError):
    pass


class FitFailed(RuntimeError):
    """A fit that raised, did not converge or produced non-finite values; the message says why."""


class ForecastMethod:
    """Base class: validation of the input series and the fitted-state check."""

    #: relative cost, used to decide which methods a product's volume can afford
    cost = 1
    min_history = 1

    def fit(self, series: pd.Series) -> ForecastMethod:
        index = pd.DatetimeIndex(series.index) if isinstance(series, pd.Series) else None
        next_weekday = int((index[-1] + pd.Timedelta(days=1)).day_of_week) if index is not None else 0
        return self.fit_values(np.asarray(series, dtype=float), next_weekday=next_weekday)

    def fit_values(self, values: np.ndarray, *, next_weekday: int = 0) -> ForecastMethod:
        """``fit`` on a bare array whose next day is ``next_weekday`` (Monday 0): no pandas overhead."""
        values = np.asarray(values, dtype=float)
        if values.ndim != 1 or len(values) < self.min_history:
            raise FitFailed(f"needs at least {self.min_history} days of history, got {len(values)}")
        if not np.isfinite(values).all():
            raise FitFailed("history has non-finite values")
        self.next_weekday_ = int(next_weekday)
        self.warnings_: list[str] = []
        self._fit(values)
        self.fitted_ = True
        return self

    def predict(self, horizon: int) -> np.ndarray:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"{type(self).__name__} must be fitted before predicting")
        forecast = np.asarray(self._predict(int(horizon)), dtype=float)
        if forecast.shape != (horizon,) or not np.isfinite(forecast).all():
            raise FitFailed(f"{self.name} produced a non-finite forecast")
        return np.clip(forecast, 0.0, None)

    @property
    def name(self) -> str:
        return type(self).__name__

    def _fit(self, values: np.ndarray) -> None:
        raise NotImplementedError

    def _predict(self, horizon: int) -> np.ndarray:
        raise NotImplementedError

    def _weekday_positions(self, horizon: int) -> np.ndarray:
        return (self.next_weekday_ + np.arange(horizon)) % 7


def weekday_profile(values: np.ndarray, next_weekday: int, *, weeks: int, prior_weight: float = 2.0):
    """Multipliers (mean 1) for each weekday from the last ``weeks`` weeks, shrunk towards 1.

    Indexed by ``dayofweek`` (Monday 0). The last value of ``values`` falls on the day
    before ``next_weekday``. Shrinkage keeps a product with a handful of sales from
    getting a profile that is all noise; weekdays the shop never trades (Saturday)
    stay near zero because the shop-wide pattern is strong in every busy product.
    """
    days = min(len(values), 7 * weeks)
    recent = values[len(values) - days :]
    weekdays = (next_weekday - days + np.arange(days)) % 7
    totals = np.bincount(weekdays, weights=recent, minlength=7)
    counts = np.bincount(weekdays, minlength=7).astype(float)
    mean = recent.mean() if days else 0.0
    if mean <= 0:
        return np.ones(7)
    per_day = np.where(counts > 0, totals / np.maximum(counts, 1), mean)
    # Pseudo-observations at the overall mean: a noisy weekday is pulled towards 1.
    nonzero_days = max(np.count_nonzero(recent), 1)
    strength = nonzero_days / (nonzero_days + prior_weight * 7)
    multipliers = per_day / mean
    return strength * multipliers + (1 - strength) * np.ones(7)


class MovingAverage(ForecastMethod):
    """The mean of the last ``window`` days, flat. The benchmark every other method must beat."""

    def __init__(self, window: int = 28) -> None:
        self.window = window

    def _fit(self, values: np.ndarray) -> None:
        self.level_ = float(values[-self.window :].mean())

    def _predict(self, horizon: int) -> np.ndarray:
        return np.full(horizon, self.level_)

    @property
    def name(self) -> str:
        return f"ma{self.window}"


class WeeklyProfileMean(ForecastMethod):
    """Mean of the last ``window`` days times weekday multipliers learned over ``profile_weeks``."""

    def __init__(self, window: int = 28, profile_weeks: int = 16) -> None:
        self.window = window
        self.profile_weeks = profile_weeks

    def _fit(self, values: np.ndarray) -> None:
        self.level_ = float(values[-self.window :].mean())
        self.profile_ = weekday_profile(values, self.next_weekday_, weeks=self.profile_weeks)

    def _predict(self, horizon: int) -> np.ndarray:
        return self.level_ * self.profile_[self._weekday_positions(horizon)]

    @property
    def name(self) -> str:
        return f"weekly_ma{self.window}"


class Croston(ForecastMethod):
    """Croston's method for intermittent demand; ``variant="sba"`` adds the Syntetos-Boylan correction.

    Sizes and intervals between non-zero demands are smoothed separately; the daily
    forecast is size / interval (times ``1 - alpha/2`` for SBA).
    """

    def __init__(self, alpha: float = 0.1, variant: str = "classic") -> None:
        self.alpha = alpha
        self.variant = variant

    def _fit(self, values: np.ndarray) -> None:
        positions = np.flatnonzero(values > 0)
        if len(positions) == 0:
            self.rate_ = 0.0
            return
        sizes = values[positions]
        intervals = np.diff(np.concatenate([[-1], positions])).astype(float)
        size, interval = sizes[0], intervals[0]
        for s, q in zip(sizes[1:], intervals[1:], strict=True):
            size += self.alpha * (s - size)
            interval += self.alpha * (q - interval)
        correction = 1 - self.alpha / 2 if self.variant == "sba" else 1.0
        self.rate_ = float(correction * size / interval)

    def _predict(self, horizon: int) -> np.ndarray:
        return np.full(horizon, self.rate_)

    @property
    def name(self) -> str:
        return "sba" if self.variant == "sba" else "croston"


class TSB(ForecastMethod):
    """Teunter-Syntetos-Babai: smooths the probability of a sale every day, so demand that dies out decays."""

    def __init__(self, alpha: float = 0.1, beta: float = 0.05) -> None:
        self.alpha = alpha
        self.beta = beta

    def _fit(self, values: np.ndarray) -> None:
        occurred = (values > 0).astype(float)
        positions = np.flatnonzero(occurred)
        if len(positions) == 0:
            self.rate_ = 0.0
            return
        probability, size = occurred.mean(), values[positions[0]]
        for value, hit in zip(values, occurred, strict=True):
            probability += self.beta * (hit - probability)
            if hit:
                size += self.alpha * (value - size)
        self.rate_ = float(probability * size)

    def _predict(self, horizon: int) -> np.ndarray:
        return np.full(horizon, self.rate_)

    @property
    def name(self) -> str:
        return "tsb"


def _capture_warnings(method: ForecastMethod, fit):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit()
    method.warnings_ = sorted({f"{w.category.__name__}: {str(w.message)[:120]}" for w in caught})
    if any("Convergence" in w or "converge" in w.lower() for w in method.warnings_):
        raise FitFailed(f"{method.name} did not converge")
    return result


class HoltWinters(ForecastMethod):
    """statsmodels Holt-Winters (``ExponentialSmoothing``), additive weekly season by default."""

    cost = 15

    def __init__(
        self,
        trend: str | None = None,
        damped_trend: bool = False,
        season: int = 7,
        initialization_method: str = "estimated",
    ) -> None:
        self.trend = trend
        self.damped_trend = damped_trend
        self.season = season
        self.initialization_method = initialization_method
        self.min_history = 3 * season

    def _fit(self, values: np.ndarray) -> None:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        model = ExponentialSmoothing(
            values,
            trend=self.trend,
            damped_trend=self.damped_trend if self.trend else False,
            seasonal="add",
            seasonal_periods=self.season,
            initialization_method=self.initialization_method,
        )
        self.result_ = _capture_warnings(self, lambda: model.fit(optimized=True, use_brute=False))

    def _predict(self, horizon: int) -> np.ndarray:
        return self.result_.forecast(horizon)

    @property
    def name(self) -> str:
        return "holt_winters" + ("_damped" if self.trend and self.damped_trend else "")


class Arima(ForecastMethod):
    """statsmodels ARIMA with a fixed order; ``order=(5, 1, 0)`` is the textbook candidate.

    ``fitter="sarimax"`` (the seed's, the benchmark reference) fits ``SARIMAX`` by
    L-BFGS; ``fitter="arima"`` fits ``statsmodels.tsa.arima.model.ARIMA``, the same
    state-space likelihood from better starting values (the same forecast to 4-5 digits in
    about half the time); ``fitter="burg"`` estimates that ARIMA's AR part by Burg's method
    (``ARIMA.fit(method="burg")``, pure AR only): forecasts within about 1% of the maximum
    likelihood ones for a tenth of the cost, which is what the product's selection uses.
    """

    cost = 40

    def __init__(
        self,
        order: tuple[int, int, int] = (5, 1, 0),
        seasonal_order=(0, 0, 0, 0),
        fitter: str = "sarimax",
    ) -> None:
        self.order = tuple(order)
        self.seasonal_order = tuple(seasonal_order)
        self.fitter = fitter
        self.min_history = 4 * 7

    def _fit(self, values: np.ndarray) -> None:
        # Without differencing the series needs a mean; with it, a constant would be a drift.
        trend = "c" if self.order[1] == 0 and self.seasonal_order[1] == 0 else "n"
        if self.fitter in ("arima", "burg"):
            from statsmodels.tsa.arima.model import ARIMA

            model = ARIMA(values, order=self.order, seasonal_order=self.seasonal_order, trend=trend)
            if self.fitter == "burg":  # no parameter covariance: only the forecast is wanted
                self.result_ = _capture_warnings(self, lambda: model.fit(method="burg", cov_type="none"))
            else:
                self.result_ = _capture_warnings(self, lambda: model.fit())
        else:
            from statsmodels.tsa.statespace.sarimax import SARIMAX

            model = SARIMAX(values, order=self.order, seasonal_order=self.seasonal_order, trend=trend)
            self.result_ = _capture_warnings(self, lambda: model.fit(disp=False, maxiter=50))
        self.aic_ = float(self.result_.aic)

    def _predict(self, horizon: int) -> np.ndarray:
        return self.result_.forecast(horizon)

    @property
    def name(self) -> str:
        p, d, q = self.order
        seasonal = "x({},{},{}){}".format(*self.seasonal_order) if any(self.seasonal_order) else ""
        return f"arima({p},{d},{q}){seasonal}"
