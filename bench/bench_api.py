"""Storefront API under load: gunicorn on PostgreSQL, a bounded asyncio client in this process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop_apicat \
        .venv/bin/python bench/bench_api.py --port 8121 --workers 4 --clients 32 --seconds 20

Needs the shared Online Retail file imported (``import_transactions``) and a trained, active
recommender version (``retrain_recommender``) in that database. The script then:

1. prepares, through Django in this process: one user and API token for each of ``--users``
   imported customers that have stored recommendations (users named ``bench-<n>``, reused on the
   next run), the stored popularity (``refresh_popularity``), and ``--order-products`` products
   stocked so that every order of the run can be served;
2. starts gunicorn (``--workers`` sync workers, the same settings module the shop runs with) on
   127.0.0.1, sharing its cache through Redis (``--cache-url``), with the API's throttling off
   (``--throttle default`` keeps the configured limits);
3. from this process, a separate one from the server, keeps ``--clients`` requests in flight on
   loopback (asyncio, one connection per request, as gunicorn's sync workers close them) for
   ``--seconds`` per endpoint after ``--warmup`` seconds, one endpoint after the other in the same
   run: the minimal JSON view (``/api/health/``, the ceiling), recommendations, similar products,
   product search, order placement with an ``Idempotency-Key``, and the ceiling again;
4. prints requests/s, its ratio to the ceiling, p50/p95/p99 latency and the status codes, and for
   orders: orders created, 201 answers seen and units reserved, which must all agree.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

SEARCH_TERMS = ["heart", "bag", "christmas", "mug", "candle", "lantern", "cake", "vintage", "box", "card"]


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    elapsed: float = 0.0


def prepare(args) -> dict:
    """Users, tokens, sample ids and stock for the run (Django, this process, before any load)."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from accounts.services import token_create
    from recommender.models import CustomerRecommendation, ModelVersion, SimilarProduct
    from shop import services
    from shop.models import Customer, Order, Product, StockRecord
    from shop.services_catalogue import product_popularity_refresh

    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to the PostgreSQL database holding the imported Online Retail data.")
    version = ModelVersion.objects.active().first()
    if version is None:
        sys.exit("No active recommender version: run import_transactions and retrain_recommender first.")
    product_popularity_refresh()

    User = get_user_model()
    customers = list(
        Customer.objects.filter(
            pk__in=CustomerRecommendation.objects.filter(version=version, mode="all")
            .order_by()
            .values("customer")
            .distinct()[: args.users * 4]
        ).order_by("pk")
    )
    random.Random(0).shuffle(customers)
    tokens = []
    for n in range(args.users):
        user, _ = User.objects.get_or_create(username=f"bench-{n}")
        owned = Customer.objects.filter(user=user).first()
        if owned is None:
            owned = next(c for c in customers if c.user_id is None)
            owned.user = user
            owned.save(update_fields=["user"])
            customers.remove(owned)
        tokens.append(token_create(user=user, name="bench")[1])

    # Product pages are viewed roughly in proportion to sales: the similar lists asked for are those
    # of the --similar-products best sellers (docs/BENCHMARKS.md also reports the cache turned off).
    similar_ids = list(
        Product.objects.active()
        .filter(pk__in=SimilarProduct.objects.filter(version=version).values("product"))
        .order_by("-units_sold", "pk")
        .values_list("pk", flat=True)[: args.similar_products]
    )
    order_ids = list(
        Product.objects.active().order_by("-units_sold").values_list("pk", flat=True)[: args.order_products]
    )
    # The import records sales, not stock, and an unstocked product is never recommended: stock every
    # active product (a stocktake through the shop's service), the ordered ones so that no order of
    # the run can be short, since reserved units are the check.
    levels = {pid: 1_000 for pid in Product.objects.active().values_list("pk", flat=True)}
    levels.update({pid: 10_000_000 for pid in order_ids})
    reserved = dict(StockRecord.objects.values_list("product_id", "reserved"))
    services.stock_set_levels(
        levels={pid: max(level, reserved.get(pid, 0)) for pid, level in levels.items()},
        reason="stocktake",
        note="bench_api.py",
    )
    return {
        "tokens": tokens,
        "similar_ids": similar_ids,
        "order_ids": order_ids,
        "orders_before": Order.objects.count(),
        "reserved_before": sum(
            StockRecord.objects.filter(product_id__in=order_ids).values_list("reserved", flat=True)
        ),
    }


def order_totals(order_ids: list[int]) -> tuple[int, int]:
    from django.db import connection

    from shop.models import Order, StockRecord

    connection.close()
    reserved = sum(StockRecord.objects.filter(product_id__in=order_ids).values_list("reserved", flat=True))
    return Order.objects.count(), reserved


async def http(port: int, method: str, path: str, headers: dict[str, str], body: bytes | None):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
    await writer.drain()
    raw = await reader.read()
    writer.close()
    status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/") else 0
    return status, raw


async def run_phase(args, name: str, make_request, seconds: float) -> Phase:
    """``--clients`` loops, each sending its next request as soon as the previous one answers."""
    phase = Phase(name)
    deadline = time.perf_counter() + seconds

    async def client(index: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            method, path, headers, body = make_request(index, n)
            n += 1
            started = time.perf_counter()
            try:
                status, _ = await http(args.port, method, path, headers, body)
            except OSError:
                phase.errors += 1
                continue
            phase.latencies.append(time.perf_counter() - started)
            phase.statuses[status] = phase.statuses.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(args.clients)))
    phase.elapsed = time.perf_counter() - started
    return phase


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else 0.0


