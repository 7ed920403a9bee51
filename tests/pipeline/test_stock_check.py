"""The nightly stock check, and products whose stock or history keeps them from being deleted."""

from __future__ import annotations

import importlib
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db.models import ProtectedError
from django_celery_beat.models import PeriodicTask

from pipeline import tasks
from shop import integrity, services
from shop.models import Customer, Order, Product, StockMovement, StockRecord

schedules = importlib.import_module("pipeline.migrations.0006_recovery_and_stock_check_schedules")

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    mug, lamp = (
        Product.objects.create(sku="MUG", name="Mug", price=Decimal("4.00")),
        Product.objects.create(sku="LAMP", name="Lamp", price=Decimal("20.00")),
    )
    services.stock_receive(product=mug, quantity=10)
    services.stock_receive(product=lamp, quantity=5)
    customer = Customer.objects.create(external_id="C1")
    order = services.order_place(
        customer=customer,
        lines=[services.LineRequest(mug.pk, 4), services.LineRequest(lamp.pk, 1)],
    )
    return mug, lamp, order


def break_both(mug: Product, lamp: Product, order: Order) -> None:
    """What writes around the services do: a bulk delete of a placed order, a raw edit of on hand."""
    Order.objects.filter(pk=order.pk).delete()  # the reservation of 4 mugs and 1 lamp stays behind
    StockRecord.objects.filter(product=lamp).update(on_hand=7)  # 2 lamps nobody recorded


def test_consistent_stock_has_no_discrepancies_and_the_command_says_so(shop):
    out = StringIO()
    call_command("check_stock", stdout=out)

    assert integrity.stock_discrepancies() == []
    assert "agrees" in out.getvalue()


def test_the_check_finds_a_reservation_without_an_order_and_on_hand_off_the_ledger(shop):
    mug, lamp, order = shop
    break_both(mug, lamp, order)

    found = {(d.sku, d.field): (d.recorded, d.expected) for d in integrity.stock_discrepancies()}

    assert found == {("MUG", "reserved"): (4, 0), ("LAMP", "reserved"): (1, 0), ("LAMP", "on_hand"): (7, 5)}
    out = StringIO()
    with pytest.raises(CommandError, match="3 stock difference"):
        call_command("check_stock", stdout=out)
    assert "MUG reserved is 4, units to ship on open orders: 0" in out.getvalue()


def test_repair_releases_orphan_reservations_and_records_the_on_hand_gap_in_the_ledger(shop):
    mug, lamp, order = shop
    break_both(mug, lamp, order)

    call_command("check_stock", "--repair", stdout=StringIO())

    assert integrity.stock_discrepancies() == []
    assert StockRecord.objects.get(product=mug).reserved == 0
    lamp_stock = StockRecord.objects.get(product=lamp)
    assert (lamp_stock.on_hand, lamp_stock.reserved) == (7, 0)  # on hand is kept, the gap is on record
    gap = StockMovement.objects.get(product=lamp, note=integrity.RECONCILIATION_NOTE)
    assert gap.quantity == 2


def test_the_nightly_task_reports_and_repairs_only_when_asked(shop):
    mug, lamp, order = shop
    break_both(mug, lamp, order)

    assert tasks.stock_check.apply().get() == {"found": 3, "repaired": 0}
    assert len(integrity.stock_discrepancies()) == 3
    assert tasks.stock_check.apply(kwargs={"repair": True}).get() == {"found": 3, "repaired": 3}
    assert integrity.stock_discrepancies() == []


def test_the_nightly_check_and_the_recovery_task_are_scheduled():
    schedules.create_schedules(apps, None)
    schedules.create_schedules(apps, None)

    check = PeriodicTask.objects.get(task="pipeline.tasks.stock_check")
    assert check.enabled and check.crontab is not None and json.loads(check.kwargs) == {"repair": False}
    recover = PeriodicTask.objects.get(task="pipeline.tasks.recover_runs")
    assert recover.enabled and (recover.interval.every, recover.interval.period) == (1, "minutes")


def test_deleting_a_product_with_stock_in_code_is_refused_by_the_database(shop):
    mug, _, _ = shop

    with pytest.raises(ProtectedError):
        Product.objects.filter(pk=mug.pk).delete()

    assert StockRecord.objects.filter(product=mug).exists()
    assert StockMovement.objects.filter(product=mug).exists()


def test_a_product_with_sales_or_stock_is_deactivated_not_deleted(shop):
    mug, _, _ = shop

    with pytest.raises(services.ProductInUse, match="Deactivate it instead"):
        services.product_delete(product=mug)
    services.product_deactivate(product=mug)

    mug.refresh_from_db()
    assert mug.active is False


def test_a_product_that_never_mattered_is_deleted_with_its_empty_stock_record(db):
    typo = Product.objects.create(sku="TYPO", name="Typo")
    StockRecord.objects.create(product=typo)

    services.product_delete(product=typo)

    assert not Product.objects.filter(sku="TYPO").exists()
    assert not StockRecord.objects.filter(product_id=typo.pk).exists()
