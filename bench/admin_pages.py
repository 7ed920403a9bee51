"""Server time of every admin screen over HTTP, on whatever database DATABASE_URL points at.

Start a server first (same settings, DEBUG off), then:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop_admin \\
        .venv/bin/python bench/admin_pages.py --base http://127.0.0.1:8130 --repeat 5

It logs in as a throwaway superuser it creates, requests each page ``--repeat`` times after one
warm-up, and prints the median and worst wall time per page (loopback, so this is server time plus
well under a millisecond of transfer) beside the 300 ms target, and the exact command.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import statistics
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

TARGET_MS = 300


def pages() -> list[tuple[str, str]]:
    import django

    django.setup()
    from django.urls import reverse

    from inventory.models import ForecastRun, ProductForecast, PurchaseOrder, ReorderSuggestion
    from recommender.models import ModelVersion
    from shop.models import Customer, Order

    biggest = Order.objects.raw(
        "SELECT o.id FROM shop_order o JOIN shop_orderline l ON l.order_id = o.id "
        "GROUP BY o.id ORDER BY COUNT(*) DESC LIMIT 1"
    )
    biggest_order = next(iter(biggest), None)
    suggestion = ReorderSuggestion.objects.open().order_by("projected_stockout").first()
    forecast = ProductForecast.objects.order_by("-id").first()
    customer = Customer.objects.filter(orders__isnull=False).order_by("pk").first()
    version = ModelVersion.objects.active().first()
    result = [
        ("dashboard", reverse("admin:index")),
        ("reorder worklist", reverse("admin:inventory_reordersuggestion_changelist")),
        ("worklist, flagged", reverse("admin:inventory_reordersuggestion_changelist") + "?flag=any"),
        ("worklist by supplier", reverse("admin:inventory_reordersuggestion_by_supplier")),
        ("suppliers", reverse("admin:inventory_supplier_changelist")),
        ("suggestion decisions", reverse("admin:inventory_suggestiondecision_changelist")),
        ("forecast runs", reverse("admin:inventory_forecastrun_changelist")),
        ("purchase orders", reverse("admin:inventory_purchaseorder_changelist")),
        ("orders list", reverse("admin:shop_order_changelist")),
        ("customers list", reverse("admin:shop_customer_changelist")),
        ("products list", reverse("admin:shop_product_changelist")),
        ("stock movements", reverse("admin:shop_stockmovement_changelist")),
        ("forecasts list", reverse("admin:inventory_productforecast_changelist")),
        ("supply terms", reverse("admin:inventory_productsupply_changelist")),
        ("model versions", reverse("admin:recommender_modelversion_changelist")),
        ("runs", reverse("admin:pipeline_run_changelist")),
    ]
    if biggest_order is not None:
        result.append(("biggest order page", reverse("admin:shop_order_change", args=[biggest_order.id])))
    result.append(("orders to ship", reverse("admin:shop_ordertoship_changelist")))
    waiting = Order.objects.to_ship().first()
    if waiting is not None:
        result.append(("ship screen", reverse("admin:shop_order_ship", args=[waiting.pk])))
    if customer is not None:
        result.append(("customer page", reverse("admin:shop_customer_change", args=[customer.pk])))
    if suggestion is not None:
        result.append(
            ("suggestion page", reverse("admin:inventory_reordersuggestion_change", args=[suggestion.pk]))
        )
        result.append(
            ("product page + chart", reverse("admin:shop_product_change", args=[suggestion.product_id]))
        )
    if forecast is not None:
        result.append(
            ("forecast page", reverse("admin:inventory_productforecast_change", args=[forecast.pk]))
        )
    if version is not None:
        result.append(("active version", reverse("admin:recommender_modelversion_change", args=[version.pk])))
    run = ForecastRun.objects.order_by("-id").first()
    if run is not None:
        result.append(("forecast run", reverse("admin:inventory_forecastrun_change", args=[run.pk])))
    po = PurchaseOrder.objects.order_by("-id").first()
    if po is not None:
        result.append(("purchase order", reverse("admin:inventory_purchaseorder_change", args=[po.pk])))
        result.append(("PO document", reverse("admin:inventory_purchaseorder_document", args=[po.pk])))
    if suggestion is not None and suggestion.product.category_id:
        result.append(
            (
                "category what-if",
                reverse(
                    "admin:inventory_reordersuggestion_category_what_if",
                    args=[suggestion.product.category_id],
                ),
            )
        )
    return result


def login(base: str) -> urllib.request.OpenerDirector:
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    user_model.objects.filter(username="bench-admin").delete()
    user_model.objects.create_superuser("bench-admin", "bench@example.com", "bench-admin-pw-123")
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{base}/admin/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode(
        {
            "username": "bench-admin",
            "password": "bench-admin-pw-123",
            "csrfmiddlewaretoken": token,
            "next": "/admin/",
        }
    ).encode()
    opener.open(
        urllib.request.Request(f"{base}/admin/login/", data=data, headers={"Referer": f"{base}/admin/login/"})
    )
    return opener


def server_cpu_ms(pid: int | None) -> float:
    """User + system CPU time of the server process so far: unlike wall time, load does not inflate it."""
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8130")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--server-pid", type=int, help="also report the server process's CPU time per request (from /proc)"
    )
    args = parser.parse_args()
    targets = pages()
    opener = login(args.base)
    print(f"command: {' '.join(sys.argv)}  (load average {os.getloadavg()[0]:.2f})")
    print(
        f"{'page':<24} {'median ms':>10} {'worst ms':>9} {'server CPU ms':>14}  target {TARGET_MS} ms (lists)"
    )
    for name, path in targets:
        opener.open(args.base + path).read()  # warm-up: first chart draw, template compile
        samples, cpu = [], []
        for _ in range(args.repeat):
            cpu_before = server_cpu_ms(args.server_pid)
            started = time.perf_counter()
            response = opener.open(args.base + path)
            response.read()
            samples.append((time.perf_counter() - started) * 1000)
            cpu.append(server_cpu_ms(args.server_pid) - cpu_before)
            assert response.status == 200, (name, response.status)
        median = statistics.median(samples)
        cpu_median = statistics.median(cpu) if args.server_pid else float("nan")
        flag = "ok" if median <= TARGET_MS else "OVER"
        print(f"{name:<24} {median:>10.0f} {max(samples):>9.0f} {cpu_median:>14.0f}  {flag}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
