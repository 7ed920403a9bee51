"""Per-product method selection by rolling-origin backtest, for a whole products x days matrix at once.

A product is first classified by volume and by intermittency (Syntetos-Boylan:
ADI, the average interval between sales, and CV², the squared coefficient of
variation of the non-zero sizes). The class decides which candidates it can
afford: Holt-Winters and ARIMA only for the products that carry the volume,
Croston-type methods for intermittent ones, moving averages for everyone. Every
candidate is computed for every product and backtest origin in one pass
(``batch``); the one with the lowest error (absolute error of the horizon total,
scaled by the product's naive error) wins, and its forecast from the last day is
issued. Its horizon total is then shrunk towards a long-run level (a 24-week
weekday-profile mean) with a weight that falls as the chosen method's backtest
error falls relative to the long-run level's: recent swings in this shop's demand
mostly revert, but a clean trend keeps its forecast. A candidate whose forecast is
not finite is dropped and the reason recorded; if the whole selection fails, a
28-day mean is issued with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import batch
from .methods import NotFittedError


def winsorise(values: np.ndarray, *, multiple: float = 8.0, min_sales: int = 8) -> np.ndarray:
    """Cap one-off bulk days at ``multiple`` times the median non-zero day (never below its 90th percentile).

    A wholesaler's single 5,000-unit order would otherwise lift every forecast of a
    product that usually sells 20 a day.
    """
    nonzero = values[values > 0]
    if len(nonzero) < min_sales:
        return values
    cap = max(multiple * float(np.median(nonzero)), float(np.quantile(nonzero, 0.9)))
    return np.minimum(values, cap)


@dataclass(frozen=True)
class DemandProfile:
    """What the selector knows about a series before choosing candidates."""

    history_days: int
    recent_mean: float
    adi: float
    cv2: float
    kind: str  # "smooth", "erratic", "intermittent", "lumpy", "sparse", "new" or "dormant"

    @property
    def intermittent(self) -> bool:
        return self.kind in {"intermittent", "lumpy", "sparse"}


def classify(values: np.ndarray, *, recent_days: int = 91, min_history: int = 56) -> DemandProfile:
    """Syntetos-Boylan classes (ADI 1.32, CV² 0.49) over the recent window, plus new, sparse and dormant."""
    recent = values[-recent_days:]
    sales = recent[recent > 0]
    history = len(values) - int(np.argmax(values > 0)) if (values > 0).any() else 0
    adi = len(recent) / len(sales) if len(sales) else float("inf")
    cv2 = float((sales.std() / sales.mean()) ** 2) if len(sales) > 1 else 0.0
    if not len(sales):
        kind = "dormant"
    elif history < min_history:
        kind = "new"
    elif len(sales) < 6:
        kind = "sparse"
    elif adi < 1.32:
        kind = "erratic" if cv2 >= 0.49 else "smooth"
    else:
        kind = "lumpy" if cv2 >= 0.49 else "intermittent"
    return DemandProfile(history, float(recent.mean()), float(adi), cv2, kind)


def candidate_names(profile: DemandProfile, *, expensive: bool) -> list[str]:
    """The methods worth backtesting for this profile, simplest first (ties keep this order).

    Croston-type methods are for the low-volume intermittent tail: on the busy products
    (often intermittent too: no Saturday sales) they lost every comparison. Exponential
    smoothing and ARIMA are fitted only for the products that carry the volume.
    """
    names = ["ma28", "weekly_ma28", "weekly_ma56"]
    if profile.intermittent and not expensive:
        names += ["sba", "tsb"]
    if expensive:
        names += ["holt_winters", "holt_winters_damped", ARIMA]
    return names


ARIMA = "arima(5,1,0)"

#: Combinations are backtested from their members' forecasts, so they cost nothing extra.
COMBINATIONS = {
    "mean(holt_winters,holt_winters_damped)": ("holt_winters", "holt_winters_damped"),
    "mean(holt_winters,holt_winters_damped,weekly_ma56)": (
        "holt_winters",
        "holt_winters_damped",
        "weekly_ma56",
    ),
    "mean(sba,tsb,weekly_ma56)": ("sba", "tsb", "weekly_ma56"),
}

#: Closed-form methods: (panel, origin, horizon) -> products x horizon.
CLOSED_FORM = {
    "ma28": batch.moving_average(28),
    "weekly_ma28": batch.weekly_profile_mean(28),
    "weekly_ma56": batch.weekly_profile_mean(56),
}
#: Flat-rate intermittent methods: (panel, origins) -> {origin: rate}.
RATES = {"sba": batch.croston(variant="sba"), "tsb": batch.tsb()}
#: Fitted methods: (panel, origins, horizon) -> {origin: products x horizon}.
FITTED = {
    "holt_winters": batch.holt_winters(damped=False),
    "holt_winters_damped": batch.holt_winters(damped=True),
    ARIMA: batch.arima_css(5),
}


@dataclass
class ProductForecast:
    """The selector's answer for one product."""

    method: str
    values: np.ndarray
    kind: str
    backtest_error: float = float("nan")
    lead_time_errors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    candidates: dict[str, float] = field(default_factory=dict)
    fallback_reason: str = ""
    #: exponent of the long-run level / forecast total ratio applied to the forecast (0: none)
    level_shrink: float = 0.0
    #: daily MASE of the issued forecast over the backtest origins, and of a seasonal naive one
    backtest_mase: float = float("nan")
    naive_mase: float = float("nan")
    #: statsmodels ARIMA's estimated parameters when ARIMA was issued (a later run may reuse them)
    arima_params: np.ndarray | None = None

    @property
    def total(self) -> float:
        return float(np.sum(self.values))


