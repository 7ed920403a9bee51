"""Issue 17 §1 in the browser: a buyer imports suppliers, supply terms and a stock count in the admin,
sees every row's outcome in a preview that writes nothing, and confirms."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from inventory.models import ProductSupply, Supplier
from shop.models import Order, OrderLine, Product, StockMovement, StockRecord
from tests.browser.test_admin_in_browser import _assert_clean, _log_in, _staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def imported_shop():
    """Two products as import_transactions leaves them: sold, with no stock, supplier or terms."""
    products = [
        Product.objects.create(
            sku="85123A", name="WHITE HANGING HEART T-LIGHT HOLDER", price=Decimal("2.55")
        ),
        Product.objects.create(sku="22423", name="REGENCY CAKESTAND 3 TIER", price=Decimal("12.75")),
    ]
    order = Order.objects.create(number="536365", status=Order.Status.FULFILLED)
    for number, product in enumerate(products, start=1):
        OrderLine.objects.create(order=order, line_number=number, product=product, quantity=6, unit_price=1)
    return products


def _import(session, changelist: str, path, name: str) -> None:
    """Open the model's list, press Import, upload ``path`` as CSV and submit: the preview."""
    page = session.page
    session.open(reverse(changelist), f"{name}_0_list")
    page.click("a.import_link")
    page.wait_for_load_state("load")
    page.set_input_files("#id_import_file", str(path))
    page.select_option("#id_format", label="csv")
    page.click("input[type=submit][value=Submit]")
    page.wait_for_load_state("load")
    session.shot(f"{name}_1_preview")


def _confirm(session, name: str) -> None:
    page = session.page
    page.click("input[type=submit][name=confirm]")
    page.wait_for_load_state("load")
    session.shot(f"{name}_2_done")


def test_imports_show_a_preview_that_writes_nothing_until_confirmed(browser_session, imported_shop, tmp_path):
    session, page = browser_session, browser_session.page
    _staff()
    _log_in(session, prefix="import_")
    assert "No stock count yet" in page.inner_text("#missing-shop-data")
    assert "2 products have no supplier" in page.inner_text("#missing-shop-data")

    suppliers = tmp_path / "suppliers.csv"
    suppliers.write_text("name,email,lead_time_days\nAcme Ltd,orders@acme.example,5\nBad Co,nope,3\n")
    _import(session, "admin:inventory_supplier_changelist", suppliers, "suppliers")
    assert "1 new" in page.inner_text("#import-summary") and "1 rejected" in page.inner_text(
        "#import-summary"
    )
    assert "invalid_value: email 'nope' is not an email address" in page.inner_text("#import-preview")
    assert not Supplier.objects.exists()  # the preview rolled its work back
    _confirm(session, "suppliers")
    assert "Imported 1 of 2 rows (1 new, 0 changed, 0 unchanged); 1 rejected." in page.inner_text(
        ".messagelist"
    )
    assert list(Supplier.objects.values_list("name", "lead_time_days")) == [("Acme Ltd", 5)]

    terms = tmp_path / "terms.csv"
    terms.write_text(
        "sku,supplier,unit_cost,pack_size\n85123a,acme ltd,1.20,6\n22423,Acme Ltd,7.5,\nX1,Acme Ltd,1,\n"
    )
    _import(session, "admin:inventory_productsupply_changelist", terms, "terms")
    preview = page.inner_text("#import-preview")
    assert "unknown_sku" in preview and "85123A" in preview
    assert not ProductSupply.objects.exists()
    _confirm(session, "terms")
    assert ProductSupply.objects.get(product__sku="85123A").pack_size == 6

    stock = tmp_path / "stock.csv"
    stock.write_text("sku,on_hand\n85123A,40\n22423,12\n")
    _import(session, "admin:shop_stockrecord_changelist", stock, "stock")
    rows = page.locator("#import-preview tbody tr")
    assert rows.count() == 2 and "2 new" in page.inner_text("#import-summary")
    assert not StockRecord.objects.exists() and not StockMovement.objects.exists()
    _confirm(session, "stock")
    assert dict(StockRecord.objects.values_list("product__sku", "on_hand")) == {"85123A": 40, "22423": 12}
    assert StockMovement.objects.filter(reason=StockMovement.Reason.STOCKTAKE).count() == 2

    # A recount of one product: the preview shows the change from what is on hand.
    stock.write_text("sku,on_hand\n85123A,35\n22423,12\n")
    _import(session, "admin:shop_stockrecord_changelist", stock, "recount")
    assert "40 → 35" in page.inner_text("#import-preview")
    assert "1 changed" in page.inner_text("#import-summary") and "1 unchanged" in page.inner_text(
        "#import-summary"
    )
    _confirm(session, "recount")
    assert StockRecord.objects.get(product__sku="85123A").on_hand == 35

    session.open(reverse("admin:index"), "import_3_dashboard")
    missing = page.inner_text("#missing-shop-data")
    assert (
        "no supplier" not in missing
        and "stock count" not in missing
        and "2 products have no category" in missing
    )
    _assert_clean(session)
