"""Reads shared by inventory services, commands and admin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import CharField, Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Cast, Substr, TruncDate
from django.utils import timezone

from shop.models import Cancellation, Category, Order, OrderLine, Product, StockRecord

from .models import (
    CategoryServiceLevel,
    ForecastRun,
    ProductForecast,
    ProductSupply,
    PurchaseOrderLine,
    Supplier,
)
from .policy import SupplyTerms

if TYPE_CHECKING:
    import pandas as pd


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _utc_day(field: str) -> Substr:
    """The UTC day of a datetime column as 'YYYY-MM-DD', computed by the database.

    Django's ``TruncDate`` runs a Python function per row on SQLite (570,000 calls, most of a
    whole-file forecast run); both backends print a timestamp as ISO text in the connection's
    time zone, which Django sets to UTC, so the first ten characters are the UTC day.
    """
    return Substr(Cast(field, output_field=CharField()), 1, 10)


def demand_events(*, before: date, product_ids: list[int] | None = None) -> pd.DataFrame:
    """Units sold (positive) and cancelled or returned (negative) per product and UTC day, before ``before``.

    Demand is orders that were paid (imported ones count): placed-but-unpaid, lapsed and unpaid
    cancelled orders never became demand; a paid order cancelled later is netted out by its
    cancellation rows, like a return.
    """
    import pandas as pd  # here, not at start-up: only forecasting reads demand

    cutoff = _start_of(before)
    lines = OrderLine.objects.of_paid_orders().filter(order__placed_at__lt=cutoff)  # demand = paid orders
    cancellations = Cancellation.objects.filter(created_at__lt=cutoff)
    if product_ids is not None:
        lines = lines.filter(product_id__in=product_ids)
        cancellations = cancellations.filter(product_id__in=product_ids)
    sold = (
        lines.annotate(day=_utc_day("order__placed_at"))
        .values("product_id", "day")
        .annotate(quantity=Sum("quantity"))
        .values_list("product_id", "day", "quantity")
    )
    taken_back = (
        cancellations.annotate(day=_utc_day("created_at"))
        .values("product_id", "day")
        .annotate(quantity=Sum("quantity"))
        .values_list("product_id", "day", "quantity")
    )
    rows = [(p, d, q) for p, d, q in sold] + [(p, d, -q) for p, d, q in taken_back]
    frame = pd.DataFrame(rows, columns=["product", "day", "quantity"])
    frame["day"] = pd.to_datetime(frame["day"], format="%Y-%m-%d")
    frame["quantity"] = frame["quantity"].astype(float)
    return frame


def demand_matrix(*, before: date, product_ids: list[int] | None = None) -> pd.DataFrame:
    """Products x days of net units (floored at zero) from the first recorded day to before ``before``."""
    import pandas as pd

    from .forecasting.demand import daily_demand

    events = demand_events(before=before, product_ids=product_ids)
    end = pd.Timestamp(before - timedelta(days=1))
    start = events["day"].min() if not events.empty else end
    return daily_demand(events, start=start, end=end)


def products_with_sales(*, before: date) -> list[int]:
    """Ids of products sold at least once before ``before``, in id order."""
    return sorted(
        OrderLine.objects.of_paid_orders()  # demand = paid orders
        .filter(order__placed_at__lt=_start_of(before))
        .order_by()  # the default ordering would make DISTINCT per line
        .values_list("product_id", flat=True)
        .distinct()
    )


def top_products_by_units(*, before: date, limit: int) -> list[int]:
    """The ``limit`` products with most units sold before ``before``, most first (the replay's sample)."""
    return list(
        OrderLine.objects.of_paid_orders()  # demand = paid orders
        .filter(order__placed_at__lt=_start_of(before))
        .values("product_id")
        .annotate(units=Sum("quantity"))
        .order_by("-units", "product_id")
        .values_list("product_id", flat=True)[:limit]
    )


def first_demand_day() -> date | None:
    """The UTC day of the earliest order: where every product's demand history starts."""
    first = Order.objects.aggregate(first=Min("placed_at"))["first"]
    return first.astimezone(UTC).date() if first else None


def latest_demand_day(*, now: datetime | None = None) -> date | None:
    """The UTC day of the latest order that is not a stray row: where default forecasts start.

    Orders after ``now`` are ignored, and so is a day whose week (it and the six days before)
    holds a single order: one mistyped row, dated 2099 or years after the rest, cannot move every
    forecast. With no week of two orders (a brand-new shop), the latest day up to ``now``.
    """
    counts = dict(
        Order.objects.filter(placed_at__lte=now or timezone.now())
        .annotate(day=TruncDate("placed_at", tzinfo=UTC))
        .order_by()
        .values("day")
        .annotate(orders=Count("id"))
        .values_list("day", "orders")
    )
    days = sorted(counts, reverse=True)
    for day in days:  # the newest qualifying day is usually the first one tried
        week = sum(counts.get(day - timedelta(days=back), 0) for back in range(7))
        if week >= 2:
            return day
    return days[0] if days else None


@dataclass(frozen=True)
class ProductPolicyInputs:
    terms: SupplyTerms
    service_level: float
    supplier_id: int | None
    on_hand: int
    reserved: int
    on_order: int


def service_levels_for(*, product_ids: list[int]) -> dict[int, float]:
    """Each product's service level: its own override, else its category's (or the nearest ancestor
    category's), else the global default."""
    default = float(settings.INVENTORY["DEFAULT_SERVICE_LEVEL"])
    own = dict(
        ProductSupply.objects.filter(product_id__in=product_ids, service_level__isnull=False).values_list(
            "product_id", "service_level"
        )
    )
    categories = dict(Product.objects.filter(pk__in=product_ids).values_list("pk", "category_id"))
    by_category = category_service_levels()
    return {pid: own.get(pid, by_category.get(categories.get(pid), default)) for pid in product_ids}


def category_service_levels() -> dict[int, float]:
    """Each category's service level: its own, else the nearest ancestor's that has one ("Home" covers
    "Home > Kitchen"); categories with none in their line are left out."""
    own = dict(CategoryServiceLevel.objects.values_list("category_id", "service_level"))
    if not own:
        return {}
    parents = dict(Category.objects.values_list("pk", "parent_id"))
    levels: dict[int, float] = {}
    for category in parents:
        seen, current = set(), category
        while current is not None and current not in seen:  # a hand-made cycle must not hang a run
            if current in own:
                levels[category] = own[current]
                break
            seen.add(current)
            current = parents.get(current)
    return levels


def lead_times_for(*, product_ids: list[int]) -> dict[int, int]:
    """Each product's lead time: its own override, else its supplier's, else the global default."""
    default = int(settings.INVENTORY["DEFAULT_LEAD_TIME_DAYS"])
    supply = ProductSupply.objects.filter(product_id__in=product_ids).values_list(
        "product_id", "lead_time_days", "supplier__lead_time_days"
    )
    found = {pid: own or supplier or default for pid, own, supplier in supply}
    return {pid: found.get(pid, default) for pid in product_ids}


def policy_inputs_for(*, product_ids: list[int]) -> dict[int, ProductPolicyInputs]:
    """Supply terms, service level and stock position of each product, in a handful of queries."""
    levels = service_levels_for(product_ids=product_ids)
    lead_times = lead_times_for(product_ids=product_ids)
    supply = {s.product_id: s for s in ProductSupply.objects.filter(product_id__in=product_ids)}
    stock = {
        pid: (on_hand, reserved)
        for pid, on_hand, reserved in StockRecord.objects.filter(product_id__in=product_ids).values_list(
            "product_id", "on_hand", "reserved"
        )
    }
    on_order = PurchaseOrderLine.objects.filter(product_id__in=product_ids).on_order_by_product()
    inputs = {}
    for pid in product_ids:
        terms = supply.get(pid)
        on_hand, reserved = stock.get(pid, (0, 0))
        inputs[pid] = ProductPolicyInputs(
            terms=SupplyTerms(
                lead_time_days=lead_times[pid],
                unit_cost=float(terms.unit_cost) if terms else 0.0,
                minimum_order=terms.minimum_order if terms else 1,
                pack_size=terms.pack_size if terms else 1,
            ),
            service_level=levels[pid],
            supplier_id=terms.supplier_id if terms else None,
            on_hand=on_hand,
            reserved=reserved,
            on_order=on_order.get(pid, 0),
        )
    return inputs


#: Which run is latest, everywhere (API, admin chart, export): the latest as-of date, then the
#: latest completion; creation time only breaks ties, so a backfill cannot take over.
LATEST_RUN_ORDER = (
    F("as_of").desc(),
    F("finished_at").desc(nulls_last=True),
    F("created_at").desc(),
    F("id").desc(),
)


def latest_complete_run() -> ForecastRun | None:
    return ForecastRun.objects.filter(status=ForecastRun.Status.COMPLETE).order_by(*LATEST_RUN_ORDER).first()


def _complete_forecasts() -> QuerySet[ProductForecast]:
    """Forecasts of complete runs, latest run first (``LATEST_RUN_ORDER``)."""
    return ProductForecast.objects.filter(run__status=ForecastRun.Status.COMPLETE).order_by(
        F("run__as_of").desc(),
        F("run__finished_at").desc(nulls_last=True),
        F("run__created_at").desc(),
        F("run_id").desc(),
    )


def latest_forecast_for(*, product: Product) -> ProductForecast | None:
    return _complete_forecasts().filter(product=product).select_related("run").first()


def with_latest_forecast(supplies: QuerySet[ProductSupply]) -> QuerySet[ProductSupply]:
    """Annotate ``latest_forecast_id`` and ``latest_forecast_method`` in the same query (for lists)."""
    latest = _complete_forecasts().filter(product=OuterRef("product"))
    return supplies.annotate(
        latest_forecast_id=Subquery(latest.values("pk")[:1]),
        latest_forecast_method=Subquery(latest.values("method")[:1]),
    )


def demand_inputs_fingerprint(*, before: date) -> dict[str, int]:
    """A summary of the rows ``demand_events`` reads before ``before``: counts, units and newest ids.

    Deleting or re-importing any of those rows changes it, so a stored run can tell whether its
    forecasts still describe the data (two aggregate queries).
    """
    cutoff = _start_of(before)
    lines = OrderLine.objects.of_paid_orders().filter(order__placed_at__lt=cutoff)  # as demand_events
    cancellations = Cancellation.objects.filter(created_at__lt=cutoff)
    sold = lines.aggregate(n=Count("pk"), units=Sum("quantity"), last=Max("pk"))
    back = cancellations.aggregate(n=Count("pk"), units=Sum("quantity"), last=Max("pk"))
    return {
        "lines": sold["n"],
        "units": int(sold["units"] or 0),
        "last_line": sold["last"] or 0,
        "cancellations": back["n"],
        "cancelled_units": int(back["units"] or 0),
        "last_cancellation": back["last"] or 0,
    }


# --- what the worklist's flags read ---------------------------------------------------------------


def recent_sales(*, before: date, days: int, product_ids: list[int]) -> dict[int, int]:
    """Units sold per product in the ``days`` before ``before`` (paid orders, as demand); absent: none."""
    start = _start_of(before - timedelta(days=days))
    return dict(
        OrderLine.objects.of_paid_orders()
        .filter(
            product_id__in=product_ids, order__placed_at__gte=start, order__placed_at__lt=_start_of(before)
        )
        .values("product_id")
        .annotate(units=Sum("quantity"))
        .values_list("product_id", "units")
    )


def last_sale_days(*, before: date, product_ids: list[int]) -> dict[int, date]:
    """The UTC day of each product's last sale before ``before``; absent: never sold before it."""
    latest = (
        OrderLine.objects.of_paid_orders()
        .filter(product_id__in=product_ids, order__placed_at__lt=_start_of(before))
        .values("product_id")
        .annotate(last=Max("order__placed_at"))
        .values_list("product_id", "last")
    )
    return {pid: last.astimezone(UTC).date() for pid, last in latest}


#: How many earlier complete runs are searched for a product's previous forecast.
PREVIOUS_RUNS_SEARCHED = 5


def previous_daily_forecasts(*, run: ForecastRun, product_ids: list[int]) -> dict[int, float]:
    """Each product's mean daily forecast in its latest complete run before ``run`` (absent: none).

    "Before" is the run order (``LATEST_RUN_ORDER``) among runs as of the same day or earlier;
    only the last few runs are searched, so a product missing from all of them has no previous.
    """
    earlier = list(
        ForecastRun.objects.filter(status=ForecastRun.Status.COMPLETE, as_of__lte=run.as_of)
        .exclude(pk=run.pk)
        .exclude(as_of=run.as_of, created_at__gt=run.created_at)
        .order_by(*LATEST_RUN_ORDER)
        .values_list("pk", flat=True)[:PREVIOUS_RUNS_SEARCHED]
    )
    rank = {pk: index for index, pk in enumerate(earlier)}
    found: dict[int, tuple[int, float]] = {}
    rows = ProductForecast.objects.filter(run_id__in=earlier, product_id__in=product_ids).values_list(
        "run_id", "product_id", "values"
    )
    for run_id, pid, values in rows:
        if pid not in found or rank[run_id] < found[pid][0]:
            found[pid] = (rank[run_id], float(sum(values)) / len(values) if values else 0.0)
    return {pid: daily for pid, (_, daily) in found.items()}


@dataclass(frozen=True)
class MissingData:
    """Something the worklist or the recommendations need that the shop has not loaded yet, and the fix."""

    key: str
    message: str  # what is missing, e.g. "1,843 products have no supplier"
    fix: str  # the import that fixes it, e.g. "import supply terms"
    url: str  # that import in the admin
    why: str = ""  # what it costs meanwhile


def _products(count: int, which: str = "") -> str:
    """ "1 product has", "1,843 products have" (with ``which`` between the noun and the verb)."""
    return f"{count:,} product {which}has" if count == 1 else f"{count:,} products {which}have"


def missing_shop_data() -> list[MissingData]:
    """What a shop that brought only its transactions still lacks, in a handful of counts.

    Products count when they are active and sold (they have order lines): the worklist suggests
    only what sells. Each item names the import that fixes it and links to the admin's import.
    """
    from django.urls import reverse

    # EXISTS, not a DISTINCT join: the join reads every order line (190 ms on the shared file, per page).
    sold = (
        Product.objects.active().filter(Exists(OrderLine.objects.filter(product=OuterRef("pk")))).order_by()
    )
    terms_url = reverse("admin:inventory_productsupply_import")
    gaps: list[MissingData] = []
    uncounted = sold.filter(stock__isnull=True).count()
    if uncounted and not StockRecord.objects.filter(product__in=sold.values("pk")).exists():
        gaps.append(
            MissingData(
                "stock",
                "No stock count yet",
                "import a stock count",
                reverse("admin:shop_stockrecord_import"),
                "until then nothing is on hand, so nothing can be ordered through the API or recommended",
            )
        )
    elif uncounted:
        gaps.append(
            MissingData(
                "stock",
                f"{_products(uncounted)} no stock count",
                "import a stock count",
                reverse("admin:shop_stockrecord_import"),
                "they show nothing on hand",
            )
        )
    if not Supplier.objects.exists():
        gaps.append(
            MissingData(
                "suppliers",
                "No suppliers yet",
                "import suppliers",
                reverse("admin:inventory_supplier_import"),
                "then their supply terms",
            )
        )
    no_supplier = sold.filter(Q(supply__isnull=True) | Q(supply__supplier__isnull=True)).count()
    if no_supplier:
        gaps.append(
            MissingData(
                "terms",
                f"{_products(no_supplier)} no supplier",
                "import supply terms",
                terms_url,
                "their suggestions cannot become purchase orders",
            )
        )
    no_cost = sold.filter(supply__supplier__isnull=False, supply__unit_cost=0).count()
    if no_cost:
        gaps.append(
            MissingData(
                "costs",
                f"{_products(no_cost, 'with a supplier ')} no unit cost",
                "import supply terms",
                terms_url,
                "their suggestions are worth 0.00",
            )
        )
    no_category = sold.filter(category__isnull=True).count()
    if no_category:
        gaps.append(
            MissingData(
                "categories",
                f"{_products(no_category)} no category",
                "import categories",
                reverse("admin:shop_category_import"),
                "category filters, category service levels and content similarity miss them",
            )
        )
    return gaps
