"""An admin paginator that never counts a big table exactly on each page turn.

Django's change list counts its (filtered) queryset on every request: ``SELECT COUNT(*)`` reads every
matching row, so a list of millions of order lines costs seconds per page. This paginator counts
exactly only up to ``ADMIN_EXACT_COUNT_LIMIT`` rows (a count of a subquery limited to one row more,
which stops reading there); past it, on PostgreSQL, it takes the planner's estimate: the table's
``pg_class.reltuples`` when the list is unfiltered, the row estimate of ``EXPLAIN`` otherwise.
SQLite has no estimate and keeps the exact count.

Used with ``show_full_result_count = False``, which drops the second, unfiltered count.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

# Below this many rows the exact count is cheap (and an estimate would show as a wrong number).
DEFAULT_EXACT_COUNT_LIMIT = 10_000


def exact_count_limit() -> int:
    return int(getattr(settings, "ADMIN_EXACT_COUNT_LIMIT", DEFAULT_EXACT_COUNT_LIMIT))


def _table_estimate(queryset: QuerySet) -> int | None:
    """``reltuples`` of the queryset's table; None when never analysed (-1) or unknown."""
    table = queryset.model._meta.db_table
    with connections[queryset.db].cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None


def _plan_estimate(queryset: QuerySet) -> int | None:
    """The planner's row estimate for the queryset (no ordering, no annotation needed to count)."""
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    try:
        return int(plan[0]["Plan"]["Plan Rows"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _is_filtered(queryset: QuerySet) -> bool:
    query = queryset.query
    return bool(query.where) or query.distinct or bool(query.combinator)


class EstimatedCountPaginator(Paginator):
    """Exact count up to the limit, the planner's estimate past it (PostgreSQL only)."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet) or connections[queryset.db].vendor != "postgresql":
            return super().count
        limit = exact_count_limit()
        # Counting a limited subquery reads at most limit + 1 rows, whatever the table's size.
        bounded = queryset.order_by().values("pk")[: limit + 1].count()
        if bounded <= limit:
            return bounded
        estimate = _plan_estimate(queryset) if _is_filtered(queryset) else _table_estimate(queryset)
        # Never below what was just counted: a stale or filtered estimate can be far too low.
        return max(estimate or 0, bounded)
