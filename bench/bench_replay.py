"""The inventory replay of DESIGN.md on the shared transaction file, straight from the engine.

    .venv/bin/python bench/bench_replay.py $DATA \
        --cut 2011-07-01 --end 2011-09-30 --products 300 --lead-time 7 --workers 2

($DATA is ../shared/datasets/online-retail/online_retail_2010-12_2011-09.parquet.)
Sets s and S per product from data before the cut (forecast + safety stock from rolling
lead-time errors of each product's history, or with ``--safety-stock backtest`` from the
forecaster's backtest errors alone, the earlier policy), replays the real demand after it
and prints fill rate and units on hand per service level, and the units needed for a 95%
fill rate (interpolated).

Choosing the policy's caps (on validation cuts only, e.g. ``--cut 2011-03-01 --end 2011-05-31``):
``--max-safety-stock-multiple`` caps safety stock at a multiple of lead-time demand, and with
``--eoq`` the order quantity is EOQ (unit cost 60% of the product's median price, as the demo
sets it; ordering cost 20, holding rate 0.25 a year) capped at ``--max-cover-days`` of forecast
demand, and the replay also reports orders placed and holding + ordering cost at 95% fill.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_forecast import load_events  # noqa: E402

from inventory.forecasting.demand import daily_demand  # noqa: E402
from inventory.forecasting.replay import replay, units_for_fill_rate  # noqa: E402
from inventory.forecasting.selection import forecast_frame  # noqa: E402
from inventory.policy import SupplyTerms, reorder_plan  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--cut", default="2011-07-01")
    parser.add_argument("--end", default="2011-09-30")
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--lead-time", type=int, default=7)
    parser.add_argument("--cover-days", type=int, default=14)
    parser.add_argument("--service-levels", default="0.8,0.9,0.95,0.98,0.99")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--safety-stock", choices=["rolling", "backtest"], default="rolling")
    parser.add_argument("--max-safety-stock-multiple", type=float, default=None)
    parser.add_argument("--max-cover-days", type=float, default=None)
    parser.add_argument("--eoq", action="store_true", help="EOQ order quantities from 60%% of the price")
    args = parser.parse_args()

    cut, end = pd.Timestamp(args.cut), pd.Timestamp(args.end)
    events = load_events(args.path)
    matrix = daily_demand(events, start=events.day.min(), end=end)
    sales = events[(events.day < cut) & (events.quantity > 0)].groupby("product").quantity.sum()
    top = list(sales.sort_values(ascending=False).index[: args.products])
    history = matrix.loc[top, matrix.columns < cut]
    future = matrix.loc[top, matrix.columns >= cut].to_numpy()

    frame = pd.read_parquet(args.path) if args.path.endswith(".parquet") else pd.read_csv(args.path)
    frame["product"] = frame.StockCode.astype(str).str.strip().str.upper()
    prices = frame[frame.UnitPrice > 0].groupby("product").UnitPrice.median()
    unit_cost = 0.6 * prices.reindex(top).fillna(prices.median()).to_numpy()
    days = (end - cut).days + 1

    started = time.perf_counter()
    results = forecast_frame(history, workers=args.workers, lead_time=args.lead_time)
    print(f"forecasts for {len(top)} products in {time.perf_counter() - started:.1f} s")
    points, costs = [], []
    for level in (float(v) for v in args.service_levels.split(",")):
        plans = [
            reorder_plan(
                forecast=results[p].values,
                errors=results[p].lead_time_errors,
                service_level=level,
                terms=SupplyTerms(lead_time_days=args.lead_time, unit_cost=cost if args.eoq else 0.0),
                cover_days=args.cover_days,
                max_cover_days=args.max_cover_days,
                max_safety_stock_multiple=args.max_safety_stock_multiple,
                history=history.loc[p].to_numpy() if args.safety_stock == "rolling" else None,
            )
            for p, cost in zip(top, unit_cost, strict=True)
        ]
        outcome = replay(
            future,
            np.array([p.reorder_point for p in plans]),
            np.array([p.order_up_to for p in plans]),
            args.lead_time,
            unit_cost=unit_cost,
        )
        points.append((outcome.fill_rate, outcome.average_on_hand))
        cost = 0.25 * outcome.average_value_on_hand * days / 365 + 20.0 * outcome.orders
        costs.append((outcome.fill_rate, cost))
        fill, units = outcome.fill_rate, outcome.average_on_hand
        print(
            f"service level {level}: fill rate {fill:.4f}, units on hand {units:,.0f}, "
            f"orders {outcome.orders:,}, holding + ordering cost {cost:,.0f}"
        )
    needed = units_for_fill_rate(points)
    print("units on hand for a 95% fill rate:", "never reached" if np.isinf(needed) else f"{needed:,.0f}")
    needed = units_for_fill_rate(costs)
    print("cost for a 95% fill rate:", "never reached" if np.isinf(needed) else f"{needed:,.0f}")


if __name__ == "__main__":
    main()