def _trimmed(raw: np.ndarray, profile: DemandProfile, winsorise_multiple: float | None) -> np.ndarray:
    """The row from its first sale on (NaN before), bulk days capped."""
    out = np.full(len(raw), np.nan)
    if profile.history_days:
        values = raw[len(raw) - profile.history_days :]
        out[len(raw) - profile.history_days :] = (
            winsorise(values, multiple=winsorise_multiple) if winsorise_multiple else values
        )
    return out


def _short_history(
    raw: np.ndarray,
    values: np.ndarray,
    profile: DemandProfile,
    *,
    horizon: int,
    lead_time: int,
    error_origins: int,
) -> ProductForecast:
    """Too little history to backtest: a moving average, and its errors over weekly lead-time windows."""
    level = float(values[-28:].mean()) if len(values) else 0.0
    errors = []
    for k in range(error_origins, 0, -1):
        cut = len(values) - lead_time - (k - 1) * 7
        if cut < 28:
            continue
        forecast = values[cut - 28 : cut].mean() * lead_time
        errors.append(raw[cut : cut + lead_time].sum() - forecast)
    return ProductForecast(
        "ma28",
        np.full(horizon, level),
        profile.kind,
        lead_time_errors=np.asarray(errors, dtype=float),
        fallback_reason=f"{profile.history_days} days of history: too short to backtest",
    )


