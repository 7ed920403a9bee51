"""The nightly loop at engine level: policies recomputed every R days, jittered deliveries, lost sales."""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command

from inventory import services
from inventory.forecasting.replay import ForecastPolicy, replay, rolling_replay
from tests.inventory.test_commands_and_admin import AS_OF, catalogue  # noqa: F401 - a fixture
from tests.inventory.test_services import record_sales, weekly_sales


def held(s, big_s):
    return lambda day, served: (np.asarray(s, dtype=float), np.asarray(big_s, dtype=float))


def test_a_held_policy_without_jitter_is_exactly_the_static_replay():
    rng = np.random.default_rng(0)
    demand = rng.poisson(rng.uniform(0.2, 30, (40, 1))[:, [0] * 90]).astype(float)
    demand[::7, 40:50] *= 6  # a few bulk weeks
    s = rng.uniform(0, 150, 40)
    big_s = s + rng.uniform(0, 300, 40)

    static = replay(demand, s, big_s, lead_time=7)
    rolling = rolling_replay(demand, held(s, big_s), retrain_every=0, lead_time=7)

    assert rolling.served == pytest.approx(static.served)
    assert rolling.fill_rate == pytest.approx(static.fill_rate)
    assert rolling.average_on_hand == pytest.approx(static.average_on_hand)
    assert rolling.orders == static.orders
    assert rolling.daily["on_hand"].mean() == pytest.approx(static.average_on_hand)


def test_a_retrain_every_r_days_sees_only_the_sales_made_and_orders_only_then():
    # One product, demand 5 a day; the store can serve only what it holds.
    demand = np.full((1, 9), 5.0)
    calls = []

    def policy(day, served):
        calls.append((day, served.copy()))
        return np.array([12.0]), np.array([20.0])

    result = rolling_replay(demand, policy, retrain_every=3, lead_time=2)

    # Day 0's policy, then after days 3 and 6 (window days 3 and 6 start with the new policy).
    assert [day for day, _ in calls] == [0, 3, 6]
    assert calls[1][1].shape == (1, 3)
    # Start 20: days 0-2 sell 15 (on hand 5). Review after day 2: position 5 <= 12, order 15 (arrives day 4).
    # Day 3 sells 5 (0 left); day 4 receives 15, sells 5 (10); day 5 sells 5 (5); review: order 15 (day 7).
    # Day 6 sells 5 (0); day 7 receives 15, sells 5 (10); day 8 sells 5 (5).
    assert calls[1][1].tolist() == [[5.0, 5.0, 5.0]]
    assert calls[2][1].tolist() == [[5.0, 5.0, 5.0, 5.0, 5.0, 5.0]]
    assert result.orders == 2
    assert result.served == 45 and result.fill_rate == 1.0
    # With a reorder point too low, the stock-out's lost demand is never seen as a sale.
    starved = []
    rolling_replay(
        demand,
        lambda day, served: starved.append(served.copy()) or (np.array([0.0]), np.array([8.0])),
        retrain_every=3,
        lead_time=2,
    )
    assert starved[1].tolist() == [[5.0, 3.0, 0.0]]


def test_lead_time_jitter_is_seeded_bounded_and_the_same_for_two_policies():
    rng = np.random.default_rng(1)
    demand = rng.poisson(8, (30, 60)).astype(float)
    s, big_s = np.full(30, 60.0), np.full(30, 140.0)

    a = rolling_replay(demand, held(s, big_s), retrain_every=0, lead_time=10, jitter=0.3, seed=5)
    b = rolling_replay(demand, held(s, big_s), retrain_every=0, lead_time=10, jitter=0.3, seed=5)
    c = rolling_replay(demand, held(s, big_s), retrain_every=0, lead_time=10, jitter=0.3, seed=6)
    fixed = rolling_replay(demand, held(s, big_s), retrain_every=0, lead_time=10)

    assert (a.served, a.average_on_hand, a.orders) == (b.served, b.average_on_hand, b.orders)
    assert a.served != c.served or a.average_on_hand != c.average_on_hand
    assert a.served != fixed.served
    # Deliveries take 7 to 13 days: never faster than the shortest lead time, never slower than the longest.
    early = rolling_replay(demand, held(s, big_s), retrain_every=0, lead_time=7)
    late = rolling_replay(demand, held(s, big_s), retrain_every=0, lead_time=13)
    assert late.served <= a.served <= early.served


@pytest.mark.django_db
def test_the_replays_day_zero_policy_is_the_one_reorder_policy_computes(catalogue):  # noqa: F811
    from inventory.management.commands.simulate_inventory import _history_and_window

    ids = [p.pk for p in catalogue[:2]]
    history, window = _history_and_window(ids, AS_OF, AS_OF + timedelta(days=27))
    policy = ForecastPolicy(
        history,
        next_weekday=AS_OF.weekday(),
        lead_time=7,
        service_level=0.95,
        policy_options=services.replay_policy_options(),
    )

    s, big_s = policy(0, window[:, :0])

    forecasts = services.reorder_levels_forecasts(as_of=AS_OF, lead_time_days=7, product_ids=ids)
    expected = {
        row.product_id: row
        for row in services.reorder_levels_from(
            forecasts=forecasts,
            histories=services.demand_histories(as_of=AS_OF, product_ids=ids),
            lead_time_days=7,
            service_level=0.95,
        )
    }
    assert s.tolist() == [expected[pid].reorder_point for pid in ids]
    assert big_s.tolist() == [expected[pid].order_up_to for pid in ids]


@pytest.mark.django_db
def test_simulate_inventory_retrains_every_r_days_and_holds_the_policy_at_zero(catalogue, tmp_path):  # noqa: F811
    record_sales(catalogue[0], weekly_sales(6, scale=4), start=AS_OF)
    figures = {}
    for every in (0, 7):
        out = io.StringIO()
        call_command(
            "simulate_inventory",
            "--cut", AS_OF.isoformat(),
            "--end", (AS_OF + timedelta(days=41)).isoformat(),
            "--service-levels", "0.9,0.95",
            "--retrain-every", str(every),
            "--lead-time-jitter", "0.3",
            "--json", str(tmp_path / f"r{every}.json"),
            stdout=out,
            stderr=io.StringIO(),
        )  # fmt: skip
        figures[every] = out.getvalue()
        assert "service level 0.950: fill rate" in figures[every]
    import json

    summary = json.loads((tmp_path / "r7.json").read_text())
    assert summary["retrain_every"] == 7 and len(summary["levels"]) == 2
    assert {"fill_rate_units", "avg_units_on_hand", "lost_units"} <= set(summary["levels"][0])
