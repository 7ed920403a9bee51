"""Suppliers, supply terms, purchase orders, demand forecasts and reorder suggestions.

Inventory reads ``shop`` (products, orders, stock) and writes stock only through
``shop.services``; ``shop`` never imports this app. Every write goes through
``inventory.services``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q, Sum
from django.db.models.functions import Cast
from django.utils import timezone

from shop.models import Category, Product

SERVICE_LEVEL_VALIDATORS = [MinValueValidator(0.5), MaxValueValidator(0.999)]


class Supplier(models.Model):
    """A company the shop buys from; its lead time is the default for every product it supplies."""

    name = models.CharField(max_length=120, unique=True)
    email = models.EmailField(blank=True)
    lead_time_days = models.PositiveIntegerField(default=7, validators=[MinValueValidator(1)])
    minimum_order_value = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0)],
        help_text="The smallest order the supplier accepts, by value at unit cost (0: no minimum).",
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(lead_time_days__gte=1), name="supplier_lead_time_positive"),
            models.CheckConstraint(
                condition=Q(minimum_order_value__gte=0), name="supplier_minimum_order_value_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ProductSupply(models.Model):
    """How a product is bought: supplier, unit cost, minimum order, pack size and per-product overrides.

    ``lead_time_days`` overrides the supplier's; ``service_level`` overrides the
    category's, which overrides the global default in ``settings.INVENTORY``.
    """

    product = models.OneToOneField(Product, on_delete=models.CASCADE, related_name="supply")
    supplier = models.ForeignKey(
        Supplier, null=True, blank=True, on_delete=models.SET_NULL, related_name="products"
    )
    unit_cost = models.DecimalField(
        max_digits=10, decimal_places=2, default=Decimal("0"), validators=[MinValueValidator(0)]
    )
    minimum_order = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    pack_size = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    lead_time_days = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    service_level = models.FloatField(null=True, blank=True, validators=SERVICE_LEVEL_VALIDATORS)

    class Meta:
        ordering = ["product"]
        verbose_name_plural = "product supply terms"
        constraints = [
            models.CheckConstraint(condition=Q(pack_size__gte=1), name="supply_pack_size_positive"),
            models.CheckConstraint(condition=Q(minimum_order__gte=1), name="supply_minimum_order_positive"),
            models.CheckConstraint(condition=Q(unit_cost__gte=0), name="supply_unit_cost_non_negative"),
            models.CheckConstraint(
                condition=Q(service_level__isnull=True) | (Q(service_level__gt=0) & Q(service_level__lt=1)),
                name="supply_service_level_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Supply terms of {self.product}"


class CategoryServiceLevel(models.Model):
    """The service level (target probability of not running out in a lead time) for a whole category."""

    category = models.OneToOneField(Category, on_delete=models.CASCADE, related_name="service_level")
    service_level = models.FloatField(validators=SERVICE_LEVEL_VALIDATORS)

    class Meta:
        ordering = ["category"]
        constraints = [
            models.CheckConstraint(
                condition=Q(service_level__gt=0) & Q(service_level__lt=1), name="category_service_level_range"
            )
        ]

    def __str__(self) -> str:
        return f"{self.category}: {self.service_level:.1%}"


class ForecastRun(models.Model):
    """One retraining of the demand forecasts as of a date; its product list is fixed when it starts.

    Chunks of products are forecast independently (possibly on several workers);
    finishing the run aggregates metrics and computes reorder suggestions.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETE = "complete", "Complete"
        FAILED = "failed", "Failed"

    run_key = models.CharField(
        max_length=64, null=True, blank=True, unique=True, help_text="Makes starting a run idempotent."
    )
    as_of = models.DateField(help_text="Forecasts start on this day; only data before it is used.")
    horizon = models.PositiveIntegerField(default=28)
    settings = models.JSONField(default=dict, blank=True)
    product_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True)
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The latest run is the one with the latest as-of date, then the last to finish: a backfill
        # started later must not take over from a run that forecasts further ahead.
        ordering = [
            models.F("as_of").desc(),
            models.F("finished_at").desc(nulls_last=True),
            models.F("created_at").desc(),
            "-id",
        ]
        get_latest_by = ["as_of", "finished_at", "created_at", "id"]

    def __str__(self) -> str:
        as_of = f"{self.as_of.day} {self.as_of:%b %Y}"  # the house style's date (shop.formats.day)
        return f"Forecast run {self.pk} as of {as_of} ({self.get_status_display().lower()})"


