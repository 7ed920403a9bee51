"""Derive the bundled demo data from the shared data sets.

    .venv/bin/python data/sample/make_sample.py ../shared/datasets

Writes, beside this script:

- ``online_retail_sample.csv.gz``: every line (sales, cancellations, guests,
  stock adjustments, duplicates) of the best-selling products between START and
  END, plus every line in that window whose stock code is not a product code
  (postage, fees, vouchers, bad-debt adjustments), in the original file order.
- ``movielens/``: ``ratings.csv`` of the most active users on the most rated
  movies, with the ``movies.csv`` and ``tags.csv`` rows of those movies.

The selection is deterministic, so running it again reproduces the same files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
START, END = pd.Timestamp("2011-03-01"), pd.Timestamp("2011-10-01")  # END is exclusive
TOP_PRODUCTS = 300
TOP_USERS, TOP_MOVIES = 150, 600
PRODUCT_CODE = r"^\d{5}[A-Z]{0,2}$"


def retail_sample(datasets: Path) -> pd.DataFrame:
    retail = pd.read_parquet(datasets / "online-retail" / "online_retail_2010-12_2011-09.parquet")
    window = retail[(retail["InvoiceDate"] >= START) & (retail["InvoiceDate"] < END)]
    code = window["StockCode"].str.strip().str.upper()
    is_sale = ~window["InvoiceNo"].str.startswith("C") & (window["Quantity"] > 0) & (window["UnitPrice"] > 0)
    units = window[is_sale & code.str.match(PRODUCT_CODE)].groupby(code)["Quantity"].sum()
    best = units.sort_values(ascending=False, kind="stable").index[:TOP_PRODUCTS]
    keep = code.isin(best) | ~code.str.match(PRODUCT_CODE)
    sample = window[keep].copy()
    sample["CustomerID"] = sample["CustomerID"].astype("Int64")
    sample["InvoiceDate"] = sample["InvoiceDate"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return sample


def movielens_sample(datasets: Path) -> dict[str, pd.DataFrame]:
    source = datasets / "ml-latest-small"
    ratings = pd.read_csv(source / "ratings.csv")
    movies = pd.read_csv(source / "movies.csv")
    tags = pd.read_csv(source / "tags.csv")
    top_movies = (
        ratings["movieId"].value_counts(sort=False).sort_index().sort_values(ascending=False, kind="stable")
    )
    top_movies = top_movies.index[:TOP_MOVIES]
    among = ratings[ratings["movieId"].isin(top_movies)]
    top_users = (
        among["userId"].value_counts(sort=False).sort_index().sort_values(ascending=False, kind="stable")
    )
    sample = among[among["userId"].isin(top_users.index[:TOP_USERS])]
    return {
        "ratings.csv": sample,
        "movies.csv": movies[movies["movieId"].isin(top_movies)],
        "tags.csv": tags[tags["movieId"].isin(top_movies)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("datasets", type=Path, help="the shared datasets folder")
    args = parser.parse_args()

    retail = retail_sample(args.datasets)
    target = HERE / "online_retail_sample.csv.gz"
    retail.to_csv(target, index=False, compression={"method": "gzip", "mtime": 0})
    print(f"{target.name}: {len(retail):,} lines, {retail['StockCode'].nunique():,} codes")

    folder = HERE / "movielens"
    folder.mkdir(exist_ok=True)
    for name, frame in movielens_sample(args.datasets).items():
        frame.to_csv(folder / name, index=False)
        print(f"movielens/{name}: {len(frame):,} rows")


if __name__ == "__main__":
    main()
