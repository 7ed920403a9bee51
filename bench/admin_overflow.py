"""The buyer's screens in Chromium at 1366 px on whatever database the server reads: overflow and screenshots.

Start a server on the database (DEBUG=1 so that runserver serves the admin's CSS), then:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop_buyer DEBUG=1 \\
        .venv/bin/python manage.py runserver 127.0.0.1:8060 --noreload &
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop_buyer \\
        .venv/bin/python bench/admin_overflow.py --base http://127.0.0.1:8060 --out /tmp/buyer/shots

It logs in as a throwaway superuser it creates, opens each screen in headless Debian Chromium
(``/usr/bin/chromium``, never a downloaded browser) with a 1366 x 900 window, saves a full-page
screenshot, and prints, per screen, the page's and the result table's scroll width against the
window (an overflow is a page or table wider than its box) and the page's height. It exits 1 when
a checked screen overflows. ``--readme`` also writes the README's screenshots (docs/screenshots/).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

WIDTH, HEIGHT = 1366, 900
USER, PASSWORD = "overflow-bench", "overflow-bench-pw-123"
#: screens whose width the issue checks; the others are screenshots
CHECKED = {"worklist", "runs", "model versions"}
#: screen -> README file name (docs/screenshots/)
README = {
    "dashboard": "dashboard.png",
    "worklist": "worklist.png",
    "worklist by supplier": "worklist_by_supplier.png",
    "suggestion": "suggestion.png",
    "category what-if": "category_what_if.png",
    "purchase order": "purchase_order.png",
    "purchase order document": "purchase_order_document.png",
    "product": "product_accuracy.png",
}


def screens() -> list[tuple[str, str]]:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.urls import reverse
    from django.utils import timezone

    from inventory.models import ProductForecast, PurchaseOrder, ReorderSuggestion
    from shop.models import Order

    users = get_user_model()
    users.objects.filter(username=USER).delete()
    users.objects.create_superuser(USER, "overflow@example.com", PASSWORD)
    worklist = reverse("admin:inventory_reordersuggestion_changelist")
    result = [
        ("dashboard", reverse("admin:index")),
        ("worklist", worklist),
        ("worklist flagged", worklist + "?flag=any"),
        ("worklist by supplier", reverse("admin:inventory_reordersuggestion_by_supplier")),
        ("runs", reverse("admin:pipeline_run_changelist")),
        ("model versions", reverse("admin:recommender_modelversion_changelist")),
        ("forecast runs", reverse("admin:inventory_forecastrun_changelist")),
        ("purchase orders", reverse("admin:inventory_purchaseorder_changelist")),
    ]
    flagged = ReorderSuggestion.objects.to_review(today=timezone.localdate()).flagged().order_by("pk").first()
    suggestion = flagged or ReorderSuggestion.objects.open().order_by("pk").first()
    if suggestion is not None:
        result.append(
            ("suggestion", reverse("admin:inventory_reordersuggestion_change", args=[suggestion.pk]))
        )
        # The product page's accuracy panel is worth a look for a product forecast by a fitted method.
        fitted = (
            ProductForecast.objects.filter(run=suggestion.run, backtest_mase__isnull=False)
            .exclude(method__in=["ma28", "zero"])
            .order_by("product__sku")
            .first()
        )
        product_id = fitted.product_id if fitted else suggestion.product_id
        result.append(("product", reverse("admin:shop_product_change", args=[product_id])))
        if suggestion.product.category_id:
            result.append(
                (
                    "category what-if",
                    reverse(
                        "admin:inventory_reordersuggestion_category_what_if",
                        args=[suggestion.product.category_id],
                    ),
                )
            )
    order = PurchaseOrder.objects.order_by("-id").first()
    if order is not None:
        result.append(("purchase order", reverse("admin:inventory_purchaseorder_change", args=[order.pk])))
        result.append(
            ("purchase order document", reverse("admin:inventory_purchaseorder_document", args=[order.pk]))
        )
        if order.status in PurchaseOrder.OPEN_STATUSES:
            result.append(("receive", reverse("admin:inventory_purchaseorder_receive", args=[order.pk])))
    biggest = Order.objects.raw(
        "SELECT o.id FROM shop_order o JOIN shop_orderline l ON l.order_id = o.id "
        "GROUP BY o.id ORDER BY COUNT(*) DESC LIMIT 1"
    )
    big = next(iter(biggest), None)
    if big is not None:
        result.append(("biggest order", reverse("admin:shop_order_change", args=[big.id])))
    return result


MEASURE = """() => {
  const doc = document.documentElement;
  const table = document.querySelector('.results') || document.querySelector('#result_list');
  return {
    pageScroll: doc.scrollWidth, pageBox: doc.clientWidth, height: doc.scrollHeight,
    tableScroll: table ? table.scrollWidth : null, tableBox: table ? table.clientWidth : null,
    tableRight: document.querySelector('#result_list')
      ? Math.round(document.querySelector('#result_list').getBoundingClientRect().right) : null,
  };
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="http://127.0.0.1:8060")
    parser.add_argument("--out", default="test-artifacts/overflow")
    parser.add_argument("--readme", action="store_true", help="also write docs/screenshots/ for the README")
    parser.add_argument("--chromium", default=os.environ.get("BROWSER_EXECUTABLE", "/usr/bin/chromium"))
    args = parser.parse_args()
    targets = screens()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    print(f"command: {' '.join(sys.argv)}  (load average {os.getloadavg()[0]:.2f})")
    print(f"{'screen':<26} {'page px':>8} {'table px':>9} {'height px':>10}  result")
    failed = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=args.chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, locale="en-GB").new_page()
        page.goto(f"{args.base}/admin/login/")
        page.fill("#id_username", USER)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_load_state("load")
        for name, path in targets:
            response = page.goto(args.base + path, wait_until="load")
            assert response is not None and response.status == 200, (name, response and response.status)
            size = page.evaluate(MEASURE)
            over = size["pageScroll"] > size["pageBox"] or (
                size["tableScroll"] is not None and size["tableScroll"] > size["tableBox"]
            )
            if over and name in CHECKED:
                failed.append(name)
            verdict = ("OVERFLOW" if over else "fits") + (" (checked)" if name in CHECKED else "")
            table = "-" if size["tableScroll"] is None else f"{size['tableScroll']}/{size['tableBox']}"
            width = f"{size['pageScroll']}/{size['pageBox']}"
            print(f"{name:<26} {width:>9} {table:>9} {size['height']:>10,}  {verdict}")
            file = out / f"{name.replace(' ', '_')}.png"
            page.screenshot(path=str(file), full_page=True)
            if args.readme and name in README:
                docs = Path(__file__).resolve().parents[1] / "docs" / "screenshots" / README[name]
                panel = page.locator("fieldset:has(.field-forecast_accuracy)")
                if name == "product" and panel.count():
                    panel.screenshot(path=str(docs))  # the accuracy panel, not the product's form
                else:
                    page.screenshot(path=str(docs), full_page=False)
        browser.close()
    print(f"screenshots in {out}; load average after: {os.getloadavg()[0]:.2f}")
    if failed:
        print(f"overflow at {WIDTH} px: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
