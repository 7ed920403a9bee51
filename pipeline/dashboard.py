"""What the admin's front page shows a buyer in the morning, read in a handful of queries.

This app already reads every other app (it orchestrates their retraining), so the summary that
spans them lives here. Each figure links to the list it summarises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from inventory.models import ForecastRun, PurchaseOrder, ReorderSuggestion
from recommender.models import Mode, ModelVersion
from shop.models import Product, StockRecord

from .models import Run

ACCURACY_RUNS = 10
MONEY = DecimalField(max_digits=16, decimal_places=2)


@dataclass
class LateOrder:
    order: PurchaseOrder
    due: date
    days_late: int


@dataclass
class Dashboard:
    stockouts_today: int
    stockout_within_lead_time: int
    open_suggestions: int
    open_suggestions_value: Decimal
    flagged_suggestions: int
    awaiting_receipt: list[LateOrder]
    late_orders: int
    stock_value: Decimal
    last_runs: dict[str, Run | None]
    active_version: ModelVersion | None
    recommender_metrics: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    accuracy: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    accuracy_svg: str = ""


def _stockout_within_lead_time(today: date) -> int:
    """Open suggestions whose projected stock-out comes before an order placed today could arrive."""
    default = int(settings.INVENTORY["DEFAULT_LEAD_TIME_DAYS"])
    rows = (
        ReorderSuggestion.objects.open()
        .filter(projected_stockout__isnull=False)
        .values_list(
            "projected_stockout", "run__as_of", "product__supply__lead_time_days", "supplier__lead_time_days"
        )
    )
    count = 0
    for stockout, as_of, own, supplier in rows:
        if stockout <= (as_of or today) + timedelta(days=own or supplier or default):
            count += 1
    return count


def _accuracy(runs: list[ForecastRun]) -> list[tuple[str, float | None, float | None]]:
    """Median MASE of the model and of the naive baseline per run, oldest first; runs without them skipped."""
    points = []
    for run in reversed(runs):
        metrics = run.metrics or {}
        if metrics.get("median_mase") is None:
            continue
        points.append(
            (f"#{run.pk} {run.as_of:%d %b}", metrics.get("median_mase"), metrics.get("median_mase_naive"))
        )
    return points


def accuracy_chart(points: list[tuple[str, float | None, float | None]], key: str) -> str:
    """The accuracy chart, drawn once per set of runs (a new complete run changes the key)."""
    if not points:
        return ""
    cache_key = f"dashboard:accuracy:v1:{key}"
    svg = cache.get(cache_key)
    if svg is None:
        from inventory.charts import accuracy_chart_svg

        svg = accuracy_chart_svg(
            labels=[label for label, _, _ in points],
            model=[model for _, model, _ in points],
            naive=[naive for _, _, naive in points],
        )
        cache.set(cache_key, svg, 24 * 3600)
    return svg


def dashboard_summary() -> Dashboard:
    today = timezone.localdate()
    cover, safety = (
        float(settings.INVENTORY["FLAG_COVER_DAYS"]),
        float(settings.INVENTORY["FLAG_SAFETY_MULTIPLE"]),
    )
    open_rows = ReorderSuggestion.objects.open().aggregate(
        rows=Count("pk"),
        value=Sum(
            ExpressionWrapper(
                Coalesce("quantity_override", "quantity") * F("product__supply__unit_cost"),
                output_field=MONEY,
            )
        ),
        flagged=Count("pk", filter=Q(days_of_cover__gt=cover) | Q(safety_stock_multiple__gt=safety)),
    )
    awaiting = []
    now = timezone.now()
    for order in (
        PurchaseOrder.objects.filter(status=PurchaseOrder.Status.SENT)
        .select_related("supplier")
        .order_by("sent_at")
    ):
        due = (order.sent_at or order.created_at) + timedelta(days=order.supplier.lead_time_days)
        awaiting.append(LateOrder(order=order, due=due.date(), days_late=max((now - due).days, 0)))
    stock_value = StockRecord.objects.aggregate(
        value=Sum(ExpressionWrapper(F("on_hand") * F("product__supply__unit_cost"), output_field=MONEY))
    )["value"]
    last_runs = {
        kind: Run.objects.filter(kind=kind).order_by("-created_at", "-id").first() for kind in Run.Kind.values
    }
    version = ModelVersion.objects.active().first()
    metrics = []
    if version is not None:
        for mode in (Mode.ALL, Mode.NEW):
            model = version.metrics.get("hybrid", {}).get(mode, {}).get("recall")
            popular = version.metrics.get("popularity", {}).get(mode, {}).get("recall")
            metrics.append((Mode(mode).label, model, popular))
    runs = list(
        ForecastRun.objects.filter(status=ForecastRun.Status.COMPLETE).order_by(
            "-as_of", "-finished_at", "-id"
        )[:ACCURACY_RUNS]
    )
    points = _accuracy(runs)
    return Dashboard(
        stockouts_today=Product.objects.filter(active=True, stock__on_hand__lte=F("stock__reserved")).count(),
        stockout_within_lead_time=_stockout_within_lead_time(today),
        open_suggestions=int(open_rows["rows"] or 0),
        open_suggestions_value=open_rows["value"] or Decimal(0),
        flagged_suggestions=int(open_rows["flagged"] or 0),
        awaiting_receipt=awaiting[:10],
        late_orders=sum(1 for item in awaiting if item.days_late > 0),
        stock_value=stock_value or Decimal(0),
        last_runs=last_runs,
        active_version=version,
        recommender_metrics=metrics,
        accuracy=points,
        accuracy_svg=accuracy_chart(points, "-".join(str(run.pk) for run in runs)),
    )
