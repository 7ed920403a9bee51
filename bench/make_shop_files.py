"""Write the files a real shop would bring besides its transactions: stock, suppliers, terms, categories.

    .venv/bin/python bench/make_shop_files.py \
        --transactions ../shared/datasets/online-retail/online_retail_2010-12_2011-09.parquet \
        --out var/shop_files --seed 1

From any transactions file in the UCI Online Retail layout (the shared one, the bundled
sample, or a scaled copy), seeded, it writes:

- ``suppliers.csv`` (``name,email,lead_time_days``): seven suppliers, each for a part of
  the range, with an order address and a lead time of 5 to 21 days;
- ``supply_terms.csv`` (``sku,supplier,unit_cost,minimum_order,pack_size,lead_time_days``):
  every product sold, from its range's supplier (one in ten from another), at 45-70% of its
  latest price (always below it); cheap lines come in packs of 6 to 24, some have a minimum
  order of a few packs, a few override the supplier's lead time; blank cells elsewhere;
- ``categories.csv`` (``sku,category``): a two-level tree from each product's most
  frequent description, by ordered keyword rules (``Christmas > Decorations``,
  ``Home > Candles``, ``Kitchen > Tableware``...), with ``Home > Gifts`` for the rest;
- ``stock.csv`` (``sku,on_hand``): 10 to 45 days of each product's sales over the file's last
  90 days, 8% of products at zero, a handful of units for products without recent sales.

Nothing here imports Django: ``make_shop_files(frame, out, seed=...)`` is what a script that
builds a larger shop (``bench/make_scaled_shop.py``) calls with its own frame.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

PRODUCT_CODE = re.compile(r"^\d{5}[A-Z]{0,2}$")
NON_PRODUCT_CODES = {"POST", "DOT", "M", "D", "S", "C2", "B", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS"}
NON_PRODUCT_CODES |= {"23444", "22016"}  # carriage and a gift voucher that look like product codes
RECENT_DAYS = 90


@dataclass(frozen=True)
class Supplier:
    name: str
    email: str
    lead_time_days: int


SUPPLIERS = {
    "home": Supplier("Hearth & Home Wholesale", "orders@hearthandhome.example", 10),
    "christmas": Supplier("Yuletide Imports Ltd", "purchasing@yuletide.example", 21),
    "kitchen": Supplier("Kitchen Craft Supply Co.", "trade@kitchencraft.example", 7),
    "stationery": Supplier("Paper Lane Stationers", "orders@paperlane.example", 5),
    "kids": Supplier("Little Ones Toy Company", "sales@littleones.example", 14),
    "garden": Supplier("Garden Gate Trading", "orders@gardengate.example", 12),
    "general": Supplier("Bits & Bobs Sundries", "buying@bitsandbobs.example", 7),
}

# (category path, supplier key, words): the first rule with a word in the description wins.
CATEGORY_RULES: list[tuple[str, str, tuple[str, ...]]] = [
    ("Christmas > Lights", "christmas", ("CHRISTMAS LIGHT", "XMAS LIGHT", "FAIRY LIGHT")),
    ("Christmas > Gift Wrap", "christmas", ("CHRISTMAS GIFT WRAP", "CHRISTMAS WRAP", "XMAS WRAP")),
    ("Christmas > Decorations", "christmas",
     ("CHRISTMAS", "XMAS", "SANTA", "REINDEER", "SNOWFLAKE", "ADVENT", "BAUBLE", "NATIVITY", "SNOWMAN")),
    ("Home > Candles", "home", ("CANDLE", "T-LIGHT", "TEA LIGHT", "TLIGHT", "TEALIGHT", "INCENSE")),
    ("Home > Lighting", "home", ("LAMP", "LANTERN", "NIGHT LIGHT", "LIGHT")),
    ("Kitchen > Baking", "kitchen", ("CAKE", "BAKING", "CUPCAKE", "MUFFIN", "COOKIE", "PUDDING", "APRON")),
    ("Kitchen > Tableware", "kitchen",
     ("MUG", "CUP", "SAUCER", "PLATE", "BOWL", "TEAPOT", "JUG", "GLASS", "BEAKER", "NAPKIN", "CUTLERY",
      "COASTER", "PLACEMAT", "TRAY", "TEA TOWEL", "STRAW")),
    ("Kitchen > Storage", "kitchen",
     ("TIN", "JAR", "BOTTLE", "LUNCH BOX", "LUNCHBOX", "STORAGE", "CONTAINER")),
    ("Bags > Shopping Bags", "general", ("JUMBO", "SHOPPER", "TOTE", "BAG")),
    ("Stationery > Cards & Wrap", "stationery",
     ("CARD", "WRAP", "GIFT TAG", "TAGS", "ENVELOPE", "RIBBON", "TISSUE")),
    ("Stationery > Paper Goods", "stationery",
     ("NOTEBOOK", "PEN", "PENCIL", "ERASER", "STICKER", "CALENDAR", "DIARY", "PAPER", "BOOK", "CRAYON")),
    ("Kids > Toys & Games", "kids",
     ("TOY", "GAME", "PUZZLE", "DOLL", "SKIPPING ROPE", "SPACEBOY", "CHILDREN", "CHILDS", "KIDS", "BABY",
      "TEDDY", "PARTY", "BALLOON")),
    ("Garden > Outdoor", "garden", ("GARDEN", "BIRD", "PLANT", "FLOWER POT", "WATERING", "HERB", "SEED")),
    ("Fashion > Accessories", "general",
     ("NECKLACE", "BRACELET", "EARRING", "RING", "HAIR", "PURSE", "UMBRELLA", "HANDBAG", "CHARM", "SCARF",
      "BROOCH", "WALLET")),
    ("Home > Decorations", "home",
     ("HANGING", "HEART", "SIGN", "DECORATION", "ORNAMENT", "BUNTING", "GARLAND", "FRAME", "CLOCK",
      "DOORMAT", "CUSHION", "WALL", "MIRROR", "VASE", "DOORSTOP", "HOOK", "DRAWER", "CABINET")),
]  # fmt: skip
FALLBACK = ("Home > Gifts", "general")
# Whole words, plurals too: "RING" is not "SPRING", "BAG" is "BAGS".
RULE_PATTERNS = [
    (path, supplier, re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")(?:S|ES)?\b"))
    for path, supplier, words in CATEGORY_RULES
]


def read_transactions(path: Path) -> pd.DataFrame:
    """The columns this script needs from a UCI Online Retail file (.parquet, .csv, .csv.gz, .xlsx)."""
    columns = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice"]
    name = path.name.lower()
    if name.endswith(".parquet"):
        return pd.read_parquet(path, columns=columns)
    if name.endswith(".xlsx"):
        return pd.read_excel(path, usecols=columns)
    return pd.read_csv(path, usecols=columns, dtype={"InvoiceNo": str, "StockCode": str, "Description": str})


def products_sold(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per product code with sales: sku, name (most frequent description), price (latest),
    and units sold per day over the file's last ``RECENT_DAYS`` days."""
    data = pd.DataFrame(
        {
            "invoice": frame["InvoiceNo"].astype(str).str.strip().str.upper(),
            "sku": frame["StockCode"].astype(str).str.strip().str.upper(),
            "description": frame["Description"].fillna("").astype(str).str.strip(),
            "quantity": pd.to_numeric(frame["Quantity"], errors="coerce"),
            "price": pd.to_numeric(frame["UnitPrice"], errors="coerce"),
            "at": pd.to_datetime(frame["InvoiceDate"], errors="coerce", format="mixed"),
        }
    )
    is_product = data["sku"].map(lambda sku: bool(PRODUCT_CODE.match(sku)) and sku not in NON_PRODUCT_CODES)
    sales = data[
        is_product
        & ~data["invoice"].str.startswith("C")
        & (data["quantity"] > 0)
        & (data["price"] > 0)
        & data["at"].notna()
    ]
    if sales.empty:
        raise ValueError("no sale lines of product codes in the transactions")
    described = sales[sales["description"] != ""]
    names = described.groupby(["sku", "description"]).size().reset_index(name="n")
    names = names.sort_values(["sku", "n", "description"], ascending=[True, False, True]).drop_duplicates(
        "sku"
    )
    latest = sales.sort_values("at", kind="stable").groupby("sku")["price"].last()
    end = sales["at"].max()
    recent = sales[sales["at"] > end - pd.Timedelta(days=RECENT_DAYS)]
    daily = recent.groupby("sku")["quantity"].sum() / RECENT_DAYS
    skus = pd.Index(sorted(sales["sku"].unique()), name="sku")
    return pd.DataFrame(
        {
            "sku": skus,
            "name": names.set_index("sku")["description"].reindex(skus).fillna("").to_numpy(),
            "price": latest.reindex(skus).round(2).to_numpy(),
            "daily_units": daily.reindex(skus).fillna(0.0).to_numpy(),
        }
    )


