"""Every write of the inventory app: forecast runs, reorder suggestions and purchase orders.

A forecast run is start -> chunks -> finish so that Celery can spread the chunks
over workers; ``forecast_retrain`` does the same serially. Each step is
idempotent: a chunk upserts its products' forecasts, finishing replaces the run's
suggestions.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from shop.models import Product
from shop.services import stock_receive

from . import selectors
from .models import (
    ForecastRun,
    ProductForecast,
    ProductSupply,
    PurchaseOrder,
    PurchaseOrderLine,
    ReorderSuggestion,
    Supplier,
)
from .policy import REVIEW_PERIOD_DAYS, ROLLING_HISTORY_DAYS, ReorderPlan, SupplyTerms, reorder_plan

if TYPE_CHECKING:
    import pandas as pd

    from .forecasting.selection import ProductForecast as EngineForecast

Progress = Callable[[str, int, int], None]

#: the name the engine gives ARIMA(5,1,0) (kept here so that reading metrics needs no engine import)
ARIMA = "arima(5,1,0)"


class InventoryError(Exception):
    """Domain errors of the inventory app (the admin shows them as messages)."""


def _policy_settings() -> dict:
    """The cost and order-size settings a run records, so its suggestions can be recomputed later."""
    return {
        "ordering_cost": float(settings.INVENTORY["ORDERING_COST"]),
        "holding_cost_rate": float(settings.INVENTORY["HOLDING_COST_RATE"]),
        "cover_days": int(settings.INVENTORY["ORDER_COVER_DAYS"]),
        "max_cover_days": float(settings.INVENTORY["MAX_COVER_DAYS"]),
        "max_safety_stock_multiple": float(settings.INVENTORY["MAX_SAFETY_STOCK_MULTIPLE"]),
        "review_days": review_period_days(),
    }


def review_period_days() -> int:
    """Days between reviews of a product's position: suggestions are made by the nightly retrain (1).

    The engine's rolling replay chose this on a validation window (docs/BENCHMARKS.md); a shop
    that retrains less often sets ``INVENTORY["REVIEW_PERIOD_DAYS"]`` to its interval.
    """
    return int(settings.INVENTORY.get("REVIEW_PERIOD_DAYS", REVIEW_PERIOD_DAYS))


def _default_as_of() -> date:
    """The day after the latest order, so that forecasts start where the data ends (today in a live shop)."""
    latest = selectors.latest_demand_day()
    return latest + timedelta(days=1) if latest else timezone.now().date()


# --- forecast runs ---------------------------------------------------------------------------------


@transaction.atomic
def forecast_run_start(
    *,
    as_of: date | None = None,
    product_ids: list[int] | None = None,
    run_key: str | None = None,
    horizon: int | None = None,
) -> ForecastRun:
    """Create a run and fix its product list (the given ones, or every product sold before ``as_of``).

    Starting again with the same ``run_key`` returns the existing run unchanged.
    """
    if run_key:
        existing = ForecastRun.objects.filter(run_key=run_key).first()
        if existing:
            return existing
    as_of = as_of or _default_as_of()
    ids = sorted(set(product_ids)) if product_ids is not None else selectors.products_with_sales(before=as_of)
    methods_from, selected_on = _selection_source(as_of)
    run = ForecastRun(
        run_key=run_key or None,
        as_of=as_of,
        horizon=horizon or int(settings.INVENTORY["FORECAST_HORIZON_DAYS"]),
        product_ids=ids,
        settings={
            "default_service_level": float(settings.INVENTORY["DEFAULT_SERVICE_LEVEL"]),
            "default_lead_time_days": int(settings.INVENTORY["DEFAULT_LEAD_TIME_DAYS"]),
            **_policy_settings(),
            "backtest_origins": 3,
            # Every product sold before as_of, or a chosen few: only full runs chart the shop's accuracy.
            "scope": "all" if product_ids is None else "selected",
            # What the forecasts are computed from; a later change to these rows voids the run (see below).
            "inputs": selectors.demand_inputs_fingerprint(before=as_of),
            # Methods are re-selected weekly; between, each product's method is refitted (see below).
            "selected_on": selected_on.isoformat(),
            "methods_from_run": methods_from,
        },
    )
    run.full_clean()
    try:
        with transaction.atomic():
            run.save()
    except IntegrityError:
        # Another worker started the same run_key between our read and our insert.
        return ForecastRun.objects.get(run_key=run_key)
    return run


#: Days a run's per-product method choice is reused by later runs before a full re-selection.
RESELECT_EVERY_DAYS = 7


def _selection_source(as_of: date) -> tuple[int | None, date]:
    """The run whose method choices a run as of ``as_of`` reuses (None: select afresh), and the selection day.

    The nightly retrain refits yesterday's choice instead of backtesting every candidate again:
    the latest complete run before ``as_of`` whose choices were made fewer than
    ``RESELECT_EVERY_DAYS`` days earlier. Once a week (or after a gap) every product is re-selected.
    """
    previous = (
        ForecastRun.objects.filter(
            status=ForecastRun.Status.COMPLETE,
            as_of__lt=as_of,
            as_of__gte=as_of - timedelta(days=RESELECT_EVERY_DAYS),
        )
        .only("pk", "as_of", "settings")
        .first()
    )
    selected = (previous.settings or {}).get("selected_on") if previous else None
    if selected and 0 <= (as_of - date.fromisoformat(selected)).days < RESELECT_EVERY_DAYS:
        return previous.pk, date.fromisoformat(selected)
    return None, as_of


def _previous_choices(run: ForecastRun, product_ids: list[int]) -> dict[int, tuple[str, list[float]]]:
    """(method, ARIMA parameters) per product in the run this one reuses; empty when it re-selects."""
    source = (run.settings or {}).get("methods_from_run")
    if not source:
        return {}
    rows = ProductForecast.objects.filter(run_id=source, product_id__in=product_ids).values_list(
        "product_id", "method", "arima_params"
    )
    return {pid: (method, params or None) for pid, method, params in rows}


def forecast_run_product_ids(*, run: ForecastRun) -> list[int]:
    return list(run.product_ids)


def _engine_forecasts(
    *,
    as_of: date,
    product_ids: list[int],
    horizon: int,
    lead_times: dict[int, int],
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    previous: dict[int, tuple[str, list[float] | None]] | None = None,
    demand: pd.DataFrame | None = None,
) -> dict[int, EngineForecast]:
    """Load the products' demand before ``as_of`` and run the engine, grouped by lead time.

    ``previous`` holds an earlier run's method (and ARIMA estimates) per product: those are refitted.
    """
    # The engine (pandas, scipy) loads here, not when Django starts: every command and worker
    # imports this module, and only forecasting needs it.
    from .forecasting.selection import ProductForecast as EngineForecast
    from .forecasting.selection import forecast_frame

    if demand is None:
        matrix = selectors.demand_matrix(before=as_of, product_ids=product_ids)
    else:  # read once for a whole run: only this chunk's rows, none of its days trimmed
        matrix = demand.loc[demand.index.intersection(product_ids)]
    results: dict[int, EngineForecast] = {}
    by_lead_time: dict[int, list[int]] = defaultdict(list)
    for pid in product_ids:
        by_lead_time[lead_times[pid]].append(pid)
    for lead_time, ids in by_lead_time.items():
        present = [pid for pid in ids if pid in matrix.index]
        results.update(
            forecast_frame(
                matrix.loc[present],
                horizon=horizon,
                lead_time=lead_time,
                workers=workers,
                progress=progress,
                previous=previous,
            )
        )
        for pid in set(ids) - set(present):
            results[pid] = EngineForecast(
                "zero", np.zeros(horizon), "dormant", fallback_reason="no sales before the as-of date"
            )
    return results


def forecast_chunk(*, run_id: int, product_ids: list[int], demand: pd.DataFrame | None = None) -> int:
    """Forecast these products for the run and upsert their ``ProductForecast`` rows; returns how many.

    Re-running a chunk replaces its rows. A product whose every method fails gets a
    flat mean with the reason recorded; it never aborts the chunk. ``demand`` is the run's
    whole demand matrix when the caller has read it once for every chunk (``forecast_retrain``).
    """
    run = ForecastRun.objects.get(pk=run_id)
    ids = sorted(set(product_ids))
    lead_times = selectors.lead_times_for(product_ids=ids)
    results = _engine_forecasts(
        as_of=run.as_of,
        product_ids=ids,
        horizon=run.horizon,
        lead_times=lead_times,
        previous=_previous_choices(run, ids),
        demand=demand,
    )
    rows = [
        ProductForecast(
            run=run,
            product_id=pid,
            method=result.method,
            demand_class=result.kind,
            backtest_error=None if np.isnan(result.backtest_error) else float(result.backtest_error),
            lead_time_days=lead_times[pid],
            values=[round(float(v), 4) for v in result.values],
            lead_time_errors=[round(float(v), 3) for v in result.lead_time_errors],
            candidates={name: round(float(score), 4) for name, score in result.candidates.items()},
            fallback_reason=result.fallback_reason[:2000],
            level_shrink=round(float(result.level_shrink), 4),
            backtest_mase=_finite_or_none(result.backtest_mase),
            naive_mase=_finite_or_none(result.naive_mase),
            arima_params=[] if result.arima_params is None else [float(v) for v in result.arima_params],
        )
        for pid, result in results.items()
    ]
    with transaction.atomic():
        ProductForecast.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["run", "product"],
            update_fields=[
                "method",
                "demand_class",
                "backtest_error",
                "lead_time_days",
                "values",
                "lead_time_errors",
                "candidates",
                "fallback_reason",
                "level_shrink",
                "backtest_mase",
                "naive_mase",
                "arima_params",
            ],
        )
    return len(rows)


def _finite_or_none(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None


def _run_metrics(forecasts: Sequence[ProductForecast]) -> dict:
    """Run-level figures: method and class counts, and the backtest accuracy the admin charts.

    ``median_mase`` is the median daily MASE of the issued forecasts over the backtest origins,
    ``median_mase_naive`` that of a seasonal naive forecast on the same origins and products.
    ``arima`` counts, per demand class, the products ARIMA was fitted for and those it won.
    """
    errors = [f.backtest_error for f in forecasts if f.backtest_error is not None]
    paired = [(f.backtest_mase, f.naive_mase) for f in forecasts if f.backtest_mase is not None]
    arima: dict[str, dict[str, int]] = {}
    for f in forecasts:
        if ARIMA in (f.candidates or {}):
            counts = arima.setdefault(f.demand_class, {"fitted": 0, "won": 0})
            counts["fitted"] += 1
            counts["won"] += f.method == ARIMA
    return {
        "products": len(forecasts),
        "methods": dict(Counter(f.method for f in forecasts).most_common()),
        "demand_classes": dict(Counter(f.demand_class for f in forecasts).most_common()),
        "fallbacks": sum(1 for f in forecasts if f.fallback_reason),
        "median_backtest_error": round(float(np.median(errors)), 4) if errors else None,
        "median_mase": round(float(np.median([p[0] for p in paired])), 4) if paired else None,
        "median_mase_naive": (
            round(float(np.median([p[1] for p in paired if p[1] is not None])), 4)
            if any(p[1] is not None for p in paired)
            else None
        ),
        "arima": arima,
        "forecast_units": round(float(sum(f.total for f in forecasts)), 1),
    }


@transaction.atomic
def forecast_run_finish(*, run_id: int, demand: pd.DataFrame | None = None) -> ForecastRun:
    """Aggregate the run's metrics, replace its reorder suggestions and mark it complete (idempotent)."""
    run = ForecastRun.objects.select_for_update().get(pk=run_id)
    forecasts = list(run.forecasts.all())
    missing = set(run.product_ids) - {f.product_id for f in forecasts}
    if missing:
        raise InventoryError(
            f"Run {run.pk} has {len(missing)} products without a forecast; run their chunks."
        )
    run.metrics = _run_metrics(forecasts)
    histories = (
        demand_histories(as_of=run.as_of, product_ids=[f.product_id for f in forecasts], demand=demand)
        if demand is not None
        else None
    )
    suggestions = reorder_suggestions_for(run=run, forecasts=forecasts, histories=histories)
    run.suggestions.filter(status=ReorderSuggestion.Status.OPEN).delete()
    kept = set(run.suggestions.values_list("product_id", flat=True))
    from .services_worklist import decisions_apply  # the buyer's snoozes and dismissals carry over

    decisions_apply(run=run, suggestions=suggestions)
    covered_later, void_later = _later_runs(run)
    for suggestion in suggestions:
        if suggestion.product_id in covered_later:
            suggestion.status = ReorderSuggestion.Status.SUPERSEDED
    ReorderSuggestion.objects.bulk_create(s for s in suggestions if s.product_id not in kept)
    # Only the newest view of a product stays open; older ones are kept, marked, for the record.
    ReorderSuggestion.objects.open().filter(product_id__in=run.product_ids).filter(
        Q(run__as_of__lte=run.as_of) | Q(run__in=void_later)
    ).exclude(run=run).update(status=ReorderSuggestion.Status.SUPERSEDED)
    run.metrics["suggestions"] = len(suggestions)
    run.status = ForecastRun.Status.COMPLETE
    run.finished_at = run.finished_at or timezone.now()
    run.save(update_fields=["metrics", "status", "finished_at"])
    return run


