"""Staff take an order through payment, shipping, returns and cancellation from its admin page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from shop import integrity, services
from shop.models import Order, OrderReturn, Payment, Refund, StockMovement, StockRecord
from shop.services import LineRequest

from .factories import make_customer, make_product, pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", "b@example.com", "pw"))
    return client


def placed(*lines) -> Order:
    return services.order_place(customer=make_customer(), lines=[LineRequest(p.pk, q) for p, q in lines])


def page(client, order: Order) -> str:
    response = client.get(reverse("admin:shop_order_change", args=[order.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_order_page_offers_only_the_actions_its_status_allows(staff_client):
    mug = make_product(stock=10)
    order = placed((mug, 2))
    html = page(staff_client, order)
    assert "Mark paid…" in html and "Cancel order" in html and "Ship…" not in html and "Return…" not in html
    pay(order)
    html = page(staff_client, order)
    assert "Mark paid…" not in html and "Ship…" in html and "Cancel order and refund" in html
    services.shipment_create(order=order)
    html = page(staff_client, order)
    assert "Return…" in html and "Ship…" not in html and "Cancel order" not in html


def test_mark_paid_records_the_total_with_the_staff_reference(staff_client):
    mug = make_product(stock=10, price="4.20")
    order = placed((mug, 3))
    url = reverse("admin:shop_order_mark_paid", args=[order.pk])
    assert "12.60 GBP" in staff_client.get(url).content.decode()
    response = staff_client.post(url, {"reference": "bank transfer 4411"})
    assert response.status_code == 302
    payment = Payment.objects.get()
    assert (payment.amount, payment.reference, payment.created_by.username) == (
        Decimal("12.60"),
        "bank transfer 4411",
        "boss",
    )
    html = page(staff_client, order)
    assert "bank transfer 4411" in html and "No payment yet." not in html


def test_shipping_part_then_the_rest_from_the_ship_screen(staff_client):
    mug, bag = make_product(stock=10), make_product(stock=10)
    order = placed((mug, 3), (bag, 2))
    pay(order)
    url = reverse("admin:shop_order_ship", args=[order.pk])
    form = staff_client.get(url).content.decode()
    assert f'name="units_{mug.pk}"' in form and 'value="3"' in form
    response = staff_client.post(url, {f"units_{mug.pk}": 1, f"units_{bag.pk}": 0, "ship_part": "1"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.PARTLY_SHIPPED
    assert StockRecord.objects.get(product=mug).on_hand == 9
    too_many = staff_client.post(url, {f"units_{mug.pk}": 5, f"units_{bag.pk}": 0, "ship_part": "1"})
    assert too_many.status_code == 200 and "errorlist" in too_many.content.decode()
    staff_client.post(url, {"ship_all": "1"})
    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED
    html = page(staff_client, order)
    assert f"{order.number}/S1" in html and f"{order.number}/S2" in html
    assert integrity.stock_discrepancies() == []


def test_a_return_from_the_order_page_restocks_and_shows_on_the_page(staff_client):
    mug = make_product(stock=10, price="2.00")
    order = placed((mug, 3))
    pay(order)
    services.shipment_create(order=order)
    line = order.lines.get()
    url = reverse("admin:shop_order_return", args=[order.pk])
    response = staff_client.post(
        url, {"order_line": line.pk, "quantity": 2, "disposition": "restock", "reason": "too small"}
    )
    assert response.status_code == 302
    assert OrderReturn.objects.get().quantity == 2
    assert StockMovement.objects.filter(reason="return").get().quantity == 2
    html = page(staff_client, order)
    assert "too small" in html and "restocked" in html and "4.00" in html  # the refund
    over = staff_client.post(
        url, {"order_line": line.pk, "quantity": 2, "disposition": "write_off", "reason": "x"}
    )
    assert over.status_code == 200 and "1 shipped unit" in over.content.decode()


def test_cancelling_a_paid_order_from_its_page_refunds_it(staff_client):
    mug = make_product(stock=10, price="2.50")
    order = placed((mug, 2))
    pay(order)
    staff_client.post(reverse("admin:shop_order_cancel", args=[order.pk]))
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert Refund.objects.get().amount == Decimal("5.00")
    assert StockRecord.objects.get(product=mug).reserved == 0


def test_the_to_ship_queue_lists_paid_orders_oldest_payment_first_with_units_left(staff_client):
    mug = make_product(stock=50)
    first, second, unpaid, done = (placed((mug, 4)) for _ in range(4))
    pay(second)
    pay(first)
    pay(done)
    services.shipment_create(order=done)
    services.shipment_create(order=second, quantities={mug.pk: 1})
    html = staff_client.get(reverse("admin:shop_ordertoship_changelist")).content.decode()
    assert second.number in html and first.number in html
    assert unpaid.number not in html and done.number not in html
    assert html.index(second.number) < html.index(first.number)  # second was paid first
    assert reverse("admin:shop_order_ship", args=[second.pk]) in html


def test_staff_without_the_change_permission_cannot_operate_orders(client, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(viewer)
    order = placed((make_product(stock=5), 1))
    assert client.get(reverse("admin:shop_order_change", args=[order.pk])).status_code == 200
    assert "Mark paid…" not in page(client, order)
    assert client.post(reverse("admin:shop_order_mark_paid", args=[order.pk])).status_code == 403
    assert client.post(reverse("admin:shop_order_cancel", args=[order.pk])).status_code == 403
    assert Order.objects.get(pk=order.pk).status == Order.Status.PLACED
