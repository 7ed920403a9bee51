"""Issue 17's onboarding targets on a whole transactions file, through the commands a shop runs.

    DATABASE_URL=sqlite:////tmp/onboarding_targets.sqlite3 .venv/bin/python bench/onboarding_targets.py \
        ../shared/datasets/online-retail/online_retail_2010-12_2011-09.parquet --seed 1

On a scratch database (dropped and migrated first, as in ``bench_import.py``): ``import_transactions``
of the file; ``bench/make_shop_files.py`` writes its suppliers, supply terms, categories and stock;
``import_suppliers``, ``import_supply_terms``, ``import_categories``, ``import_stock``;
``retrain_forecasts`` and ``retrain_recommender``. Then it checks, and prints:

- every open suggestion has a supplier and a value (order quantity x unit cost > 0);
- creating purchase orders from the whole worklist (``purchase_orders_from_suggestions`` on every
  open suggestion, what the worklist's action calls) succeeds and orders every suggestion;
- every customer with a purchase gets a non-empty recommendation list (``recommendations_for``,
  what ``/api/me/recommendations/`` serves), in both modes;
- ``GET /api/categories/`` lists every category;
- the best seller's stored units sold equals its net units, with no separate step;
- nothing is reported missing on the dashboard.

Each step's wall and CPU seconds and the load average are printed beside it.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))

from bench_import import recreate_database  # noqa: E402
from make_shop_files import make_shop_files, read_transactions  # noqa: E402


@contextmanager
def step(name: str):
    started, cpu = time.perf_counter(), time.process_time()
    yield
    print(
        f"[{name}] {time.perf_counter() - started:.1f} s wall, {time.process_time() - cpu:.1f} s CPU, "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )


def command(name: str, *args: str, **options) -> str:
    from django.core.management import call_command

    out = io.StringIO()
    call_command(name, *args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", type=Path, help="a UCI Online Retail file")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    database = settings.DATABASES["default"]
    recreate_database(database)
    command("migrate", verbosity=0)
    print(f"database: {connection.vendor} {database['NAME']}; file: {args.path}")

    from django.db.models import F, Sum
    from django.test import Client

    from inventory import services as inventory_services
    from inventory.models import ReorderSuggestion
    from inventory.selectors import missing_shop_data
    from recommender.selectors import recommendations_for
    from shop.models import Cancellation, Category, Customer, Order, OrderLine, Product

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        with step("import_transactions"):
            output = command(
                "import_transactions", str(args.path), rejects=str(folder / "t.rej"), verbosity=0
            )
        print("  " + output.strip().splitlines()[-2])
        with step("make_shop_files"):
            paths = make_shop_files(read_transactions(args.path), folder / "files", seed=args.seed)
        for name, path in [
            ("import_suppliers", paths["suppliers"]),
            ("import_supply_terms", paths["supply_terms"]),
            ("import_categories", paths["categories"]),
            ("import_stock", paths["stock"]),
        ]:
            with step(name):
                output = command(name, str(path), rejects=str(folder / f"{name}.rej"))
            print("  " + next(line.strip() for line in output.splitlines() if "imported (" in line))

    with step("retrain_forecasts"):
        command("retrain_forecasts")
    with step("retrain_recommender"):
        command("retrain_recommender")

    print("\n--- targets ---")
    open_suggestions = ReorderSuggestion.objects.open()
    total = open_suggestions.count()
    no_supplier = open_suggestions.filter(supplier__isnull=True).count()
    values = [
        s.order_quantity * (s.product.supply.unit_cost if hasattr(s.product, "supply") else 0)
        for s in open_suggestions.select_related("product__supply")
    ]
    no_value = sum(1 for value in values if not value)
    print(f"open suggestions: {total:,}; without a supplier: {no_supplier:,}; without a value: {no_value:,}; "
          f"worth {sum(values):,.2f}")  # fmt: skip

    with step("purchase orders from the whole worklist"):
        orders = inventory_services.purchase_orders_from_suggestions(
            suggestion_ids=list(open_suggestions.values_list("pk", flat=True))
        )
    ordered = ReorderSuggestion.objects.filter(status=ReorderSuggestion.Status.ORDERED).count()
    print(f"purchase orders created: {len(orders):,} for {ordered:,} of {total:,} suggestions")

    buyers = Customer.objects.filter(orders__isnull=False).exclude(orders__status="cancelled").distinct()
    empty = {"all": 0, "new": 0}
    with step("recommendations for every customer with a purchase"):
        count = 0
        for customer in buyers.iterator():
            count += 1
            for mode in empty:
                if not recommendations_for(customer=customer, limit=10, mode=mode):
                    empty[mode] += 1
    print(f"customers with purchases: {count:,}; empty lists: {empty['all']:,} (all), {empty['new']:,} (new)")

    listed = Client().get("/api/categories/", HTTP_HOST="localhost").json()
    print(f"/api/categories/: {len(listed):,} categories listed of {Category.objects.count():,}; "
          f"roots: {', '.join(sorted(c['name'] for c in listed if c['parent'] is None))}")  # fmt: skip

    best = Product.objects.order_by("-units_sold").first()
    sold = OrderLine.objects.filter(product=best).exclude(order__status=Order.Status.CANCELLED)
    net = (sold.aggregate(units=Sum("quantity"))["units"] or 0) - (
        Cancellation.objects.filter(product=best).aggregate(units=Sum("quantity"))["units"] or 0
    )
    print(f"best seller {best.sku} {best.name}: units sold stored {best.units_sold:,}, net units {net:,}")
    print(f"out of stock today: {Product.objects.filter(stock__on_hand__lte=F('stock__reserved')).count():,}")
    print(f"missing on the dashboard: {[gap.message for gap in missing_shop_data()] or 'nothing'}")


if __name__ == "__main__":
    main()