def forecast_matrix(
    values: np.ndarray,
    *,
    next_weekday: int,
    horizon: int = 28,
    origins: int = 3,
    origin_step: int = 28,
    lead_time: int = 7,
    error_origins: int = 12,
    expensive: bool = True,
    expensive_min_daily: float = 5.0,
    winsorise_multiple: float | None = 8.0,
    shrink_window: int | None = 168,
    shrink_power: float = 0.5,
    arima_params: Sequence[np.ndarray | None] | None = None,
    keep_methods: Sequence[str | None] | None = None,
    statsmodels_refit: bool = True,
) -> list[ProductForecast]:
    """Choose, fit and forecast a method for every row of a products x days matrix of daily demand.

    ``next_weekday`` is the weekday (Monday 0) of the first forecast day, the day after the
    last column. Each product's candidates are backtested from ``origins`` origins
    ``origin_step`` days apart; the lowest mean absolute error of the horizon total, scaled
    by the product's one-step naive error, wins. Its total is then pulled towards the
    ``shrink_window``-day weekday-profile level with weight sqrt(e) / (sqrt(e) + sqrt(e_level))
    (see ``shrink_total``); the backtest runs behind the lead-time errors get the same pull.
    ``arima_params`` (one per row, or None) are a previous run's statsmodels ARIMA estimates:
    where given, the issued ARIMA forecast filters the new data with them instead of
    re-estimating (a nightly refit; see ``statsmodels_arima``). ``keep_methods`` (one per row, or
    None) are methods chosen by an earlier run: such a row backtests and fits only that method
    (a refit without re-selection); a row whose method is unknown or None is selected afresh.
    ``statsmodels_refit=False`` issues the least-squares screen's ARIMA forecast (for quick
    explorations only; the product always refits with statsmodels).
    """
    raw = np.clip(np.nan_to_num(np.asarray(values, dtype=float), nan=0.0), 0, None)
    if raw.ndim != 2:
        raise ValueError("forecast_matrix needs a products x days matrix")
    n, days = raw.shape
    results: list[ProductForecast | None] = [None] * n
    profiles = [classify(row) for row in raw]
    chosen_rows = []
    for i, profile in enumerate(profiles):
        if profile.kind == "dormant":
            results[i] = ProductForecast(
                "zero", np.zeros(horizon), profile.kind, fallback_reason="no sales in the recent window"
            )
        elif profile.kind == "new" or profile.history_days < origins * origin_step + 28:
            trimmed = _trimmed(raw[i], profile, winsorise_multiple)
            kept = slice(days - profile.history_days, days)
            results[i] = _short_history(
                raw[i, kept],
                trimmed[kept],
                profile,
                horizon=horizon,
                lead_time=lead_time,
                error_origins=error_origins,
            )
        else:
            chosen_rows.append(i)
    if chosen_rows:
        rows = np.array(chosen_rows)
        done = _backtest_and_choose(
            raw[rows],
            [profiles[i] for i in chosen_rows],
            next_weekday=next_weekday,
            horizon=horizon,
            origins=origins,
            origin_step=origin_step,
            lead_time=lead_time,
            expensive=expensive,
            expensive_min_daily=expensive_min_daily,
            winsorise_multiple=winsorise_multiple,
            shrink_window=shrink_window,
            shrink_power=shrink_power,
            arima_params=[arima_params[i] for i in chosen_rows] if arima_params is not None else None,
            keep_methods=[keep_methods[i] for i in chosen_rows] if keep_methods is not None else None,
            statsmodels_refit=statsmodels_refit,
        )
        for i, result in zip(chosen_rows, done, strict=True):
            results[i] = result
    return results  # type: ignore[return-value]