def start_server(args) -> subprocess.Popen:
    env = dict(os.environ)
    if args.throttle == "off":
        # DRF's rate throttle keeps every request's timestamp of the window in the cache and reads
        # and writes that list on each request: at benchmark rates (thousands per minute per user)
        # that list, not the endpoint, is what gets measured. "--throttle default" keeps the limits.
        for scope in ("ANON", "CUSTOMER", "ORDERS"):
            env[f"API_THROTTLE_{scope}"] = "off"
    env.setdefault("SHOP_MAX_RESERVED_PER_PRODUCT", "100000000")
    # The workers share throttle counters through Redis, as in production (served answers stay in
    # each worker's memory: the "serve" cache alias).
    env.setdefault("CACHE_URL", args.cache_url)
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "config.wsgi",
        f"--workers={args.workers}",
        f"--bind=127.0.0.1:{args.port}",
        "--log-level=warning",
        "--backlog=2048",
    ]
    try:
        asyncio.run(http(args.port, "GET", "/api/health/", {}, None))
        sys.exit(f"Something already answers on port {args.port}: choose another --port.")
    except OSError:
        pass
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    for _ in range(300):
        try:
            if asyncio.run(http(args.port, "GET", "/api/health/", {}, None))[0] == 200:
                return server
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    sys.exit("gunicorn did not answer /api/health/ within 60 s")


def stop_server(server: subprocess.Popen) -> None:
    """Quick shutdown (SIGINT), then the whole process group if it lingers on a loaded machine."""
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8121)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--clients", type=int, default=32, help="requests kept in flight")
    parser.add_argument("--users", type=int, default=32, help="customers with a token")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per endpoint")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds per endpoint")
    parser.add_argument("--order-products", type=int, default=200)
    parser.add_argument("--similar-products", type=int, default=200, help="best sellers whose lists are read")
    parser.add_argument(
        "--throttle",
        choices=["off", "default"],
        default="off",
        help="API throttling scopes off or as configured",
    )
    parser.add_argument(
        "--cache-url", default="redis://127.0.0.1:6379/2", help="the workers' shared cache (CACHE_URL)"
    )
    args = parser.parse_args()

    data = prepare(args)
    tokens, similar_ids, order_ids = data["tokens"], data["similar_ids"], data["order_ids"]

    def auth(index: int) -> dict[str, str]:
        return {"Authorization": f"Token {tokens[index % len(tokens)]}", "Accept": "application/json"}

    def health(index, n):
        return "GET", "/api/health/", auth(index), None

    def recommendations(index, n):
        return "GET", "/api/me/recommendations/?limit=10", auth(index), None

    def similar(index, n):
        pid = similar_ids[(index * 7919 + n) % len(similar_ids)]
        return "GET", f"/api/products/{pid}/similar/?limit=10", auth(index), None

    def search(index, n):
        term = SEARCH_TERMS[(index + n) % len(SEARCH_TERMS)]
        return "GET", f"/api/products/?search={term}", auth(index), None

    def order(index, n):
        pid = order_ids[(index * 31 + n) % len(order_ids)]
        headers = auth(index) | {"Idempotency-Key": uuid.uuid4().hex}
        body = json.dumps({"lines": [{"product": pid, "quantity": 1}]}).encode()
        return "POST", "/api/orders/", headers, body

    server = start_server(args)
    try:
        with open("/proc/loadavg") as f:
            load_start = f.read().split()[:3]
        results = []
        plan = [
            ("minimal view (ceiling)", health),
            ("GET /api/me/recommendations/", recommendations),
            ("GET /api/products/{id}/similar/", similar),
            ("GET /api/products/?search=", search),
            ("POST /api/orders/", order),
            ("minimal view (ceiling), again", health),
        ]
        orders_seen = None
        for name, make in plan:
            if name.startswith("POST"):
                # Orders are counted exactly: no unmeasured warm-up requests for them.
                before = order_totals(order_ids)
                phase = asyncio.run(run_phase(args, name, make, args.seconds))
                after = order_totals(order_ids)
                orders_seen = (after[0] - before[0], phase.statuses.get(201, 0), after[1] - before[1])
            else:
                asyncio.run(run_phase(args, name, make, args.warmup))
                phase = asyncio.run(run_phase(args, name, make, args.seconds))
            results.append(phase)
            print(f"  {name}: {len(phase.latencies) / phase.elapsed:.0f} req/s", file=sys.stderr)
        with open("/proc/loadavg") as f:
            load_end = f.read().split()[:3]
    finally:
        stop_server(server)

    ceiling = len(results[0].latencies) / results[0].elapsed
    print(
        f"gunicorn {args.workers} sync workers, throttling {args.throttle}, "
        f"cache {os.environ.get('CACHE_URL', args.cache_url)}, "
        f"{args.clients} clients, {args.seconds:.0f} s per endpoint "
        f"after {args.warmup:.0f} s warm-up; load average {' '.join(load_start)} at start, "
        f"{' '.join(load_end)} at end"
    )
    print("| endpoint | requests | req/s | ratio to ceiling | p50 ms | p95 ms | p99 ms | statuses | errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    for phase in results:
        rps = len(phase.latencies) / phase.elapsed
        ms = sorted(x * 1000 for x in phase.latencies)
        statuses = ", ".join(f"{code}: {count}" for code, count in sorted(phase.statuses.items()))
        print(
            f"| {phase.name} | {len(ms)} | {rps:.0f} | {rps / ceiling:.2f} | {percentile(ms, 50):.1f} "
            f"| {percentile(ms, 95):.1f} | {percentile(ms, 99):.1f} | {statuses} | {phase.errors} |"
        )
    if orders_seen is not None:
        created, answered, reserved = orders_seen
        verdict = "equal" if created == answered == reserved else "NOT EQUAL"
        print(f"orders created {created}, 201 answers {answered}, units reserved {reserved}: {verdict}")


if __name__ == "__main__":
    main()
