"""What every inventory admin screen shares: the house style's formats and the forecast chart."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.core.cache import cache
from django.utils.safestring import mark_safe

from shop import formats

from .. import selectors, services
from ..flags import describe
from ..models import (
    ForecastRun,
    ProductForecast,
    ReorderSuggestion,
)

CHART_CACHE_SECONDS = 24 * 3600
#: runs the "run" filter offers (a nightly schedule makes hundreds; older ones are reached by link)
RUN_FILTER_CHOICES = 20


class RecentRunFilter(admin.SimpleListFilter):
    """The latest forecast runs by date, read without their product lists (Django's related filter loads
    every run whole, each with a JSON array of every product id). The parameter stays ``run__id__exact``
    so links from the run pages keep working, older runs included."""

    title = "forecast run"
    parameter_name = "run__id__exact"

    def lookups(self, request, model_admin):
        runs = ForecastRun.objects.order_by("-as_of", "-id").values_list("pk", "as_of", "status")
        choices = [
            (str(pk), f"{pk}: as of {formats.day(as_of)} ({status})")
            for pk, as_of, status in runs[:RUN_FILTER_CHOICES]
        ]
        chosen = self.value()
        if chosen and chosen.isdigit() and chosen not in {c[0] for c in choices}:
            choices.append((chosen, f"{chosen}"))
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(run_id=int(value))
        return queryset


format_units = formats.units
format_money = formats.money
format_day = formats.day
format_moment = formats.moment


def suggestion_flags(suggestion: ReorderSuggestion) -> list[str]:
    """Why a buyer should look twice before signing this suggestion, in words (empty when nothing stands out).

    The causes are stored on the suggestion by its run (``ReorderSuggestion.flags``); this reads them.
    """
    return [describe(code) for code in suggestion.flags]


def forecast_chart_html(forecast: ProductForecast, *, suggestion: ReorderSuggestion | None = None) -> str:
    """History, forecast, band, reorder point and the suggested order of a stored forecast, as inline SVG.

    Cached per forecast (a forecast belongs to one run) and suggested quantity, so a product
    page does not redraw it on every view.
    """
    quantity = suggestion.order_quantity if suggestion is not None else None
    finished = forecast.run.finished_at.timestamp() if forecast.run.finished_at else 0
    key = f"inventory-chart-v5-{forecast.pk}-{finished:.0f}-{quantity}"
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