def _backtest_and_choose(
    raw: np.ndarray,
    profiles: list[DemandProfile],
    *,
    next_weekday: int,
    horizon: int,
    origins: int,
    origin_step: int,
    lead_time: int,
    expensive: bool,
    expensive_min_daily: float,
    winsorise_multiple: float | None,
    shrink_window: int | None,
    shrink_power: float,
    arima_params: Sequence[np.ndarray | None] | None = None,
    keep_methods: Sequence[str | None] | None = None,
    statsmodels_refit: bool = True,
) -> list[ProductForecast]:
    m, days = raw.shape
    trimmed = np.vstack([_trimmed(row, p, winsorise_multiple) for row, p in zip(raw, profiles, strict=True)])
    panel = batch.Panel(trimmed, weekday0=(next_weekday - days) % 7)
    actual_panel = batch.Panel(np.where(np.isfinite(trimmed), raw, np.nan), weekday0=panel.weekday0)
    cuts = [days - k * origin_step for k in range(origins, 0, -1)]
    everywhere = [*cuts, days]
    lengths = {cut: min(horizon, days - cut) for cut in cuts} | {days: horizon}

    names_by_row = [
        candidate_names(p, expensive=expensive and p.recent_mean >= expensive_min_daily) for p in profiles
    ]
    kept = [
        name if name in CLOSED_FORM or name in RATES or name in FITTED or name in COMBINATIONS else None
        for name in (keep_methods if keep_methods is not None else [None] * m)
    ]
    for i, name in enumerate(kept):
        if name is not None:  # the earlier run's choice: only it (or its members) is computed
            names_by_row[i] = list(COMBINATIONS.get(name, (name,)))
    names = list(dict.fromkeys(name for row in names_by_row for name in row))
    wanted = {name: np.array([name in row for row in names_by_row]) for name in names}
    # runs[name][origin] is a products x horizon forecast; NaN rows did not run the method.
    runs: dict[str, dict[int, np.ndarray]] = {}
    for name in names:
        idx = np.flatnonzero(wanted[name])
        sub = batch.Panel(trimmed[idx], weekday0=panel.weekday0) if len(idx) < m else panel
        with np.errstate(all="ignore"):
            if name in CLOSED_FORM:
                part = {o: CLOSED_FORM[name](sub, o, lengths[o]) for o in everywhere}
            elif name in RATES:
                rates = RATES[name](sub, everywhere)
                part = {o: np.repeat(rates[o][:, None], lengths[o], axis=1) for o in everywhere}
            else:
                fitted = FITTED[name](sub, everywhere, horizon)
                part = {o: fitted[o][:, : lengths[o]] for o in everywhere}
        runs[name] = {}
        for o in everywhere:
            full = np.full((m, lengths[o]), np.nan)
            full[idx] = np.clip(part[o], 0, None)
            runs[name][o] = full
    failures = [[] for _ in range(m)]
    for name in names:
        broken = wanted[name] & ~np.all([np.isfinite(runs[name][o]).all(axis=1) for o in everywhere], axis=0)
        for i in np.flatnonzero(broken):
            failures[i].append(f"{name}: non-finite forecast")
            for o in everywhere:
                runs[name][o][i] = np.nan
    for name, members in COMBINATIONS.items():
        if all(member in runs for member in members):
            runs[name] = {o: np.mean([runs[mb][o] for mb in members], axis=0) for o in everywhere}
            names.append(name)

    actual = {cut: panel.values[:, cut : cut + lengths[cut]] for cut in cuts}
    raw_actual = {cut: actual_panel.values[:, cut : cut + lengths[cut]] for cut in cuts}
    scale = _naive_scale(panel.values)
    raw_scale = _naive_scale(actual_panel.values)

    def score(forecasts: dict[int, np.ndarray]) -> np.ndarray:
        errors = [np.abs(forecasts[c].sum(axis=1) - actual[c].sum(axis=1)) / lengths[c] / scale for c in cuts]
        return np.mean(errors, axis=0)

    scores = np.column_stack([score(runs[name]) for name in names])  # NaN where not a candidate
    for i, name in enumerate(kept):
        if name is not None and name in names and np.isfinite(scores[i, names.index(name)]):
            scores[i, [j for j, other in enumerate(names) if other != name]] = np.nan
    best = np.argmin(np.where(np.isfinite(scores), scores, np.inf), axis=1)
    chosen_score = scores[np.arange(m), best]
    if shrink_window:
        level_method = batch.weekly_profile_mean(shrink_window)
        anchor = {o: level_method(panel, o, lengths[o]) for o in everywhere}
        anchor_error = score(anchor)
        a, b = chosen_score**shrink_power, anchor_error**shrink_power
        weight = np.where(np.isfinite(anchor_error) & (a + b > 0), a / np.where(a + b > 0, a + b, 1), 0.0)
    else:
        anchor, weight = {}, np.zeros(m)
    naive = batch.seasonal_naive(7)
    naive_runs = {c: naive(actual_panel, c, lengths[c]) for c in cuts}
    fitted_params: dict[int, np.ndarray] = {}
    if ARIMA in runs and statsmodels_refit:
        # The least-squares ARIMA only screened: where it won, statsmodels fits the issued forecast.
        won = np.flatnonzero(np.array([names[b] == ARIMA for b in best]))
        refits, reasons = statsmodels_arima(
            panel, won, horizon, params={i: arima_params[i] for i in won} if arima_params else None
        )
        for i, (forecast, params) in refits.items():
            runs[ARIMA][days][i] = forecast
            fitted_params[i] = params
        for i, reason in reasons.items():
            failures[i].append(reason)

    results = []
    for i in range(m):
        name = names[best[i]]
        issued = {o: runs[name][o][i] for o in everywhere}
        if weight[i] > 0:
            issued = {o: shrink_total(issued[o], anchor[o][i], float(weight[i])) for o in everywhere}
        lead_errors = []
        for c in cuts:
            a_row, f_row = raw_actual[c][i], issued[c]
            if len(a_row) >= lead_time:
                window = np.ones(lead_time)
                lead_errors.append(np.convolve(a_row, window, "valid") - np.convolve(f_row, window, "valid"))
        mase = np.mean([np.abs(issued[c] - raw_actual[c][i]).mean() for c in cuts]) / raw_scale[i]
        naive_mase = (
            np.mean([np.abs(naive_runs[c][i] - raw_actual[c][i]).mean() for c in cuts]) / raw_scale[i]
        )
        results.append(
            ProductForecast(
                name,
                issued[days],
                profiles[i].kind,
                backtest_error=float(chosen_score[i]),
                lead_time_errors=np.concatenate(lead_errors) if lead_errors else np.zeros(0),
                candidates={n: float(s) for n, s in zip(names, scores[i], strict=True) if np.isfinite(s)},
                fallback_reason="; ".join(failures[i]),
                level_shrink=float(weight[i]),
                backtest_mase=float(mase),
                naive_mase=float(naive_mase),
                arima_params=fitted_params.get(i),
            )
        )
    return results


