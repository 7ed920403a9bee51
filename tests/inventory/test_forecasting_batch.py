"""The vectorised engine: every product and origin at once must equal the per-series loops (no database)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from inventory.forecasting import batch, selection
from inventory.forecasting.methods import TSB, Croston, HoltWinters, MovingAverage, WeeklyProfileMean

START = pd.Timestamp("2024-01-01")  # a Monday


def ragged_panel(seed: int = 0, products: int = 6, days: int = 200) -> tuple[np.ndarray, batch.Panel]:
    """Intermittent and busy products that started selling on different days (NaN before)."""
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.3, 25, products)
    values = rng.poisson(rates[:, None] * np.tile([1, 1.2, 1.1, 1.3, 1.4, 0.1, 0.5], days // 7 + 1)[:days])
    values = values.astype(float)
    starts = rng.integers(0, 60, products)
    for row, start in enumerate(starts):
        values[row, :start] = np.nan
        values[row, start] = max(values[row, start], 1.0)  # the first day is a sale
    return values, batch.Panel(values, weekday0=0)


def per_series(method, row: np.ndarray, origin: int, horizon: int) -> np.ndarray:
    history = row[:origin]
    history = history[np.isfinite(history)]
    return method.fit_values(history, next_weekday=origin % 7).predict(horizon)


@pytest.mark.parametrize(
    ("vectorised", "loop"),
    [
        (batch.moving_average(28), lambda: MovingAverage(28)),
        (batch.weekly_profile_mean(56), lambda: WeeklyProfileMean(56)),
    ],
    ids=["ma28", "weekly_ma56"],
)
def test_closed_form_methods_equal_the_per_series_loop_at_every_origin(vectorised, loop):
    values, panel = ragged_panel()

    for origin in (120, 150, 200):
        matrix = vectorised(panel, origin, 14)
        for row in range(panel.n):
            assert np.allclose(matrix[row], per_series(loop(), values[row], origin, 14))


@pytest.mark.parametrize(
    ("vectorised", "loop"),
    [(batch.croston(variant="sba"), lambda: Croston(variant="sba")), (batch.tsb(), lambda: TSB())],
    ids=["sba", "tsb"],
)
def test_intermittent_methods_equal_the_per_series_recursions_at_every_origin(vectorised, loop):
    values, panel = ragged_panel(seed=1)

    rates = vectorised(panel, [100, 170, 200])
    for origin, rate in rates.items():
        for row in range(panel.n):
            assert rate[row] == pytest.approx(per_series(loop(), values[row], origin, 1)[0], rel=1e-9)


def test_batch_holt_winters_tracks_a_weekly_season_as_closely_as_statsmodels():
    rng = np.random.default_rng(2)
    pattern = np.array([10, 12, 14, 16, 18, 0, 5], dtype=float)
    values = np.tile(pattern, 30) + rng.normal(0, 1, 210)
    panel = batch.Panel(values[None, :], weekday0=0)

    ours = batch.holt_winters()(panel, [210], 14)[210][0]
    reference = HoltWinters().fit_values(values, next_weekday=0).predict(14)

    truth = np.tile(pattern, 2)
    assert np.abs(ours - truth).mean() <= np.abs(reference - truth).mean() + 0.3
    assert np.abs(ours - truth).mean() < 1.0


def test_damped_holt_winters_follows_a_trend_and_bends_it_down():
    values = 20 + 0.5 * np.arange(140) + np.tile([2, 2, 2, 2, 2, -8, -2], 20)
    panel = batch.Panel(values[None, :], weekday0=0)

    forecast = batch.holt_winters(damped=True)(panel, [140], 28)[140][0]

    assert forecast[:7].mean() == pytest.approx(20 + 0.5 * 143, rel=0.05)
    # Damping: the fourth week grows less than the trend would carry it.
    assert forecast[21:28].mean() - forecast[:7].mean() < 0.5 * 21


def test_arima_css_recovers_a_planted_autoregression_of_the_differences():
    rng = np.random.default_rng(3)
    diffs = np.zeros(400)
    for t in range(2, 400):
        diffs[t] = 0.6 * diffs[t - 1] - 0.3 * diffs[t - 2] + rng.normal()
    values = 200 + np.cumsum(diffs)
    panel = batch.Panel(values[None, :], weekday0=0)

    forecast = batch.arima_css(5, shape_weeks=None)(panel, [400], 3)[400][0]

    step1 = 0.6 * diffs[-1] - 0.3 * diffs[-2]
    step2 = 0.6 * step1 - 0.3 * diffs[-1]
    assert forecast[0] == pytest.approx(values[-1] + step1, abs=0.25)
    assert forecast[1] == pytest.approx(values[-1] + step1 + step2, abs=0.4)


def test_every_origin_of_one_pass_equals_a_separate_fit_on_the_truncated_history():
    values, panel = ragged_panel(seed=4)

    together = batch.holt_winters(damped=True)(panel, [150, 200], 7)
    alone = batch.holt_winters(damped=True)(batch.Panel(values[:, :150], weekday0=0), [150], 7)

    assert np.allclose(together[150], alone[150])


def test_seasonal_naive_repeats_the_last_week():
    values = np.tile(np.arange(7.0), 10)[None, :]

    assert batch.seasonal_naive(7)(batch.Panel(values, 0), 70, 10)[0].tolist() == [
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        0,
        1,
        2,
    ]


def test_the_selector_records_backtest_mase_of_the_issued_forecast_and_of_the_naive_baseline():
    rng = np.random.default_rng(6)
    values = rng.poisson(np.tile([10, 12, 14, 16, 18, 0, 5], 30)).astype(float)[None, :]

    result = selection.forecast_matrix(values, next_weekday=0)[0]

    assert 0 < result.backtest_mase < result.naive_mase
    assert "arima(5,1,0)" in result.candidates


#: CPU-time budget per method for one 300-day series, every backtest origin plus the final forecast.
#: CPU seconds of this process, not wall time, so a busy machine does not fail it (a wall-clock budget
#: did). Measured on the 2-core reference machine at load ~5: at most 0.03 s for any method (Holt-Winters
#: damped, ARIMA CSS), 0.07 s for the whole selection; statsmodels took 0.14 s (Holt-Winters), 0.54 s
#: (damped) and up to seconds (ARIMA(5,1,0)) for a single fit. The budget fails a return to per-product
#: optimiser fits, not a slow machine.
BUDGET_CPU_SECONDS = 0.5


@pytest.mark.parametrize(
    "name", [*selection.CLOSED_FORM, *selection.RATES, *selection.FITTED, "selection (every candidate)"]
)
def test_every_method_fits_a_300_day_series_within_its_cpu_time_budget(name):
    rng = np.random.default_rng(7)
    values = rng.poisson(np.tile([10, 12, 14, 16, 18, 0, 5], 43)[:300]).astype(float)[None, :]
    panel = batch.Panel(values, weekday0=0)
    origins = [216, 244, 272, 300]

    def fit():
        if name in selection.CLOSED_FORM:
            return [selection.CLOSED_FORM[name](panel, o, 28) for o in origins]
        if name in selection.RATES:
            return selection.RATES[name](panel, origins)
        if name in selection.FITTED:
            return selection.FITTED[name](panel, origins, 28)
        return selection.forecast_matrix(values, next_weekday=0)

    fit()  # first call pays for imports and caches, which a run pays once
    with threadpool_limits(limits=1):  # as in a worker process; other threads' CPU would count too
        started = time.process_time()
        fit()
        assert time.process_time() - started < BUDGET_CPU_SECONDS
