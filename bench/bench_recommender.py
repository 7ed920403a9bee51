"""Recommender benchmarks on the shared data, with no database (the engine alone).

    .venv/bin/python bench/bench_recommender.py purchases \
        ../shared/datasets/online-retail/online_retail_2010-12_2011-09.parquet --cut 2011-07-01
    .venv/bin/python bench/bench_recommender.py ratings ../shared/datasets/ml-latest-small --folds 5

``purchases`` runs the DESIGN.md top-N protocol (train before the cut, test on returning
customers' products after it) for every ranker, the tuned hybrid and popularity. The sale lines
are filtered like the importer does (a customer, a 5-digit product code, positive quantity and
price, not a C invoice). ``ratings`` cross-validates the rating models with KFold(5,
random_state=0).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recommender.engine.hybrid import evaluate_protocol  # noqa: E402
from recommender.engine.ratings import RatingModel, cross_validate_ratings  # noqa: E402


def retail_purchases(path: Path) -> pd.DataFrame:
    df = pd.read_parquet(path)
    code = df["StockCode"].astype(str).str.strip().str.upper()
    keep = (
        df["CustomerID"].notna()
        & code.str.match(r"^\d{5}[A-Z]{0,2}$")
        & (df["Quantity"] > 0)
        & (df["UnitPrice"] > 0)
        & ~df["InvoiceNo"].astype(str).str.startswith("C")
    )
    df = df[keep]
    return pd.DataFrame(
        {
            "customer": df["CustomerID"].astype(int).astype(str),
            "product": code[keep],
            "order": df["InvoiceNo"].astype(str),
            "placed_at": pd.to_datetime(df["InvoiceDate"]),
        }
    )


def movielens_ratings(folder: Path) -> pd.DataFrame:
    frame = pd.read_csv(folder / "ratings.csv")
    return pd.DataFrame(
        {
            "customer": "ml-" + frame.userId.astype(str),
            "product": "ML-" + frame.movieId.astype(str),
            "stars": frame.rating.astype(float),
        }
    )


def bench_purchases(args) -> None:
    purchases = retail_purchases(args.path)
    started = time.perf_counter()
    results = evaluate_protocol(purchases, pd.Timestamp(args.cut))
    elapsed = time.perf_counter() - started
    print(
        f"cut {args.cut}: {len(purchases):,} sale lines; fit (with validation-tuned blend) + evaluation "
        f"{elapsed:.1f} s"
    )
    header = ("ranker", "all R@10", "NDCG", "HR", "cov", "new R@10", "NDCG", "HR", "cov")
    print("{:12s} {:>8s} {:>6s} {:>6s} {:>6s} | {:>8s} {:>6s} {:>6s} {:>6s}".format(*header))
    for name, by_mode in results.items():
        a, n = by_mode["all"], by_mode["new"]
        print(
            f"{name:12s} {a.recall:8.4f} {a.ndcg:6.4f} {a.hit_rate:6.4f} {a.coverage:6.4f} | "
            f"{n.recall:8.4f} {n.ndcg:6.4f} {n.hit_rate:6.4f} {n.coverage:6.4f}"
        )


def bench_ratings(args) -> None:
    ratings = movielens_ratings(args.path)
    tuned = {k: getattr(RatingModel(), k) for k in ("n_factors", "n_epochs", "lr_all", "reg_all")}
    for name, algorithm, params in [("SVD default", "svd", {}), (f"SVD tuned {tuned}", "svd", tuned)]:
        started = time.perf_counter()
        scores = cross_validate_ratings(ratings, algorithm=algorithm, params=params, folds=args.folds)
        seconds = time.perf_counter() - started
        print(f"{name}: RMSE {scores['rmse']:.4f} MAE {scores['mae']:.4f} ({seconds:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("purchases")
    p.add_argument("path", type=Path)
    p.add_argument("--cut", default="2011-07-01")
    p.set_defaults(run=bench_purchases)
    r = sub.add_parser("ratings")
    r.add_argument("path", type=Path)
    r.add_argument("--folds", type=int, default=5)
    r.set_defaults(run=bench_ratings)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
