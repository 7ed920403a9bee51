"""The worklist's filters and the annotations its list, grouped view and exports share."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.db.models import (
    Case,
    DecimalField,
    ExpressionWrapper,
    F,
    IntegerField,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from shop.models import Category

from ..flags import CAUSES
from ..models import (
    ForecastRun,
    ReorderSuggestion,
)

MONEY = DecimalField(max_digits=14, decimal_places=2)


def _today():
    return timezone.localdate()


class SuggestionStatusFilter(admin.SimpleListFilter):
    """Open, awake suggestions unless the buyer asks otherwise: old runs' rows would otherwise show twice."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [
            ("open", "Open"),
            ("snoozed", "Snoozed"),
            *[(v, label) for v, label in ReorderSuggestion.Status.choices if v != "open"],
            ("all", "All"),
        ]

    def choices(self, changelist):
        current = self.value() or "open"
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or "open"
        if value == "all":
            return queryset
        if value == "open":
            return queryset.to_review(today=_today())
        if value == "snoozed":
            return queryset.open().filter(snoozed_until__gt=_today())
        return queryset.filter(status=value)


class FlagFilter(admin.SimpleListFilter):
    title = "flag"
    parameter_name = "flag"

    def lookups(self, request, model_admin):
        return [("any", "any flag"), *CAUSES.items(), ("none", "not flagged")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "any":
            return queryset.flagged()
        if value == "none":
            return queryset.filter(flags=[])
        if value in CAUSES:
            return queryset.with_flag(value)
        return queryset


class ProjectedStockoutFilter(admin.SimpleListFilter):
    title = "projected stock-out"
    parameter_name = "stockout"

    def lookups(self, request, model_admin):
        return [
            ("out", "out of stock now"),
            ("7", "within 7 days"),
            ("14", "within 14 days"),
            ("none", "not within the horizon"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "out":
            return queryset.filter(out_of_stock=0)
        if self.value() == "none":
            return queryset.filter(projected_stockout__isnull=True)
        if self.value() in {"7", "14"}:
            return queryset.filter(projected_stockout__lte=_latest_as_of_plus(queryset, int(self.value())))
        return queryset


def _latest_as_of_plus(queryset, days: int):
    """``days`` after the as-of date of the newest run in the list: stock-outs are projected from it."""
    run = ForecastRun.objects.filter(pk__in=queryset.values("run_id")).order_by("-as_of").first()
    start = run.as_of if run else _today()
    return start + timedelta(days=days)


class CategoryFilter(admin.SimpleListFilter):
    title = "category"
    parameter_name = "category"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in Category.objects.order_by("name").values_list("pk", "name")]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(product__category_id=int(self.value()))
        return queryset


def suggestions_with_value(queryset: QuerySet[ReorderSuggestion]) -> QuerySet[ReorderSuggestion]:
    """Annotate what the list needs in the same query: order quantity, unit cost, line value, urgency."""
    return queryset.annotate(
        order_qty=Coalesce("quantity_override", "quantity"),
        unit_cost=F("product__supply__unit_cost"),
        line_value=ExpressionWrapper(
            Coalesce("quantity_override", "quantity") * F("product__supply__unit_cost"), output_field=MONEY
        ),
        # Out of stock first: nothing left to sell after the reservations.
        out_of_stock=Case(
            When(product__stock__on_hand__lte=F("product__stock__reserved"), then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        ),
    )
