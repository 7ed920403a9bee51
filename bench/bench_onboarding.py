"""Time the onboarding imports (suppliers, supply terms, categories, stock) through their commands.

    DATABASE_URL=sqlite:////tmp/bench_onboarding.sqlite3 \
        .venv/bin/python bench/bench_onboarding.py --rows 4000

A scratch database (dropped and migrated first, as in ``bench_import.py``) gets a synthetic shop
of ``--rows`` products, imported with ``import_transactions`` (three sales each, with names
that fall into every category rule). ``bench/make_shop_files.py`` then writes its suppliers,
supply terms, categories and stock files, one row per product, and each is imported three times:
into the empty tables, again unchanged, and a third time with a tenth of its rows changed.
Each run is a separate ``manage.py`` process, timed from start to exit (what a user waits, Django
start-up included), wall and CPU (user + system, which a busy machine inflates less); the
import's own summary is printed beside it, and ``manage.py check`` gives the start-up alone.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))

from bench_import import recreate_database  # noqa: E402
from make_shop_files import CATEGORY_RULES, make_shop_files  # noqa: E402

IMPORTS = [
    ("import_suppliers", "suppliers.csv"),
    ("import_supply_terms", "supply_terms.csv"),
    ("import_categories", "categories.csv"),
    ("import_stock", "stock.csv"),
]


def synthetic_transactions(rows: int, seed: int) -> pd.DataFrame:
    """``rows`` products, each sold three times in the last 90 days, named after the category rules."""
    rng = np.random.default_rng(seed)
    words = [word for _, _, rule_words in CATEGORY_RULES for word in rule_words] + ["VINTAGE", "SET OF 3"]
    lines = []
    end = pd.Timestamp("2011-09-30 12:00")
    for n in range(rows):
        sku = f"{10000 + n:05d}" if n < 90000 else f"{n:05d}"
        name = f"{rng.choice(words)} {rng.choice(['RED', 'BLUE', 'PINK', 'IVORY'])} {n}"
        price = round(float(rng.uniform(0.3, 15)), 2)
        for k in range(3):
            invoice = str(600000 + n * 3 + k)
            at = end - pd.Timedelta(days=int(rng.integers(0, 89)))
            quantity = int(rng.integers(1, 24))
            lines.append(
                (invoice, sku, name, quantity, at.strftime("%Y-%m-%d %H:%M"), price, 12346 + n % 500, "UK")
            )
    columns = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"]
    return pd.DataFrame(lines, columns=[*columns, "Country"])


def changed_tenth(path: Path, seed: int) -> None:
    """Change a tenth of a file's rows in the column an upsert would update."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    picked = rng.random(len(frame)) < 0.1
    if "on_hand" in frame:
        frame.loc[picked, "on_hand"] = (frame.loc[picked, "on_hand"].astype(int) + 5).astype(str)
    elif "unit_cost" in frame:
        frame.loc[picked, "unit_cost"] = (frame.loc[picked, "unit_cost"].astype(float) + 0.11).map(
            "{:.2f}".format
        )
    elif "category" in frame:
        frame.loc[picked, "category"] = "Home > Clearance"
    else:
        frame["lead_time_days"] = (frame["lead_time_days"].astype(int) + 1).astype(str)
    frame.to_csv(path, index=False)


def run_command(*args: str) -> tuple[float, float, str]:
    """Wall and CPU seconds (user + system) of one ``manage.py`` process, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(PROJECT / "manage.py"), *args],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        env=os.environ.copy(),
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode:
        sys.exit(f"{args[0]} failed:\n{done.stderr}")
    return elapsed, cpu, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=4000, help="products, and rows in each file")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    database = settings.DATABASES["default"]
    recreate_database(database)
    connection.close()
    print(f"database: {connection.vendor} {database['NAME']}; load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        transactions = folder / "transactions.csv"
        frame = synthetic_transactions(args.rows, args.seed)
        frame.to_csv(transactions, index=False)
        run_command("migrate", "--verbosity", "0")
        elapsed, cpu, _ = run_command(
            "import_transactions", str(transactions), "--rejects", str(folder / "t.rej")
        )
        print(f"setup: import_transactions of {len(frame):,} lines, {elapsed:.1f} s wall, {cpu:.1f} s CPU")
        elapsed, cpu, _ = run_command("check")
        print(f"Django start-up alone (manage.py check): {elapsed:.2f} s wall, {cpu:.2f} s CPU")
        make_shop_files(frame, folder / "files", seed=args.seed)
        for label in ("into empty tables", "again, unchanged", "a tenth changed"):
            if label == "a tenth changed":
                for _, name in IMPORTS:
                    changed_tenth(folder / "files" / name, args.seed)
            print(f"\n--- {label} (load average {os.getloadavg()[0]:.2f}) ---")
            for command, name in IMPORTS:
                path = folder / "files" / name
                rows = sum(1 for _ in path.open()) - 1
                elapsed, cpu, output = run_command(
                    command, str(path), "--rejects", str(folder / f"{name}.rej")
                )
                summary = [line.strip() for line in output.splitlines() if "imported (" in line]
                print(
                    f"{command} {rows:,} rows: {elapsed:.2f} s wall, {cpu:.2f} s CPU  "
                    f"[{summary[0] if summary else output.strip()}]"
                )


if __name__ == "__main__":
    main()
