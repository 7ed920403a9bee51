"""Write a shop K times the size of the shared UCI Online Retail file, with the same structure.

    .venv/bin/python bench/make_scaled_shop.py --factor 10 --seed 1 --output /work/scaled/x10

Writes, under ``--output``:

- ``online_retail_x{K}.parquet``: the original lines, then K-1 clones of every customer. Clone j
  of customer c gets the id ``c + j * 100000`` and as many invoices as c had, drawn with
  replacement from c's invoices (sales and cancellations alike), each with a new number
  (``C`` kept) and its original date, so dates, seasonality and basket sizes are kept.
  Guest invoices are copied once per clone. Products are cloned into K variant families:
  variant 0 is the original; variant v gets its own code (a free 5-digit base, the original's
  letter suffix), a name with a seeded extra word (some of which move it to another category),
  and its prices times a seeded factor (lognormal, sigma 0.15). A clone's line names its "home"
  variant (j mod K) three times in five, any variant otherwise, so distinct products grow Kx
  and co-purchases still link the families. Rows the import rejects (non-product codes, bad
  invoices) are cloned as they are, so the reject mix stays the same.
- ``stock.csv``, ``suppliers.csv``, ``supply_terms.csv``, ``categories.csv``: as
  ``bench/make_shop_files.py`` writes them (the columns of ``import_stock``,
  ``import_suppliers``, ``import_supply_terms`` and ``import_categories``), for every variant sold.

Streams: one clone at a time is built, written as a Parquet row group and reduced to a per-product
summary for the side files; memory stays near one clone's size whatever K is. Seeded: the same
``--factor``, ``--seed`` and input give the same files. No Django import.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_shop_files import NON_PRODUCT_CODES, PRODUCT_CODE, RECENT_DAYS, write_shop_files  # noqa: E402

SHARED = Path("/work/shared/datasets/online-retail/online_retail_2010-12_2011-09.parquet")
COLUMNS = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]
CUSTOMER_STRIDE = 100_000  # UCI customer ids are below 20,000
FIRST_INVOICE = 1_000_000  # clones' invoices are 7 digits, after the original 6-digit ones
HOME_SHARE = 0.6
PRICE_SIGMA = 0.15
# A variant's extra word; a few (GARDEN, KIDS, KITCHEN...) move it to another category by the rules.
VARIANT_WORDS = [
    "LARGE", "SMALL", "MINI", "JUMBO", "VINTAGE", "RETRO", "BLUE", "PINK", "RED", "GREEN", "IVORY", "BLACK",
    "SILVER", "GOLD", "SPOTTY", "STRIPED", "FLORAL", "PAISLEY", "RUSTIC", "DELUXE", "SET OF 2", "SET OF 3",
    "GARDEN", "KIDS", "KITCHEN", "PARTY", "CHRISTMAS", "HEART", "BIRD", "CANDLE",
]  # fmt: skip


def read_input(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    if name.endswith(".parquet"):
        import fastparquet

        frame = fastparquet.ParquetFile(str(path)).to_pandas(columns=COLUMNS)
    elif name.endswith(".xlsx"):
        frame = pd.read_excel(path, usecols=COLUMNS)
    else:
        frame = pd.read_csv(
            path, usecols=COLUMNS, dtype={"InvoiceNo": str, "StockCode": str, "Description": str}
        )
    frame["InvoiceNo"] = frame["InvoiceNo"].astype(str)
    frame["StockCode"] = frame["StockCode"].astype(str)
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"], format="mixed")
    frame["CustomerID"] = pd.to_numeric(frame["CustomerID"], errors="coerce")
    return frame.reset_index(drop=True)


def variant_codes(codes: np.ndarray, factor: int, rng: np.random.Generator) -> np.ndarray:
    """``[variant, code]`` -> the variant's product code. Product codes get a free 5-digit base per
    (base, variant), keeping the letter suffix; anything else keeps its code (the import rejects it)."""
    upper = np.array([code.strip().upper() for code in codes], dtype=object)
    is_product = np.array([bool(PRODUCT_CODE.match(c)) and c not in NON_PRODUCT_CODES for c in upper])
    bases = sorted({c[:5] for c in upper[is_product]})
    free = np.setdiff1d(np.arange(10_000, 100_000), np.array([int(b) for b in bases], dtype=np.int64))
    needed = len(bases) * (factor - 1)
    if needed > len(free):
        raise SystemExit(
            f"--factor {factor} needs {needed:,} product-code bases; only {len(free):,} are free"
        )
    free = rng.permutation(free)[:needed]
    table = np.empty((factor, len(codes)), dtype=object)
    table[0] = codes
    base_index = {base: i for i, base in enumerate(bases)}
    for v in range(1, factor):
        for i, code in enumerate(upper):
            if is_product[i]:
                new_base = free[(v - 1) * len(bases) + base_index[code[:5]]]
                table[v, i] = f"{new_base:05d}{code[5:]}"
            else:
                table[v, i] = codes[i]
    return table


def variant_names(descriptions: np.ndarray, factor: int, rng: np.random.Generator) -> np.ndarray:
    """``[variant, description]`` -> the variant's description: the original plus a seeded word."""
    table = np.empty((factor, len(descriptions)), dtype=object)
    table[0] = descriptions
    words = np.array(VARIANT_WORDS, dtype=object)
    for v in range(1, factor):
        picks = words[rng.integers(0, len(words), len(descriptions))]
        table[v] = [
            None if d is None else (f"{w} {d}" if k % 2 else f"{d} {w}")[:255]
            for k, (d, w) in enumerate(zip(descriptions, picks, strict=True))
        ]
    return table


