"""The buyer's worklist and purchase orders: services behind the admin, and query counts that stay flat."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inventory import services
from inventory.admin import suggestion_flags
from inventory.models import ForecastRun, ProductSupply, PurchaseOrder, ReorderSuggestion, Supplier
from shop.models import Customer, Order, StockMovement, StockRecord
from shop.services import LineRequest, order_place, stock_set_levels
from tests.shop.factories import make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("buyer", "b@example.com", "pw"))
    return client


def _suggestions(count: int, *, run=None, stock: list[int] | None = None, stockouts=None):
    run = run or ForecastRun.objects.create(as_of=date(2024, 1, 1), status=ForecastRun.Status.COMPLETE)
    supplier = Supplier.objects.get_or_create(
        name="Acme", defaults={"lead_time_days": 7, "email": "orders@acme.example"}
    )[0]
    made = []
    for index in range(count):
        product = make_product()
        ProductSupply.objects.create(product=product, supplier=supplier, unit_cost=Decimal("2.50"))
        stock_set_levels(levels={product.pk: (stock or [10] * count)[index]})
        made.append(
            ReorderSuggestion.objects.create(
                run=run, product=product, supplier=supplier, quantity=40 + index, reorder_point=20,
                order_up_to=60, inventory_position=10, service_level=0.95, reason="test",
                projected_stockout=(stockouts or [None] * count)[index],
            )
        )  # fmt: skip
    return made


def test_the_override_is_kept_beside_the_suggestion_and_used_by_the_purchase_order():
    suggestion, other = _suggestions(2)
    services.suggestion_set_quantity(suggestion=suggestion, quantity=100)
    suggestion.refresh_from_db()
    assert (suggestion.quantity, suggestion.quantity_override) == (40, 100)

    (order,) = services.purchase_orders_from_suggestions(suggestion_ids=[suggestion.pk, other.pk])

    lines = dict(order.lines.values_list("product_id", "quantity"))
    assert lines == {suggestion.product_id: 100, other.product_id: 41}
    with pytest.raises(services.InventoryError):  # ordered: no longer editable
        services.suggestion_set_quantity(suggestion=suggestion, quantity=5)


def test_setting_the_suggested_quantity_again_clears_the_override():
    (suggestion,) = _suggestions(1)
    services.suggestion_set_quantity(suggestion=suggestion, quantity=90)
    services.suggestion_set_quantity(suggestion=suggestion, quantity=suggestion.quantity)
    suggestion.refresh_from_db()
    assert suggestion.quantity_override is None


def test_partial_receipt_moves_stock_and_ledger_and_keeps_the_rest_on_order():
    (suggestion,) = _suggestions(1)
    (order,) = services.purchase_orders_from_suggestions(suggestion_ids=[suggestion.pk])
    line = order.lines.get()
    services.purchase_order_send(order=order)

    services.purchase_order_receive(order=order, quantities={line.pk: 15})

    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.SENT
    assert StockRecord.objects.get(product=line.product).on_hand == 10 + 15
    assert list(
        StockMovement.objects.filter(reference=order.reference).values_list("quantity", flat=True)
    ) == [15]
    on_order = type(line).objects.filter(product=line.product).on_order_by_product()
    assert on_order == {line.product_id: 40 - 15}
    with pytest.raises(services.InventoryError):
        services.purchase_order_receive(order=order, quantities={line.pk: 26})  # more than outstanding
    with pytest.raises(services.InventoryError):
        services.purchase_order_cancel(order=order)  # part of it is in the ledger

    services.purchase_order_receive(order=order)  # the rest

    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.RECEIVED
    assert StockRecord.objects.get(product=line.product).on_hand == 10 + 40


def test_received_and_cancelled_orders_are_locked_in_the_service_and_the_admin(staff_client):
    first, second = _suggestions(2)
    (order,) = services.purchase_orders_from_suggestions(suggestion_ids=[first.pk, second.pk])
    services.purchase_order_receive(order=order)
    line = order.lines.first()

    with pytest.raises(services.InventoryError):
        services.purchase_order_line_set_quantity(line=line, quantity=10)
    with pytest.raises(services.InventoryError):
        services.purchase_order_set_note(order=order, note="edited")
    with pytest.raises(services.InventoryError):
        services.purchase_order_receive(order=order)

    url = reverse("admin:inventory_purchaseorder_change", args=[order.pk])
    page = staff_client.get(url)
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert staff_client.post(url, {"note": "edited"}).status_code == 403
    staff_client.post(reverse("admin:inventory_purchaseorder_cancel", args=[order.pk]))
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.RECEIVED and order.note != "edited"


def test_the_order_page_buttons_send_receive_partly_and_cancel(staff_client):
    first, second = _suggestions(2)
    (order,) = services.purchase_orders_from_suggestions(suggestion_ids=[first.pk])
    staff_client.post(reverse("admin:inventory_purchaseorder_send", args=[order.pk]))
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.SENT
    line = order.lines.get()
    staff_client.post(
        reverse("admin:inventory_purchaseorder_receive", args=[order.pk]), {f"line_{line.pk}": 7}
    )
    line.refresh_from_db()
    assert line.received == 7
    (other,) = services.purchase_orders_from_suggestions(suggestion_ids=[second.pk])
    staff_client.post(reverse("admin:inventory_purchaseorder_cancel", args=[other.pk]))
    other.refresh_from_db()
    assert other.status == PurchaseOrder.Status.CANCELLED


def test_dismiss_goes_through_the_service_and_leaves_ordered_suggestions_alone(staff_client):
    first, second = _suggestions(2)
    services.purchase_orders_from_suggestions(suggestion_ids=[second.pk])
    url = reverse("admin:inventory_reordersuggestion_changelist")
    staff_client.post(
        url,
        {"action": "dismiss", "_selected_action": [first.pk, second.pk], "decide": "yes", "reason": "other",
         "detail": "ordered by phone"},
    )  # fmt: skip
    assert dict(ReorderSuggestion.objects.values_list("pk", "status")) == {
        first.pk: ReorderSuggestion.Status.DISMISSED,
        second.pk: ReorderSuggestion.Status.ORDERED,
    }


def test_the_worklist_shows_open_rows_by_urgency_on_every_database(staff_client):
    as_of = date(2024, 1, 1)
    run = ForecastRun.objects.create(as_of=as_of, status=ForecastRun.Status.COMPLETE)
    stockouts = [as_of + timedelta(days=9), None, as_of + timedelta(days=2), as_of + timedelta(days=20)]
    rows = _suggestions(4, run=run, stock=[10, 10, 10, 0], stockouts=stockouts)
    old_run = ForecastRun.objects.create(as_of=as_of - timedelta(days=1), status=ForecastRun.Status.COMPLETE)
    ReorderSuggestion.objects.create(
        run=old_run, product=rows[0].product, quantity=3, reorder_point=1, order_up_to=4,
        inventory_position=0, service_level=0.95, reason="old", status=ReorderSuggestion.Status.SUPERSEDED,
    )  # fmt: skip

    page = staff_client.get(reverse("admin:inventory_reordersuggestion_changelist"))

    listed = [row.pk for row in page.context["cl"].result_list]
    # Out of stock first, then the earliest stock-out, and no date last; superseded rows hidden.
    assert listed == [rows[3].pk, rows[2].pk, rows[0].pk, rows[1].pk]
    assert page.context["totals"]["value"] == f"£{sum(r.quantity for r in rows) * Decimal('2.50'):,.2f}"


def test_the_flag_filter_and_count_read_the_stored_causes(staff_client):
    first, second, third = _suggestions(3)
    ReorderSuggestion.objects.filter(pk=first.pk).update(flags=["cover_capped"])
    ReorderSuggestion.objects.filter(pk=second.pk).update(flags=["above_sales", "minimum_order"])
    url = reverse("admin:inventory_reordersuggestion_changelist")

    def listed(query: str) -> set[int]:
        return {row.pk for row in staff_client.get(url + query).context["cl"].result_list}

    assert listed("?flag=any") == {first.pk, second.pk}
    assert listed("?flag=minimum_order") == {second.pk}
    assert listed("?flag=cover_capped") == {first.pk}
    assert listed("?flag=none") == {third.pk}
    assert staff_client.get(url).context["totals"]["flagged"] == 2
    second.refresh_from_db()
    assert suggestion_flags(second) == ["above recent sales", "minimum order"]  # the simulator's reader
    page = staff_client.get(reverse("admin:inventory_reordersuggestion_change", args=[second.pk]))
    assert b"minimum order is more than" in page.content


def test_suggestions_forecast_runs_and_forecasts_cannot_be_deleted(staff_client):
    (suggestion,) = _suggestions(1)
    page = staff_client.get(reverse("admin:inventory_reordersuggestion_change", args=[suggestion.pk]))
    assert b"deletelink" not in page.content
    run_page = staff_client.get(reverse("admin:inventory_forecastrun_change", args=[suggestion.run_id]))
    assert b'name="_save"' not in run_page.content and b"deletelink" not in run_page.content


@pytest.mark.parametrize(
    "name",
    [
        "admin:inventory_reordersuggestion_changelist",
        "admin:inventory_purchaseorder_changelist",
        "admin:shop_order_changelist",
        "admin:shop_customer_changelist",
        "admin:shop_product_changelist",
        "admin:index",
    ],
)
def test_list_pages_cost_the_same_queries_for_one_row_or_many(staff_client, name):
    """A query per row would make the whole shared import take seconds; the count must not grow."""

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(reverse(name)).status_code == 200
        return len(captured)

    def add(count: int, run=None) -> list[ReorderSuggestion]:
        made = _suggestions(count, run=run)
        services.purchase_orders_from_suggestions(suggestion_ids=[s.pk for s in made[: max(1, count // 2)]])
        for index, suggestion in enumerate(made):
            customer = Customer.objects.create(external_id=f"C{suggestion.pk}-{index}")
            order_place(customer=customer, lines=[LineRequest(product_id=suggestion.product_id, quantity=1)])
        return made

    few = add(1)
    baseline = queries()
    add(8, run=few[0].run)

    assert queries() == baseline


def test_an_order_page_costs_the_same_queries_for_few_or_many_lines(staff_client):
    def order_with(lines: int) -> Order:
        products = [make_product() for _ in range(lines)]
        stock_set_levels(levels={p.pk: 50 for p in products})
        return order_place(customer=None, lines=[LineRequest(product_id=p.pk, quantity=1) for p in products])

    def queries(order) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(reverse("admin:shop_order_change", args=[order.pk])).status_code == 200
        return len(captured)

    queries(order_with(1))  # the first page of a session also loads the content types it caches
    assert queries(order_with(2)) == queries(order_with(30))
