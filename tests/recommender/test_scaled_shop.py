"""bench/make_scaled_shop.py keeps the shop's structure while multiplying it (no database)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _module():
    spec = importlib.util.spec_from_file_location("make_scaled_shop", BENCH / "make_scaled_shop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fixture(path: Path) -> pd.DataFrame:
    """60 customers with 2-8 invoices of 1-6 lines in a year, 40 products, some guests and cancellations."""
    rng = np.random.default_rng(3)
    rows = []
    invoice = 536000
    for customer in range(12346, 12406):
        for _ in range(rng.integers(2, 9)):
            invoice += 1
            at = pd.Timestamp("2010-12-01 08:00") + pd.Timedelta(minutes=int(rng.integers(0, 300 * 24 * 60)))
            cancelled = rng.random() < 0.1
            for _ in range(rng.integers(1, 7)):
                product = int(rng.integers(0, 40))
                rows.append(
                    {
                        "InvoiceNo": f"C{invoice}" if cancelled else str(invoice),
                        "StockCode": f"{21000 + product}{'A' if product % 5 == 0 else ''}",
                        "Description": f"PRODUCT NUMBER {product}",
                        "Quantity": -1 if cancelled else int(rng.integers(1, 13)),
                        "InvoiceDate": at,
                        "UnitPrice": round(1 + product * 0.25, 2),
                        "CustomerID": float(customer),
                        "Country": "United Kingdom",
                    }
                )
    for guest in range(5):
        invoice += 1
        rows.append(
            {
                "InvoiceNo": str(invoice),
                "StockCode": "POST",
                "Description": "POSTAGE",
                "Quantity": 1,
                "InvoiceDate": pd.Timestamp("2011-03-01") + pd.Timedelta(days=guest),
                "UnitPrice": 18.0,
                "CustomerID": np.nan,
                "Country": "France",
            }
        )
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False)
    return frame


def _read(path: Path) -> pd.DataFrame:
    import fastparquet

    return fastparquet.ParquetFile(str(path)).to_pandas()


def test_factor_two_keeps_structure(tmp_path):
    source = _fixture(tmp_path / "retail.csv")
    result = _module().make_scaled_shop(
        tmp_path / "retail.csv", tmp_path / "x2", factor=2, seed=1, log=lambda m: None
    )
    scaled = _read(result["transactions"])

    assert 1.6 * len(source) <= len(scaled) <= 2.4 * len(source)
    assert scaled["CustomerID"].nunique() == 2 * source["CustomerID"].nunique()
    products = scaled.loc[scaled["StockCode"] != "POST", "StockCode"]
    assert products.nunique() == 2 * source.loc[source["StockCode"] != "POST", "StockCode"].nunique()
    assert scaled["InvoiceDate"].min() == source["InvoiceDate"].min()
    assert scaled["InvoiceDate"].max() == source["InvoiceDate"].max()
    # The original is kept as it is; every clone's invoice is a copy of one of its original's.
    pd.testing.assert_frame_equal(
        scaled.iloc[: len(source)]
        .sort_values(["InvoiceNo", "StockCode"])
        .reset_index(drop=True)[["InvoiceNo", "Quantity"]],
        source.sort_values(["InvoiceNo", "StockCode"]).reset_index(drop=True)[["InvoiceNo", "Quantity"]],
        check_dtype=False,
    )
    clones = scaled.iloc[len(source) :]
    assert clones["InvoiceNo"].str.lstrip("C").str.len().eq(7).all()
    assert set((clones["CustomerID"].dropna() - 100_000).unique()) <= set(
        source["CustomerID"].dropna().unique()
    )
    # Basket sizes: one clone's mean lines per invoice is near the original's.
    basket = source.groupby("InvoiceNo").size().mean()
    assert clones.groupby("InvoiceNo").size().mean() == pytest.approx(basket, rel=0.25)
    # Variant codes stay valid product codes; the guest postage line is cloned as it is.
    assert clones["StockCode"].str.match(r"^(\d{5}[A-Z]{0,2}|POST)$").all()
    assert (clones["StockCode"] == "POST").sum() == 5

    stock = pd.read_csv(result["stock"], dtype={"sku": str})
    categories = pd.read_csv(result["categories"], dtype={"sku": str})
    terms = pd.read_csv(result["supply_terms"], dtype={"sku": str})
    sold = scaled[(scaled["Quantity"] > 0) & (scaled["StockCode"] != "POST")]["StockCode"].unique()
    assert set(stock["sku"]) == set(categories["sku"]) == set(terms["sku"]) == set(sold)
    assert list(pd.read_csv(result["suppliers"]).columns) == ["name", "email", "lead_time_days"]


def test_same_seed_same_file(tmp_path):
    _fixture(tmp_path / "retail.csv")
    make = _module().make_scaled_shop
    first = make(tmp_path / "retail.csv", tmp_path / "a", factor=3, seed=7, log=lambda m: None)
    second = make(tmp_path / "retail.csv", tmp_path / "b", factor=3, seed=7, log=lambda m: None)
    pd.testing.assert_frame_equal(_read(first["transactions"]), _read(second["transactions"]))
