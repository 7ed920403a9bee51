"""The buyer's writes on the worklist: flags and headlines, quantities, snoozes, dismissals, service levels.

``suggestions_mark`` and ``decisions_apply`` run inside ``forecast_run_finish`` (so a run's
suggestions are flagged, and respect what the buyer decided, when they are written); the rest
are called by the admin. Every write is keyword-only, atomic and validated before it is saved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from shop.models import Category

from . import selectors
from .flags import RECENT_DAYS, FlagInputs, FlagThresholds, flag_causes, headline
from .models import (
    CategoryServiceLevel,
    ForecastRun,
    ProductForecast,
    ReorderSuggestion,
    SuggestionDecision,
)
from .policy import ReorderPlan

#: A snooze "until the next run" hides the row until a run replaces it; no calendar day ends it.
UNTIL_NEXT_RUN = date.max
#: The longest snooze a buyer can ask for, in days.
MAX_SNOOZE_DAYS = 365
#: The service levels the what-if compares.
WHAT_IF_LEVELS = (0.90, 0.95, 0.98, 0.99)


class WorklistError(Exception):
    """A buyer's request the worklist refuses (the admin shows it as a message)."""


def flag_thresholds() -> FlagThresholds:
    limits = settings.INVENTORY
    return FlagThresholds(
        above_sales_days=float(limits["FLAG_ABOVE_SALES_DAYS"]),
        capped_wanted_days=float(limits["FLAG_CAPPED_WANTED_DAYS"]),
        jump_ratio=float(limits["FLAG_FORECAST_JUMP_RATIO"]),
        jump_min_units=float(limits["FLAG_FORECAST_JUMP_MIN_UNITS"]),
        minimum_order_ratio=float(limits["FLAG_MINIMUM_ORDER_RATIO"]),
    )


def _needed(plan: ReorderPlan, daily: float, max_cover_days: float | None) -> float:
    """Units the policy wanted before the supplier's minimum order and pack size rounded them up."""
    needed = max(plan.order_up_to - plan.inventory_position, 0.0)
    if "cover" in plan.adjustments and max_cover_days is not None:
        needed = min(needed, max(math.floor(daily * max_cover_days), 1))
    return needed


def flag_inputs_for(
    *,
    run: ForecastRun,
    plans: Mapping[int, tuple[ReorderPlan, selectors.ProductPolicyInputs]],
    forecasts: Sequence[ProductForecast],
    quantities: Mapping[int, int],
) -> dict[int, FlagInputs]:
    """What the flag rules read for each product in ``quantities``, in four queries."""
    ids = sorted(quantities)
    recent = selectors.recent_sales(before=run.as_of, days=RECENT_DAYS, product_ids=ids)
    last = selectors.last_sale_days(before=run.as_of, product_ids=ids)
    previous = selectors.previous_daily_forecasts(run=run, product_ids=ids)
    daily = {f.product_id: (sum(f.values) / len(f.values) if f.values else 0.0) for f in forecasts}
    max_cover = (run.settings or {}).get("max_cover_days", settings.INVENTORY["MAX_COVER_DAYS"])
    inputs = {}
    for pid in ids:
        plan, product_inputs = plans[pid]
        rate = daily.get(pid, 0.0)
        wanted = max(plan.order_up_to - plan.inventory_position, 0.0)
        inputs[pid] = FlagInputs(
            quantity=quantities[pid],
            recent_units=float(recent.get(pid, 0)),
            days_since_last_sale=(run.as_of - last[pid]).days if pid in last else None,
            adjustments=tuple(plan.adjustments),
            needed=_needed(plan, rate, max_cover),
            wanted_days=wanted / rate if rate > 0 else None,
            minimum_order=product_inputs.terms.minimum_order,
            daily_forecast=float(rate),
            previous_daily_forecast=previous.get(pid),
        )
    return inputs


def suggestions_mark(
    *,
    run: ForecastRun,
    suggestions: list[ReorderSuggestion],
    plans: Mapping[int, tuple[ReorderPlan, selectors.ProductPolicyInputs]],
    forecasts: Sequence[ProductForecast],
) -> list[ReorderSuggestion]:
    """Fill each unsaved suggestion's ``flags`` (cause codes) and ``headline`` (its reason in a few words)."""
    if not suggestions:
        return suggestions
    thresholds = flag_thresholds()
    inputs = flag_inputs_for(
        run=run,
        plans=plans,
        forecasts=forecasts,
        quantities={s.product_id: s.quantity for s in suggestions},
    )
    for suggestion in suggestions:
        plan, product_inputs = plans[suggestion.product_id]
        suggestion.flags = flag_causes(inputs[suggestion.product_id], thresholds)
        suggestion.headline = headline(
            available=product_inputs.on_hand - product_inputs.reserved,
            stockout=plan.stockout_date,
            as_of=run.as_of,
            adjustments=tuple(plan.adjustments),
            pack_size=product_inputs.terms.pack_size,
        )
    return suggestions


def _end(decisions, because: str) -> int:
    now = timezone.now()
    return decisions.update(ended_at=now, ended_because=because)


