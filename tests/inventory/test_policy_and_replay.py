"""The reorder policy against hand-computed cases, and the replay against a hand-traced one (no database)."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from inventory.forecasting.replay import replay, units_for_fill_rate
from inventory.policy import (
    SupplyTerms,
    economic_order_quantity,
    inventory_position,
    lead_time_demand,
    normal_safety_stock,
    order_quantity,
    policy_safety_stock,
    projected_stockout,
    reorder_plan,
    rolling_lead_time_errors,
    round_to_supply_terms,
    safety_stock,
)


def test_inventory_position_is_on_hand_plus_on_order_minus_reserved():
    assert inventory_position(on_hand=50, on_order=30, reserved=12) == 68


def test_safety_stock_is_the_empirical_quantile_when_it_exceeds_the_normal_bound():
    # 20 errors: nineteen of 1 and one bulk week of 100. rms = sqrt((19 + 10000) / 20) = 22.38;
    # z(0.5) = 0 so the normal bound vanishes and the median error (1) is the answer.
    errors = np.r_[np.ones(19), 100.0]

    assert safety_stock(errors, 0.5) == pytest.approx(1.0)
    # At 0.975 the linear quantile sits between 1 and 100: position 0.975 * 19 = 18.525.
    assert safety_stock(errors, 0.975) == pytest.approx(1 + 0.525 * 99)


def test_safety_stock_falls_back_to_the_normal_bound_beyond_the_largest_error():
    errors = np.array([-3.0, 3.0, -3.0, 3.0])  # rms 3, largest error 3

    assert safety_stock(errors, 0.99) == pytest.approx(2.326348 * 3, rel=1e-5)


def test_safety_stock_is_never_negative_and_zero_without_errors():
    assert safety_stock(np.array([-10.0, -8.0, -9.0]), 0.4) == 0.0
    assert safety_stock(np.array([]), 0.95) == 0.0
    with pytest.raises(ValueError):
        safety_stock(np.array([1.0]), 1.0)


def test_rolling_errors_compare_each_lead_time_total_with_the_window_mean_lag_days_earlier():
    # Lead time 2, window 2, lags 0 and 1, every origin: history 1, 1, 3, 5, 0.
    history = np.array([1.0, 1.0, 3.0, 5.0, 0.0])

    errors = rolling_lead_time_errors(history, 2, days=10, window=2, lags=(0, 1))

    # Lag 0: origins t = 2, 3 (a full window before, a full lead time after).
    #   t=2: actual 3+5 = 8, mean(1, 1) * 2 = 2 -> 6;  t=3: actual 5+0 = 5, mean(1, 3) * 2 = 4 -> 1.
    # Lag 1: only t = 3: actual 5, mean of days 0-1 (1, 1) * 2 = 2 -> 3.
    assert errors.tolist() == [6.0, 1.0, 3.0]
    # ``days`` keeps only origins among the last days: the last 2 (days 3 and 4) leave t = 3.
    assert rolling_lead_time_errors(history, 2, days=2, window=2, lags=(0,)).tolist() == [1.0]
    assert len(rolling_lead_time_errors(np.zeros(30), 2)) == 0


def test_normal_safety_stock_is_z_times_the_rms_including_bias():
    errors = np.array([3.0, 4.0, 3.0, 4.0])  # rms sqrt(12.5) = 3.536: the bias counts, unlike sd 0.5

    assert normal_safety_stock(errors, 0.95) == pytest.approx(1.644854 * math.sqrt(12.5), rel=1e-5)
    assert normal_safety_stock(errors, 0.3) == 0.0  # z < 0: never negative
    assert normal_safety_stock(np.array([]), 0.95) == 0.0


def test_policy_safety_stock_uses_rolling_errors_with_enough_history_else_the_backtest():
    backtest = np.array([-5.0, 0.0, 5.0, 10.0, 20.0, 0.0, -5.0, 5.0, 10.0, 0.0])
    # 10 a day, then 20 a day for the last 60 days: the 28-day means lag behind the rise.
    history = np.r_[np.full(120, 10.0), np.full(60, 20.0)]
    rolling = rolling_lead_time_errors(history, 7)

    buffer, rule = policy_safety_stock(
        backtest_errors=backtest, service_level=0.9, lead_time_days=7, history=history
    )
    assert rule == "rolling"
    assert buffer == pytest.approx(1.281552 * math.sqrt(np.mean(rolling**2)), rel=1e-5)
    # A flat history has no rolling error at all.
    assert policy_safety_stock(
        backtest_errors=backtest, service_level=0.9, lead_time_days=7, history=np.full(180, 10.0)
    ) == (0.0, "rolling")
    # Too little history (fewer than 28 errors) or none given: the backtest rule (11, as below).
    for short in (np.full(40, 10.0), None):
        buffer, rule = policy_safety_stock(
            backtest_errors=backtest, service_level=0.9, lead_time_days=7, history=short
        )
        assert (rule, buffer) == ("backtest", pytest.approx(11.0))


def test_eoq_matches_wilsons_formula():
    # D = 3650/year, K = 20, h = 0.25 * 4 = 1 per unit-year: sqrt(2 * 3650 * 20 / 1) = 382.1
    assert economic_order_quantity(
        annual_demand=3650, ordering_cost=20, holding_cost_rate=0.25, unit_cost=4
    ) == pytest.approx(math.sqrt(146000))
    assert (
        economic_order_quantity(annual_demand=0, ordering_cost=20, holding_cost_rate=0.25, unit_cost=4) == 0
    )


def test_rounding_raises_to_the_minimum_order_then_to_whole_packs():
    assert round_to_supply_terms(7, minimum_order=50, pack_size=12) == 60
    assert round_to_supply_terms(61, minimum_order=50, pack_size=12) == 72
    assert round_to_supply_terms(72, minimum_order=1, pack_size=12) == 72
    assert round_to_supply_terms(0, minimum_order=50, pack_size=12) == 0


def test_order_quantity_uses_eoq_with_a_unit_cost_and_days_of_cover_without():
    with_cost = order_quantity(
        daily_demand=10,
        terms=SupplyTerms(7, unit_cost=4, pack_size=10),
        ordering_cost=20,
        holding_cost_rate=0.25,
    )
    without_cost = order_quantity(
        daily_demand=10, terms=SupplyTerms(7), ordering_cost=20, holding_cost_rate=0.25
    )

    assert with_cost == 390  # EOQ 382.1 rounded up to packs of 10
    assert without_cost == 140  # 14 days of cover


def test_lead_time_demand_continues_the_last_week_past_the_horizon():
    forecast = np.r_[np.full(7, 1.0), np.full(7, 2.0)]

    assert lead_time_demand(forecast, 7) == 7
    assert lead_time_demand(forecast, 21) == 21 + 14


def test_reorder_plan_orders_up_to_s_plus_q_when_the_position_reaches_s():
    forecast = np.full(28, 10.0)
    errors = np.array([-5.0, 0.0, 5.0, 10.0, 20.0, 0.0, -5.0, 5.0, 10.0, 0.0])

    plan = reorder_plan(
        forecast=forecast,
        errors=errors,
        service_level=0.9,
        terms=SupplyTerms(lead_time_days=7, minimum_order=100, pack_size=25),
        on_hand=60,
        on_order=20,
        reserved=5,
        cover_days=14,
        as_of=date(2024, 3, 1),
    )

    # Quantile 0.9 of the errors: sorted [-5,-5,0,0,0,5,5,10,10,20], position 8.1 -> 11; rms 8.37, z 1.2816.
    assert plan.safety_stock == pytest.approx(11.0)
    assert plan.reorder_point == pytest.approx(70 + 11)
    assert plan.order_quantity == 150  # 140 of cover, above the minimum 100, rounded to packs of 25
    assert plan.order_up_to == pytest.approx(81 + 150)
    assert plan.inventory_position == 75
    assert plan.suggested_quantity == 175  # S - position = 156, rounded up to packs of 25
    assert plan.stockout_date == date(2024, 3, 8)  # cumulative demand 80 > 75 on the eighth day
    assert plan.days_of_cover == pytest.approx(17.5)  # 175 units at 10 a day
    assert plan.safety_stock_multiple == pytest.approx(11 / 70)
    assert plan.reason == (
        "You have 75 units, which will last about 7 days. An order takes 7 days to arrive. "
        "We suggest 175 units, enough for 2 weeks at the forecast rate, to keep 90% of orders in stock. "
        "This product has little sales history, so the buffer comes from its forecast errors. "
        "Rounded up to whole packs of 25."
    )


def test_the_reason_counts_one_unit_and_a_stock_out_today_in_plain_words():
    plan = reorder_plan(
        forecast=np.full(28, 10.0),
        errors=np.array([-5.0, 0.0, 5.0, 10.0, 20.0, 0.0, -5.0, 5.0, 10.0, 0.0]),
        service_level=0.9,
        terms=SupplyTerms(lead_time_days=7, minimum_order=1, pack_size=1),
        on_hand=1,
        on_order=0,
        reserved=0,
        cover_days=14,
        as_of=date(2024, 3, 1),
    )

    assert plan.reason.startswith("You have 1 unit, which will run out within a day. ")


def test_caps_bound_days_of_cover_and_safety_stock_and_the_reason_says_so():
    # A cheap, slow product: EOQ asks for years of stock, and one bulk day makes a huge buffer.
    forecast = np.full(28, 0.5)
    errors = np.r_[np.zeros(30), 400.0]
    terms = SupplyTerms(lead_time_days=7, unit_cost=0.1)

    free = reorder_plan(
        forecast=forecast, errors=errors, service_level=0.95, terms=terms, as_of=date(2024, 3, 1)
    )
    capped = reorder_plan(
        forecast=forecast,
        errors=errors,
        service_level=0.95,
        terms=terms,
        max_cover_days=90,
        max_safety_stock_multiple=10,
        as_of=date(2024, 3, 1),
    )

    assert free.days_of_cover > 180 and free.safety_stock_multiple > 10
    assert capped.safety_stock == pytest.approx(10 * 3.5)
    assert capped.safety_stock_multiple == pytest.approx(10)
    assert capped.suggested_quantity == 45 and capped.days_of_cover == pytest.approx(90)
    assert set(capped.adjustments) == {"safety_stock", "cover"}
    assert "capped at 10 times the demand expected during delivery" in capped.reason
    assert "capped at 90 days of forecast demand" in capped.reason


def test_only_a_minimum_order_or_a_single_unit_takes_a_suggestion_past_the_cover_cap_and_it_says_why():
    forecast = np.full(28, 0.01)  # one unit every hundred days
    rare = reorder_plan(
        forecast=forecast, errors=np.zeros(5), service_level=0.95, terms=SupplyTerms(7), max_cover_days=90
    )
    bulk = reorder_plan(
        forecast=np.full(28, 2.0),
        errors=np.zeros(5),
        service_level=0.95,
        terms=SupplyTerms(7, minimum_order=500),
        max_cover_days=90,
    )

    assert rare.suggested_quantity == 1 and rare.days_of_cover == pytest.approx(100)
    assert "whole_unit" in rare.adjustments and "One unit is the smallest order" in rare.reason
    assert bulk.suggested_quantity == 500 and bulk.days_of_cover == pytest.approx(250)
    assert "minimum_order" in bulk.adjustments and "minimum order is 500 units" in bulk.reason


def test_a_product_above_its_reorder_point_gets_no_suggestion_and_a_reason_saying_when_to_reorder():
    plan = reorder_plan(
        forecast=np.full(28, 10.0), errors=np.zeros(5), service_level=0.95, terms=SupplyTerms(7), on_hand=500
    )

    assert plan.suggested_quantity == 0
    assert plan.reason == (
        "You have 500 units, which will last about 50 days. An order takes 7 days to arrive; "
        "reorder when you are down to 70 units."
    )


def test_reorder_plan_takes_safety_stock_from_the_history_when_given():
    # Demand steps from 10 to 20 a day 14 days before the as-of date.
    history = np.r_[np.full(166, 10.0), np.full(14, 20.0)]
    # A lead time wholly after the step sells 7 x 20 = 140; measured against a 28-day mean taken
    # 14 or more days back (all before the step, 7 x 10 = 70) its error is 70, the largest.
    errors = rolling_lead_time_errors(history, 7)
    assert errors.max() == pytest.approx(140 - 70)
    expected = 1.644854 * math.sqrt(np.mean(errors**2))

    plan = reorder_plan(
        forecast=np.full(28, 20.0),
        errors=np.zeros(10),
        service_level=0.95,
        terms=SupplyTerms(lead_time_days=7),
        cover_days=14,
        history=history,
    )

    assert plan.safety_stock == pytest.approx(expected, rel=1e-5)
    assert plan.reorder_point == pytest.approx(140 + expected, rel=1e-5)
    assert plan.order_up_to == pytest.approx(140 + expected + 280, rel=1e-5)


def test_reorder_plan_suggests_nothing_above_the_reorder_point():
    plan = reorder_plan(
        forecast=np.full(28, 1.0), errors=np.zeros(5), service_level=0.95, terms=SupplyTerms(7), on_hand=100
    )

    assert plan.suggested_quantity == 0
    assert projected_stockout(position=100, forecast=np.full(28, 1.0), as_of=date(2024, 1, 1)) is None


def test_replay_follows_a_hand_traced_day_by_day_run():
    # s = 4, S = 10, lead time 2; demand 3 a day for 6 days then a day of 20.
    demand = np.array([[3, 3, 3, 3, 3, 3, 20]], dtype=float)

    result = replay(demand, np.array([4.0]), np.array([10.0]), lead_time=2)

    # Day 1: 10->7. Day 2: 7->4, position 4 <= s: order 6 (arrives day 4). Day 3: 4->1, position 7.
    # Day 4: +6 -> 7 -> 4, position 4: order 6. Day 5: 4->1. Day 6: +6 -> 7 -> 4, order 6.
    # Day 7: 4 on hand, demand 20: serve 4, lose 16.
    assert result.served == 22
    assert result.fill_rate == pytest.approx(22 / 38)
    assert result.average_on_hand == pytest.approx((7 + 4 + 1 + 4 + 1 + 4 + 0) / 7)


def test_units_for_fill_rate_interpolates_and_reports_unreachable_targets():
    points = [(0.90, 100.0), (0.97, 170.0), (0.93, 130.0)]

    assert units_for_fill_rate(points, 0.95) == pytest.approx(150.0)
    assert units_for_fill_rate([(0.9, 1.0)], 0.95) == float("inf")


def test_rounding_to_whole_units_never_takes_a_suggestion_past_the_cover_cap():
    for daily in (0.011, 0.3, 3.355, 17.9):
        plan = reorder_plan(
            forecast=np.full(28, daily),
            errors=np.full(10, 5.0),
            service_level=0.95,
            terms=SupplyTerms(7),
            max_cover_days=120,
        )
        assert plan.suggested_quantity >= 1
        assert plan.days_of_cover <= 120 + 1e-9 or plan.adjustments == ("whole_unit",)


def test_a_nightly_review_period_adds_its_days_to_the_demand_and_errors_the_reorder_point_covers():
    forecast = np.r_[np.full(7, 10.0), np.full(21, 20.0)]
    history = np.r_[np.full(120, 10.0), np.full(60, 20.0)]  # a rise the rolling errors see

    lead_only = reorder_plan(
        forecast=forecast, errors=np.zeros(5), service_level=0.95, terms=SupplyTerms(7), history=history
    )
    nightly = reorder_plan(
        forecast=forecast,
        errors=np.zeros(5),
        service_level=0.95,
        terms=SupplyTerms(7),
        history=history,
        review_days=1,
    )

    # Seven days at 10, then the eighth day (the wait for tomorrow night's review) at 20.
    assert lead_only.lead_time_demand == 70 and nightly.lead_time_demand == 90
    expected = normal_safety_stock(rolling_lead_time_errors(history, 8), 0.95)
    assert nightly.safety_stock == pytest.approx(expected)
    assert nightly.reorder_point == pytest.approx(90 + expected)
    assert nightly.reorder_point > lead_only.reorder_point
