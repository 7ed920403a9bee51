"""The nightly stock check: stock records against the records they summarise.

``StockRecord.reserved`` must equal the units still to ship on open orders (placed, paid or
partly shipped: ordered minus shipped), and
``StockRecord.on_hand`` the sum of the product's ``StockMovement`` ledger. Every
service keeps both true; a write around the services (a bulk delete, a raw
update, a restored backup) breaks them silently. ``stock_discrepancies`` finds
the differences and ``stock_repair`` fixes them under the stock row locks.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Sum

from .models import Order, OrderLine, Product, ShipmentLine, StockMovement, StockRecord

RECONCILIATION_NOTE = "stock check: on hand differed from the ledger"


@dataclass(frozen=True)
class StockDiscrepancy:
    product_id: int
    sku: str
    field: str  # "reserved" or "on_hand"
    recorded: int
    expected: int

    @property
    def difference(self) -> int:
        return self.recorded - self.expected

    def __str__(self) -> str:
        source = "units to ship on open orders" if self.field == "reserved" else "the stock ledger"
        return f"{self.sku} {self.field} is {self.recorded}, {source}: {self.expected} ({self.difference:+d})"


def _open_order_units(product_ids: list[int] | None = None) -> dict[int, int]:
    """Units ordered minus units shipped, per product, on orders that hold a reservation."""
    lines = OrderLine.objects.filter(order__status__in=Order.RESERVING_STATUSES)
    shipped = ShipmentLine.objects.filter(shipment__order__status__in=Order.RESERVING_STATUSES)
    if product_ids is not None:
        lines = lines.filter(product_id__in=product_ids)
        shipped = shipped.filter(order_line__product_id__in=product_ids)
    units = dict(lines.values("product").annotate(units=Sum("quantity")).values_list("product", "units"))
    for product_id, out in (
        shipped.values("order_line__product")
        .annotate(units=Sum("quantity"))
        .values_list("order_line__product", "units")
    ):
        units[product_id] -= out
    return {product_id: left for product_id, left in units.items() if left}


def _ledger_units(product_ids: list[int] | None = None) -> dict[int, int]:
    movements = StockMovement.objects.all()
    if product_ids is not None:
        movements = movements.filter(product_id__in=product_ids)
    return dict(movements.values("product").annotate(units=Sum("quantity")).values_list("product", "units"))


def stock_discrepancies(*, product_ids: list[int] | None = None) -> list[StockDiscrepancy]:
    """Every product whose reserved or on-hand stock disagrees with its orders or its ledger.

    A product with open order lines or ledger rows but no stock record counts as recorded zero.
    Three grouped queries, whatever the catalogue size.
    """
    records = StockRecord.objects.all()
    if product_ids is not None:
        records = records.filter(product_id__in=product_ids)
    recorded = {
        pid: (on_hand, reserved)
        for pid, on_hand, reserved in records.values_list("product_id", "on_hand", "reserved")
    }
    reserved_expected = _open_order_units(product_ids)
    ledger = _ledger_units(product_ids)
    ids = sorted(set(recorded) | set(reserved_expected) | set(ledger))
    skus = dict(Product.objects.filter(pk__in=ids).values_list("pk", "sku"))
    found = []
    for pid in ids:
        on_hand, reserved = recorded.get(pid, (0, 0))
        if reserved != reserved_expected.get(pid, 0):
            found.append(
                StockDiscrepancy(pid, skus[pid], "reserved", reserved, reserved_expected.get(pid, 0))
            )
        if on_hand != ledger.get(pid, 0):
            found.append(StockDiscrepancy(pid, skus[pid], "on_hand", on_hand, ledger.get(pid, 0)))
    return found


@transaction.atomic
def stock_repair() -> list[StockDiscrepancy]:
    """Fix what ``stock_discrepancies`` finds, under the stock row locks; returns what was fixed.

    - ``reserved`` is set to the units to ship on open orders: the orders are the truth, and a
      reservation without an order behind it could never be sold.
    - ``on_hand`` is kept (it is what the warehouse counted and what orders reserve against) and
      the ledger gets one adjustment row for the difference, with a note, so the gap stays
      visible in the history instead of being rewritten.
    A reservation above on hand cannot be written (a database constraint); it is reported, not fixed.
    """
    candidates = sorted({d.product_id for d in stock_discrepancies()})
    if not candidates:
        return []
    existing = set(StockRecord.objects.filter(product_id__in=candidates).values_list("product_id", flat=True))
    StockRecord.objects.bulk_create(
        [StockRecord(product_id=pid) for pid in candidates if pid not in existing], ignore_conflicts=True
    )
    # The same lock order as order placement, so the check queues behind orders instead of deadlocking.
    locked = {
        record.product_id: record
        for record in StockRecord.objects.select_for_update()
        .filter(product_id__in=candidates)
        .order_by("product_id")
    }
    fixed = []
    for discrepancy in stock_discrepancies(product_ids=candidates):  # again, under the locks
        record = locked[discrepancy.product_id]
        if discrepancy.field == "reserved":
            if discrepancy.expected > record.on_hand:
                continue
            record.reserved = discrepancy.expected
            record.save(update_fields=["reserved", "updated_at"])
        else:
            StockMovement.objects.create(
                product_id=discrepancy.product_id,
                quantity=discrepancy.difference,  # the ledger then sums to on hand
                reason=StockMovement.Reason.ADJUSTMENT,
                reference="stock-check",
                note=RECONCILIATION_NOTE,
            )
        fixed.append(discrepancy)
    return fixed
