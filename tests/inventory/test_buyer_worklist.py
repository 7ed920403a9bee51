"""The buyer's morning: flags a run writes, bulk quantities, snooze and dismiss across runs, what-if,
purchase order documents and email, exports, the grouped view, and the house style of the pages."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from inventory import services, services_worklist
from inventory.models import (
    CategoryServiceLevel,
    ForecastRun,
    ProductSupply,
    PurchaseOrder,
    ReorderSuggestion,
    SuggestionDecision,
    Supplier,
)
from pipeline.dashboard import dashboard_summary
from recommender import services as recommender_services
from shop import formats
from shop.models import Category
from shop.services import LineRequest, order_place, stock_set_levels
from tests.pipeline.shop_data import build_shop_history
from tests.shop.factories import make_product

pytestmark = pytest.mark.django_db
WORKLIST = "admin:inventory_reordersuggestion_changelist"


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("buyer", "b@example.com", "pw"))
    return client


def _supplier(name: str = "Acme", *, email: str = "orders@acme.example", minimum: str = "0") -> Supplier:
    return services.supplier_upsert(
        name=name, email=email, lead_time_days=7, minimum_order_value=Decimal(minimum)
    )


def _suggestions(count: int, *, supplier=None, run=None, cost: str = "2.50", category=None):
    run = run or ForecastRun.objects.create(as_of=date(2024, 1, 1), status=ForecastRun.Status.COMPLETE)
    supplier = supplier or _supplier()
    made = []
    for index in range(count):
        product = make_product(category=category)
        ProductSupply.objects.create(product=product, supplier=supplier, unit_cost=Decimal(cost))
        stock_set_levels(levels={product.pk: 10})
        made.append(
            ReorderSuggestion.objects.create(
                run=run, product=product, supplier=supplier, quantity=40 + index, reorder_point=20,
                order_up_to=60, inventory_position=10, service_level=0.95, reason="test",
                headline="stock-out in 3 days",
            )
        )  # fmt: skip
    return made


@pytest.fixture
def shop_run():
    """Four months of sales, demo supply terms, and one finished forecast run with open suggestions."""
    products, _ = build_shop_history(products=12, customers=16, days=120)
    services.demo_supply_terms_ensure()
    run = services.forecast_retrain(as_of=timezone.localdate())
    suggestions = list(ReorderSuggestion.objects.filter(run=run))
    assert len(suggestions) >= 3, "the history must produce a few suggestions"
    return run, suggestions


# --- flags, written by the run ------------------------------------------------------------------


def test_a_finished_run_writes_each_suggestions_flags_and_headline(shop_run, settings):
    run, suggestions = shop_run
    assert all(s.headline for s in suggestions)
    assert all(isinstance(s.flags, list) for s in suggestions)

    # Thresholds a buyer could never live with flag every suggestion that sold recently ...
    settings.INVENTORY = {**settings.INVENTORY, "FLAG_ABOVE_SALES_DAYS": 0}
    services.forecast_run_finish(run_id=run.pk)
    flags = list(ReorderSuggestion.objects.filter(run=run).values_list("flags", flat=True))
    assert all("above_sales" in f or "no_recent_sales" in f for f in flags)
    # ... and unreachable ones flag none of them for that cause.
    settings.INVENTORY = {**settings.INVENTORY, "FLAG_ABOVE_SALES_DAYS": 10**9}
    services.forecast_run_finish(run_id=run.pk)
    assert not ReorderSuggestion.objects.filter(run=run).with_flag("above_sales").exists()


def test_a_later_run_compares_each_forecast_with_the_products_previous_one(shop_run):
    run, suggestions = shop_run
    ids = [s.product_id for s in suggestions]
    from inventory import selectors

    assert selectors.previous_daily_forecasts(run=run, product_ids=ids) == {}
    later = services.forecast_retrain(as_of=run.as_of)
    previous = selectors.previous_daily_forecasts(run=later, product_ids=ids)
    stored = {f.product_id: sum(f.values) / len(f.values) for f in run.forecasts.filter(product_id__in=ids)}
    assert previous == pytest.approx(stored)


# --- typed quantities -----------------------------------------------------------------------------


def test_typed_quantities_are_saved_together_or_not_at_all(staff_client):
    first, second, third = _suggestions(3)
    url = reverse(WORKLIST)
    staff_client.post(url, {f"qty-{first.pk}": "75", f"qty-{second.pk}": "1,200", "_save_quantities": "1"})
    assert dict(ReorderSuggestion.objects.values_list("pk", "quantity_override")) == {
        first.pk: 75,
        second.pk: 1200,
        third.pk: None,
    }
    # Typing the suggested quantity back clears the override; one bad row refuses the whole batch.
    staff_client.post(url, {f"qty-{first.pk}": str(first.quantity), "_save_quantities": "1"})
    assert ReorderSuggestion.objects.get(pk=first.pk).quantity_override is None
    page = staff_client.post(
        url, {f"qty-{second.pk}": "5", f"qty-{third.pk}": "0", "_save_quantities": "1"}, follow=True
    )
    assert "Nothing was saved" in page.content.decode()
    assert ReorderSuggestion.objects.get(pk=second.pk).quantity_override == 1200
    assert ReorderSuggestion.objects.get(pk=third.pk).quantity_override is None


def test_quantities_typed_before_an_action_go_into_the_purchase_order(staff_client):
    first, second = _suggestions(2)
    staff_client.post(
        reverse(WORKLIST),
        {
            f"qty-{first.pk}": "99",
            f"qty-{second.pk}": str(second.quantity),
            "action": "create_purchase_orders",
            "_selected_action": [first.pk, second.pk],
            "confirm": "yes",
            "index": "0",
        },
    )
    order = PurchaseOrder.objects.get()
    assert dict(order.lines.values_list("product_id", "quantity")) == {
        first.product_id: 99,
        second.product_id: second.quantity,
    }


def test_a_closed_suggestion_refuses_a_quantity():
    (suggestion,) = _suggestions(1)
    services_worklist.suggestions_dismiss(suggestion_ids=[suggestion.pk], reason="gone")
    with pytest.raises(services_worklist.WorklistError, match="dismissed"):
        services_worklist.suggestions_set_quantities(quantities={suggestion.pk: 5})


# --- snooze and dismiss, respected by the next run ------------------------------------------------


def _latest_for(product_id: int) -> ReorderSuggestion:
    return ReorderSuggestion.objects.filter(product_id=product_id).order_by("-run__created_at", "-pk").first()


def test_snoozes_and_dismissals_are_recorded_and_the_next_run_respects_them(shop_run, staff_client):
    run, suggestions = shop_run
    dated, next_run, dismissed = suggestions[:3]
    today = timezone.localdate()
    url = reverse(WORKLIST)
    staff_client.post(
        url, {"action": "snooze", "_selected_action": [dated.pk], "decide": "yes", "until": "7"}
    )
    staff_client.post(
        url, {"action": "snooze", "_selected_action": [next_run.pk], "decide": "yes", "until": "next"}
    )
    staff_client.post(
        url,
        {"action": "dismiss", "_selected_action": [dismissed.pk], "decide": "yes",
         "reason": "Discontinued or being phased out"},
    )  # fmt: skip
    listed = {row.pk for row in staff_client.get(url).context["cl"].result_list}
    assert {dated.pk, next_run.pk, dismissed.pk}.isdisjoint(listed)
    snoozed = {row.pk for row in staff_client.get(url + "?status=snoozed").context["cl"].result_list}
    assert snoozed == {dated.pk, next_run.pk}
    decisions = SuggestionDecision.objects.order_by("pk")
    assert [(d.kind, d.until, d.until_next_run, d.decided_by.username) for d in decisions] == [
        ("snooze", today + timedelta(days=7), False, "buyer"),
        ("snooze", None, True, "buyer"),
        ("dismiss", None, False, "buyer"),
    ]
    assert decisions.last().reason == "Discontinued or being phased out"

    # Finishing the same run again wakes nothing.
    services.forecast_run_finish(run_id=run.pk)
    assert ReorderSuggestion.objects.get(run=run, product_id=next_run.product_id).snoozed_until is not None

    services.forecast_retrain(as_of=run.as_of)  # the next run

    assert _latest_for(dated.product_id).snoozed_until == today + timedelta(days=7)
    assert _latest_for(next_run.product_id).snoozed_until is None
    assert _latest_for(dismissed.product_id).status == ReorderSuggestion.Status.DISMISSED
    ended = SuggestionDecision.objects.get(until_next_run=True)
    assert ended.ended_at is not None and "came" in ended.ended_because

    # Once its day has come, a dated snooze ends at the next run; reopening ends a dismissal.
    SuggestionDecision.objects.filter(until__isnull=False).update(until=today)
    services.forecast_retrain(as_of=run.as_of)
    assert _latest_for(dated.product_id).snoozed_until is None
    # Reopening the first run's row brings back the product's newest one.
    assert services_worklist.suggestions_reopen(suggestion_ids=[dismissed.pk]) == 1
    assert _latest_for(dismissed.product_id).status == ReorderSuggestion.Status.OPEN
    services.forecast_retrain(as_of=run.as_of)
    assert _latest_for(dismissed.product_id).status == ReorderSuggestion.Status.OPEN


def test_a_dismissal_needs_a_reason_and_a_snooze_a_sensible_length(staff_client):
    (suggestion,) = _suggestions(1)
    with pytest.raises(services_worklist.WorklistError):
        services_worklist.suggestions_dismiss(suggestion_ids=[suggestion.pk], reason="  ")
    with pytest.raises(services_worklist.WorklistError):
        services_worklist.suggestions_snooze(suggestion_ids=[suggestion.pk], days=0)
    page = staff_client.post(
        reverse(WORKLIST),
        {
            "action": "dismiss",
            "_selected_action": [suggestion.pk],
            "decide": "yes",
            "reason": "other",
            "detail": "",
        },
    )
    assert page.status_code == 200 and b"Say why" in page.content
    assert ReorderSuggestion.objects.get(pk=suggestion.pk).status == ReorderSuggestion.Status.OPEN


# --- what-if ----------------------------------------------------------------------------------------


def test_the_what_if_orders_and_holds_more_at_higher_service_levels_without_a_retrain(shop_run, staff_client):
    run, suggestions = shop_run
    category = Category.objects.create(name="Kitchen")
    products = [s.product for s in suggestions]
    for product in products:
        product.category = category
        product.save()
    runs_before = ForecastRun.objects.count()

    rows = services_worklist.service_level_what_if(run=run, product_ids=[p.pk for p in products])

    assert [r.service_level for r in rows] == [0.90, 0.95, 0.98, 0.99]
    assert all(r.products == len(products) for r in rows)
    for lower, higher in zip(rows, rows[1:], strict=False):
        assert higher.safety_units >= lower.safety_units
        assert higher.order_units >= lower.order_units
        assert higher.average_stock_value >= lower.average_stock_value
    assert rows[-1].safety_units > rows[0].safety_units
    assert ForecastRun.objects.count() == runs_before

    page = staff_client.get(reverse("admin:inventory_reordersuggestion_change", args=[suggestions[0].pk]))
    assert b"95% (now)" in page.content and b"99%" in page.content
    what_if = reverse("admin:inventory_reordersuggestion_category_what_if", args=[category.pk])
    assert staff_client.get(what_if).status_code == 200
    staff_client.post(what_if, {"service_level": "0.98"})
    assert CategoryServiceLevel.objects.get(category=category).service_level == 0.98
    page = staff_client.get(what_if)
    assert "98% (now)" in page.content.decode()


def test_setting_a_category_service_level_needs_the_permission(client, django_user_model):
    category = Category.objects.create(name="Garden")
    clerk = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_reordersuggestion"))
    client.force_login(clerk)
    url = reverse("admin:inventory_reordersuggestion_category_what_if", args=[category.pk])
    client.post(url, {"service_level": "0.99"})
    assert not CategoryServiceLevel.objects.exists()
    with pytest.raises(Exception):  # noqa: B017 - full_clean refuses a level outside 0.5 to 0.999
        services_worklist.category_service_level_set(category=category, service_level=1.5)


# --- purchase orders: document, email, exports ------------------------------------------------------


def test_send_emails_the_order_to_the_supplier_and_records_it(staff_client):
    first, second = _suggestions(2, cost="1.25")
    (order,) = services.purchase_orders_from_suggestions(suggestion_ids=[first.pk, second.pk])

    staff_client.post(reverse("admin:inventory_purchaseorder_send", args=[order.pk]))

    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.SENT
    assert (order.sent_to, order.sent_by.username) == ("orders@acme.example", "buyer")
    (message,) = mail.outbox
    assert message.to == ["orders@acme.example"] and order.reference in message.subject
    html, _ = message.alternatives[0]
    assert first.product.sku in html and "£" in html
    name, content, mimetype = message.attachments[0]
    assert name == f"{order.reference}.xlsx" and "spreadsheetml" in mimetype
    rows = list(load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))
    header = rows.index(("SKU", "product", "quantity", "unit cost (GBP)", "value (GBP)"))
    lines = rows[header + 1 : header + 3]
    assert {(r[0], r[2], r[3], r[4]) for r in lines} == {
        (first.product.sku, 40, 1.25, 50.0),
        (second.product.sku, 41, 1.25, 51.25),
    }
    assert rows[-1][0] == "Total" and rows[-1][2] == 81 and rows[-1][4] == pytest.approx(101.25)


def test_send_refuses_a_supplier_without_an_email_and_the_order_stays_a_draft(staff_client):
    (suggestion,) = _suggestions(1, supplier=_supplier("Silent", email=""))
    (order,) = services.purchase_orders_from_suggestions(suggestion_ids=[suggestion.pk])
    page = staff_client.post(reverse("admin:inventory_purchaseorder_send", args=[order.pk]), follow=True)
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.DRAFT and order.sent_at is None
    assert mail.outbox == []
    assert "has no email address" in page.content.decode()


def test_the_order_document_is_a_printable_page_and_a_spreadsheet(staff_client):
    first, second = _suggestions(2)
    (order,) = services.purchase_orders_from_suggestions(suggestion_ids=[first.pk, second.pk])
    page = staff_client.get(
        reverse("admin:inventory_purchaseorder_document", args=[order.pk])
    ).content.decode()
    assert f"Purchase order {order.reference}" in page and "Acme" in page
    assert first.product.sku in page and "£202.50" in page and "Amounts in GBP" in page
    sheet = staff_client.get(reverse("admin:inventory_purchaseorder_document_xlsx", args=[order.pk]))
    assert load_workbook(io.BytesIO(sheet.content)).active["A1"].value == f"Purchase order {order.reference}"


def test_the_worklist_and_purchase_orders_export_to_xlsx_and_csv(staff_client):
    rows = _suggestions(3)
    ids = [r.pk for r in rows]
    xlsx = staff_client.post(
        reverse(WORKLIST), {"action": "export_xlsx", "_selected_action": ids, "index": "0"}
    )
    sheet = list(load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    assert sheet[0][:3] == ("SKU", "product", "supplier") and len(sheet) == 4
    assert {r[0] for r in sheet[1:]} == {r.product.sku for r in rows}
    text = staff_client.post(
        reverse(WORKLIST), {"action": "export_csv", "_selected_action": ids, "index": "0"}
    )
    assert len(list(csv.reader(io.StringIO(text.content.decode())))) == 4

    (order,) = services.purchase_orders_from_suggestions(suggestion_ids=ids)
    url = reverse("admin:inventory_purchaseorder_changelist")
    xlsx = staff_client.post(url, {"action": "export_xlsx", "_selected_action": [order.pk], "index": "0"})
    lines = list(load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    assert lines[0][0] == "order" and {line[5] for line in lines[1:]} == {r.product.sku for r in rows}


# --- group by supplier ----------------------------------------------------------------------------


def test_grouped_by_supplier_with_subtotals_against_each_minimum(staff_client):
    cheap = _suggestions(2, supplier=_supplier("Cheap Co", minimum="500"), cost="2.00")
    dear = _suggestions(1, supplier=_supplier("Dear Ltd", minimum="50"), cost="3.00")
    page = staff_client.get(reverse("admin:inventory_reordersuggestion_by_supplier"))
    groups = {g["supplier_label"]: g for g in page.context["groups"]}
    assert groups["Cheap Co"]["subtotal"] == Decimal("162.00")  # (40 + 41) x 2.00
    assert groups["Cheap Co"]["short_by"] == Decimal("338.00")
    assert groups["Dear Ltd"]["subtotal"] == Decimal("120.00") and groups["Dear Ltd"]["short_by"] is None
    assert sorted(groups["Cheap Co"]["ids"]) == sorted(s.pk for s in cheap)
    html = page.content.decode()
    assert "short by £338.00" in html and "meets it" in html and "£500.00" in html
    filtered = staff_client.get(
        reverse("admin:inventory_reordersuggestion_by_supplier")
        + f"?supplier__id__exact={dear[0].supplier_id}"
    )
    assert [g["supplier_label"] for g in filtered.context["groups"]] == ["Dear Ltd"]


def test_the_grouped_view_shows_each_suppliers_most_urgent_lines_first(staff_client):
    rows = _suggestions(12, supplier=_supplier("Busy Co"))
    as_of = rows[0].run.as_of
    for index, row in enumerate(rows):  # the last row runs out first
        ReorderSuggestion.objects.filter(pk=row.pk).update(
            projected_stockout=as_of + timedelta(days=30 - index)
        )
    page = staff_client.get(reverse("admin:inventory_reordersuggestion_by_supplier"))
    (group,) = page.context["groups"]
    assert [r.pk for r in group["rows"]] == [r.pk for r in reversed(rows)][:10]
    assert group["more"] == 2 and len(group["ids"]) == 12


# --- house style ----------------------------------------------------------------------------------


def test_money_numbers_and_dates_follow_one_style(settings):
    assert formats.money(Decimal("1234.5")) == "£1,234.50"
    assert formats.money(Decimal("-3")) == "-£3.00"
    settings.SHOP = {**settings.SHOP, "CURRENCY": "CHF"}
    assert formats.money(Decimal("1234.5")) == "CHF 1,234.50"
    assert formats.units(4932) == "4,932"
    assert formats.day(date(2011, 10, 1)) == "1 Oct 2011"


def test_the_suggestion_is_titled_by_sku_and_name_not_its_id(staff_client):
    (suggestion,) = _suggestions(1)
    page = staff_client.get(reverse("admin:inventory_reordersuggestion_change", args=[suggestion.pk]))
    assert f"Reorder 40 x {suggestion.product.sku} {suggestion.product.name}" in page.content.decode()


def test_derived_fields_are_read_only(staff_client):
    product = make_product(stock=3)
    page = staff_client.get(reverse("admin:shop_product_change", args=[product.pk])).content.decode()
    assert 'name="units_sold"' not in page and 'name="created_at' not in page
    customer = order_place(customer=None, lines=[LineRequest(product_id=product.pk, quantity=1)]).customer
    from shop.models import Customer

    customer = customer or Customer.objects.create(external_id="X1")
    page = staff_client.get(reverse("admin:shop_customer_change", args=[customer.pk])).content.decode()
    assert 'name="external_id"' not in page and 'name="created_at' not in page


def test_a_long_order_pages_its_lines(staff_client):
    products = [make_product() for _ in range(230)]
    stock_set_levels(levels={p.pk: 5 for p in products})
    with pytest.MonkeyPatch.context() as patch:
        from django.conf import settings

        patch.setitem(settings.SHOP, "ORDER_MAX_LINES", 500)
        order = order_place(customer=None, lines=[LineRequest(product_id=p.pk, quantity=1) for p in products])
    url = reverse("admin:shop_order_change", args=[order.pk])
    first = staff_client.get(url).content.decode()
    assert first.count('<td class="num">£2.50</td>') == 200  # 100 lines: unit price and line total
    assert "Lines 1 to 100 of 230" in first and "?lines=3" in first
    last = staff_client.get(url + "?lines=3").content.decode()
    assert "Lines 201 to 230 of 230" in last and last.count('<td class="num">£2.50</td>') == 60


def test_the_dashboard_states_what_the_command_line_trained(shop_run):
    run, _ = shop_run
    summary = dashboard_summary()
    forecast = next(row for row in summary.latest_runs if row.kind == "forecast")
    assert forecast.status == "Complete" and f"forecast run {run.pk}" in forecast.produced
    assert "command line" in forecast.started_by
    recommender = next(row for row in summary.latest_runs if row.kind == "recommender")
    assert recommender.status == "never run"
    version = recommender_services.recommender_train()
    recommender = next(row for row in dashboard_summary().latest_runs if row.kind == "recommender")
    assert recommender.produced == f"model version {version.pk}"


def test_the_dashboard_charts_full_runs_only(shop_run):
    run, suggestions = shop_run
    partial = services.forecast_retrain(as_of=run.as_of, product_skus=[suggestions[0].product.sku])
    assert partial.settings["scope"] == "selected" and run.settings["scope"] == "all"
    points = dashboard_summary().accuracy
    assert len(points) == 1 and points[0][0] == formats.day(run.as_of)


def test_the_forecast_run_page_prints_no_python_dicts(staff_client, shop_run):
    run, _ = shop_run
    page = staff_client.get(reverse("admin:inventory_forecastrun_change", args=[run.pk])).content.decode()
    summary = page[page.index("field-summary") :]
    assert "{'" not in summary and "': " not in summary
    assert "median mase" in summary and "demand classes" in summary
