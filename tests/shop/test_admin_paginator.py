"""The admin paginator: exact on SQLite and below the limit, the planner's estimate past it on PostgreSQL."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from shop.admin_paginator import EstimatedCountPaginator
from shop.models import Customer, Order

pytestmark = pytest.mark.django_db

BIG_LISTS = [
    "shop.Order",
    "shop.Customer",
    "shop.Product",
    "shop.StockMovement",
    "shop.Rating",
    "inventory.ProductForecast",
    "inventory.ReorderSuggestion",
]


def _customers(n: int, start: int = 0, country: str = "France") -> None:
    Customer.objects.bulk_create(
        [Customer(external_id=f"c{i:06d}", country=country) for i in range(start, start + n)]
    )


def _unbounded_counts(queries) -> list[str]:
    """COUNT queries that read a whole table: not over a LIMITed subquery."""
    return [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "LIMIT" not in q["sql"].upper()]


@pytest.mark.parametrize("label", BIG_LISTS)
def test_every_big_list_uses_the_paginator_without_the_full_count(label):
    from django.apps import apps

    model_admin = admin.site._registry[apps.get_model(label)]
    assert model_admin.paginator is EstimatedCountPaginator
    assert model_admin.show_full_result_count is False


def test_sqlite_and_small_lists_count_exactly(settings):
    settings.ADMIN_EXACT_COUNT_LIMIT = 20
    _customers(35)
    paginator = EstimatedCountPaginator(Customer.objects.order_by("external_id"), 10)
    if connection.vendor == "sqlite":
        # No planner estimate on SQLite: the exact count, whatever the size.
        assert paginator.count == 35
        assert paginator.num_pages == 4
    small = EstimatedCountPaginator(Customer.objects.filter(external_id__lt="c000012"), 10)
    assert small.count == 12


def test_postgres_uses_reltuples_past_the_limit_and_never_counts_the_table(postgres, settings):
    settings.ADMIN_EXACT_COUNT_LIMIT = 20
    _customers(60)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Customer._meta.db_table}")
    _customers(15, start=1000)  # not analysed yet: the estimate still says 60

    paginator = EstimatedCountPaginator(Customer.objects.order_by("external_id"), 10)
    with CaptureQueriesContext(connection) as queries:
        assert paginator.count == 60
    assert not _unbounded_counts(queries.captured_queries)
    assert any("pg_class" in q["sql"] for q in queries.captured_queries)
    assert paginator.num_pages == 6
    assert [c.external_id for c in paginator.page(2).object_list][0] == "c000010"

    # A filtered list past the limit takes the planner's row estimate, never below the rows counted.
    _customers(30, start=2000, country="Spain")
    filtered = EstimatedCountPaginator(Customer.objects.filter(country="Spain"), 10)
    with CaptureQueriesContext(connection) as queries:
        estimate = filtered.count
    assert estimate >= 21
    assert any("EXPLAIN" in q["sql"] for q in queries.captured_queries)
    assert not _unbounded_counts(queries.captured_queries)

    # Below the limit the count is exact.
    assert EstimatedCountPaginator(Customer.objects.filter(external_id__gte="c002020"), 10).count == 10


def test_postgres_unanalysed_table_falls_back_to_the_rows_counted(postgres, settings):
    settings.ADMIN_EXACT_COUNT_LIMIT = 20
    _customers(45)
    with connection.cursor() as cursor:
        # A table never analysed has reltuples -1 (PostgreSQL 14+): no estimate to use.
        cursor.execute(
            f"UPDATE pg_class SET reltuples = -1 WHERE oid = '{Customer._meta.db_table}'::regclass"
        )
    assert EstimatedCountPaginator(Customer.objects.all(), 10).count == 21


def test_the_orders_list_page_renders_with_the_paginator(client, settings):
    settings.ADMIN_EXACT_COUNT_LIMIT = 5
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    _customers(3)
    customer = Customer.objects.first()
    for i in range(12):
        Order.objects.create(number=f"N{i:04d}", customer=customer, status=Order.Status.FULFILLED)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:shop_order_changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 6
    if connection.vendor == "postgresql":
        assert not _unbounded_counts(queries.captured_queries)