class Summary:
    """Per-product summary of sale lines, the input of ``write_shop_files``, accumulated chunk by chunk."""

    def __init__(self, end: pd.Timestamp):
        self.end = end
        self.names: list[pd.DataFrame] = []
        self.latest: list[pd.DataFrame] = []
        self.recent: list[pd.Series] = []

    def add(self, chunk: pd.DataFrame) -> None:
        sku = chunk["StockCode"].astype(str).str.strip().str.upper()
        is_product = sku.str.match(PRODUCT_CODE.pattern) & ~sku.isin(NON_PRODUCT_CODES)
        sale = (
            is_product
            & ~chunk["InvoiceNo"].str.upper().str.startswith("C")
            & (chunk["Quantity"] > 0)
            & (chunk["UnitPrice"] > 0)
        )
        data = pd.DataFrame(
            {
                "sku": sku[sale],
                "description": chunk["Description"][sale].fillna("").astype(str).str.strip(),
                "quantity": chunk["Quantity"][sale],
                "price": chunk["UnitPrice"][sale],
                "at": chunk["InvoiceDate"][sale],
            }
        )
        named = data[data["description"] != ""]
        self.names.append(named.groupby(["sku", "description"]).size().rename("n").reset_index())
        self.latest.append(
            data.sort_values("at", kind="stable").groupby("sku").tail(1)[["sku", "at", "price"]]
        )
        recent = data[data["at"] > self.end - pd.Timedelta(days=RECENT_DAYS)]
        self.recent.append(recent.groupby("sku")["quantity"].sum())

    def products(self) -> pd.DataFrame:
        names = pd.concat(self.names).groupby(["sku", "description"])["n"].sum().reset_index()
        names = names.sort_values(["sku", "n", "description"], ascending=[True, False, True]).drop_duplicates(
            "sku"
        )
        latest = pd.concat(self.latest).sort_values("at", kind="stable").groupby("sku")["price"].last()
        daily = pd.concat(self.recent).groupby(level=0).sum() / RECENT_DAYS
        skus = pd.Index(sorted(latest.index), name="sku")
        return pd.DataFrame(
            {
                "sku": skus,
                "name": names.set_index("sku")["description"].reindex(skus).fillna("").to_numpy(),
                "price": latest.reindex(skus).round(2).to_numpy(),
                "daily_units": daily.reindex(skus).fillna(0.0).to_numpy(),
            }
        )


def _append(path: Path, chunk: pd.DataFrame) -> None:
    """One clone as one more row group: fastparquet (the import's reader) appends without rereading."""
    import fastparquet

    chunk = chunk.astype({"InvoiceNo": object, "StockCode": object, "Description": object, "Country": object})
    fastparquet.write(str(path), chunk, append=path.exists(), compression="SNAPPY", stats=False)


