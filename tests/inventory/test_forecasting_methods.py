"""Forecasting methods and selection on synthetic series whose right answer is known (no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from inventory.forecasting import selection
from inventory.forecasting.demand import daily_demand
from inventory.forecasting.methods import (
    TSB,
    Arima,
    Croston,
    FitFailed,
    HoltWinters,
    MovingAverage,
    NotFittedError,
    WeeklyProfileMean,
)
from inventory.forecasting.selection import (
    MethodSelector,
    classify,
    forecast_frame,
    shrink_total,
    winsorise,
)

START = pd.Timestamp("2024-01-01")  # a Monday


def series(values) -> pd.Series:
    return pd.Series(
        np.asarray(values, dtype=float), index=pd.date_range(START, periods=len(values), freq="D")
    )


def weekly_pattern(weeks: int, pattern=(10, 12, 14, 16, 18, 0, 5)) -> pd.Series:
    return series(np.tile(pattern, weeks))


@pytest.mark.parametrize(
    "method",
    [
        MovingAverage(28),
        WeeklyProfileMean(28),
        Croston(),
        Croston(variant="sba"),
        TSB(),
        HoltWinters(),
        Arima((1, 0, 0)),
    ],
    ids=lambda m: m.name,
)
def test_every_method_forecasts_a_nearly_constant_series_as_that_constant(method):
    # A little noise: statsmodels' optimisers do not converge on an exactly flat series.
    noise = np.random.default_rng(0).normal(0, 0.05, 84)

    forecast = method.fit(series(6.0 + noise)).predict(14)

    assert forecast.shape == (14,)
    tolerance = 0.6 if isinstance(method, Croston) and method.variant == "sba" else 0.15
    assert np.allclose(forecast, 6.0, atol=tolerance)


def test_sba_shrinks_croston_by_half_alpha_for_its_bias():
    values = series(np.tile([0, 0, 9, 0], 30))

    croston = Croston(alpha=0.2).fit(values).predict(1)[0]
    sba = Croston(alpha=0.2, variant="sba").fit(values).predict(1)[0]

    assert croston == pytest.approx(9 / 4, rel=1e-2)
    assert sba == pytest.approx(0.9 * croston, rel=1e-6)


def test_tsb_decays_towards_zero_when_an_intermittent_product_stops_selling():
    selling = np.tile([0, 0, 8, 0], 20)
    stopped = np.concatenate([selling, np.zeros(40)])

    assert TSB().fit(series(stopped)).predict(1)[0] < 0.3 * TSB().fit(series(selling)).predict(1)[0]
    # Croston only updates on sales, so it keeps forecasting the old rate: the reason TSB exists.
    assert Croston().fit(series(stopped)).predict(1)[0] == pytest.approx(2.0, rel=0.05)


def test_weekly_methods_reproduce_a_clean_weekly_season_starting_on_the_right_weekday():
    history = weekly_pattern(16)
    expected = np.tile([10, 12, 14, 16, 18, 0, 5], 2)

    for method in (HoltWinters(), WeeklyProfileMean(28, profile_weeks=16)):
        forecast = method.fit(history).predict(14)
        assert np.allclose(forecast, expected, atol=1.5), method.name

    # History ending on a Wednesday: the forecast must start on Thursday (16).
    shifted = method.fit(history.iloc[:-4]).predict(3)
    assert np.allclose(shifted, [16, 18, 0], atol=1.5)


def test_trend_methods_extrapolate_a_linear_trend_that_flat_methods_miss():
    trend = series(np.arange(120) * 0.5 + 10)

    holt = HoltWinters(trend="add", damped_trend=False).fit(trend).predict(7)
    arima = Arima((0, 1, 0)).fit(trend).predict(7)
    flat = MovingAverage(28).fit(trend).predict(7)

    assert holt[-1] == pytest.approx(10 + 0.5 * 126, abs=2)
    assert arima[0] == pytest.approx(trend.iloc[-1], abs=1)
    assert flat[-1] < holt[-1] - 10


def test_predicting_before_fitting_raises():
    for method in (MovingAverage(), HoltWinters()):
        with pytest.raises(NotFittedError):
            method.predict(7)
    with pytest.raises(NotFittedError):
        MethodSelector().predict(7)


def test_methods_reject_too_short_history_with_a_reason():
    with pytest.raises(FitFailed, match="at least 21 days"):
        HoltWinters().fit(series(np.ones(10)))


def test_forecasts_are_never_negative_even_when_a_trend_points_down():
    falling = series(np.maximum(0, 60 - np.arange(60)))

    assert (HoltWinters(trend="add").fit(falling).predict(28) >= 0).all()


def test_winsorise_caps_a_one_off_bulk_day_but_keeps_ordinary_days():
    values = np.r_[np.tile([5.0, 6, 4, 5, 7], 10), 500.0]

    capped = winsorise(values, multiple=8)

    assert capped[-1] == pytest.approx(8 * 5)
    assert np.array_equal(capped[:-1], values[:-1])


def test_classify_distinguishes_smooth_intermittent_new_and_dormant_products():
    rng = np.random.default_rng(1)
    smooth = rng.poisson(20, 200).astype(float)
    intermittent = np.where(np.arange(200) % 5 == 0, 4.0, 0.0)
    new = np.r_[np.zeros(180), np.full(20, 3.0)]
    dormant = np.r_[np.full(100, 3.0), np.zeros(100)]

    assert classify(smooth).kind == "smooth"
    assert classify(intermittent).kind == "intermittent"
    assert classify(new).kind == "new"
    assert classify(dormant).kind == "dormant"


def test_selection_picks_the_trend_method_on_a_planted_growing_series():
    rng = np.random.default_rng(2)
    days = np.arange(210)
    history = series(20 + 0.4 * days + np.tile([3, 3, 3, 3, 3, -15, 0], 30) + rng.normal(0, 1, 210))

    result = MethodSelector(horizon=28, lead_time=7).fit(history).result_

    # Flat means lag a growing series by half their window; only the trend models keep up.
    assert result.method in {"holt_winters_damped", "arima(5,1,0)"}
    assert result.candidates["ma28"] > 3 * result.backtest_error
    assert result.backtest_error == min(result.candidates.values())
    assert result.values[:7].sum() == pytest.approx(7 * (20 + 0.4 * 213), rel=0.1)


def test_fit_values_on_a_bare_array_matches_fit_on_a_dated_series():
    values = np.tile([5.0, 9, 7, 8, 6, 0, 2], 20) + np.arange(140) / 20
    dated = series(values)  # the day after the last one is a Monday, like START
    bare = WeeklyProfileMean(56).fit_values(values, next_weekday=0)

    assert np.allclose(bare.predict(14), WeeklyProfileMean(56).fit(dated).predict(14))
    with pytest.raises(FitFailed):
        HoltWinters().fit_values(values[:10])


def test_shrink_total_blends_the_two_totals_geometrically():
    forecast, anchor = np.full(28, 3.0), np.full(28, 12.0)  # totals 84 and 336

    assert np.allclose(shrink_total(forecast, anchor, 0.0), forecast)
    assert shrink_total(forecast, anchor, 1.0).sum() == pytest.approx(337 * 84 / 85)
    half = shrink_total(forecast, anchor, 0.5)
    assert half.sum() == pytest.approx(84 * np.sqrt(337 / 85))
    assert np.allclose(half / forecast, half[0] / forecast[0])  # the daily shape is kept
    assert np.allclose(shrink_total(np.zeros(28), anchor, 0.5), 0.0)


def test_a_clean_trend_keeps_its_forecast_while_a_recent_jump_is_pulled_towards_the_long_run_level():
    rng = np.random.default_rng(2)
    days = np.arange(210)
    trend = series(20 + 0.4 * days + np.tile([3, 3, 3, 3, 3, -15, 0], 30) + rng.normal(0, 1, 210))
    # 180 days around 20 a day, then a month at 32: the kind of swing that mostly reverted in the shop's data.
    jump = series(np.r_[rng.poisson(20, 182), rng.poisson(32, 28)])

    trended = MethodSelector().fit(trend).result_
    jumped = MethodSelector().fit(jump).result_
    unshrunk = MethodSelector(shrink_window=None).fit(jump).result_

    assert trended.level_shrink < 0.2
    assert 0.3 < jumped.level_shrink < 0.7
    assert unshrunk.level_shrink == 0.0
    assert unshrunk.method == jumped.method
    long_run = WeeklyProfileMean(168).fit(jump).predict(28).sum()
    assert long_run < jumped.values.sum() < unshrunk.values.sum()


def test_selection_picks_an_intermittent_method_for_an_intermittent_series_and_reports_lead_time_errors():
    history = series(np.where(np.arange(200) % 4 == 0, 8.0, 0.0))

    result = MethodSelector(horizon=28, lead_time=7).fit(history).result_

    assert result.kind == "intermittent"
    assert set(result.candidates) >= {"sba", "tsb"}
    assert result.values.sum() == pytest.approx(56, rel=0.2)
    # 3 origins x (28 - 7 + 1) lead-time windows, in units of the 7-day total.
    assert len(result.lead_time_errors) == 66
    assert np.abs(result.lead_time_errors).max() <= 16 + 1e-6


def test_selection_uses_the_expensive_methods_only_where_the_volume_is():
    rng = np.random.default_rng(3)
    busy = series(rng.poisson(40, 200))
    quiet = series(rng.poisson(2, 200))

    assert "holt_winters" in MethodSelector(expensive_min_daily=10).fit(busy).result_.candidates
    assert "holt_winters" not in MethodSelector(expensive_min_daily=10).fit(quiet).result_.candidates


def test_short_history_falls_back_to_a_moving_average_and_says_why():
    history = series(np.r_[np.zeros(100), np.full(30, 4.0)])

    result = MethodSelector().fit(history).result_

    assert result.method == "ma28"
    assert "too short" in result.fallback_reason
    assert np.allclose(result.values, 4.0)


def test_a_candidate_that_fails_is_dropped_with_its_reason(monkeypatch):
    def broken(panel, origins, horizon):
        return {origin: np.full((panel.n, horizon), np.nan) for origin in origins}

    monkeypatch.setitem(selection.FITTED, "holt_winters", broken)
    rng = np.random.default_rng(4)

    result = MethodSelector().fit(series(rng.poisson(30, 200))).result_

    assert not result.method.startswith("holt_winters")
    assert "holt_winters" not in result.candidates
    assert "holt_winters: non-finite forecast" in result.fallback_reason


def test_forecast_frame_never_raises_even_when_selection_itself_breaks(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selection, "forecast_matrix", explode)
    matrix = pd.DataFrame([np.full(60, 3.0)], index=["A"], columns=pd.date_range(START, periods=60))

    result = forecast_frame(matrix, horizon=10)["A"]

    assert result.method == "ma28"
    assert "boom" in result.fallback_reason
    assert np.allclose(result.values, 3.0)


def test_forecast_frame_gives_the_same_answer_with_two_processes():
    rng = np.random.default_rng(5)
    matrix = pd.DataFrame(
        rng.poisson(3, (6, 150)).astype(float), columns=pd.date_range(START, periods=150, freq="D")
    )

    serial = forecast_frame(matrix, chunk_size=2)
    parallel = forecast_frame(matrix, chunk_size=2, workers=2)

    assert serial.keys() == parallel.keys()
    for key in serial:
        assert np.allclose(serial[key].values, parallel[key].values)


def test_daily_demand_nets_cancellations_floors_at_zero_and_fills_missing_days():
    events = pd.DataFrame(
        {
            "product": ["A", "A", "A", "B"],
            "day": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-03", "2024-01-02"]),
            "quantity": [10.0, -4.0, -5.0, 2.0],
        }
    )

    matrix = daily_demand(events)

    assert matrix.loc["A"].tolist() == [6.0, 0.0, 0.0]
    assert matrix.loc["B"].tolist() == [0.0, 2.0, 0.0]


def test_selection_module_exposes_combinations_only_of_known_candidates():
    names = set()
    for kind in ("smooth", "intermittent"):
        for expensive in (True, False):
            profile = selection.DemandProfile(200, 50.0, 1.0, 0.1, kind)
            names |= set(selection.candidate_names(profile, expensive=expensive))
    for members in selection.COMBINATIONS.values():
        assert set(members) <= names
    assert names <= set(selection.CLOSED_FORM) | set(selection.RATES) | set(selection.FITTED)
