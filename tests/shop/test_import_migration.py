"""Migration 0002 numbers identical stored lines before the content keys become unique."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("shop", "0001_initial")]
AFTER = [("shop", "0002_import_keys_on_content")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_identical_lines_get_occurrences_1_2_and_others_keep_1():
    apps = _migrate(BEFORE)
    try:
        Product = apps.get_model("shop", "Product")
        Order = apps.get_model("shop", "Order")
        OrderLine = apps.get_model("shop", "OrderLine")
        Cancellation = apps.get_model("shop", "Cancellation")
        product = Product.objects.create(sku="10001", name="Mug", price=Decimal("2.55"))
        order = Order.objects.create(number="100001", placed_at=datetime(2011, 3, 1, tzinfo=UTC))
        for line_number, quantity in [(1, 6), (2, 6), (3, 12), (4, 6)]:
            OrderLine.objects.create(
                order=order,
                line_number=line_number,
                product=product,
                quantity=quantity,
                unit_price=Decimal("2.55"),
            )
        for line_number in (1, 2):
            Cancellation.objects.create(
                reference="C100002",
                line_number=line_number,
                product=product,
                quantity=1,
                unit_price=Decimal("2.55"),
            )

        apps = _migrate(AFTER)

        OrderLine = apps.get_model("shop", "OrderLine")
        assert list(OrderLine.objects.order_by("line_number").values_list("line_number", "occurrence")) == [
            (1, 1),
            (2, 2),
            (3, 1),
            (4, 3),
        ]
        Cancellation = apps.get_model("shop", "Cancellation")
        assert sorted(Cancellation.objects.values_list("occurrence", flat=True)) == [1, 2]
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())  # back to the latest schema
