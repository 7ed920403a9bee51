"""The warehouse's morning in headless Chromium: mark an order paid, work the "to ship" queue.

Staff open the queue (paid orders, longest-waiting payment first), ship part of the first order,
see it stay in the queue with fewer units, ship the rest, and see it leave; the stock ledger and the
nightly stock check agree with every step. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from shop import integrity, services
from shop.models import Order, StockMovement, StockRecord
from shop.services import LineRequest
from tests.shop.factories import make_customer, make_product, pay

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PASSWORD = "warehouse-pw-1234567"


def _log_in(session) -> None:
    get_user_model().objects.create_superuser("picker", "picker@example.com", PASSWORD)
    session.log_in("picker", PASSWORD, "ship_00_login")


def _queue_numbers(page) -> list[str]:
    return [
        text.strip() for text in page.locator("#result_list tbody td.field-order_number").all_inner_texts()
    ]


def test_the_to_ship_queue_in_a_browser(browser_session):
    session, page = browser_session, browser_session.page
    mug, bag = make_product(stock=30, name="Spotty mug"), make_product(stock=30, name="Jute bag")
    orders = [
        services.order_place(customer=make_customer(), lines=[LineRequest(mug.pk, 4), LineRequest(bag.pk, 2)])
        for _ in range(3)
    ]
    oldest, newer, unpaid = orders
    pay(newer)
    pay(oldest)
    # Paid yesterday and an hour ago: the queue is by how long the payment has waited.
    Order.objects.filter(pk=oldest.pk).update(paid_at=timezone.now() - timedelta(days=1))
    Order.objects.filter(pk=newer.pk).update(paid_at=timezone.now() - timedelta(hours=1))

    _log_in(session)

    # --- staff mark the third order paid from its page -----------------------------------------------
    session.open(reverse("admin:shop_order_change", args=[unpaid.pk]), "ship_01_unpaid_order")
    page.click("a.order-mark-paid")
    page.wait_for_load_state("load")
    session.shot("ship_02_mark_paid")
    page.fill("#id_reference", "bank transfer 20111209")
    page.click("#mark-paid-form input[type=submit]")
    page.wait_for_load_state("load")
    unpaid.refresh_from_db()
    assert unpaid.status == Order.Status.PAID and unpaid.payments.get().reference == "bank transfer 20111209"

    # --- the queue: paid orders, the longest-waiting first ------------------------------------------
    queue = reverse("admin:shop_ordertoship_changelist")
    session.open(queue, "ship_03_queue")
    assert _queue_numbers(page) == [oldest.number, newer.number, unpaid.number]
    assert page.locator("#result_list tbody td.field-units_to_ship").first.inner_text().strip() == "6"

    # --- ship part of the first order ---------------------------------------------------------------
    page.locator("#result_list tbody tr").first.locator("a.ship-order").click()
    page.wait_for_load_state("load")
    session.shot("ship_04_ship_screen")
    page.fill(f"input[name=units_{mug.pk}]", "3")
    page.fill(f"input[name=units_{bag.pk}]", "0")
    page.click("input[name=ship_part]")
    page.wait_for_load_state("load")
    session.shot("ship_05_queue_after_part")
    assert page.url.endswith(queue)  # back to the queue
    assert "Shipped 3 unit(s)" in page.inner_text("ul.messagelist")
    assert _queue_numbers(page)[0] == oldest.number  # still waiting, still first
    assert page.locator("#result_list tbody td.field-units_to_ship").first.inner_text().strip() == "3"
    assert page.locator("#result_list tbody td.field-status").first.inner_text().strip() == "Partly shipped"
    assert StockRecord.objects.get(product=mug).on_hand == 27

    # --- ship the rest: it leaves the queue -------------------------------------------------------
    page.locator("#result_list tbody tr").first.locator("a.ship-order").click()
    page.wait_for_load_state("load")
    page.click("input[name=ship_all]")
    page.wait_for_load_state("load")
    session.shot("ship_06_queue_after_all")
    assert _queue_numbers(page) == [newer.number, unpaid.number]
    oldest.refresh_from_db()
    assert oldest.status == Order.Status.FULFILLED

    # --- the order page shows its payment and both shipments ----------------------------------------
    session.open(reverse("admin:shop_order_change", args=[oldest.pk]), "ship_07_fulfilled_order")
    shipments = page.inner_text(".field-shipments_table")
    assert f"{oldest.number}/S1" in shipments and f"{oldest.number}/S2" in shipments
    assert "£15.00" in page.inner_text(".field-payments_table")  # 6 units at 2.50, in the house style

    for product in (mug, bag):
        ledger = StockMovement.objects.filter(product=product).aggregate(total=Sum("quantity"))["total"]
        assert ledger == StockRecord.objects.get(product=product).on_hand
    assert integrity.stock_discrepancies() == []
    assert session.console_errors == [], session.console_errors
