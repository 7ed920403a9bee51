"""The nightly retrain refits yesterday's method choice and re-selects weekly; ARIMA estimates carry over."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from inventory import services
from inventory.forecasting import selection
from inventory.models import ProductForecast
from tests.inventory.test_services import START, record_sales, weekly_sales
from tests.shop.factories import make_product

pytestmark = pytest.mark.django_db

AS_OF = START + timedelta(days=140)


@pytest.fixture
def products():
    busy = make_product()
    rng = np.random.default_rng(2)
    drift = np.clip(30 + np.cumsum(rng.normal(0, 1, 160)), 5, None)
    record_sales(
        busy, [int(q) for q in rng.poisson(drift * np.tile([1, 1.2, 1.1, 1.3, 1.4, 0.2, 0.6], 23)[:160])]
    )
    steady = make_product()
    record_sales(steady, weekly_sales(23, scale=2))
    return busy, steady


def test_a_run_the_next_day_refits_the_previous_choice_and_a_week_later_re_selects(products, monkeypatch):
    first = services.forecast_retrain(as_of=AS_OF)
    assert first.settings["selected_on"] == AS_OF.isoformat() and first.settings["methods_from_run"] is None

    # The next night every candidate but the chosen one would be backtested again; make any other
    # choice impossible to miss: the selector would now only consider ma28.
    monkeypatch.setattr(selection, "candidate_names", lambda profile, *, expensive: ["ma28"])
    second = services.forecast_retrain(as_of=AS_OF + timedelta(days=1))
    assert second.settings["methods_from_run"] == first.pk
    assert second.settings["selected_on"] == AS_OF.isoformat()
    chosen = dict(first.forecasts.values_list("product_id", "method"))
    assert dict(second.forecasts.values_list("product_id", "method")) == chosen
    for forecast in second.forecasts.all():
        assert set(forecast.candidates) <= {
            chosen[forecast.product_id],
            *selection.COMBINATIONS.get(chosen[forecast.product_id], ()),
        }

    later = services.forecast_retrain(as_of=AS_OF + timedelta(days=7))
    assert later.settings["methods_from_run"] is None
    assert later.settings["selected_on"] == (AS_OF + timedelta(days=7)).isoformat()
    assert set(later.forecasts.values_list("method", flat=True)) <= {"ma28", "zero"}


def test_an_issued_arima_keeps_its_statsmodels_estimates_for_the_next_nights(products, monkeypatch):
    monkeypatch.setattr(selection, "candidate_names", lambda profile, *, expensive: [selection.ARIMA])
    busy, _ = products

    first = services.forecast_retrain(as_of=AS_OF)
    issued = ProductForecast.objects.get(run=first, product=busy)
    assert issued.method == selection.ARIMA and len(issued.arima_params) == 6  # 5 AR terms and the variance

    fitted = []
    original = selection.statsmodels_arima

    def spy(panel, rows, horizon, *, params=None):
        fitted.append(params)
        return original(panel, rows, horizon, params=params)

    monkeypatch.setattr(selection, "statsmodels_arima", spy)
    second = services.forecast_retrain(as_of=AS_OF + timedelta(days=1))

    refit = ProductForecast.objects.get(run=second, product=busy)
    assert refit.method == selection.ARIMA
    assert refit.arima_params == pytest.approx(issued.arima_params)
    assert any(p and any(v is not None for v in p.values()) for p in fitted)
    assert refit.values != issued.values  # one more day of data, filtered with the same estimates


def test_nightly_suggestions_cover_the_lead_time_plus_one_review_day_and_old_runs_keep_theirs(products):
    from inventory.models import ForecastRun, ProductSupply, ReorderSuggestion, Supplier
    from inventory.policy import SupplyTerms, reorder_plan

    busy, _ = products
    supplier = Supplier.objects.create(name="Acme", lead_time_days=7)
    ProductSupply.objects.create(product=busy, supplier=supplier)

    run = services.forecast_retrain(as_of=AS_OF)

    assert run.settings["review_days"] == 1
    suggestion = ReorderSuggestion.objects.get(run=run, product=busy)
    forecast = ProductForecast.objects.get(run=run, product=busy)
    history = services.demand_histories(as_of=AS_OF, product_ids=[busy.pk])[busy.pk]

    def plan(review_days):
        return reorder_plan(
            forecast=np.asarray(forecast.values),
            errors=np.asarray(forecast.lead_time_errors),
            service_level=suggestion.service_level,
            terms=SupplyTerms(7),
            history=history,
            max_safety_stock_multiple=run.settings["max_safety_stock_multiple"],
            review_days=review_days,
        )

    assert suggestion.reorder_point == pytest.approx(plan(1).reorder_point, abs=0.01)
    # A run recorded before the review period existed is recomputed as it was planned: lead time only.
    del run.settings["review_days"]
    ForecastRun.objects.filter(pk=run.pk).update(settings=run.settings)
    run.refresh_from_db()
    ((recomputed, _),) = services.reorder_plans_for(run=run, forecasts=[forecast]).values()
    assert recomputed.reorder_point == pytest.approx(plan(0).reorder_point)
    assert plan(0).reorder_point < plan(1).reorder_point


def test_a_retrain_that_reads_the_demand_once_forecasts_each_chunk_as_a_chunk_read_alone_would(products):
    late = make_product()
    record_sales(late, [0] * 60 + [5, 7, 0, 6] * 20)  # its first sale long after the others'

    run = services.forecast_retrain(as_of=AS_OF, chunk_size=1)  # three chunks, one read
    once = {f.product_id: (f.method, f.values) for f in run.forecasts.all()}
    for pid in run.product_ids:
        services.forecast_chunk(run_id=run.pk, product_ids=[pid])  # each chunk reads its own rows
    alone = {f.product_id: (f.method, f.values) for f in run.forecasts.all()}

    assert len(once) == 3
    for pid, (method, values) in alone.items():
        assert once[pid][0] == method
        assert once[pid][1] == pytest.approx(values)


def test_a_retrain_reads_the_demand_once_and_suggests_what_a_fresh_read_would(products, monkeypatch):
    from inventory import selectors
    from inventory.models import ProductSupply, Supplier

    supplier = Supplier.objects.create(name="Acme", lead_time_days=7)
    for product in products:
        ProductSupply.objects.create(product=product, supplier=supplier)
    reads = []
    original = selectors.demand_matrix
    monkeypatch.setattr(selectors, "demand_matrix", lambda **kw: reads.append(kw) or original(**kw))

    run = services.forecast_retrain(as_of=AS_OF, chunk_size=1)

    assert len(reads) == 1
    stored = {s.product_id: (s.quantity, s.reorder_point) for s in run.suggestions.all()}
    fresh = services.reorder_suggestions_for(run=run, forecasts=list(run.forecasts.all()))
    assert stored and stored == {s.product_id: (s.quantity, s.reorder_point) for s in fresh}
    assert len(reads) == 2  # the fresh computation read it again, as the admin's what-if does
