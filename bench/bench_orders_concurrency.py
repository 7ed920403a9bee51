"""64 concurrent clients placing, cancelling and fulfilling orders for a few scarce products.

Drives ``shop.services`` (what the API's order endpoint calls) from 64 threads, each with its
own database connection, on a fresh database; products are listed in random order on each order,
so both lock orders occur. Afterwards it counts oversells and checks the stock against the placed
orders and the ledger with the nightly stock check (``shop.integrity``)::

    # PostgreSQL (a database of its own, dropped and recreated):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop_rel_orders \\
        .venv/bin/python bench/bench_orders_concurrency.py --clients 64
    # SQLite (WAL, IMMEDIATE transactions, 30 s busy timeout: the shipped settings):
    DATABASE_URL=sqlite:////tmp/shop_rel_orders.sqlite3 \\
        .venv/bin/python bench/bench_orders_concurrency.py --clients 64

Anything other than success or a refusal for lack of stock (a deadlock, "database is locked",
any other exception) is counted as an error: the API would have answered 500.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--orders", type=int, default=20, help="orders each client tries to place")
    parser.add_argument("--products", type=int, default=12)
    parser.add_argument("--stock", type=int, default=150, help="units of each product at the start")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


def fresh_database() -> None:
    import django
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        for suffix in ("", "-wal", "-shm"):
            Path(str(db["NAME"]) + suffix).unlink(missing_ok=True)
    else:
        import psycopg

        name = db["NAME"]
        with psycopg.connect(
            host=db["HOST"] or "127.0.0.1",
            port=db["PORT"] or 5432,
            user=db["USER"],
            dbname="postgres",
            autocommit=True,
        ) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    del django
    call_command("migrate", verbosity=0)


def main() -> None:
    args = parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    fresh_database()

    from decimal import Decimal

    from django.conf import settings
    from django.db import connection, connections
    from django.db.models import Sum

    from shop import integrity, services
    from shop.models import Customer, Order, OrderLine, Product, StockRecord

    products = [
        Product.objects.create(sku=f"HOT{i:02d}", name=f"Scarce product {i}", price=Decimal("5.00"))
        for i in range(args.products)
    ]
    services.stock_set_levels(levels={p.pk: args.stock for p in products}, note="bench start")
    customers = [Customer.objects.create(external_id=f"B{i:03d}") for i in range(args.clients)]
    connection.close()

    outcomes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(args.clients)
    latencies: list[float] = []

    def pay_and_ship(*, order: Order) -> None:
        """A paid order ships: the payment (as the webhook records it), then every unit."""
        services.order_mark_paid(
            order=order,
            amount=services.order_total(order),
            currency=settings.SHOP["CURRENCY"],
            reference="bench",
        )
        services.order_fulfil(order=order)

    def client(index: int) -> None:
        rng = random.Random(args.seed * 1000 + index)
        mine: list[Order] = []
        barrier.wait()
        try:
            for _ in range(args.orders):
                chosen = rng.sample(products, rng.randint(1, 3))  # random order: both lock orders occur
                lines = [services.LineRequest(p.pk, rng.randint(1, 4)) for p in chosen]
                started = time.perf_counter()
                try:
                    mine.append(services.order_place(customer=customers[index], lines=lines))
                    outcome = "placed"
                except services.InsufficientStock:
                    outcome = "refused: insufficient stock"
                except Exception as exc:  # the API would answer 500
                    outcome = "error"
                    with lock:
                        errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                with lock:
                    outcomes[outcome] += 1
                    latencies.append(time.perf_counter() - started)
                if mine and rng.random() < 0.3:  # now and then, cancel or ship one of ours
                    order = mine.pop(rng.randrange(len(mine)))
                    action = services.order_cancel if rng.random() < 0.5 else pay_and_ship
                    try:
                        action(order=order)
                        outcome = action.__name__
                    except Exception as exc:
                        outcome = "error"
                        with lock:
                            errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                    with lock:
                        outcomes[outcome] += 1
        finally:
            connections.close_all()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started

    stock = list(StockRecord.objects.filter(product__in=products).values_list("on_hand", "reserved"))
    oversold = sum(1 for on_hand, reserved in stock if on_hand < 0 or reserved > on_hand)
    shipped = (
        OrderLine.objects.filter(order__status=Order.Status.FULFILLED).aggregate(u=Sum("quantity"))["u"] or 0
    )
    placed = (
        OrderLine.objects.filter(order__status=Order.Status.PLACED).aggregate(u=Sum("quantity"))["u"] or 0
    )
    discrepancies = integrity.stock_discrepancies()
    latencies.sort()
    result = {
        "database": connection.vendor,
        "clients": args.clients,
        "wall_seconds": round(wall, 1),
        "outcomes": dict(outcomes),
        "errors": dict(errors),
        "oversold_products": oversold,
        "units_shipped_plus_reserved_within_stock": shipped + placed <= args.stock * args.products,
        "stock_check_discrepancies": [str(d) for d in discrepancies],
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
