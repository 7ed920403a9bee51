"""A buyer's morning in the admin, in headless Chromium against a live server with data made here.

Each screen is opened, screenshotted (test-artifacts/screenshots/) and timed; its key numbers
are checked against the database. The flows: log in, sign reorders with one quantity changed,
create purchase orders, receive one partly and see stock and ledger move, fail to edit a
received order, and start a retrain with no broker that answers at once and completes.
"""

from __future__ import annotations

import re
import time
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db.models import F, Sum
from django.urls import reverse
from django.utils import timezone

from inventory import services as inventory_services
from inventory.models import ForecastRun, ProductForecast, PurchaseOrder, ReorderSuggestion
from pipeline import services as pipeline_services
from pipeline.models import Run
from recommender import services as recommender_services
from recommender.models import ModelVersion
from shop.models import Customer, Order, Product, StockMovement, StockRecord
from tests.pipeline.shop_data import build_shop_history

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PASSWORD = "browser-pw-1234567"


def _staff():
    return get_user_model().objects.create_superuser("buyer", "buyer@example.com", PASSWORD)


def _log_in(session, prefix: str = "0") -> None:
    session.open(reverse("admin:login"), f"{prefix}0_login")
    session.page.fill("#id_username", "buyer")
    session.page.fill("#id_password", PASSWORD)
    started = time.perf_counter()
    session.page.click("input[type=submit]")
    session.page.wait_for_load_state("load")
    session.settle(f"{prefix}1_dashboard", started)


def _number(text: str) -> Decimal:
    return Decimal(re.sub(r"[^\d.\-]", "", text))


def _assert_clean(session) -> None:
    assert session.console_errors == [], session.console_errors


@pytest.fixture
def shop_with_suggestions():
    """Four months of sales, supply terms, a forecast run with open suggestions and a recommender."""
    products, customers = build_shop_history(products=16, customers=24, days=120)
    inventory_services.demo_supply_terms_ensure()
    run = inventory_services.forecast_retrain(as_of=timezone.localdate())
    version = recommender_services.recommender_train()
    return products, customers, run, version


