"""Time ``import_transactions`` (and optionally ``import_ratings``) on a fresh database, twice each.

    DATABASE_URL=sqlite:////tmp/bench_import.sqlite3 .venv/bin/python bench/bench_import.py PATH
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_import .venv/bin/python bench/bench_import.py PATH \
        --ratings ../shared/datasets/ml-latest-small

The second run of each command shows the cost of an idempotent re-import.

With ``--split SEED`` it runs issue 21's experiment: PATH's rows split at random into two
overlapping exports (each row in the first, the second or both), imported one after the other
and compared with PATH alone, counting the lines reported as ``partial_invoice`` and any lost
without a report.

With ``--overlap FIRST`` it runs the reliability experiment instead: import FIRST (e.g. the
bundled sample) and then PATH, snapshot the database, drop it, import PATH alone, and compare
the two per (invoice, product, quantity, price) line, per cancellation with its link, and per
order, printing what is missing, extra or different and the units sold in each:

    DATABASE_URL=sqlite:////tmp/bench_import.sqlite3 .venv/bin/python bench/bench_import.py \
        ../shared/datasets/online-retail/online_retail_2010-12_2011-09.parquet \
        --overlap data/sample/online_retail_sample.csv.gz

The database named by DATABASE_URL is dropped, created and migrated first, so it
must be a scratch one: the project's own SQLite file and the databases named
shop and test_shop are refused.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
PROTECTED_NAMES = {"shop", "test_shop", "postgres", "template0", "template1"}


def recreate_database(database: dict) -> None:
    engine, name = database["ENGINE"], str(database["NAME"])
    if engine.endswith("sqlite3"):
        path = Path(name)
        if path.resolve() == (PROJECT / "db.sqlite3").resolve():
            sys.exit("Refusing to drop the project's own db.sqlite3: point DATABASE_URL at a scratch file.")
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(name + suffix).unlink(missing_ok=True)
        return
    if not engine.endswith("postgresql"):
        sys.exit(f"Unsupported database engine {engine}.")
    if name in PROTECTED_NAMES:
        sys.exit(f"Refusing to drop the database {name!r}: use a scratch name such as bench_import.")
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        dbname="postgres",
        user=database.get("USER") or None,
        password=database.get("PASSWORD") or None,
        host=database.get("HOST") or None,
        port=database.get("PORT") or None,
        autocommit=True,
    ) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", type=Path, help="an Online Retail file (.parquet, .csv, .csv.gz, .xlsx)")
    parser.add_argument(
        "--ratings", type=Path, help="a MovieLens directory to time import_ratings on as well"
    )
    parser.add_argument(
        "--overlap", type=Path, help="import this file first, then PATH, and compare with PATH alone"
    )
    parser.add_argument(
        "--split",
        type=int,
        metavar="SEED",
        help="split PATH's rows at random into two overlapping exports, import both, compare with PATH alone",
    )
    args = parser.parse_args()

    sys.path.insert(0, str(PROJECT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    database = settings.DATABASES["default"]
    recreate_database(database)
    call_command("migrate", verbosity=0)
    print(f"database: {connection.vendor} {database['NAME']}; file: {args.path}")

    if args.overlap:
        overlap_experiment(args.path, args.overlap, database)
        return
    if args.split is not None:
        split_experiment(args.path, args.split, database)
        return

    runs = [("import_transactions", args.path)]
    if args.ratings:
        runs.append(("import_ratings", args.ratings))
    with tempfile.TemporaryDirectory() as scratch:  # rejected rows stay out of the (shared) input folder
        for command, path in runs:
            rejects = Path(scratch) / f"{command}.rejected.csv"
            for label in ("first run", "second run"):
                output = io.StringIO()
                started, cpu = time.perf_counter(), time.process_time()
                call_command(command, str(path), rejects=str(rejects), stdout=output, verbosity=0)
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                print(f"\n{command}, {label}: {elapsed:.1f} s ({cpu:.1f} s CPU in this process)")
                print(output.getvalue().rstrip())


def _import(path: Path, rejects: Path) -> str:
    from django.core.management import call_command

    output = io.StringIO()
    started, cpu = time.perf_counter(), time.process_time()
    call_command("import_transactions", str(path), rejects=str(rejects), stdout=output, verbosity=0)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return f"{path.name}: {elapsed:.1f} s ({cpu:.1f} s CPU)\n" + output.getvalue().rstrip()


def _snapshot() -> dict:
    from collections import Counter

    from django.db.models import Sum

    from shop.models import Cancellation, Order, OrderLine

    lines = Counter(
        OrderLine.objects.values_list("order__number", "product__sku", "quantity", "unit_price").iterator()
    )
    numbered = set(
        OrderLine.objects.values_list(
            "order__number", "product__sku", "quantity", "unit_price", "occurrence", "line_number"
        ).iterator()
    )
    cancellations = Counter(
        Cancellation.objects.values_list(
            "reference",
            "product__sku",
            "quantity",
            "unit_price",
            "customer__external_id",
            "created_at",
            "order_line__order__number",
            "order_line__line_number",
        ).iterator()
    )
    orders = set(
        Order.objects.values_list("number", "customer__external_id", "placed_at", "country").iterator()
    )
    units = OrderLine.objects.aggregate(units=Sum("quantity"))["units"] or 0
    return {
        "lines": lines,
        "numbered": numbered,
        "cancellations": cancellations,
        "orders": orders,
        "units": units,
    }


def _difference(name: str, got, want) -> str:
    from collections import Counter

    if isinstance(got, Counter):
        missing, extra = sum((want - got).values()), sum((got - want).values())
    else:
        missing, extra = len(want - got), len(got - want)
    total = sum(want.values()) if isinstance(want, Counter) else len(want)
    return f"{name}: {total:,} in the clean import; {missing:,} missing, {extra:,} extra or different"


def overlap_experiment(path: Path, first: Path, database: dict) -> None:
    from django.core.management import call_command
    from django.db import connections

    with tempfile.TemporaryDirectory() as scratch:
        rejects = Path(scratch) / "rejected.csv"
        print("\n--- overlapping: first, then the file ---")
        print(_import(first, rejects))
        print(_import(path, rejects))
        overlapped = _snapshot()
        connections.close_all()  # SQLite keeps the deleted file open; PostgreSQL refuses to drop it
        recreate_database(database)
        call_command("migrate", verbosity=0)
        print("\n--- clean: the file alone ---")
        print(_import(path, rejects))
        clean = _snapshot()
    print("\n--- comparison (overlapping vs clean) ---")
    print(
        _difference("sale lines per (invoice, product, quantity, price)", overlapped["lines"], clean["lines"])
    )
    print(
        _difference("sale lines with occurrence and line number", overlapped["numbered"], clean["numbered"])
    )
    print(_difference("cancellations with their link", overlapped["cancellations"], clean["cancellations"]))
    print(_difference("orders (number, customer, placed at, country)", overlapped["orders"], clean["orders"]))
    print(f"units sold: {overlapped['units']:,} overlapping, {clean['units']:,} clean")


def split_experiment(path: Path, seed: int, database: dict) -> None:
    """Issue 21's experiment: each row goes to export A, export B or both (a third each), so invoices,
    and the copies of their repeated rows, are split between two overlapping files. Import A then B,
    compare with PATH alone, and check that every sale line the database lacks was reported as a
    ``partial_invoice`` row of B (none lost while the summary says every row is accounted for)."""
    import numpy as np
    import pandas as pd
    from django.core.management import call_command
    from django.db import connections

    from shop.importing.readers import read_table

    frame = read_table(path)
    rng = np.random.default_rng(seed)
    side = rng.integers(0, 3, len(frame))  # 0: A only, 1: B only, 2: both
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        first, second = folder / "export_a.parquet", folder / "export_b.parquet"
        frame[side != 1].to_parquet(first, index=False)
        frame[side != 0].to_parquet(second, index=False)
        print(f"\n--- two exports split at random (seed {seed}): A {int((side != 1).sum()):,} rows, "
              f"B {int((side != 0).sum()):,} rows ---")  # fmt: skip
        print(_import(first, folder / "a.rejected.csv"))
        print(_import(second, folder / "b.rejected.csv"))
        split = _snapshot()
        rejected = pd.read_csv(folder / "b.rejected.csv", dtype=str, keep_default_na=False)
        connections.close_all()
        recreate_database(database)
        call_command("migrate", verbosity=0)
        print("\n--- clean: the file alone ---")
        print(_import(path, folder / "clean.rejected.csv"))
        clean = _snapshot()
    missing = clean["lines"] - split["lines"]
    partial = rejected[rejected["reason"] == "partial_invoice"]
    reported = {str(invoice).strip().upper() for invoice in partial["InvoiceNo"]}
    silent = sum(count for (invoice, *_), count in missing.items() if invoice not in reported)
    print("\n--- comparison (A then B vs clean) ---")
    print(_difference("sale lines per (invoice, product, quantity, price)", split["lines"], clean["lines"]))
    print(f"rows of B rejected as partial_invoice: {len(partial):,} ({len(reported):,} invoices)")
    print(f"sale lines missing on invoices B's rejects name: {sum(missing.values()) - silent:,}; "
          f"missing on invoices nothing reported (lost silently): {silent:,}")  # fmt: skip
    print(f"units sold: {split['units']:,} from the two exports, {clean['units']:,} clean")


if __name__ == "__main__":
    main()
