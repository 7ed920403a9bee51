"""statsforecast against the batch engine, for the choice in docs/BENCHMARKS.md (not a dependency).

statsforecast 2.1.1 needs pandas < 3, so it runs in a scratch virtualenv of its own::

    python3.11 -m venv /tmp/sf && /tmp/sf/bin/pip install statsforecast==2.1.1 numpy==2.4.6 pyarrow
    /tmp/sf/bin/python bench/bench_statsforecast.py $DATA --as-of 2011-09-03 --top 200

Fits AutoETS (weekly season), Holt-Winters (additive weekly) and ARIMA(5,1,0) on each of the top
products from its first sale, one process, and prints the time per series (first call included,
so any compilation counts) and the median MASE and APE of the 28-day total on the DESIGN.md
protocol. Needs only pandas and numpy from this project (the loader below repeats
``bench_forecast.load_events`` so that it runs without Django's pins).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

PRODUCT_CODE = r"^\d{5}[A-Za-z]{0,2}$"


def daily_matrix(path: str, end: pd.Timestamp) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    frame = frame[(frame.UnitPrice > 0) & frame.StockCode.astype(str).str.match(PRODUCT_CODE)]
    frame = frame[frame.InvoiceNo.astype(str).str.startswith("C") | (frame.Quantity > 0)]
    events = pd.DataFrame(
        {
            "product": frame.StockCode.astype(str).str.strip().str.upper(),
            "day": pd.to_datetime(frame.InvoiceDate).dt.normalize(),
            "quantity": frame.Quantity.astype(float),
        }
    )
    net = events.groupby(["product", "day"]).quantity.sum().clip(lower=0).unstack(fill_value=0)
    days = pd.date_range(events.day.min(), end, freq="D")
    return net.reindex(columns=days, fill_value=0).astype(float)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--as-of", default="2011-09-03")
    parser.add_argument("--top", type=int, default=200)
    args = parser.parse_args()
    from statsforecast.models import ARIMA, AutoETS, HoltWinters

    as_of = pd.Timestamp(args.as_of)
    matrix = daily_matrix(args.path, as_of + pd.Timedelta(days=27))
    train, test = matrix.loc[:, matrix.columns < as_of], matrix.loc[:, matrix.columns >= as_of]
    top = list(train.sum(axis=1).sort_values(ascending=False).index[: args.top])
    scale = np.abs(np.diff(train.loc[top].to_numpy(), axis=1)).mean(axis=1)
    actual = test.loc[top].to_numpy()
    models = {
        "AutoETS(season 7)": lambda: AutoETS(season_length=7),
        "HoltWinters(additive, 7)": lambda: HoltWinters(season_length=7, error_type="A"),
        "ARIMA(5,1,0)": lambda: ARIMA(order=(5, 1, 0)),
    }
    for name, factory in models.items():
        rows, failures, started = [], 0, time.perf_counter()
        for product in top:
            row = train.loc[product].to_numpy()
            history = row[int(np.argmax(row > 0)) :]
            try:
                rows.append(np.clip(factory().forecast(y=history, h=28)["mean"], 0, None))
            except Exception:  # noqa: BLE001 - a failed fit falls back, as in the engine
                failures += 1
                rows.append(np.full(28, history[-28:].mean()))
        elapsed = time.perf_counter() - started
        forecasts = np.vstack(rows)
        mase = np.median(np.abs(forecasts - actual).mean(axis=1) / np.where(scale > 0, scale, 1))
        ape = np.median(
            np.abs(forecasts.sum(axis=1) - actual.sum(axis=1)) / np.maximum(actual.sum(axis=1), 1)
        )
        print(
            f"statsforecast {name}: {1000 * elapsed / len(top):.1f} ms per series, "
            f"median MASE {mase:.3f}, median APE {ape:.3f}, {failures} failed"
        )


if __name__ == "__main__":
    main()
