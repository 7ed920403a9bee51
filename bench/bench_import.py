"""Time ``import_transactions`` (and optionally ``import_ratings``) on a fresh database, twice each.

    DATABASE_URL=sqlite:////tmp/bench_import.sqlite3 .venv/bin/python bench/bench_import.py PATH
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_import .venv/bin/python bench/bench_import.py PATH \
        --ratings ../shared/datasets/ml-latest-small

The second run of each command shows the cost of an idempotent re-import.

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

    runs = [("import_transactions", args.path)]
    if args.ratings:
        runs.append(("import_ratings", args.ratings))
    with tempfile.TemporaryDirectory() as scratch:  # rejected rows stay out of the (shared) input folder
        for command, path in runs:
            rejects = Path(scratch) / f"{command}.rejected.csv"
            for label in ("first run", "second run"):
                output = io.StringIO()
                started = time.perf_counter()
                call_command(command, str(path), rejects=str(rejects), stdout=output, verbosity=0)
                elapsed = time.perf_counter() - started
                print(f"\n{command}, {label}: {elapsed:.1f} s")
                print(output.getvalue().rstrip())


if __name__ == "__main__":
    main()
