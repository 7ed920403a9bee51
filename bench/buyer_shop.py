"""Make a real shop's worklist from an imported transactions file: stock, suppliers, terms, categories, runs.

Run on a database that holds the import (``manage.py import_transactions``), e.g. the whole shared file:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop_buyer \\
        .venv/bin/python bench/buyer_shop.py --runs 2011-08-25 2011-09-01 2011-09-24 2011-10-01

It sets stock levels (about a month of average sales, every tenth product empty, as the demo does),
eight suppliers with lead times, minimum order values and (all but one) email addresses, supply
terms with unit costs at 60% of the price and minimum orders and pack sizes that grow as the unit
cost falls, and a category per product from words in its name, all seeded and repeatable. Then it
runs ``manage.py retrain_forecasts --as-of`` at each ``--runs`` date in order (each run's suggestions
are flagged against the one before) and prints, per run, the suggestions, the share flagged and each
cause.

Until the ``onboarding`` branch's imports land (stock, suppliers, terms, categories), suppliers and
terms go through ``inventory.services`` and stock through ``shop.services``; categories are written
here directly (no service sets a product's category yet).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import zlib
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

#: category -> words in a product's name that put it there (the first category that matches wins)
CATEGORIES = [
    ("Christmas", ["CHRISTMAS", "XMAS", "SANTA", "ADVENT", "REINDEER", "SNOWFLAKE", "BAUBLE"]),
    ("Candles and lights", ["CANDLE", "T-LIGHT", "TEA LIGHT", "LANTERN", "LAMP", "LIGHT"]),
    (
        "Kitchen and dining",
        [
            "MUG",
            "CUP",
            "PLATE",
            "BOWL",
            "CAKE",
            "LUNCH",
            "BAKING",
            "KITCHEN",
            "JAM",
            "NAPKIN",
            "APRON",
            "TRAY",
            "BOTTLE",
            "SPOON",
            "JUG",
            "DINNER",
            "TEA",
            "BISCUIT",
            "RECIPE",
        ],
    ),  # fmt: skip
    ("Bags", ["BAG", "CHARLOTTE", "SHOPPER", "TOTE", "PURSE"]),
    (
        "Stationery and wrap",
        [
            "CARD",
            "WRAP",
            "PAPER",
            "NOTEBOOK",
            "PEN ",
            "PENCIL",
            "STICKER",
            "TISSUE",
            "RIBBON",
            "TAPE",
            "ENVELOPE",
            "DOILIES",
            "POSTCARD",
            "CALENDAR",
            "JOURNAL",
            "BOOK",
        ],
    ),  # fmt: skip
    ("Jewellery", ["EARRING", "NECKLACE", "BRACELET", "BANGLE", "RING", "CHARM", "BROOCH", "HAIR"]),
    ("Toys and children", ["TOY", "DOLL", "GAME", "PUZZLE", "SPACEBOY", "CHILD", "KIDS", "BABY", "JIGSAW"]),
    ("Garden", ["GARDEN", "PLANT", "BIRD", "WATERING", "HERB", "FLOWER POT", "PLANTER"]),
    (
        "Home decoration",
        [
            "HEART",
            "SIGN",
            "FRAME",
            "CLOCK",
            "MIRROR",
            "CUSHION",
            "DOORMAT",
            "HOOK",
            "HANGING",
            "DECORATION",
            "VASE",
            "WICKER",
            "KNOB",
            "TIN",
            "BOX",
            "STORAGE",
        ],
    ),  # fmt: skip
]
OTHER = "Other"

#: name, email (empty: none), lead time (days), minimum order value, categories it mostly supplies
SUPPLIERS = [
    ("Northwind Gifts", "orders@northwind-gifts.example", 7, Decimal("250"), ["Christmas", OTHER]),
    ("Harbour Homeware", "purchasing@harbour-homeware.example", 10, Decimal("500"), ["Home decoration"]),
    ("Kestrel Paper Co", "sales@kestrel-paper.example", 5, Decimal("100"), ["Stationery and wrap"]),
    ("Lumen Candles", "orders@lumen-candles.example", 14, Decimal("300"), ["Candles and lights"]),
    ("Oakfield Textiles", "trade@oakfield-textiles.example", 12, Decimal("200"), ["Bags"]),
    ("Pennine Kitchenware", "orders@pennine-kitchen.example", 9, Decimal("400"), ["Kitchen and dining"]),
    ("Quayside Toys", "hello@quayside-toys.example", 21, Decimal("150"), ["Toys and children", "Jewellery"]),
    ("Riverside Imports", "", 18, Decimal("0"), ["Garden"]),
]


def category_of(name: str) -> str:
    upper = f" {name.upper()} "
    for category, words in CATEGORIES:
        if any(word in upper for word in words):
            return category
    return OTHER


def pack_terms(unit_cost: Decimal, rng: random.Random) -> tuple[int, int]:
    """(minimum order, pack size): cheap lines come in packs and cartons, dear ones singly."""
    if unit_cost < Decimal("0.50"):
        pack = rng.choice([12, 24])
        return pack * rng.choice([2, 4]), pack
    if unit_cost < Decimal("1.50"):
        pack = rng.choice([6, 12])
        return pack * rng.choice([1, 2]), pack
    if unit_cost < Decimal("4"):
        pack = rng.choice([1, 6])
        return pack, pack
    return 1, 1


def set_up(seed: int) -> None:
    from django.db import transaction
    from django.db.models import Max, Min, Sum

    from inventory import services as inventory_services
    from inventory.models import ProductSupply
    from shop import services as shop_services
    from shop.models import Category, Order, OrderLine, Product

    started = time.perf_counter()
    sold = dict(
        OrderLine.objects.values("product").annotate(units=Sum("quantity")).values_list("product", "units")
    )
    window = Order.objects.aggregate(first=Min("placed_at"), last=Max("placed_at"))
    days = max((window["last"] - window["first"]).days, 1) if window["first"] else 1
    products = list(Product.objects.order_by("pk").values_list("pk", "sku", "name", "price"))
    levels = {
        pid: 0 if index % 10 == 9 else max(5, round(sold.get(pid, 0) / days * 30))
        for index, (pid, _, _, _) in enumerate(products)
    }
    shop_services.stock_set_levels(levels=levels, note="bench/buyer_shop.py stock levels")
    print(f"stock levels for {len(levels):,} products", file=sys.stderr)

    suppliers = {
        name: inventory_services.supplier_upsert(
            name=name, email=email, lead_time_days=lead, minimum_order_value=minimum
        )
        for name, email, lead, minimum, _ in SUPPLIERS
    }
    by_category = {}
    for name, _, _, _, categories in SUPPLIERS:
        for category in categories:
            by_category.setdefault(category, []).append(name)

    with transaction.atomic():  # categories: no service sets them yet (the onboarding branch adds one)
        names = [category for category, _ in CATEGORIES] + [OTHER]
        Category.objects.bulk_create([Category(name=n) for n in names], ignore_conflicts=True)
        ids = dict(Category.objects.filter(name__in=names).values_list("name", "pk"))
        changed = []
        for pid, _, name, _ in products:
            product = Product(pk=pid, category_id=ids[category_of(name)])
            changed.append(product)
        Product.objects.bulk_update(changed, ["category"], batch_size=2000)

    terms = []
    for pid, sku, name, price in products:
        rng = random.Random(zlib.crc32(f"{seed}:{sku}".encode()))
        category = category_of(name)
        choices = by_category.get(category) or [s[0] for s in SUPPLIERS]
        supplier = suppliers[rng.choice(choices) if rng.random() < 0.85 else rng.choice(SUPPLIERS)[0]]
        unit_cost = (Decimal(price) * Decimal("0.6")).quantize(Decimal("0.01"))
        minimum, pack = pack_terms(unit_cost, rng)
        terms.append(
            ProductSupply(
                product_id=pid, supplier=supplier, unit_cost=unit_cost, minimum_order=minimum, pack_size=pack
            )
        )
    inventory_services.supply_terms_bulk_set(terms=terms)
    print(
        f"{len(suppliers)} suppliers, terms for {len(terms):,} products, {len(names)} categories "
        f"({time.perf_counter() - started:.1f} s)",
        file=sys.stderr,
    )


def report(run) -> None:
    from inventory.flags import CAUSES
    from inventory.models import ReorderSuggestion

    flags = list(ReorderSuggestion.objects.filter(run=run).values_list("flags", flat=True))
    flagged = sum(1 for f in flags if f)
    causes = Counter(code for f in flags for code in f)
    share = flagged / len(flags) if flags else 0.0
    print(
        f"run {run.pk} as of {run.as_of}: {len(flags):,} suggestions, {flagged:,} flagged ({share:.1%}); "
        + ", ".join(f"{code} {causes.get(code, 0):,}" for code in CAUSES)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", nargs="*", default=[], help="as-of dates (YYYY-MM-DD) to run, in order")
    parser.add_argument("--skip-setup", action="store_true", help="only run the forecasts")
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command

    from inventory.models import ForecastRun

    print(f"command: {' '.join(sys.argv)}  (load average {os.getloadavg()[0]:.2f})")
    if not args.skip_setup:
        set_up(args.seed)
    for text in args.runs:
        started = time.perf_counter()
        # The path a user runs: the management command (forecasts, then flagged suggestions).
        call_command("retrain_forecasts", "--as-of", text, stdout=sys.stderr)
        run = (
            ForecastRun.objects.filter(as_of=date.fromisoformat(text)).order_by("-created_at", "-id").first()
        )
        print(f"retrain_forecasts --as-of {text}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        report(run)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