def _later_runs(run: ForecastRun) -> tuple[set[int], list[int]]:
    """Complete runs with a later as-of date: the products the valid ones forecast, and the void ones' ids.

    A later run is valid while its as-of date is not in the future and the rows it read are
    unchanged: one computed from a stray future-dated row, or from rows since deleted or
    re-imported, must not mark a newer, valid run's suggestions as superseded (a backfill for an
    earlier date, on unchanged data, is history and stays superseded).
    """
    later = ForecastRun.objects.filter(status=ForecastRun.Status.COMPLETE, as_of__gt=run.as_of)
    latest_possible = timezone.now().date() + timedelta(days=1)
    valid: set[int] = set()
    void: list[int] = []
    for pk, as_of, run_settings, product_ids in later.values_list("pk", "as_of", "settings", "product_ids"):
        recorded = run_settings.get("inputs")  # runs from before the record are trusted as they were
        if as_of <= latest_possible and (
            recorded is None or recorded == selectors.demand_inputs_fingerprint(before=as_of)
        ):
            valid.update(product_ids)
        else:
            void.append(pk)
    return valid, void


def demand_histories(
    *, as_of: date, product_ids: list[int], demand: pd.DataFrame | None = None
) -> dict[int, np.ndarray]:
    """Daily demand before ``as_of`` per product, as much as the policy's rolling errors use.

    Every product's series starts on the same day (the shop's first order or
    ``ROLLING_HISTORY_DAYS`` back, whichever is later), so days before a product's first sale are zeros:
    the policy counts a recent launch's ramp-up as error. The admin, the nightly
    suggestions and ``reorder_policy`` all read histories here so they agree. ``demand`` is
    ``selectors.demand_matrix(before=as_of, ...)`` already read for these products (not read again).
    """
    import pandas as pd

    first = selectors.first_demand_day()
    end = as_of - timedelta(days=1)
    if first is None or first > end or not product_ids:
        return {pid: np.zeros(0) for pid in product_ids}
    start = max(first, as_of - timedelta(days=ROLLING_HISTORY_DAYS))
    matrix = demand if demand is not None else selectors.demand_matrix(before=as_of, product_ids=product_ids)
    matrix = matrix.reindex(
        index=product_ids, columns=pd.date_range(start, end, freq="D"), fill_value=0.0
    ).fillna(0.0)
    return {pid: row for pid, row in zip(product_ids, matrix.to_numpy(), strict=True)}