#: Days a nightly refit filters with known ARIMA estimates (the forecast needs only the last 6).
ARIMA_FILTER_DAYS = 56
#: The weekday shaping of the issued ARIMA forecast, as in the least-squares screen (``batch.arima_css``).
ARIMA_SHAPE_WEEKS = 16


def statsmodels_arima(
    panel: batch.Panel, rows: np.ndarray, horizon: int, *, params: dict[int, np.ndarray | None] | None = None
) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], dict[int, str]]:
    """statsmodels ARIMA(5,1,0) forecasts from the panel's last day for ``rows``, and their parameters.

    Each row is fitted from its first sale on (the winsorised series the screen saw) by
    ``statsmodels.tsa.arima.model.ARIMA``, its AR part estimated by Burg's method (maximum
    likelihood costs 0.3-1.5 s a product, ten times more, for forecasts within about 1%:
    too much for a nightly retrain of every product); with ``params[row]`` given, the
    new data are only filtered with those estimates (a nightly refit: a fraction of the cost,
    the same model). The forecast keeps its total and takes the weekday profile of the last
    ``ARIMA_SHAPE_WEEKS`` weeks, like the screen's. A fit that raises or does not converge is
    left out (the caller keeps the least-squares forecast) and its reason returned.
    statsmodels is imported only here, when ARIMA won somewhere.
    """
    from statsmodels.tsa.arima.model import ARIMA as StatsmodelsARIMA

    from .methods import Arima

    days = panel.values.shape[1]
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    reasons: dict[int, str] = {}
    if not len(rows):
        return out, reasons
    profile = batch.weekday_profiles(panel, days, weeks=ARIMA_SHAPE_WEEKS)
    profile = profile[:, panel.weekday(days + np.arange(horizon))]
    for i in rows:
        series = panel.values[i, panel.start[i] :]
        known = (params or {}).get(int(i))
        try:
            if known is not None and len(series) >= 28:
                # Given the estimates, an AR(5) on differences forecasts from its last days alone.
                model = StatsmodelsARIMA(series[-ARIMA_FILTER_DAYS:], order=(5, 1, 0), trend="n")
                # No parameter covariance and only the last state: the forecast needs neither, and they
                # were most of the filter's cost.
                result = model.filter(np.asarray(known, dtype=float), cov_type="none", low_memory=True)
                forecast, fitted = np.asarray(result.forecast(horizon), dtype=float), np.asarray(known)
                if not np.isfinite(forecast).all():
                    raise ValueError("non-finite forecast")
            else:
                method = Arima((5, 1, 0), fitter="burg").fit_values(series)
                forecast, fitted = method.predict(horizon), np.asarray(method.result_.params, dtype=float)
        except Exception as exc:  # noqa: BLE001 - a failed fit keeps the screen's forecast
            reasons[int(i)] = (
                f"statsmodels ARIMA failed ({type(exc).__name__}: {exc}); least-squares fit issued"[:300]
            )
            continue
        shape = profile[i] / max(float(profile[i].mean()), 1e-9)
        out[int(i)] = (np.clip(np.clip(forecast, 0, None) * shape, 0, None), fitted)
    return out, reasons


def _naive_scale(values: np.ndarray) -> np.ndarray:
    """Each row's mean absolute one-step change over its known days (1 when it never changes)."""
    steps = np.abs(np.diff(values, axis=1))
    known = np.isfinite(steps)
    total = np.where(known, steps, 0.0).sum(axis=1)
    scale = np.divide(total, known.sum(axis=1), out=np.zeros(len(values)), where=known.any(axis=1))
    return np.where(scale > 0, scale, 1.0)