def categorise(name: str) -> tuple[str, str]:
    """(category path, supplier key) of a product from its description."""
    text = name.upper()
    for path, supplier, pattern in RULE_PATTERNS:
        if pattern.search(text):
            return path, supplier
    return FALLBACK


def make_shop_files(frame: pd.DataFrame, out: Path, *, seed: int) -> dict[str, Path]:
    """Write the four files for the products in ``frame`` (UCI columns) under ``out``; returns their paths."""
    return write_shop_files(products_sold(frame), out, seed=seed)


def write_shop_files(products: pd.DataFrame, out: Path, *, seed: int) -> dict[str, Path]:
    """The four files from one row per product (``products_sold``'s columns): a scaled shop that streams
    its transactions builds this summary itself instead of holding every line."""
    rng = np.random.default_rng(seed)
    products = products.copy()
    n = len(products)
    ruled = [categorise(name) for name in products["name"]]
    products["category"] = [path for path, _ in ruled]
    keys = np.array([supplier for _, supplier in ruled], dtype=object)
    others = np.array(list(SUPPLIERS), dtype=object)
    elsewhere = rng.random(n) < 0.1  # a shop buys some lines from whoever has them
    keys[elsewhere] = rng.choice(others, size=int(elsewhere.sum()))
    products["supplier"] = [SUPPLIERS[key].name for key in keys]

    price = products["price"].to_numpy()
    share = rng.uniform(0.45, 0.70, n)
    cost = np.floor(price * share * 100) / 100
    products["unit_cost"] = np.clip(cost, 0.01, np.maximum(price - 0.01, 0.01))
    pack = np.where(price < 1.0, rng.choice([12, 24], n), np.where(price < 3.0, rng.choice([6, 12], n), 1))
    packed = (pack > 1) & (rng.random(n) < 0.7)
    pack = np.where(packed, pack, 1)
    minimum = np.where(rng.random(n) < 0.2, pack * rng.integers(2, 5, n), 0)
    lead = np.where(rng.random(n) < 0.1, rng.integers(3, 29, n), 0)
    products["pack_size"] = [str(p) if p > 1 else "" for p in pack]
    products["minimum_order"] = [str(m) if m > 0 else "" for m in minimum]
    products["lead_time_days"] = [str(d) if d > 0 else "" for d in lead]

    days = rng.uniform(10, 45, n)
    on_hand = np.ceil(products["daily_units"].to_numpy() * days).astype(int)
    dormant = products["daily_units"].to_numpy() == 0
    on_hand[dormant] = rng.integers(0, 6, int(dormant.sum()))
    on_hand[rng.random(n) < 0.08] = 0
    products["on_hand"] = on_hand

    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.csv" for name in ("suppliers", "supply_terms", "categories", "stock")}
    pd.DataFrame(
        [(s.name, s.email, s.lead_time_days) for s in SUPPLIERS.values()],
        columns=["name", "email", "lead_time_days"],
    ).to_csv(paths["suppliers"], index=False)
    products.assign(unit_cost=products["unit_cost"].map(lambda c: f"{c:.2f}"))[
        ["sku", "supplier", "unit_cost", "minimum_order", "pack_size", "lead_time_days"]
    ].to_csv(paths["supply_terms"], index=False)
    products[["sku", "category"]].to_csv(paths["categories"], index=False)
    products[["sku", "on_hand"]].to_csv(paths["stock"], index=False)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=Path, required=True, help="a UCI Online Retail file")
    parser.add_argument("--out", type=Path, required=True, help="folder for the four CSV files")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    paths = make_shop_files(read_transactions(args.transactions), args.out, seed=args.seed)
    for name, path in paths.items():
        rows = sum(1 for _ in path.open()) - 1
        print(f"{name}: {rows:,} rows -> {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
