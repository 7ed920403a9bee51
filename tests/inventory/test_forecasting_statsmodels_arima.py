"""Where the backtest picks ARIMA, the issued forecast is statsmodels' fit; least squares only screens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inventory.forecasting import batch, selection
from inventory.forecasting.methods import Arima, FitFailed


def busy_series(seed: int = 3, days: int = 260) -> np.ndarray:
    """Three busy products with a weekly pattern and a drifting level: ARIMA is among their candidates."""
    rng = np.random.default_rng(seed)
    week = np.tile([1.0, 1.2, 1.1, 1.3, 1.4, 0.1, 0.6], days // 7 + 1)[:days]
    level = 30 + np.cumsum(rng.normal(0, 0.8, (3, days)), axis=1)
    return rng.poisson(np.clip(level, 5, None) * week).astype(float)


@pytest.fixture
def arima_only(monkeypatch):
    """Busy products backtest ARIMA alone, so it wins for each of them."""
    monkeypatch.setattr(selection, "candidate_names", lambda profile, *, expensive: [selection.ARIMA])


def expected_statsmodels_forecast(row: np.ndarray, next_weekday: int, horizon: int) -> np.ndarray:
    from statsmodels.tsa.arima.model import ARIMA

    trimmed = selection.winsorise(row)
    fitted = ARIMA(trimmed, order=(5, 1, 0), trend="n").fit(method="burg").forecast(horizon)
    panel = batch.Panel(trimmed[None, :], weekday0=(next_weekday - len(row)) % 7)
    profile = batch.weekday_profiles(panel, len(row), weeks=selection.ARIMA_SHAPE_WEEKS)[0]
    shape = profile[(next_weekday + np.arange(horizon)) % 7]
    return np.clip(np.clip(fitted, 0, None) * shape / shape.mean(), 0, None)


def test_the_issued_arima_forecast_is_statsmodels_fit_not_the_least_squares_screen(arima_only):
    values = busy_series()

    results = selection.forecast_matrix(values, next_weekday=0, horizon=28, shrink_window=None)

    screen = batch.arima_css(5)(
        batch.Panel(np.vstack([selection.winsorise(r) for r in values]), weekday0=(0 - values.shape[1]) % 7),
        [values.shape[1]],
        28,
    )[values.shape[1]]
    for row, result, css in zip(values, results, screen, strict=True):
        assert result.method == selection.ARIMA
        assert result.fallback_reason == ""
        assert np.allclose(result.values, expected_statsmodels_forecast(row, 0, 28), rtol=1e-6)
        assert not np.allclose(result.values, np.clip(css, 0, None), rtol=1e-3)


def test_a_failed_statsmodels_fit_keeps_the_screens_forecast_and_says_why(arima_only, monkeypatch):
    values = busy_series(seed=4)
    fitted = selection.forecast_matrix(values, next_weekday=0, horizon=28, shrink_window=None)

    def broken(self, values):
        raise FitFailed("arima(5,1,0) did not converge")

    monkeypatch.setattr(Arima, "_fit", broken)
    results = selection.forecast_matrix(values, next_weekday=0, horizon=28, shrink_window=None)

    for result, good in zip(results, fitted, strict=True):
        assert result.method == selection.ARIMA
        assert "statsmodels ARIMA failed" in result.fallback_reason
        assert "least-squares fit issued" in result.fallback_reason
        assert np.isfinite(result.values).all() and not np.allclose(result.values, good.values)


def test_the_statsmodels_fitters_match_the_seeds_sarimax_forecast():
    values = busy_series(seed=5)[0]

    seed = Arima((5, 1, 0)).fit_values(values).predict(14)
    likelihood = Arima((5, 1, 0), fitter="arima").fit_values(values).predict(14)
    burg = Arima((5, 1, 0), fitter="burg").fit_values(values).predict(14)

    assert np.allclose(seed, likelihood, rtol=1e-3, atol=1e-3)
    assert abs(burg.sum() - seed.sum()) <= 0.03 * seed.sum()


def test_importing_the_selector_does_not_import_statsmodels():
    code = (
        "import sys; import inventory.forecasting.selection, inventory.forecasting.replay; "
        "print('statsmodels' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    assert result.stdout.strip() == "False"


def test_filtering_the_last_weeks_with_known_estimates_forecasts_as_the_whole_series_does():
    from statsmodels.tsa.arima.model import ARIMA

    values = selection.winsorise(busy_series(seed=6)[0])
    fitted = ARIMA(values, order=(5, 1, 0), trend="n").fit(method="burg", cov_type="none")
    panel = batch.Panel(values[None, :], weekday0=0)

    refits, reasons = selection.statsmodels_arima(panel, np.array([0]), 28, params={0: fitted.params})

    assert reasons == {}
    forecast, params = refits[0]
    assert np.allclose(params, fitted.params)
    whole = ARIMA(values, order=(5, 1, 0), trend="n").filter(fitted.params).forecast(28)
    profile = batch.weekday_profiles(panel, len(values), weeks=selection.ARIMA_SHAPE_WEEKS)[0]
    shape = profile[(len(values) + np.arange(28)) % 7]
    assert np.allclose(forecast, np.clip(np.clip(whole, 0, None) * shape / shape.mean(), 0, None), rtol=1e-6)