def decisions_apply(*, run: ForecastRun, suggestions: list[ReorderSuggestion]) -> None:
    """Carry the buyer's live snoozes and dismissals onto a finishing run's unsaved suggestions.

    A dismissal dismisses the product's new suggestion too; a dated snooze snoozes it until the
    same day (or ends, once that day has come); a snooze "until the next run" ends here, unless
    this is the run it was made on (finishing a run again must not wake its snoozed rows).
    """
    today = timezone.localdate()
    live = SuggestionDecision.objects.filter(ended_at__isnull=True, product_id__in=run.product_ids)
    _end(live.filter(kind=SuggestionDecision.Kind.SNOOZE, until_next_run=False, until__lte=today), "expired")
    _end(
        live.filter(kind=SuggestionDecision.Kind.SNOOZE, until_next_run=True)
        .exclude(run=run)
        .exclude(run__as_of__gt=run.as_of),  # a backfill for an earlier day is not "the next run"
        f"forecast run {run.pk} came",
    )
    by_product = {}
    for decision in live.filter(ended_at__isnull=True).order_by("created_at", "id"):
        by_product[decision.product_id] = decision  # the latest decision for a product wins
    for suggestion in suggestions:
        decision = by_product.get(suggestion.product_id)
        if decision is None:
            continue
        if decision.kind == SuggestionDecision.Kind.DISMISS:
            suggestion.status = ReorderSuggestion.Status.DISMISSED
        else:
            suggestion.snoozed_until = UNTIL_NEXT_RUN if decision.until_next_run else decision.until


def _lock_suggestions(suggestion_ids: Sequence[int]) -> list[ReorderSuggestion]:
    return list(
        ReorderSuggestion.objects.select_for_update()
        .filter(pk__in=list(suggestion_ids))
        .select_related("product")
        .order_by("pk")
    )


@transaction.atomic
def suggestions_set_quantities(
    *, quantities: Mapping[int, int | None], user: AbstractBaseUser | None = None
) -> int:
    """Set the buyer's quantity on many open suggestions at once; all or none (returns how many changed).

    ``None``, or the suggested quantity itself, clears the override. A quantity below one, or a
    suggestion that is no longer open, refuses the whole batch with every problem named.
    """
    rows = _lock_suggestions(list(quantities))
    problems = []
    missing = set(quantities) - {row.pk for row in rows}
    if missing:
        problems.append(f"{len(missing)} suggestion(s) no longer exist")
    changed = []
    for row in rows:
        quantity = quantities[row.pk]
        if row.status != ReorderSuggestion.Status.OPEN:
            problems.append(f"{row.product.sku} is {row.get_status_display().lower()}, not open")
            continue
        if quantity is not None and quantity < 1:
            problems.append(f"{row.product.sku}: a quantity must be at least 1, got {quantity}")
            continue
        override = None if quantity == row.quantity else quantity
        if override != row.quantity_override:
            row.quantity_override = override
            row.full_clean()
            changed.append(row)
    if problems:
        raise WorklistError("Nothing was saved: " + "; ".join(problems) + ".")
    ReorderSuggestion.objects.bulk_update(changed, ["quantity_override"])
    return len(changed)


def _replace_decisions(rows: list[ReorderSuggestion], because: str) -> None:
    _end(
        SuggestionDecision.objects.filter(ended_at__isnull=True, product_id__in=[r.product_id for r in rows]),
        because,
    )


@transaction.atomic
def suggestions_snooze(
    *,
    suggestion_ids: Sequence[int],
    days: int | None,
    user: AbstractBaseUser | None = None,
    today: date | None = None,
) -> int:
    """Hide open suggestions for ``days`` days, or until the next run when ``days`` is None.

    The snooze is recorded (``SuggestionDecision``) and later runs keep the product snoozed until
    the same day. Ordered, dismissed and superseded rows are left alone. Returns how many.
    """
    if days is not None and not 1 <= days <= MAX_SNOOZE_DAYS:
        raise WorklistError(f"A snooze lasts 1 to {MAX_SNOOZE_DAYS} days, got {days}.")
    today = today or timezone.localdate()
    rows = [r for r in _lock_suggestions(suggestion_ids) if r.status == ReorderSuggestion.Status.OPEN]
    until = UNTIL_NEXT_RUN if days is None else today + timedelta(days=days)
    _replace_decisions(rows, "snoozed again")
    decisions = []
    for row in rows:
        row.snoozed_until = until
        decision = SuggestionDecision(
            product_id=row.product_id,
            suggestion=row,
            run_id=row.run_id,
            kind=SuggestionDecision.Kind.SNOOZE,
            until=None if days is None else until,
            until_next_run=days is None,
            decided_by=user,
        )
        decision.full_clean()
        decisions.append(decision)
    ReorderSuggestion.objects.bulk_update(rows, ["snoozed_until"])
    SuggestionDecision.objects.bulk_create(decisions)
    return len(rows)