def reorder_plans_for(
    *,
    run: ForecastRun,
    forecasts: Sequence[ProductForecast],
    service_level: float | None = None,
    histories: dict[int, np.ndarray] | None = None,
    inputs: dict[int, selectors.ProductPolicyInputs] | None = None,
) -> dict[int, tuple[ReorderPlan, selectors.ProductPolicyInputs]]:
    """The policy's plan for each forecast product, with the stock and terms it was computed from.

    The one place that turns a stored forecast into s, Q and S: the nightly suggestions, the
    admin chart and the what-if all call it, so they always agree. ``service_level`` replaces
    every product's own (the what-if); ``histories`` and ``inputs`` are reused when given.
    """
    product_ids = [f.product_id for f in forecasts]
    if inputs is None:
        inputs = selectors.policy_inputs_for(product_ids=product_ids)
    if histories is None:
        histories = demand_histories(as_of=run.as_of, product_ids=product_ids)
    policy = {**_policy_settings(), **run.settings}
    plans = {}
    for forecast in forecasts:
        product_inputs = inputs[forecast.product_id]
        plans[forecast.product_id] = (
            reorder_plan(
                forecast=np.asarray(forecast.values, dtype=float),
                errors=np.asarray(forecast.lead_time_errors, dtype=float),
                service_level=service_level if service_level is not None else product_inputs.service_level,
                terms=product_inputs.terms,
                on_hand=product_inputs.on_hand,
                on_order=product_inputs.on_order,
                reserved=product_inputs.reserved,
                ordering_cost=policy["ordering_cost"],
                holding_cost_rate=policy["holding_cost_rate"],
                cover_days=policy["cover_days"],
                max_cover_days=policy.get("max_cover_days"),
                max_safety_stock_multiple=policy.get("max_safety_stock_multiple"),
                as_of=run.as_of,
                history=histories[forecast.product_id],
                # Runs from before the review period was recorded planned for the lead time alone.
                review_days=int(run.settings.get("review_days", 0)),
            ),
            product_inputs,
        )
    return plans


