"""Admin deletes that would corrupt data are turned into the services' safe equivalents."""

from __future__ import annotations

import pytest
from django.urls import reverse

from shop.models import Order, Product, StockMovement, StockRecord
from shop.services import LineRequest, order_fulfil, order_place, stock_set_levels
from tests.shop.factories import make_product, pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", "b@example.com", "pw"))
    return client


def _placed_order(quantity: int = 4) -> Order:
    product = make_product()
    stock_set_levels(levels={product.pk: 10})
    return order_place(customer=None, lines=[LineRequest(product_id=product.pk, quantity=quantity)])


def test_deleting_a_placed_order_cancels_it_and_releases_the_reservation(staff_client):
    order = _placed_order()
    product_id = order.lines.get().product_id
    assert StockRecord.objects.get(product_id=product_id).reserved == 4

    url = reverse("admin:shop_order_delete", args=[order.pk])
    assert staff_client.get(url).status_code == 200
    staff_client.post(url, {"post": "yes"})

    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert StockRecord.objects.get(product_id=product_id).reserved == 0


def test_bulk_delete_is_not_offered_for_orders_and_history_cannot_be_deleted(staff_client):
    order = _placed_order()
    pay(order)
    order_fulfil(order=order)
    listing = staff_client.get(reverse("admin:shop_order_changelist"))
    assert b'value="delete_selected"' not in listing.content
    assert staff_client.get(reverse("admin:shop_order_delete", args=[order.pk])).status_code == 403


def test_deleting_a_product_deactivates_it_and_keeps_stock_and_ledger(staff_client):
    product = make_product()
    stock_set_levels(levels={product.pk: 7})
    staff_client.post(reverse("admin:shop_product_delete", args=[product.pk]), {"post": "yes"})
    product.refresh_from_db()
    assert product.active is False
    assert StockRecord.objects.get(product=product).on_hand == 7
    assert StockMovement.objects.filter(product=product).exists()
    assert Product.objects.filter(pk=product.pk).exists()


def test_ratings_and_cancellations_are_read_only(staff_client):
    for model in ("rating", "cancellation"):
        page = staff_client.get(reverse(f"admin:shop_{model}_changelist"))
        assert page.status_code == 200
        assert b"to view" in page.content  # Django's title for a view-only list
        assert f"/admin/shop/{model}/add/".encode() not in page.content


def test_other_apps_extend_the_shops_admin_pages_through_panels_not_by_replacing_them():
    from django.contrib import admin

    from shop.admin import CustomerAdmin, ProductAdmin
    from shop.admin_panels import admin_panels_for
    from shop.models import Customer, Product

    assert type(admin.site._registry[Product]) is ProductAdmin
    assert type(admin.site._registry[Customer]) is CustomerAdmin
    assert [panel.name for panel in admin_panels_for(Product)] == ["demand_forecast", "forecast_accuracy"]
    assert [panel.name for panel in admin_panels_for(Customer)] == ["current_recommendations"]