class ProductForecast(models.Model):
    """A product's daily forecast from one run, with the method the backtest chose and its errors.

    ``lead_time_errors`` are backtest errors of the lead-time total (actual minus
    forecast, units) from rolling origins: safety stock is a quantile of them.
    """

    run = models.ForeignKey(ForecastRun, on_delete=models.CASCADE, related_name="forecasts")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="forecasts")
    method = models.CharField(max_length=120)
    demand_class = models.CharField(max_length=16, blank=True)
    backtest_error = models.FloatField(
        null=True, blank=True, help_text="Scaled backtest error (lower is better)."
    )
    lead_time_days = models.PositiveIntegerField(default=7)
    values = models.JSONField(default=list, help_text="Daily forecast from the run's as-of date.")
    lead_time_errors = models.JSONField(default=list, blank=True)
    candidates = models.JSONField(default=dict, blank=True)
    fallback_reason = models.TextField(blank=True)
    level_shrink = models.FloatField(
        default=0.0,
        help_text="How far the 28-day total was pulled towards the 24-week level (0: not at all, 1: fully).",
    )
    backtest_mase = models.FloatField(
        null=True, blank=True, help_text="Daily MASE of the issued forecast over the backtest origins."
    )
    naive_mase = models.FloatField(
        null=True, blank=True, help_text="Daily MASE of a seasonal naive forecast over the same origins."
    )
    # statsmodels' ARIMA estimates when ARIMA was issued: the next nights refit with them until the
    # weekly re-selection (``ForecastRun.settings["selected_on"]``).
    arima_params = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "product"]
        constraints = [models.UniqueConstraint(fields=["run", "product"], name="forecast_unique_run_product")]

    def __str__(self) -> str:
        return f"{self.product} in run {self.run_id}: {self.method}"

    @property
    def total(self) -> float:
        return float(sum(self.values))


class ReorderSuggestionQuerySet(models.QuerySet["ReorderSuggestion"]):
    def open(self) -> ReorderSuggestionQuerySet:
        return self.filter(status=ReorderSuggestion.Status.OPEN)

    def awake(self, *, today: date) -> ReorderSuggestionQuerySet:
        """Not snoozed on ``today``: a snooze that has run out no longer hides the row."""
        return self.filter(Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=today))

    def to_review(self, *, today: date) -> ReorderSuggestionQuerySet:
        """The buyer's worklist: open and not snoozed."""
        return self.open().awake(today=today)

    def flagged(self) -> ReorderSuggestionQuerySet:
        return self.exclude(flags=[])

    def with_flag(self, code: str) -> ReorderSuggestionQuerySet:
        """Rows whose ``flags`` hold ``code``, on SQLite and PostgreSQL alike (no JSON containment there)."""
        return self.annotate(_flags_text=Cast("flags", models.TextField())).filter(
            _flags_text__contains=f'"{code}"'
        )

    def by_urgency(self) -> ReorderSuggestionQuerySet:
        """Soonest stock-out first, none in the horizon last; ties by id so pages are stable."""
        return self.order_by(models.F("projected_stockout").asc(nulls_last=True), "-quantity", "pk")


class ReorderSuggestion(models.Model):
    """What the policy says to order for a product after a forecast run, and why."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ORDERED = "ordered", "Ordered"
        DISMISSED = "dismissed", "Dismissed"
        SUPERSEDED = "superseded", "Superseded by a later run"

    run = models.ForeignKey(ForecastRun, on_delete=models.CASCADE, related_name="suggestions")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="reorder_suggestions")
    supplier = models.ForeignKey(
        Supplier, null=True, blank=True, on_delete=models.SET_NULL, related_name="suggestions"
    )
    quantity = models.PositiveIntegerField()
    reorder_point = models.FloatField()
    order_up_to = models.FloatField()
    inventory_position = models.FloatField()
    service_level = models.FloatField()
    projected_stockout = models.DateField(null=True, blank=True, db_index=True)
    # Bounds a buyer can judge a suggestion by: the order quantity in days of forecast demand, and
    # safety stock as a multiple of lead-time demand (null when the forecast is zero).
    days_of_cover = models.FloatField(null=True, blank=True)
    safety_stock_multiple = models.FloatField(null=True, blank=True)
    # The buyer's edit of the quantity, kept beside what the policy suggested; purchase orders use it.
    quantity_override = models.PositiveIntegerField(null=True, blank=True)
    reason = models.TextField()
    # The reason in a few words for the worklist ("stock-out in 3 days, cover capped").
    headline = models.CharField(max_length=80, blank=True)
    # What a buyer must look at before signing (cause codes of ``inventory.flags``; empty when none).
    flags = models.JSONField(default=list, blank=True)
    # Hidden from the worklist until this day (a snooze "until the next run" uses the far future; the
    # next run's suggestion for the product then starts unsnoozed). See ``SuggestionDecision``.
    snoozed_until = models.DateField(null=True, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    purchase_order = models.ForeignKey(
        "PurchaseOrder", null=True, blank=True, on_delete=models.SET_NULL, related_name="suggestions"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = ReorderSuggestionQuerySet.as_manager()

    class Meta:
        ordering = ["projected_stockout", "-quantity"]
        constraints = [
            models.UniqueConstraint(fields=["run", "product"], name="suggestion_unique_run_product"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="suggestion_quantity_positive"),
            models.CheckConstraint(
                condition=Q(quantity_override__isnull=True) | Q(quantity_override__gt=0),
                name="suggestion_override_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"Reorder {self.order_quantity:,} x {self.product}"

    @property
    def order_quantity(self) -> int:
        """What a purchase order will carry: the buyer's override when set, else the suggestion."""
        return self.quantity_override if self.quantity_override is not None else self.quantity