def reorder_suggestions_for(
    *,
    run: ForecastRun,
    forecasts: Sequence[ProductForecast],
    histories: dict[int, np.ndarray] | None = None,
) -> list[ReorderSuggestion]:
    """Unsaved suggestions for the products whose inventory position is at or below the reorder point."""
    suggestions = []
    plans = reorder_plans_for(run=run, forecasts=forecasts, histories=histories)
    for product_id, (plan, product_inputs) in plans.items():
        if plan.suggested_quantity <= 0:
            continue
        suggestions.append(
            ReorderSuggestion(
                run=run,
                product_id=product_id,
                supplier_id=product_inputs.supplier_id,
                quantity=plan.suggested_quantity,
                reorder_point=round(plan.reorder_point, 2),
                order_up_to=round(plan.order_up_to, 2),
                inventory_position=plan.inventory_position,
                service_level=product_inputs.service_level,
                projected_stockout=plan.stockout_date,
                days_of_cover=None if plan.days_of_cover is None else round(plan.days_of_cover, 1),
                safety_stock_multiple=(
                    None if plan.safety_stock_multiple is None else round(plan.safety_stock_multiple, 2)
                ),
                reason=plan.reason,
            )
        )
    from .services_worklist import suggestions_mark  # flags and headlines: the buyer's worklist

    return suggestions_mark(run=run, suggestions=suggestions, plans=plans, forecasts=forecasts)