def test_a_buyers_morning(browser_session, shop_with_suggestions):
    products, customers, run, version = shop_with_suggestions
    session, page = browser_session, browser_session.page
    open_suggestions = list(ReorderSuggestion.objects.open().select_related("product__stock"))
    assert len(open_suggestions) >= 3, "the test data must produce some suggestions"
    # One suggestion carries a flag whatever the forecast, so at least one flag shows.
    flagged = open_suggestions[0]
    ReorderSuggestion.objects.filter(pk=flagged.pk).update(flags=["cover_capped"])
    flags_expected = ReorderSuggestion.objects.open().exclude(flags=[]).count()
    _staff()

    # --- dashboard -----------------------------------------------------------------------------
    _log_in(session)
    assert page.title().endswith("Shop intelligence")
    stockouts = Product.objects.filter(active=True, stock__on_hand__lte=F("stock__reserved")).count()
    assert int(page.inner_text("#card-stockouts .figure")) == stockouts
    assert int(page.inner_text("#card-suggestions .figure")) == len(open_suggestions)
    value = sum(
        (s.order_quantity * s.product.supply.unit_cost for s in ReorderSuggestion.objects.open()),
        Decimal(0),
    )
    assert _number(page.inner_text("#open-value")) == value.quantize(Decimal("0.01"))
    stock_value = sum(
        (
            r.on_hand * r.product.supply.unit_cost
            for r in StockRecord.objects.select_related("product__supply")
        ),
        Decimal(0),
    )
    assert _number(page.inner_text("#stock-value")) == stock_value.quantize(Decimal("0.01"))
    assert page.is_hidden("#tucked-apps .app-django_celery_beat")  # folded away until asked for
    assert page.is_visible("#recommender-metrics")

    # --- the worklist --------------------------------------------------------------------------
    session.open(reverse("admin:inventory_reordersuggestion_changelist"), "02_worklist")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == len(open_suggestions)  # open only, by default
    # Every column fits a 1366 px screen: nothing scrolls sideways, page or table.
    width = page.evaluate("document.querySelector('#result_list').getBoundingClientRect().right")
    assert width <= 1366, f"the worklist is {width}px wide"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    assert page.evaluate(
        "(() => { const r = document.querySelector('.results'); return r.scrollWidth <= r.clientWidth; })()"
    )
    assert page.locator("#result_list tbody tr:has(td.field-flag_list .flag)").count() == flags_expected
    skus = [
        text.strip()
        for text in page.locator(
            "#result_list tbody td.field-sku, #result_list tbody th.field-sku"
        ).all_inner_texts()
    ]
    expected = [
        s.product.sku
        for s in sorted(
            open_suggestions,
            key=lambda s: (
                0 if s.product.stock.on_hand <= s.product.stock.reserved else 1,
                s.projected_stockout is None,
                s.projected_stockout or timezone.localdate(),
            ),
        )
    ]
    assert skus[0] == expected[0]
    out_first = [s.product.stock.on_hand <= s.product.stock.reserved for s in open_suggestions]
    if any(out_first):
        first = ReorderSuggestion.objects.get(run=run, product__sku=skus[0])
        assert first.product.stock.on_hand <= first.product.stock.reserved
    assert page.locator(".flag").count() >= 1
    assert "flagged" in page.inner_text("#worklist-summary")

    # --- one suggestion: chart, plain reason, override -----------------------------------------
    target = open_suggestions[1]
    session.open(reverse("admin:inventory_reordersuggestion_change", args=[target.pk]), "03_suggestion")
    assert page.locator(".forecast-chart svg").count() == 1
    assert page.locator(".forecast-chart svg").get_attribute("viewBox")
    assert page.locator(".deletelink").count() == 0
    forecast_link = page.locator(".field-forecast_link a")
    assert forecast_link.count() == 1
    page.fill("#id_quantity_override", str(target.quantity + 7))
    page.click("input[name=_save]")
    page.wait_for_load_state("load")
    target.refresh_from_db()
    assert target.quantity_override == target.quantity + 7

    # --- create purchase orders from a selection -----------------------------------------------
    session.open(reverse("admin:inventory_reordersuggestion_changelist"), "04_worklist_override")
    chosen = [target, *[s for s in open_suggestions if s.pk != target.pk][:2]]
    for suggestion in chosen:
        page.check(f"input.action-select[value='{suggestion.pk}']")
    chosen_value = sum(
        (ReorderSuggestion.objects.get(pk=s.pk).order_quantity * s.product.supply.unit_cost for s in chosen),
        Decimal(0),
    )
    assert _number(page.inner_text("#selection-total")) == chosen_value.quantize(Decimal("0.01"))
    page.select_option("select[name=action]", "create_purchase_orders")
    started = time.perf_counter()
    page.click("button[name=index]")
    page.wait_for_load_state("load")
    session.settle("05_confirm_purchase_orders", started)
    assert _number(page.inner_text("#confirm-total")) == chosen_value.quantize(Decimal("0.01"))
    started = time.perf_counter()
    page.click("input[type=submit].default")
    page.wait_for_load_state("load")
    session.settle("06_orders_created", started)
    order = PurchaseOrder.objects.get()
    assert order.lines.get(product=target.product).quantity == target.quantity + 7  # the override
    page.click(f"ul.messagelist a:has-text('{order.reference}')")
    page.wait_for_load_state("load")
    session.shot("07_purchase_order")
    total = order.lines.aggregate(v=Sum(F("quantity") * F("unit_cost")))["v"]
    assert _number(page.inner_text(".field-total .readonly")) == total.quantize(Decimal("0.01"))
    assert page.locator(".field-sku").count() >= len(chosen)

    # --- send, receive partly, then the rest ---------------------------------------------------
    page.click("button.po-send")
    page.wait_for_load_state("load")
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.SENT
    line = order.lines.select_related("product").order_by("product__sku").first()
    before = StockRecord.objects.get(product=line.product).on_hand
    page.click("a.po-receive")
    page.wait_for_load_state("load")
    session.shot("08_receive")
    partial = max(1, line.quantity // 2)
    page.fill(f"#id_line_{line.pk}", str(partial))
    for other in order.lines.exclude(pk=line.pk):
        page.fill(f"#id_line_{other.pk}", "0")
    page.click("#receive-form input[type=submit]")
    page.wait_for_load_state("load")
    session.shot("09_partly_received")
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.SENT
    assert StockRecord.objects.get(product=line.product).on_hand == before + partial
    ledger = StockMovement.objects.filter(product=line.product, reference=order.reference)
    assert list(ledger.values_list("quantity", flat=True)) == [partial]
    page.click("a.po-receive")
    page.wait_for_load_state("load")
    page.click("#receive-form input[type=submit]")
    page.wait_for_load_state("load")
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.RECEIVED
    assert StockRecord.objects.get(product=line.product).on_hand == before + line.quantity

    # --- a received order is locked ------------------------------------------------------------
    session.open(reverse("admin:inventory_purchaseorder_change", args=[order.pk]), "10_received_order")
    assert page.locator("input[name=_save]").count() == 0
    assert page.locator("button.po-cancel, a.po-receive").count() == 0
    response = page.request.post(
        session.base_url + reverse("admin:inventory_purchaseorder_change", args=[order.pk]),
        form={"note": "changed"},
        headers={"X-CSRFToken": page.context.cookies()[0]["value"]},
        fail_on_status_code=False,
    )
    assert response.status in {403, 302}
    order.refresh_from_db()
    assert order.note != "changed"

    # --- every other screen --------------------------------------------------------------------
    forecast = ProductForecast.objects.filter(run=run).first()
    customer = Customer.objects.filter(orders__isnull=False).first()
    screens = [
        (reverse("admin:inventory_purchaseorder_changelist"), "11_purchase_orders"),
        (reverse("admin:inventory_forecastrun_change", args=[run.pk]), "12_forecast_run"),
        (reverse("admin:inventory_productforecast_change", args=[forecast.pk]), "13_product_forecast"),
        (reverse("admin:shop_product_change", args=[forecast.product_id]), "14_product"),
        (reverse("admin:shop_customer_change", args=[customer.pk]), "15_customer"),
        (reverse("admin:shop_order_changelist"), "16_orders"),
        (reverse("admin:shop_order_change", args=[Order.objects.first().pk]), "17_order"),
        (reverse("admin:recommender_modelversion_changelist"), "18_model_versions"),
        (reverse("admin:recommender_modelversion_change", args=[version.pk]), "19_active_version"),
        (reverse("admin:pipeline_run_changelist"), "20_runs"),
        (reverse("admin:shop_stockmovement_changelist"), "21_ledger"),
    ]
    for path, name in screens:
        session.open(path, name)
    page.goto(session.base_url + reverse("admin:recommender_modelversion_change", args=[version.pk]))
    assert page.locator(".deletelink").count() == 0  # the active version cannot be deleted
    page.goto(session.base_url + reverse("admin:shop_customer_change", args=[customer.pk]))
    assert page.locator(".field-current_recommendations a").count() > 0
    assert "last purchases" in page.inner_text("#content-main").lower()
    _assert_clean(session)


def test_a_retrain_without_a_broker_answers_at_once_and_completes(browser_session, settings, monkeypatch):
    assert settings.CELERY_TASK_ALWAYS_EAGER  # no broker: the embedded default
    # Training waits at its start until the page has answered: a request that trained inline
    # could not answer before the gate opens, so the check does not depend on machine load.
    import threading

    gate = threading.Event()
    real_train = recommender_services.recommender_train

    def gated_train(**kwargs):
        assert gate.wait(120), "the page never answered"
        return real_train(**kwargs)

    monkeypatch.setattr(recommender_services, "recommender_train", gated_train)
    build_shop_history(products=12, customers=16, days=60)
    _staff()
    session, page = browser_session, browser_session.page
    _log_in(session, prefix="4")
    session.open(reverse("admin:pipeline_run_changelist"), "30_runs_before")
    started = time.perf_counter()
    page.click("form[action$='/start/recommender/'] button")
    page.wait_for_load_state("load")
    session.settle("31_run_started", started)
    run = Run.objects.get(kind=Run.Kind.RECOMMENDER)
    assert run.is_active  # the page answered while the training had not even begun
    assert "started as run" in page.inner_text("ul.messagelist")
    assert page.locator("#auto-refresh-note").count() == 1
    gate.set()
    # The list reloads itself while the run is active; wait for it to show the run as succeeded.
    page.wait_for_function(
        "() => (document.querySelector('#result_list td.field-status')?.textContent || '')"
        ".toLowerCase().includes('succeeded')",
        timeout=120_000,
    )
    for thread in list(pipeline_services.background_threads):
        thread.join(60)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    progress = page.inner_text("#result_list td.field-progress")
    assert "100%" in progress
    session.shot("32_run_succeeded")
    link = page.locator("#result_list td.field-produced a")
    assert link.inner_text() == f"model version {run.model_version_id}"
    assert ModelVersion.objects.get(pk=run.model_version_id).is_active
    assert not ForecastRun.objects.exists()
    _assert_clean(session)
