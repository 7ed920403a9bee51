"""What every inventory admin screen shares: number formats, suggestion flags and the forecast chart."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.utils.safestring import mark_safe

from .. import selectors, services
from ..models import (
    ProductForecast,
    ReorderSuggestion,
)

CHART_CACHE_SECONDS = 24 * 3600


def format_units(value: float | int | None) -> str:
    """Quantities as a buyer reads them: whole units with thousands separators."""
    return "—" if value is None else f"{round(value):,}"


def format_money(value: Decimal | float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def flag_thresholds() -> tuple[float, float]:
    return (
        float(settings.INVENTORY["FLAG_COVER_DAYS"]),
        float(settings.INVENTORY["FLAG_SAFETY_MULTIPLE"]),
    )


def suggestion_flags(suggestion: ReorderSuggestion) -> list[str]:
    """Why a buyer should look twice before signing this quantity (empty when nothing stands out)."""
    cover_limit, safety_limit = flag_thresholds()
    flags = []
    if suggestion.days_of_cover is not None and suggestion.days_of_cover > cover_limit:
        flags.append(
            f"covers {suggestion.days_of_cover:.0f} days of forecast demand (flagged above {cover_limit:.0f})"
        )
    if suggestion.safety_stock_multiple is not None and suggestion.safety_stock_multiple > safety_limit:
        flags.append(
            f"safety stock is {suggestion.safety_stock_multiple:.1f}x the lead-time demand "
            f"(flagged above {safety_limit:g}x)"
        )
    return flags


def forecast_chart_html(forecast: ProductForecast, *, suggestion: ReorderSuggestion | None = None) -> str:
    """History, forecast, band, reorder point and the suggested order of a stored forecast, as inline SVG.

    Cached per forecast (a forecast belongs to one run) and suggested quantity, so a product
    page does not redraw it on every view.
    """
    quantity = suggestion.order_quantity if suggestion is not None else None
    finished = forecast.run.finished_at.timestamp() if forecast.run.finished_at else 0
    key = f"inventory-chart-v3-{forecast.pk}-{finished:.0f}-{quantity}"
    svg = cache.get(key)
    if svg is None:
        svg = _draw_forecast_chart(forecast, quantity)
        cache.set(key, svg, CHART_CACHE_SECONDS)
    # The SVG is built from numbers and escaped labels only; nothing user-typed reaches it unescaped.
    return mark_safe(f'<div class="forecast-chart" style="width:900px;max-width:100%">{svg}</div>')


def _draw_forecast_chart(forecast: ProductForecast, quantity: int | None) -> str:
    import numpy as np

    from ..charts import forecast_chart_svg

    run = forecast.run
    matrix = selectors.demand_matrix(before=run.as_of, product_ids=[forecast.product_id])
    start = run.as_of - timedelta(days=120)
    if forecast.product_id in matrix.index:
        row = matrix.loc[forecast.product_id]
        pairs = [(day.date(), float(value)) for day, value in row.items() if day.date() >= start]
    else:
        pairs = []
    plan, _ = services.reorder_plans_for(run=run, forecasts=[forecast])[forecast.product_id]
    return forecast_chart_svg(
        history_days=[day for day, _ in pairs],
        history=[value for _, value in pairs],
        forecast=np.asarray(forecast.values, dtype=float),
        as_of=run.as_of,
        lead_time_errors=np.asarray(forecast.lead_time_errors, dtype=float),
        lead_time_days=forecast.lead_time_days,
        reorder_point=plan.reorder_point,
        position=plan.inventory_position,
        order_quantity=quantity,
    )
