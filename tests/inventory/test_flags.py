"""The flag rules and the reason in a few words: pure functions, no database."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

import pytest

from inventory.flags import (
    CAUSES,
    FlagInputs,
    FlagThresholds,
    above_sales_days,
    describe,
    flag_causes,
    headline,
    jump_ratio,
)

LIMITS = FlagThresholds(
    above_sales_days=400, capped_wanted_days=280, jump_ratio=2, jump_min_units=28, minimum_order_ratio=2
)
QUIET = FlagInputs(
    quantity=60,
    recent_units=56,  # one a day for 8 weeks: 60 units are 60 days of sales
    days_since_last_sale=1,
    adjustments=(),
    needed=60,
    wanted_days=60,
    minimum_order=1,
    daily_forecast=1.0,
    previous_daily_forecast=1.1,
)


def test_an_ordinary_suggestion_is_not_flagged():
    assert flag_causes(QUIET, LIMITS) == []


def test_a_quantity_far_above_recent_sales_is_flagged_past_its_threshold_only():
    assert above_sales_days(replace(QUIET, quantity=500)) == pytest.approx(500)
    assert flag_causes(replace(QUIET, quantity=401), LIMITS) == ["above_sales"]
    assert flag_causes(replace(QUIET, quantity=399), LIMITS) == []


def test_a_capped_cover_is_flagged_only_when_the_policy_wanted_far_more():
    capped = replace(QUIET, adjustments=("cover",))
    assert flag_causes(replace(capped, wanted_days=300), LIMITS) == ["cover_capped"]
    assert flag_causes(replace(capped, wanted_days=200), LIMITS) == []  # a routine trim
    assert flag_causes(replace(QUIET, wanted_days=900), LIMITS) == []  # not capped: nothing to say


def test_a_forecast_jump_either_way_needs_the_ratio_and_enough_units():
    assert jump_ratio(3.0, 1.0) == jump_ratio(1.0, 3.0) == 3.0
    assert jump_ratio(2.0, 0.0) == math.inf
    assert flag_causes(replace(QUIET, daily_forecast=3.0, previous_daily_forecast=1.0), LIMITS) == [
        "forecast_jump"
    ]
    assert flag_causes(replace(QUIET, daily_forecast=1.5, previous_daily_forecast=5.0), LIMITS) == [
        "forecast_jump"
    ]
    # Three times a tiny rate moves fewer units than the floor: noise, not a jump.
    assert flag_causes(replace(QUIET, daily_forecast=0.3, previous_daily_forecast=0.1), LIMITS) == []
    # A product without a previous forecast has nothing to jump from.
    assert flag_causes(replace(QUIET, daily_forecast=9.0, previous_daily_forecast=None), LIMITS) == []


def test_no_sales_in_eight_weeks_is_flagged_and_never_counts_as_above_sales():
    quiet = replace(QUIET, recent_units=0, days_since_last_sale=60, quantity=10)
    assert flag_causes(quiet, LIMITS) == ["no_recent_sales"]
    assert flag_causes(replace(quiet, days_since_last_sale=None), LIMITS) == ["no_recent_sales"]
    assert flag_causes(replace(QUIET, days_since_last_sale=55), LIMITS) == []


def test_a_minimum_order_is_flagged_when_it_forces_a_multiple_of_the_need():
    forced = replace(QUIET, adjustments=("minimum_order",), minimum_order=48, quantity=48, needed=10)
    assert flag_causes(forced, LIMITS) == ["minimum_order"]
    assert flag_causes(replace(forced, needed=30), LIMITS) == []  # 1.6 times: a small top-up
    assert flag_causes(replace(forced, adjustments=()), LIMITS) == []


def test_causes_come_in_a_stable_order_and_each_says_what_it_is():
    everything = replace(
        QUIET,
        quantity=5000,
        adjustments=("cover", "minimum_order"),
        wanted_days=1000,
        minimum_order=5000,
        needed=10,
        daily_forecast=5.0,
        previous_daily_forecast=1.0,
        days_since_last_sale=70,
    )
    causes = flag_causes(everything, LIMITS)
    assert causes == [code for code in CAUSES if code in causes]
    assert set(causes) == {"above_sales", "cover_capped", "forecast_jump", "no_recent_sales", "minimum_order"}
    assert all(describe(code) and describe(code) != code for code in causes)
    assert describe("a_later_cause") == "a later cause"


@pytest.mark.parametrize(
    ("available", "stockout", "adjustments", "expected"),
    [
        (0, date(2011, 10, 1), (), "out of stock"),
        (5, date(2011, 10, 4), ("cover",), "stock-out in 3 days, cover capped"),
        (5, date(2011, 10, 2), ("pack_size",), "stock-out in 1 day, packs of 12"),
        (5, date(2011, 10, 1), (), "stock-out today"),
        (5, date(2011, 10, 29), ("minimum_order", "cover"), "stock-out in 4 weeks, minimum order"),
        (40, None, ("safety_stock",), "below reorder point, buffer capped"),
    ],
)
def test_the_headline_says_the_reason_in_a_few_words(available, stockout, adjustments, expected):
    words = headline(
        available=available, stockout=stockout, as_of=date(2011, 10, 1), adjustments=adjustments, pack_size=12
    )
    assert words == expected
    assert len(words) <= 40