def product_ids_for_skus(*, skus: Sequence[str]) -> list[int]:
    """Ids of these SKUs; an unknown SKU is an error naming it, not a silent omission."""
    found = dict(Product.objects.filter(sku__in=list(skus)).values_list("sku", "pk"))
    unknown = sorted(set(skus) - set(found))
    if unknown:
        raise InventoryError(f"Unknown SKUs: {', '.join(unknown)}")
    return sorted(found.values())


def forecast_retrain(
    *,
    as_of: date | None = None,
    product_skus: list[str] | None = None,
    progress: Progress | None = None,
    chunk_size: int = 1000,
) -> ForecastRun:
    """Start, forecast every chunk and finish a run in this process (the management command's path)."""
    product_ids = product_ids_for_skus(skus=product_skus) if product_skus else None
    run = forecast_run_start(as_of=as_of, product_ids=product_ids)
    ids = forecast_run_product_ids(run=run)
    # One read of the demand for every chunk and the suggestions (it was read once per chunk, then again).
    demand = selectors.demand_matrix(before=run.as_of, product_ids=ids) if ids else None
    done = 0
    for start in range(0, len(ids), chunk_size):
        done += forecast_chunk(run_id=run.pk, product_ids=ids[start : start + chunk_size], demand=demand)
        if progress:
            progress("forecast", done, len(ids))
    run = forecast_run_finish(run_id=run.pk, demand=demand)
    if progress:
        progress("finish", 1, 1)
    return run


# --- reorder levels without storing a run (reorder_policy, simulate_inventory) ---------------------------


@dataclass(frozen=True)
class ReorderLevels:
    product_id: int
    sku: str
    reorder_point: float
    order_up_to: float