def make_scaled_shop(source: Path, out: Path, *, factor: int, seed: int, log=print) -> dict[str, Path | int]:
    if factor < 1:
        raise SystemExit("--factor must be at least 1")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    frame = read_input(source)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"online_retail_x{factor}.parquet"

    # Invoices grouped by "owner": the customer, or the invoice itself for guests.
    frame = frame.sort_values(["InvoiceNo"], kind="stable").reset_index(drop=True)
    codes, code_of = np.unique(frame["StockCode"].to_numpy(dtype=str), return_inverse=True)
    missing = "\x00"  # stands for a blank description, which stays blank in every variant
    texts, description_of = np.unique(
        frame["Description"].fillna(missing).to_numpy(dtype=str), return_inverse=True
    )
    descriptions = np.array([None if t == missing else t for t in texts], dtype=object)
    code_table = variant_codes(codes.astype(object), factor, rng)
    name_table = variant_names(descriptions, factor, rng)
    price_table = np.exp(rng.normal(0.0, PRICE_SIGMA, (factor, len(codes))))
    price_table[0] = 1.0

    invoices, first_row, rows_per_invoice = np.unique(
        frame["InvoiceNo"].to_numpy(dtype=str), return_index=True, return_counts=True
    )
    invoice_customer = frame["CustomerID"].to_numpy()[first_row]
    owner = np.where(np.isnan(invoice_customer), -1.0 - np.arange(len(invoices)), invoice_customer)
    owners, owner_of = np.unique(owner, return_inverse=True)
    by_owner = np.argsort(owner_of, kind="stable")
    owner_start = np.r_[0, np.cumsum(np.bincount(owner_of, minlength=len(owners)))[:-1]]
    owner_count = np.bincount(owner_of, minlength=len(owners))
    prefix = np.array(
        [
            inv[: len(inv) - len(inv.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))]
            for inv in invoices
        ],
        dtype=object,
    )

    end = frame["InvoiceDate"].max()
    summary = Summary(end)
    written = 0
    next_invoice = FIRST_INVOICE
    path.unlink(missing_ok=True)
    original = frame[COLUMNS]
    _append(path, original)
    summary.add(original)
    written += len(original)
    for j in range(1, factor):
        # Each invoice slot of each owner draws one of that owner's invoices.
        drawn_slot = owner_start[owner_of] + np.floor(
            rng.random(len(invoices)) * owner_count[owner_of]
        ).astype(np.int64)
        drawn = by_owner[drawn_slot]
        lengths = rows_per_invoice[drawn]
        rows = np.repeat(first_row[drawn] - np.r_[0, np.cumsum(lengths)[:-1]], lengths) + np.arange(
            int(lengths.sum())
        )
        numbers = np.arange(next_invoice, next_invoice + len(drawn))
        next_invoice += len(drawn)
        if next_invoice > 9_999_999:
            raise SystemExit("too many invoices for 7-digit numbers; use a smaller --factor")
        invoice_no = (prefix[drawn] + numbers.astype(str).astype(object)).astype(object)
        variant = np.where(rng.random(len(rows)) < HOME_SHARE, j % factor, rng.integers(0, factor, len(rows)))
        code_index, description_index = code_of[rows], description_of[rows]
        customer = frame["CustomerID"].to_numpy()[rows]
        chunk = pd.DataFrame(
            {
                "InvoiceNo": np.repeat(invoice_no, lengths),
                "StockCode": code_table[variant, code_index],
                "Description": name_table[variant, description_index],
                "Quantity": frame["Quantity"].to_numpy()[rows],
                "InvoiceDate": frame["InvoiceDate"].to_numpy()[rows],
                "UnitPrice": np.maximum(
                    np.round(frame["UnitPrice"].to_numpy()[rows] * price_table[variant, code_index], 2),
                    np.minimum(frame["UnitPrice"].to_numpy()[rows], 0.01),
                ),
                "CustomerID": customer + j * CUSTOMER_STRIDE,
                "Country": frame["Country"].to_numpy()[rows],
            }
        )
        _append(path, chunk)
        summary.add(chunk)
        written += len(chunk)
        log(
            f"clone {j}/{factor - 1}: {len(chunk):,} rows "
            f"({written:,} so far, {time.perf_counter() - started:.0f} s)"
        )
    side = write_shop_files(summary.products(), out, seed=seed)
    return {"transactions": path, "rows": written, **side}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factor", type=int, required=True, help="K: how many times the input's customers")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=Path("var/scaled"), help="folder for the files")
    parser.add_argument(
        "--input", type=Path, default=SHARED, help="a UCI Online Retail file (default: the shared one)"
    )
    args = parser.parse_args(argv)
    result = make_scaled_shop(
        args.input, args.output, factor=args.factor, seed=args.seed, log=lambda m: print(m, file=sys.stderr)
    )
    for name, value in result.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