class PurchaseOrder(models.Model):
    """An order to a supplier. Draft and sent orders are *open*: their units count as on order."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SENT = "sent", "Sent"
        RECEIVED = "received", "Received"
        CANCELLED = "cancelled", "Cancelled"

    OPEN_STATUSES = (Status.DRAFT, Status.SENT)

    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="purchase_orders")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Who sent the order and where the email went (``purchase_order_send`` records both).
    sent_to = models.EmailField(blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"PO-{self.pk} {self.supplier} ({self.status})"

    @property
    def reference(self) -> str:
        return f"PO-{self.pk}"


class PurchaseOrderLineQuerySet(models.QuerySet["PurchaseOrderLine"]):
    def open(self) -> PurchaseOrderLineQuerySet:
        """Lines of draft or sent orders: units the shop has committed to buy but not yet received."""
        return self.filter(order__status__in=PurchaseOrder.OPEN_STATUSES)

    def on_order_by_product(self) -> dict[int, int]:
        return dict(
            self.open()
            .values("product_id")
            # A partly received line still has its remainder on order.
            .annotate(units=Sum(F("quantity") - F("received")))
            .values_list("product_id", "units")
        )


class PurchaseOrderLine(models.Model):
    order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="purchase_order_lines")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    unit_cost = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    # Units booked into stock so far; a partial receipt leaves the order sent with the rest outstanding.
    received = models.PositiveIntegerField(default=0)

    objects = PurchaseOrderLineQuerySet.as_manager()

    class Meta:
        ordering = ["order", "product"]
        constraints = [
            models.UniqueConstraint(fields=["order", "product"], name="purchase_line_unique_product"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="purchase_line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(received__lte=F("quantity")), name="purchase_line_received_within_quantity"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity:,} x {self.product}"

    @property
    def outstanding(self) -> int:
        return self.quantity - self.received

    @property
    def line_value(self) -> Decimal:
        return self.unit_cost * self.quantity


class SuggestionDecision(models.Model):
    """A buyer's snooze or dismissal of a product's suggestion, kept for the record and for later runs.

    A snooze hides the product's suggestion until the day ``until`` (later runs' suggestions for it
    start snoozed until the same day) or, with ``until_next_run``, until the next run finishes. A
    dismissal holds, with its reason, until the buyer reopens the product: later runs record its
    suggestions as dismissed. ``ended_at`` closes a decision (reopened, or the next run came).
    """

    class Kind(models.TextChoices):
        SNOOZE = "snooze", "Snoozed"
        DISMISS = "dismiss", "Dismissed"

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="suggestion_decisions")
    suggestion = models.ForeignKey(
        ReorderSuggestion, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The run whose suggestion was decided on: "until the next run" means a run other than this one.
    run = models.ForeignKey(
        ForecastRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions"
    )
    until = models.DateField(null=True, blank=True, help_text="The day a snoozed product comes back.")
    until_next_run = models.BooleanField(default=False)
    reason = models.CharField(max_length=255, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_because = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["product"], condition=Q(ended_at__isnull=True), name="decision_live_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="dismiss") | ~Q(reason=""), name="decision_dismissal_has_reason"
            ),
            models.CheckConstraint(
                condition=~Q(kind="snooze") | Q(until__isnull=False) | Q(until_next_run=True),
                name="decision_snooze_has_end",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.product}"
