"""Forecast accuracy and cost on the shared transaction file (DESIGN.md, daily demand protocol).

    .venv/bin/python bench/bench_forecast.py $DATA \
        --as-of 2011-09-03 --top 200 [--all] [--method holt_winters|arima]

($DATA is ../shared/datasets/online-retail/online_retail_2010-12_2011-09.parquet.)
Prints the median MASE and median APE of the 28-day total over the top products (most units before
the as-of date), the chosen methods, how often ARIMA won per demand class, and with ``--all`` the
wall time to forecast every product (engine only: no database). ``--method`` instead fits one
statsmodels method per series on the same products (the seed's ARIMA(5,1,0), or Holt-Winters),
with its time per series: the reference the batch engine is measured against.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inventory.forecasting.demand import daily_demand  # noqa: E402
from inventory.forecasting.selection import ARIMA, forecast_frame  # noqa: E402

PRODUCT_CODE = r"^\d{5}[A-Za-z]{0,2}$"


def load_events(path: str) -> pd.DataFrame:
    """Sale and cancellation lines of real products, as the importer keeps them."""
    frame = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
    frame = frame[(frame.UnitPrice > 0) & frame.StockCode.astype(str).str.match(PRODUCT_CODE)]
    cancelled = frame.InvoiceNo.astype(str).str.startswith("C")
    frame = frame[cancelled | (frame.Quantity > 0)]
    return pd.DataFrame(
        {
            "product": frame.StockCode.astype(str).str.strip().str.upper(),
            "day": pd.to_datetime(frame.InvoiceDate).dt.normalize(),
            "quantity": frame.Quantity.astype(float),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--as-of", default="2011-09-03")
    parser.add_argument("--top", type=int, default=200)
    parser.add_argument("--horizon", type=int, default=28)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--expensive-min-daily", type=float, default=5.0, help="Exponential smoothing and ARIMA above this"
    )
    parser.add_argument(
        "--shrink-window", type=int, default=168, help="Long-run level the forecast is shrunk to; 0: off"
    )
    parser.add_argument("--all", action="store_true", help="Also time forecasts for every product")
    parser.add_argument(
        "--method", choices=["holt_winters", "arima"], help="One statsmodels method per series instead"
    )
    args = parser.parse_args()

    as_of = pd.Timestamp(args.as_of)
    events = load_events(args.path)
    matrix = daily_demand(events, start=events.day.min(), end=as_of + pd.Timedelta(days=args.horizon - 1))
    train, test = matrix.loc[:, matrix.columns < as_of], matrix.loc[:, matrix.columns >= as_of]
    sales = events[events.day < as_of]
    sales = sales[sales.quantity > 0].groupby("product").quantity.sum()
    top = list(sales.sort_values(ascending=False).index[: args.top])

    if args.method:
        reference(args, train.loc[top], test.loc[top])
        return
    started = time.perf_counter()
    params = {
        "horizon": args.horizon,
        "expensive_min_daily": args.expensive_min_daily,
        "shrink_window": args.shrink_window or None,
    }
    results = forecast_frame(train.loc[top], workers=args.workers, **params)
    elapsed = time.perf_counter() - started
    forecasts = np.vstack([results[p].values for p in top])
    actual = test.loc[top].to_numpy()
    scale = np.abs(np.diff(train.loc[top].to_numpy(), axis=1)).mean(axis=1)
    scale[scale == 0] = 1
    mase = np.abs(forecasts - actual).mean(axis=1) / scale
    ape = np.abs(forecasts.sum(axis=1) - actual.sum(axis=1)) / np.maximum(actual.sum(axis=1), 1)
    print(
        f"top {len(top)} as of {args.as_of}: median MASE {np.median(mase):.3f}, "
        f"median APE of {args.horizon}-day total {np.median(ape):.3f}, "
        f"{1000 * elapsed / len(top):.1f} ms per product ({args.workers} workers)"
    )
    print("methods:", dict(Counter(results[p].method for p in top).most_common()))
    print("fallbacks:", sum(bool(results[p].fallback_reason) for p in top))
    print(f"median weight of the long-run level: {np.median([results[p].level_shrink for p in top]):.2f}")
    print("ARIMA fitted / won per demand class:", arima_wins(results.values()))

    if args.all:
        sold = train.index[(train.to_numpy() > 0).any(axis=1)]
        started = time.perf_counter()
        everything = forecast_frame(train.loc[sold], workers=args.workers, **params)
        elapsed = time.perf_counter() - started
        print(
            f"all {len(everything)} products: {elapsed:.1f} s with {args.workers} workers; "
            f"classes {dict(Counter(r.kind for r in everything.values()).most_common())}"
        )
        print("ARIMA fitted / won per demand class, every product:", arima_wins(everything.values()))


def arima_wins(results) -> dict[str, str]:
    fitted, won = Counter(), Counter()
    for result in results:
        if ARIMA in result.candidates:
            fitted[result.kind] += 1
            won[result.kind] += result.method == ARIMA
    return {kind: f"{won[kind]}/{fitted[kind]}" for kind in sorted(fitted)}


def score(forecasts: np.ndarray, train: pd.DataFrame, test: pd.DataFrame) -> tuple[float, float]:
    actual = test.to_numpy()
    scale = np.abs(np.diff(train.to_numpy(), axis=1)).mean(axis=1)
    scale[scale == 0] = 1
    mase = np.abs(forecasts - actual).mean(axis=1) / scale
    ape = np.abs(forecasts.sum(axis=1) - actual.sum(axis=1)) / np.maximum(actual.sum(axis=1), 1)
    return float(np.median(mase)), float(np.median(ape))


def reference(args, train: pd.DataFrame, test: pd.DataFrame) -> None:
    """One statsmodels fit per series from its first sale (failures: the 28-day mean)."""
    from inventory.forecasting.methods import Arima, FitFailed, HoltWinters

    rows, failures, started = [], 0, time.perf_counter()
    for _, row in train.iterrows():
        history = row.iloc[int(np.argmax(row.to_numpy() > 0)) :]
        method = Arima(order=(5, 1, 0)) if args.method == "arima" else HoltWinters()
        try:
            rows.append(method.fit(history).predict(args.horizon))
        except (FitFailed, ValueError, np.linalg.LinAlgError):
            failures += 1
            rows.append(np.full(args.horizon, history.iloc[-28:].mean()))
    elapsed = time.perf_counter() - started
    mase, ape = score(np.vstack(rows), train, test)
    print(
        f"statsmodels {method.name}, top {len(train)} as of {args.as_of}: median MASE {mase:.3f}, "
        f"median APE {ape:.3f}, {1000 * elapsed / len(train):.1f} ms per series, {failures} failed fits"
    )


if __name__ == "__main__":
    main()
