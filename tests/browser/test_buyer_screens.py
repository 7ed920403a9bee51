"""The buyer's new screens in headless Chromium: accessibility (axe-core) and each flow end to end.

axe-core is vendored (tests/browser/vendor/axe-core/, from the npm registry, MPL-2.0) and injected
into each page; a critical or serious violation fails the test with its rule and the elements.
The flows: group by supplier and order one supplier, type quantities in many rows and watch the
selection's total, snooze, export XLSX, and email a purchase order (read back from the outbox).
"""

from __future__ import annotations

import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from inventory import services
from inventory.models import ForecastRun, ProductSupply, PurchaseOrder, ReorderSuggestion, SuggestionDecision
from shop.models import Category
from shop.services import stock_set_levels
from tests.pipeline.shop_data import build_shop_history
from tests.shop.factories import make_product

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
PASSWORD = "buyer-screens-pw-123"
WORKLIST = "admin:inventory_reordersuggestion_changelist"


def _log_in(session) -> None:
    get_user_model().objects.create_superuser("buyer", "buyer@example.com", PASSWORD)
    session.log_in("buyer", PASSWORD, "40_login")


def _serious_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => {
          const result = await axe.run(document, {resultTypes: ['violations']});
          return result.violations
            .filter(v => v.impact === 'critical' || v.impact === 'serious')
            .map(v => `${v.impact} ${v.id} (${v.help}): `
              + v.nodes.slice(0, 5).map(n => n.target.join(' ')).join(', '));
        }"""
    )
    return list(found)


def _money(text: str) -> Decimal:
    return Decimal(re.sub(r"[^\d.\-]", "", text))


@pytest.fixture
def worklist():
    """Two suppliers (one with a minimum order value), categories, and open suggestions of a real run."""
    products, _ = build_shop_history(products=16, customers=24, days=120)
    services.demo_supply_terms_ensure()
    big = services.supplier_upsert(
        name="Harbour Homeware",
        email="orders@harbour.example",
        lead_time_days=10,
        minimum_order_value=Decimal("5000"),
    )
    kitchen, garden = Category.objects.create(name="Kitchen"), Category.objects.create(name="Garden")
    for index, product in enumerate(products):
        product.category = kitchen if index % 2 else garden
        product.save()
        if index % 2:
            ProductSupply.objects.filter(product=product).update(supplier=big)
    run = services.forecast_retrain(as_of=timezone.localdate())
    suggestions = list(ReorderSuggestion.objects.filter(run=run).select_related("product", "supplier"))
    assert len(suggestions) >= 4, "the history must produce a few suggestions"
    return run, suggestions


def test_the_buyers_pages_have_no_critical_or_serious_accessibility_violations(browser_session, worklist):
    run, suggestions = worklist
    ReorderSuggestion.objects.filter(pk=suggestions[0].pk).update(flags=["cover_capped", "above_sales"])
    (order,) = services.purchase_orders_from_suggestions(suggestion_ids=[suggestions[1].pk])
    session, page = browser_session, browser_session.page
    _log_in(session)
    pages = {
        "41_dashboard": reverse("admin:index"),
        "42_worklist": reverse(WORKLIST),
        "43_suggestion": reverse("admin:inventory_reordersuggestion_change", args=[suggestions[0].pk]),
        "44_purchase_order": reverse("admin:inventory_purchaseorder_change", args=[order.pk]),
        "45_receive": reverse("admin:inventory_purchaseorder_receive", args=[order.pk]),
        "46_by_supplier": reverse("admin:inventory_reordersuggestion_by_supplier"),
    }
    problems = {}
    for name, path in pages.items():
        session.open(path, name)
        found = _serious_violations(page)
        if found:
            problems[name] = found
    assert problems == {}
    # The receive form's inputs are labelled by their product, not left bare.
    page.goto(session.base_url + pages["45_receive"])
    line = order.lines.select_related("product").get()
    assert page.get_by_label(f"{line.product.sku} {line.product.name}").count() == 1
    assert session.console_errors == []


def test_group_by_supplier_then_order_one_suppliers_lines(browser_session, worklist):
    run, suggestions = worklist
    session, page = browser_session, browser_session.page
    _log_in(session)
    session.open(reverse(WORKLIST), "50_worklist")
    page.click("#group-by-supplier")
    page.wait_for_load_state("load")
    session.shot("51_by_supplier")
    harbour = [s for s in suggestions if s.supplier and s.supplier.name == "Harbour Homeware"]
    assert harbour and len(harbour) < len(suggestions), "both suppliers must have suggestions"
    row = page.locator("tr.supplier-row[data-supplier='Harbour Homeware']")
    expected = sum((s.quantity * s.product.supply.unit_cost for s in harbour), Decimal(0))
    assert _money(row.locator(".subtotal").inner_text()) == expected.quantize(Decimal("0.01"))
    assert _money(row.locator(".minimum").inner_text()) == Decimal("5000.00")
    assert ("short by" in row.inner_text()) == (expected < 5000)
    row.locator("form.order-supplier button").click()
    page.wait_for_load_state("load")
    session.shot("52_confirm_one_supplier")
    assert page.locator("#confirm-lines tbody tr").count() == len(harbour)
    page.click("input[type=submit].default")
    page.wait_for_load_state("load")
    order = PurchaseOrder.objects.get()
    assert order.supplier.name == "Harbour Homeware"
    assert set(order.lines.values_list("product_id", flat=True)) == {s.product_id for s in harbour}
    assert session.console_errors == []


def test_quantities_typed_in_many_rows_change_the_selection_total_live_and_save_together(browser_session):
    run = ForecastRun.objects.create(as_of=timezone.localdate(), status=ForecastRun.Status.COMPLETE)
    supplier = services.supplier_upsert(name="Acme", email="orders@acme.example", lead_time_days=7)
    rows = []
    for index in range(4):
        product = make_product()
        ProductSupply.objects.create(product=product, supplier=supplier, unit_cost=Decimal("1.50"))
        stock_set_levels(levels={product.pk: 10})
        rows.append(
            ReorderSuggestion.objects.create(
                run=run, product=product, supplier=supplier, quantity=10 + index, reorder_point=20,
                order_up_to=40, inventory_position=10, service_level=0.95, reason="test",
                headline="stock-out in 2 days",
            )
        )  # fmt: skip
    session, page = browser_session, browser_session.page
    _log_in(session)
    session.open(reverse(WORKLIST), "60_worklist")
    for row in rows[:3]:
        page.check(f"input.action-select[value='{row.pk}']")
    assert _money(page.inner_text("#selection-total")) == Decimal("1.50") * (10 + 11 + 12)
    page.fill(f"input[name='qty-{rows[0].pk}']", "100")
    page.fill(f"input[name='qty-{rows[1].pk}']", "250")
    # Live: the ticked rows' total follows the typed quantities before anything is saved.
    assert _money(page.inner_text("#selection-total")) == Decimal("1.50") * (100 + 250 + 12)
    assert page.inner_text("#selection-count") == "3"
    page.fill(f"input[name='qty-{rows[3].pk}']", "7")  # an unticked row is saved too
    session.shot("61_typed")
    page.click("#save-quantities")
    page.wait_for_load_state("load")
    session.shot("62_saved")
    assert "Saved 3 quantities" in page.inner_text("ul.messagelist")
    saved = dict(ReorderSuggestion.objects.values_list("pk", "quantity_override"))
    assert saved == {rows[0].pk: 100, rows[1].pk: 250, rows[2].pk: None, rows[3].pk: 7}
    assert page.input_value(f"input[name='qty-{rows[1].pk}']") == "250"
    assert session.console_errors == []


def test_snooze_hides_rows_and_records_the_decision(browser_session, worklist):
    run, suggestions = worklist
    chosen = suggestions[:2]
    session, page = browser_session, browser_session.page
    _log_in(session)
    session.open(reverse(WORKLIST), "70_worklist")
    for suggestion in chosen:
        page.check(f"input.action-select[value='{suggestion.pk}']")
    page.select_option("select[name=action]", "snooze")
    page.click("button[name=index]")
    page.wait_for_load_state("load")
    session.shot("71_snooze_form")
    page.get_by_label("1 week").check()
    page.click("#decide-form input[type=submit]")
    page.wait_for_load_state("load")
    session.shot("72_snoozed")
    assert "Snoozed 2 suggestion(s)" in page.inner_text("ul.messagelist")
    for suggestion in chosen:
        assert page.locator(f"input.action-select[value='{suggestion.pk}']").count() == 0
    session.open(reverse(WORKLIST) + "?status=snoozed", "73_snoozed_list")
    assert page.locator("#result_list tbody tr").count() == 2
    assert "snoozed until" in page.inner_text("#result_list")
    decisions = SuggestionDecision.objects.filter(kind="snooze")
    assert sorted(decisions.values_list("product_id", flat=True)) == sorted(s.product_id for s in chosen)
    assert session.console_errors == []


def test_the_worklist_exports_the_selection_as_xlsx(browser_session, worklist):
    run, suggestions = worklist
    session, page = browser_session, browser_session.page
    _log_in(session)
    session.open(reverse(WORKLIST), "80_worklist")
    for suggestion in suggestions[:3]:
        page.check(f"input.action-select[value='{suggestion.pk}']")
    page.select_option("select[name=action]", "export_xlsx")
    with page.expect_download() as download:
        page.click("button[name=index]")
    path = download.value.path()
    assert download.value.suggested_filename == "reorder_suggestions.xlsx"
    rows = list(load_workbook(io.BytesIO(Path(path).read_bytes())).active.iter_rows(values_only=True))
    assert rows[0][:2] == ("SKU", "product")
    assert {r[0] for r in rows[1:]} == {s.product.sku for s in suggestions[:3]}
    by_sku = {r[0]: r for r in rows[1:]}
    sample = suggestions[0]
    assert by_sku[sample.product.sku][6] == sample.order_quantity
    assert session.console_errors == []


def test_a_purchase_order_is_emailed_to_its_supplier_from_its_page(browser_session, worklist):
    run, suggestions = worklist
    (order,) = services.purchase_orders_from_suggestions(
        suggestion_ids=[suggestions[0].pk, suggestions[1].pk]
    )
    session, page = browser_session, browser_session.page
    _log_in(session)
    session.open(reverse("admin:inventory_purchaseorder_change", args=[order.pk]), "90_purchase_order")
    page.click("a.po-document")
    page.wait_for_load_state("load")
    session.shot("91_document")
    assert _money(page.inner_text("#po-total-value")) == sum(
        (line.line_value for line in order.lines.all()), Decimal(0)
    )
    page.go_back()
    page.click("button.po-send")
    page.wait_for_load_state("load")
    session.shot("92_sent")
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.SENT and order.sent_to == order.supplier.email
    (message,) = mail.outbox
    assert message.to == [order.supplier.email] and order.reference in message.subject
    name, content, _ = message.attachments[0]
    skus = {row[0] for row in load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True)}
    assert {line.product.sku for line in order.lines.select_related("product")} <= skus
    assert f"Emailed {order.reference} to {order.supplier.email}" in page.inner_text("ul.messagelist")
    assert session.console_errors == []