@transaction.atomic
def suggestions_dismiss(
    *, suggestion_ids: Sequence[int], reason: str, user: AbstractBaseUser | None = None
) -> int:
    """Dismiss open suggestions with a reason; later runs dismiss the product's suggestions too.

    The dismissal holds until the buyer reopens the product (``suggestions_reopen``). Ordered and
    superseded rows are left alone. Returns how many were dismissed.
    """
    reason = (reason or "").strip()
    if not reason:
        raise WorklistError("Say why: a dismissal needs a reason.")
    rows = [r for r in _lock_suggestions(suggestion_ids) if r.status == ReorderSuggestion.Status.OPEN]
    _replace_decisions(rows, "dismissed")
    decisions = []
    for row in rows:
        row.status = ReorderSuggestion.Status.DISMISSED
        row.snoozed_until = None
        decision = SuggestionDecision(
            product_id=row.product_id,
            suggestion=row,
            run_id=row.run_id,
            kind=SuggestionDecision.Kind.DISMISS,
            reason=reason[:255],
            decided_by=user,
        )
        decision.full_clean()
        decisions.append(decision)
    ReorderSuggestion.objects.bulk_update(rows, ["status", "snoozed_until"])
    SuggestionDecision.objects.bulk_create(decisions)
    return len(rows)


@transaction.atomic
def suggestions_reopen(*, suggestion_ids: Sequence[int], user: AbstractBaseUser | None = None) -> int:
    """Put the selected suggestions' products back on the worklist, ending the buyer's decision on them.

    Whichever of a product's rows is selected, its newest suggestion is the one that comes back: a
    snoozed one wakes, a dismissed one reopens (ordered and superseded ones stay as they are).
    Returns how many rows are back on the worklist.
    """
    products = set(
        ReorderSuggestion.objects.filter(pk__in=list(suggestion_ids)).values_list("product_id", flat=True)
    )
    _end(
        SuggestionDecision.objects.filter(ended_at__isnull=True, product_id__in=products),
        f"reopened by {user}" if user else "reopened",
    )
    newest = dict(
        ReorderSuggestion.objects.filter(product_id__in=products)
        .order_by("product_id", "run__as_of", "run__created_at", "run_id")
        .values_list("product_id", "pk")
    )  # ascending: the last pair per product wins, so this maps a product to its newest row
    reopened = []
    for row in _lock_suggestions(list(newest.values())):
        if row.status == ReorderSuggestion.Status.OPEN and row.snoozed_until is not None:
            row.snoozed_until = None
            reopened.append(row)
        elif row.status == ReorderSuggestion.Status.DISMISSED:
            row.status = ReorderSuggestion.Status.OPEN
            reopened.append(row)
    ReorderSuggestion.objects.bulk_update(reopened, ["status", "snoozed_until"])
    return len(reopened)


# --- what-if on the service level -----------------------------------------------------------------


@dataclass(frozen=True)
class WhatIfRow:
    service_level: float
    products: int
    #: units the policy would order now, over the products (the supplier's terms applied)
    order_units: int
    order_value: Decimal
    #: safety stock units and the average stock the policy holds (safety stock + half an order), at cost
    safety_units: float
    average_stock_value: Decimal


def service_level_what_if(
    *, run: ForecastRun, product_ids: Sequence[int], levels: Sequence[float] = WHAT_IF_LEVELS
) -> list[WhatIfRow]:
    """Order quantity and stock value at each service level, from the run's stored forecasts.

    Nothing is retrained: the stored daily forecast and backtest errors go through the same
    policy as the nightly suggestions (``reorder_plans_for``), once per level, with the histories
    loaded once.
    """
    from . import services

    forecasts = list(ProductForecast.objects.filter(run=run, product_id__in=list(product_ids)))
    if not forecasts:
        return []
    ids = [f.product_id for f in forecasts]
    histories = services.demand_histories(as_of=run.as_of, product_ids=ids)
    inputs = selectors.policy_inputs_for(product_ids=ids)
    rows = []
    for level in levels:
        plans = services.reorder_plans_for(
            run=run, forecasts=forecasts, service_level=level, histories=histories, inputs=inputs
        )
        units, value, safety, average = 0, Decimal(0), 0.0, Decimal(0)
        for plan, product_inputs in plans.values():
            cost = Decimal(str(product_inputs.terms.unit_cost))
            units += plan.suggested_quantity
            value += cost * plan.suggested_quantity
            safety += plan.safety_stock
            average += cost * Decimal(str(round(plan.safety_stock + plan.order_quantity / 2, 2)))
        rows.append(
            WhatIfRow(
                service_level=level,
                products=len(plans),
                order_units=units,
                order_value=value.quantize(Decimal("0.01")),
                safety_units=safety,
                average_stock_value=average.quantize(Decimal("0.01")),
            )
        )
    return rows


@transaction.atomic
def category_service_level_set(*, category: Category, service_level: float) -> CategoryServiceLevel:
    """Set a whole category's service level (products with their own level keep it); the next run uses it."""
    record = CategoryServiceLevel.objects.select_for_update().filter(category=category).first()
    record = record or CategoryServiceLevel(category=category)
    record.service_level = float(service_level)
    record.full_clean()
    record.save()
    return record