def reorder_levels_forecasts(
    *,
    as_of: date,
    lead_time_days: int,
    product_ids: list[int] | None = None,
    horizon: int | None = None,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> dict[int, EngineForecast]:
    """Engine forecasts from data before ``as_of`` for a policy with a fixed lead time (nothing is stored)."""
    ids = product_ids if product_ids is not None else selectors.products_with_sales(before=as_of)
    return _engine_forecasts(
        as_of=as_of,
        product_ids=ids,
        horizon=horizon or int(settings.INVENTORY["FORECAST_HORIZON_DAYS"]),
        lead_times=dict.fromkeys(ids, lead_time_days),
        workers=workers,
        progress=progress,
    )


def replay_policy_options(*, cover_days: int | None = None) -> dict:
    """The ``reorder_plan`` settings of ``reorder_levels_from``, for the engine's replays (no unit costs)."""
    policy = _policy_settings()
    return {
        "cover_days": cover_days if cover_days is not None else policy["cover_days"],
        "max_cover_days": policy["max_cover_days"],
        "max_safety_stock_multiple": policy["max_safety_stock_multiple"],
        "review_days": policy["review_days"],
    }


def reorder_levels_from(
    *,
    forecasts: dict[int, EngineForecast],
    histories: dict[int, np.ndarray],
    lead_time_days: int,
    service_level: float,
    cover_days: int | None = None,
    skus: dict[int, str] | None = None,
) -> list[ReorderLevels]:
    """s and S for each product at one service level; Q is ``cover_days`` of forecast demand.

    ``histories`` come from ``demand_histories`` with the forecasts' as-of date (load
    them once for several service levels); a product missing from it falls back to
    its backtest errors. Safety stock is capped like the nightly suggestions' are.
    """
    if skus is None:
        skus = dict(Product.objects.filter(pk__in=list(forecasts)).values_list("pk", "sku"))
    policy = _policy_settings()
    cover = cover_days if cover_days is not None else policy["cover_days"]
    levels = []
    for pid in sorted(forecasts, key=lambda p: skus[p]):
        result = forecasts[pid]
        plan = reorder_plan(
            forecast=result.values,
            errors=result.lead_time_errors,
            service_level=service_level,
            terms=SupplyTerms(lead_time_days=lead_time_days),
            cover_days=cover,
            max_cover_days=policy["max_cover_days"],
            max_safety_stock_multiple=policy["max_safety_stock_multiple"],
            history=histories.get(pid),
            review_days=policy["review_days"],
        )
        levels.append(ReorderLevels(pid, skus[pid], round(plan.reorder_point, 2), round(plan.order_up_to, 2)))
    return levels


def forecast_series_for_export(*, run: ForecastRun) -> pd.DataFrame:
    """``product_sku, date, forecast`` rows of a run, for CSV export."""
    import pandas as pd

    rows = []
    for sku, values in run.forecasts.select_related("product").values_list("product__sku", "values"):
        for offset, value in enumerate(values):
            rows.append((sku, run.as_of + timedelta(days=offset), round(float(value), 4)))
    return pd.DataFrame(rows, columns=["product_sku", "date", "forecast"]).sort_values(
        ["product_sku", "date"]
    )


# --- supply terms -----------------------------------------------------------------------------------


DEMO_SUPPLIER = "Demo supplier"
DEMO_SUPPLIER_EMAIL = "orders@demo-supplier.example"


@transaction.atomic
def supplier_upsert(
    *,
    name: str,
    email: str = "",
    lead_time_days: int | None = None,
    minimum_order_value: Decimal = Decimal("0"),
) -> Supplier:
    """Create or update a supplier by name."""
    supplier = Supplier.objects.select_for_update().filter(name=name).first() or Supplier(name=name)
    supplier.email = email
    supplier.lead_time_days = lead_time_days or int(settings.INVENTORY["DEFAULT_LEAD_TIME_DAYS"])
    supplier.minimum_order_value = minimum_order_value
    supplier.full_clean()
    supplier.save()
    return supplier


@transaction.atomic
def supply_terms_bulk_set(*, terms: Sequence[ProductSupply]) -> int:
    """Create or replace many products' supply terms at once (each validated); returns how many."""
    for row in terms:
        row.full_clean(exclude=["product"], validate_unique=False)
    ProductSupply.objects.bulk_create(
        terms,
        update_conflicts=True,
        unique_fields=["product"],
        update_fields=["supplier", "unit_cost", "minimum_order", "pack_size", "lead_time_days"],
    )
    return len(terms)


@transaction.atomic
def demo_supply_terms_ensure(*, cost_share: Decimal = Decimal("0.6")) -> int:
    """Give every product without supply terms the demo supplier and a unit cost of 60% of its price.

    For the demo: an imported shop has no suppliers, and without a supplier a suggestion
    cannot become a purchase order. Returns how many products got terms; running it
    again creates nothing.
    """
    supplier, _ = Supplier.objects.get_or_create(
        name=DEMO_SUPPLIER,
        defaults={
            "lead_time_days": int(settings.INVENTORY["DEFAULT_LEAD_TIME_DAYS"]),
            "email": DEMO_SUPPLIER_EMAIL,  # "Send" emails it (the demo's console backend prints it)
        },
    )
    missing = Product.objects.filter(supply__isnull=True).values_list("pk", "price")
    created = ProductSupply.objects.bulk_create(
        (
            ProductSupply(
                product_id=pid, supplier=supplier, unit_cost=(price * cost_share).quantize(Decimal("0.01"))
            )
            for pid, price in missing
        ),
        ignore_conflicts=True,
    )
    return len(created)


# --- purchase orders -------------------------------------------------------------------------------


@transaction.atomic
def purchase_orders_from_suggestions(*, suggestion_ids: Sequence[int]) -> list[PurchaseOrder]:
    """Draft one purchase order per supplier from open suggestions (those without a supplier are skipped).

    A buyer's override (``quantity_override``) replaces the suggested quantity.
    """
    suggestions = list(
        ReorderSuggestion.objects.select_for_update(of=("self",))
        .filter(pk__in=suggestion_ids, status=ReorderSuggestion.Status.OPEN, supplier__isnull=False)
        .select_related("product__supply")
        .order_by("supplier_id", "product_id")
    )
    by_supplier: dict[int, list[ReorderSuggestion]] = defaultdict(list)
    for suggestion in suggestions:
        by_supplier[suggestion.supplier_id].append(suggestion)
    orders = []
    for supplier_id, group in by_supplier.items():
        order = PurchaseOrder(supplier_id=supplier_id, note=f"From forecast run {group[0].run_id}")
        order.full_clean()
        order.save()
        quantities: dict[int, int] = defaultdict(int)
        costs: dict[int, Decimal] = {}
        for suggestion in group:
            quantities[suggestion.product_id] += suggestion.order_quantity
            supply = getattr(suggestion.product, "supply", None)
            costs[suggestion.product_id] = supply.unit_cost if supply else Decimal("0")
        PurchaseOrderLine.objects.bulk_create(
            PurchaseOrderLine(order=order, product_id=pid, quantity=qty, unit_cost=costs[pid])
            for pid, qty in quantities.items()
        )
        for suggestion in group:
            suggestion.status = ReorderSuggestion.Status.ORDERED
            suggestion.purchase_order = order
        ReorderSuggestion.objects.bulk_update(group, ["status", "purchase_order"])
        orders.append(order)
    return orders


def _lock_open_suggestion(suggestion: ReorderSuggestion) -> ReorderSuggestion:
    locked = ReorderSuggestion.objects.select_for_update().get(pk=suggestion.pk)
    if locked.status != ReorderSuggestion.Status.OPEN:
        raise InventoryError(
            f"The suggestion for {locked.product} is {locked.status}; only open ones can change."
        )
    return locked


@transaction.atomic
def suggestion_set_quantity(
    *, suggestion: ReorderSuggestion, quantity: int | None, user: AbstractBaseUser | None = None
) -> ReorderSuggestion:
    """Keep the buyer's quantity beside the suggested one (``None`` or the suggested value clears it)."""
    suggestion = _lock_open_suggestion(suggestion)
    if quantity is not None and quantity <= 0:
        raise InventoryError(f"Quantity must be positive, got {quantity}.")
    suggestion.quantity_override = None if quantity == suggestion.quantity else quantity
    suggestion.full_clean()
    suggestion.save(update_fields=["quantity_override"])
    return suggestion


@transaction.atomic
def purchase_order_create(
    *, supplier: Supplier, lines: Sequence[tuple[Product, int]], note: str = ""
) -> PurchaseOrder:
    """A draft purchase order with one line per product (quantities of repeated products are added up)."""
    if not lines:
        raise InventoryError("A purchase order needs at least one line.")
    quantities: dict[int, int] = defaultdict(int)
    for product, quantity in lines:
        if quantity <= 0:
            raise InventoryError(f"Quantity must be positive, got {quantity} for {product.sku}.")
        quantities[product.pk] += quantity
    order = PurchaseOrder(supplier=supplier, note=note)
    order.full_clean()
    order.save()
    PurchaseOrderLine.objects.bulk_create(
        PurchaseOrderLine(order=order, product_id=pid, quantity=qty) for pid, qty in quantities.items()
    )
    return order


def _lock_purchase_order(order: PurchaseOrder, allowed: Sequence[str]) -> PurchaseOrder:
    locked = PurchaseOrder.objects.select_for_update().get(pk=order.pk)
    if locked.status not in allowed:
        raise InventoryError(f"{locked.reference} is {locked.status}; expected one of {', '.join(allowed)}.")
    return locked


@transaction.atomic
def purchase_order_send(*, order: PurchaseOrder) -> PurchaseOrder:
    order = _lock_purchase_order(order, [PurchaseOrder.Status.DRAFT])
    order.status = PurchaseOrder.Status.SENT
    order.sent_at = timezone.now()
    order.save(update_fields=["status", "sent_at"])
    return order


@transaction.atomic
def purchase_order_email(*, order: PurchaseOrder, user: AbstractBaseUser | None = None) -> PurchaseOrder:
    """Email a draft order to its supplier (the printable page, and the lines as XLSX) and mark it sent.

    Goes through Django's email backend (the console in the demo); the address, the sender and
    the time are recorded on the order. A supplier without an email address is refused, and so is
    an order that is no longer a draft; if the backend fails, the order stays a draft.
    """
    from django.core.mail import EmailMultiAlternatives

    from .documents import (
        purchase_order_document,
        purchase_order_html,
        purchase_order_text,
        purchase_order_xlsx,
    )

    order = _lock_purchase_order(order, [PurchaseOrder.Status.DRAFT])
    supplier = order.supplier
    if not supplier.email:
        raise InventoryError(
            f"{supplier.name} has no email address: add one to the supplier before sending {order.reference}."
        )
    if not order.lines.exists():
        raise InventoryError(f"{order.reference} has no lines to send.")
    document = purchase_order_document(order=order)
    message = EmailMultiAlternatives(
        subject=f"Purchase order {order.reference} from {document.shop_name}",
        body=purchase_order_text(document),
        from_email=settings.INVENTORY["PURCHASE_ORDER_FROM"],
        to=[supplier.email],
    )
    message.attach_alternative(purchase_order_html(document), "text/html")
    message.attach(
        document.filename,
        purchase_order_xlsx(document),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    message.send(fail_silently=False)
    order.status = PurchaseOrder.Status.SENT
    order.sent_at = timezone.now()
    order.sent_to = supplier.email
    order.sent_by = user if user is not None and user.is_authenticated else None
    order.full_clean()
    order.save(update_fields=["status", "sent_at", "sent_to", "sent_by"])
    return order


@transaction.atomic
def purchase_order_receive(
    *,
    order: PurchaseOrder,
    user: AbstractBaseUser | None = None,
    quantities: dict[int, int] | None = None,
) -> PurchaseOrder:
    """Book units into stock through the shop's stock service (so the ledger records each receipt).

    ``quantities`` maps line ids to the units arriving now; without it every outstanding unit
    arrives. The order is received (and locked) once every line is complete; until then it stays
    sent, with the remainder still on order. A received or cancelled order is refused.
    """
    order = _lock_purchase_order(order, PurchaseOrder.OPEN_STATUSES)
    lines = list(order.lines.select_for_update().select_related("product").order_by("product_id"))
    by_id = {line.pk: line for line in lines}
    if quantities is None:
        quantities = {line.pk: line.outstanding for line in lines}
    unknown = set(quantities) - set(by_id)
    if unknown:
        raise InventoryError(f"Lines {sorted(unknown)} are not on {order.reference}.")
    arriving = {pk: qty for pk, qty in quantities.items() if qty}
    if not arriving:
        raise InventoryError(f"Nothing to receive on {order.reference}: every quantity is zero.")
    for pk, qty in arriving.items():
        line = by_id[pk]
        if qty < 0 or qty > line.outstanding:
            raise InventoryError(f"{line.product.sku}: can receive 0 to {line.outstanding} units, got {qty}.")
    for line in lines:
        qty = arriving.get(line.pk, 0)
        if qty:
            stock_receive(product=line.product, quantity=qty, reference=order.reference, user=user)
            line.received += qty
    PurchaseOrderLine.objects.bulk_update(lines, ["received"])
    if order.status == PurchaseOrder.Status.DRAFT:  # goods turned up before the order was marked sent
        order.status, order.sent_at = PurchaseOrder.Status.SENT, order.sent_at or timezone.now()
    if all(line.outstanding == 0 for line in lines):
        order.status = PurchaseOrder.Status.RECEIVED
        order.received_at = timezone.now()
    order.save(update_fields=["status", "sent_at", "received_at"])
    return order


@transaction.atomic
def purchase_order_line_set_quantity(*, line: PurchaseOrderLine, quantity: int) -> PurchaseOrderLine:
    """Change a line of a draft order; sent, received and cancelled orders are locked."""
    _lock_purchase_order(line.order, [PurchaseOrder.Status.DRAFT])
    if quantity <= 0:
        raise InventoryError(f"Quantity must be positive, got {quantity}.")
    line = PurchaseOrderLine.objects.select_for_update().get(pk=line.pk)
    line.quantity = quantity
    line.full_clean()
    line.save(update_fields=["quantity"])
    return line


@transaction.atomic
def purchase_order_set_note(*, order: PurchaseOrder, note: str) -> PurchaseOrder:
    """The buyer's note on an open order; received and cancelled orders are locked."""
    order = _lock_purchase_order(order, PurchaseOrder.OPEN_STATUSES)
    order.note = note
    order.full_clean()
    order.save(update_fields=["note"])
    return order


@transaction.atomic
def purchase_order_cancel(*, order: PurchaseOrder) -> PurchaseOrder:
    """Cancel an open order; one with units already received cannot be cancelled (the ledger has them)."""
    order = _lock_purchase_order(order, PurchaseOrder.OPEN_STATUSES)
    if order.lines.filter(received__gt=0).exists():
        raise InventoryError(
            f"{order.reference} is partly received; receive the rest or adjust stock instead."
        )
    order.status = PurchaseOrder.Status.CANCELLED
    order.save(update_fields=["status"])
    return order
