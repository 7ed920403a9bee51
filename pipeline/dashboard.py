"""What the admin's front page shows a buyer in the morning, read in a handful of queries.

This app already reads every other app (it orchestrates their retraining), so the summary that
spans them lives here. Each figure links to the list it summarises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from inventory.models import ForecastRun, PurchaseOrder, ReorderSuggestion
from recommender.models import Mode, ModelVersion
from shop import formats
from shop.models import Product, StockRecord

from .models import Run

ACCURACY_RUNS = 12
MONEY = DecimalField(max_digits=16, decimal_places=2)


@dataclass
class LateOrder:
    order: PurchaseOrder
    due: date
    days_late: int


@dataclass
class LatestRun:
    """The latest retraining of one kind, however it was started (admin, schedule, command line)."""

    kind: str
    label: str
    status: str
    started_by: str
    finished_at: datetime | None
    produced: str
    produced_url: str
    run: Run | None = None
    error: str = ""
    #: when the latest failed: the newest thing of this kind that did succeed, and its page
    last_good: str = ""
    last_good_url: str = ""


@dataclass
class Dashboard:
    stockouts_today: int
    stockout_within_lead_time: int
    open_suggestions: int
    open_suggestions_value: Decimal
    flagged_suggestions: int
    snoozed_suggestions: int
    awaiting_receipt: list[LateOrder]
    late_orders: int
    stock_value: Decimal
    latest_runs: list[LatestRun]
    active_version: ModelVersion | None
    recommender_metrics: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    accuracy: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    accuracy_svg: str = ""


def _stockout_within_lead_time(today: date) -> int:
    """Open suggestions whose projected stock-out comes before an order placed today could arrive."""
    default = int(settings.INVENTORY["DEFAULT_LEAD_TIME_DAYS"])
    rows = (
        ReorderSuggestion.objects.to_review(today=today)
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


def _full_runs(runs: list[ForecastRun]) -> list[ForecastRun]:
    """Runs of every product sold (not a few chosen SKUs); runs older than the record go by their size."""
    largest = max(((r.metrics or {}).get("products") or 0 for r in runs), default=0)
    full = []
    for run in runs:
        scope = (run.settings or {}).get("scope")
        products = (run.metrics or {}).get("products") or 0
        if scope == "all" or (scope is None and products >= 0.5 * largest):
            full.append(run)
    return full


def _accuracy(runs: list[ForecastRun]) -> list[tuple[str, float | None, float | None]]:
    """Median MASE of the model and of the naive baseline per full run, oldest first."""
    points = []
    for run in reversed(_full_runs(runs)):
        metrics = run.metrics or {}
        if metrics.get("median_mase") is None:
            continue
        points.append((formats.day(run.as_of), metrics.get("median_mase"), metrics.get("median_mase_naive")))
    return points[-ACCURACY_RUNS:]


def accuracy_chart(points: list[tuple[str, float | None, float | None]], key: str) -> str:
    """The accuracy chart, drawn once per set of runs (a new complete run changes the key)."""
    if not points:
        return ""
    cache_key = f"dashboard:accuracy:v2:{key}"
    svg = cache.get(cache_key)
    if svg is None:
        from inventory.charts import accuracy_chart_svg

        svg = accuracy_chart_svg(
            labels=[label for label, _, _ in points],
            model=[model for _, model, _ in points],
            naive=[naive for _, _, naive in points],
            title="forecast accuracy of full runs, by as-of date",
        )
        cache.set(cache_key, svg, 24 * 3600)
    return svg


def _latest_runs() -> list[LatestRun]:
    """Per kind, the newer of the latest pipeline run and the latest thing trained outside it.

    ``retrain_recommender`` and ``retrain_forecasts`` train without a pipeline run, so the run list
    alone would say "never run" beside a trained model.
    """
    rows = []
    version = ModelVersion.objects.order_by("-created_at", "-id").first()
    forecast = (
        ForecastRun.objects.order_by("-created_at", "-id")
        .only("pk", "as_of", "status", "created_at", "finished_at")
        .first()
    )
    good = {
        Run.Kind.RECOMMENDER: ModelVersion.objects.active().first(),
        Run.Kind.FORECAST: ForecastRun.objects.filter(status=ForecastRun.Status.COMPLETE)
        .order_by("-finished_at", "-id")
        .only("pk", "as_of")
        .first(),
    }
    produced = {
        Run.Kind.RECOMMENDER: (
            version,
            lambda v: (
                f"model version {v.pk}",
                reverse("admin:recommender_modelversion_change", args=[v.pk]),
            ),
        ),
        Run.Kind.FORECAST: (
            forecast,
            lambda f: (
                f"forecast run {f.pk} as of {formats.day(f.as_of)}",
                reverse("admin:inventory_forecastrun_change", args=[f.pk]),
            ),
        ),
    }
    for kind, label in Run.Kind.choices:
        run = Run.objects.filter(kind=kind).order_by("-created_at", "-id").first()
        thing, describe = produced[kind]
        made_by_run = (
            run is not None and thing is not None and thing.pk in (run.model_version_id, run.forecast_run_id)
        )
        if thing is not None and not made_by_run and (run is None or thing.created_at > run.created_at):
            what, url = describe(thing)
            rows.append(
                LatestRun(
                    kind=kind,
                    label=label,
                    status=thing.get_status_display(),
                    started_by="command line (outside the run list)",
                    finished_at=thing.finished_at,
                    produced=what,
                    produced_url=url,
                )
            )
        elif run is not None:
            what, url = describe(thing) if made_by_run else ("—", "")
            rows.append(
                LatestRun(
                    kind=kind,
                    label=label,
                    status=run.get_status_display(),
                    started_by=f"{run.get_trigger_display().lower()}, run #{run.pk}",
                    finished_at=run.finished_at,
                    produced=what,
                    produced_url=url,
                    run=run,
                    error=run.error,
                )
            )
        else:
            rows.append(LatestRun(kind, label, "never run", "—", None, "—", ""))
        latest = rows[-1]
        if latest.status.lower() == "failed" and good[kind] is not None:
            latest.last_good, latest.last_good_url = describe(good[kind])
    return rows


def dashboard_summary() -> Dashboard:
    today = timezone.localdate()
    value = ExpressionWrapper(
        Coalesce("quantity_override", "quantity") * F("product__supply__unit_cost"), output_field=MONEY
    )
    open_rows = ReorderSuggestion.objects.open().aggregate(
        rows=Count("pk", filter=Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=today)),
        value=Sum(value, filter=Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=today)),
        flagged=Count(
            "pk", filter=~Q(flags=[]) & (Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=today))
        ),
        snoozed=Count("pk", filter=Q(snoozed_until__gt=today)),
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
    version = ModelVersion.objects.active().first()
    metrics = []
    if version is not None:
        for mode in (Mode.ALL, Mode.NEW):
            model = version.metrics.get("hybrid", {}).get(mode, {}).get("recall")
            popular = version.metrics.get("popularity", {}).get(mode, {}).get("recall")
            metrics.append((Mode(mode).label, model, popular))
    runs = list(
        ForecastRun.objects.filter(status=ForecastRun.Status.COMPLETE)
        .only("pk", "as_of", "metrics", "settings", "finished_at")
        .order_by("-as_of", "-finished_at", "-id")[: ACCURACY_RUNS * 3]
    )
    points = _accuracy(runs)
    return Dashboard(
        stockouts_today=Product.objects.filter(active=True, stock__on_hand__lte=F("stock__reserved")).count(),
        stockout_within_lead_time=_stockout_within_lead_time(today),
        open_suggestions=int(open_rows["rows"] or 0),
        open_suggestions_value=open_rows["value"] or Decimal(0),
        flagged_suggestions=int(open_rows["flagged"] or 0),
        snoozed_suggestions=int(open_rows["snoozed"] or 0),
        awaiting_receipt=awaiting[:10],
        late_orders=sum(1 for item in awaiting if item.days_late > 0),
        stock_value=stock_value or Decimal(0),
        latest_runs=_latest_runs(),
        active_version=version,
        recommender_metrics=metrics,
        accuracy=points,
        accuracy_svg=accuracy_chart(
            points,
            "-".join(f"{run.pk}.{run.finished_at.timestamp() if run.finished_at else 0:.0f}" for run in runs),
        ),
    )