def shrink_total(forecast: np.ndarray, anchor: np.ndarray, weight: float) -> np.ndarray:
    """Scale ``forecast`` by (anchor total / forecast total) ** weight: a geometric blend of the two levels.

    One unit is added to both totals so that a zero forecast or anchor stays finite.
    """
    ratio = (float(anchor[: len(forecast)].sum()) + 1.0) / (float(forecast.sum()) + 1.0)
    return forecast * ratio**weight


class MethodSelector:
    """One product's ``forecast_matrix``, with the scikit-learn interface.

    ``fit(series)`` takes one product's daily demand (a ``pd.Series`` on a daily index
    ending the day before the forecast starts) and leaves the answer in ``result_``.
    """

    def __init__(self, **params) -> None:
        self.params = params

    def fit(self, series: pd.Series) -> MethodSelector:
        values = np.asarray(series, dtype=float)
        end = pd.Timestamp(series.index[-1]) if len(series) else pd.Timestamp("2000-01-01")
        self.profile_ = classify(np.clip(np.nan_to_num(values), 0, None))
        next_weekday = int((end + pd.Timedelta(days=1)).day_of_week)
        self.result_ = forecast_matrix(values[None, :], next_weekday=next_weekday, **self.params)[0]
        return self

    def predict(self, horizon: int | None = None) -> np.ndarray:
        if not hasattr(self, "result_"):
            raise NotFittedError("MethodSelector must be fitted before predicting")
        return self.result_.values[: horizon or self.params.get("horizon", 28)]


def _fallback(matrix: np.ndarray, horizon: int, exc: Exception) -> list[ProductForecast]:
    values = np.clip(np.nan_to_num(matrix[:, -28:]), 0, None)
    return [
        ProductForecast(
            "ma28",
            np.full(horizon, float(row.mean()) if len(row) else 0.0),
            "unknown",
            fallback_reason=f"selection failed: {type(exc).__name__}: {exc}"[:500],
        )
        for row in values
    ]


def _forecast_block(block: np.ndarray, next_weekday: int, params: dict) -> list[ProductForecast]:
    try:
        return forecast_matrix(block, next_weekday=next_weekday, **params)
    except Exception as exc:  # noqa: BLE001 - a bad block must never abort a run
        return _fallback(block, params.get("horizon", 28), exc)


def forecast_frame(
    matrix: pd.DataFrame,
    *,
    workers: int = 1,
    chunk_size: int = 1000,
    progress: Callable[[int], None] | None = None,
    previous: dict[Hashable, tuple[str, np.ndarray | None]] | None = None,
    **params,
) -> dict[Hashable, ProductForecast]:
    """Forecast every row of a products x days matrix (columns: consecutive days).

    Rows go through ``forecast_matrix`` in blocks of ``chunk_size`` (bounded memory, progress);
    ``workers > 1`` spreads the blocks over processes. ``progress`` gets the products just done.
    ``previous`` maps a row's key to an earlier run's (method, statsmodels ARIMA parameters): those
    rows are refitted with that method instead of re-selected (``keep_methods``).
    """
    if matrix.empty:
        return {}
    end = pd.Timestamp(matrix.columns[-1])
    next_weekday = int((end + pd.Timedelta(days=1)).day_of_week)
    values = matrix.to_numpy(dtype=float)
    keys = list(matrix.index)
    blocks = [slice(i, i + chunk_size) for i in range(0, len(keys), chunk_size)]
    results: dict[Hashable, ProductForecast] = {}

    def block_params(block: slice) -> dict:
        if not previous:
            return params
        earlier = [previous.get(key) for key in keys[block]]
        return {
            **params,
            "keep_methods": [e[0] if e else None for e in earlier],
            "arima_params": [
                np.asarray(e[1], dtype=float) if e and e[1] is not None and len(e[1]) else None
                for e in earlier
            ],
        }

    def collect(block: slice, forecasts: list[ProductForecast]) -> None:
        results.update(zip(keys[block], forecasts, strict=True))
        if progress:
            progress(len(forecasts))

    if workers <= 1 or len(blocks) <= 1:
        for block in blocks:
            collect(block, _forecast_block(values[block], next_weekday, block_params(block)))
        return results
    with ProcessPoolExecutor(max_workers=workers) as pool:
        parts = pool.map(
            _forecast_block,
            [values[b] for b in blocks],
            [next_weekday] * len(blocks),
            [block_params(b) for b in blocks],
        )
        for block, forecasts in zip(blocks, parts, strict=True):
            collect(block, forecasts)
    return results
