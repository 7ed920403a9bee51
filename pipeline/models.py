"""Retraining runs: one row per request to retrain the recommender or the demand forecasts.

A run is queued when someone (a staff member, the nightly schedule or the CLI)
asks for it, running while a worker holds it, and ends succeeded or failed. The
database itself refuses a second queued or running run of the same kind, so two
retrains of one kind never overlap, however many web servers and workers there are.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class RunQuerySet(models.QuerySet["Run"]):
    def active(self) -> RunQuerySet:
        """Runs that are queued or running: at most one per kind."""
        return self.filter(status__in=Run.ACTIVE_STATUSES)

    def silent_since(self, cutoff: datetime) -> RunQuerySet:
        """Active runs with no sign of life since ``cutoff``."""
        return self.active().filter(heartbeat_at__lt=cutoff)

    def of_kind(self, kind: str) -> RunQuerySet:
        return self.filter(kind=kind)

    def finished(self) -> RunQuerySet:
        return self.filter(status__in=[Run.Status.SUCCEEDED, Run.Status.FAILED])

    def never_sent_before(self, cutoff: datetime) -> RunQuerySet:
        """Queued runs created before ``cutoff`` whose task was never handed to a broker or executor."""
        return self.filter(status=Run.Status.QUEUED, sent_at__isnull=True, created_at__lt=cutoff)

    def lease_expired(self, now: datetime) -> RunQuerySet:
        """Running runs whose main task's lease ran out: the process executing it stopped renewing."""
        return self.filter(status=Run.Status.RUNNING, lease_expires_at__lt=now)


class Run(models.Model):
    """One retrain of the recommender or of the demand forecasts (with reorder suggestions).

    ``progress_done`` of ``progress_total`` counts stages for the recommender and
    products for the forecast. ``model_version_id`` / ``forecast_run_id`` point at
    what the run produced; they are plain ids because this app only reads those
    apps' tables through their services, and their rows may be pruned independently.
    """

    class Kind(models.TextChoices):
        RECOMMENDER = "recommender", "Recommender retrain"
        FORECAST = "forecast", "Forecast retrain and reorder suggestions"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        ADMIN = "admin", "Admin"
        SCHEDULE = "schedule", "Schedule"
        COMMAND = "command", "Command line"
        API = "api", "API"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.ADMIN)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    stage = models.CharField(max_length=64, blank=True, help_text="What the run is doing now.")
    attempts = models.PositiveIntegerField(default=0, help_text="Deliveries of the run's main task.")
    error = models.TextField(blank=True)
    model_version_id = models.BigIntegerField(null=True, blank=True)
    forecast_run_id = models.BigIntegerField(null=True, blank=True)
    as_of = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The data cut: only what happened before it is used. Empty: up to the latest data.",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        default=timezone.now,
        help_text="Last sign of life: the request, then every start, retry and progress step.",
    )
    sent_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the run's task was handed to the broker (or to this process without one). "
        "A queued run never sent is failed after a short grace.",
    )
    lease_owner = models.CharField(
        max_length=128, blank=True, help_text="The worker process executing the run's main task now."
    )
    lease_expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The main task's lease: renewed while it runs; once past, the task is sent again.",
    )
    recoveries = models.PositiveIntegerField(
        default=0, help_text="Times the main task was sent again because its worker died."
    )

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(status__in=["queued", "running"]),
                name="run_one_active_per_kind",
                violation_error_message="A run of this kind is already queued or running.",
            ),
            models.CheckConstraint(
                condition=Q(progress_done__lte=models.F("progress_total")) | Q(progress_total=0),
                name="run_progress_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    @property
    def run_key(self) -> str:
        """The idempotency key handed to the training services: a redelivered task reuses its own work."""
        return f"pipeline-run-{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()


class ForecastChunkQuerySet(models.QuerySet["ForecastChunk"]):
    def lease_expired(self, now: datetime) -> ForecastChunkQuerySet:
        """Chunks a worker claimed and stopped renewing: it died (or stalled) mid-chunk."""
        return self.filter(status=ForecastChunk.Status.RUNNING, lease_expires_at__lt=now)

    def never_sent_before(self, cutoff: datetime) -> ForecastChunkQuerySet:
        """Pending chunks planned before ``cutoff`` whose task message was never sent."""
        return self.filter(status=ForecastChunk.Status.PENDING, sent_at__isnull=True, created_at__lt=cutoff)


class ForecastChunk(models.Model):
    """One chunk of a forecast run's products, and the lease of the worker forecasting it.

    A worker claims a chunk by taking its lease, renews the lease while it works, and
    marks the chunk done. A second delivery of the same chunk that finds a live lease
    exits at once; a lease that ran out means its worker died, and the recovery task
    sends the chunk again (re-forecasting a chunk overwrites its own rows).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    product_ids = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Times a worker claimed this chunk.")
    sent_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=128, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    recoveries = models.PositiveIntegerField(default=0, help_text="Times sent again because its worker died.")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ForecastChunkQuerySet.as_manager()

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="forecast_chunk_unique_index"),
        ]
        indexes = [models.Index(fields=["status", "lease_expires_at"], name="forecast_chunk_lease_idx")]

    def __str__(self) -> str:
        return f"Chunk {self.index} of run #{self.run_id} ({self.status})"


class Simulation(models.Model):
    """One ``simulate_shop`` replay: its options, where it got to, and its figures when finished.

    The days and invoices it has done are stored as they finish, so an interrupted replay resumes
    where it stopped and never places an invoice's order twice.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"

    output_dir = models.CharField(max_length=500)
    options = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    # Orders with a larger id were placed by the replay (what "lost or doubled" is checked against).
    first_order_id = models.BigIntegerField(default=0)
    start_forecast_run_id = models.BigIntegerField(null=True, blank=True)
    # Purchase order id -> the day it arrives (the seeded lead time of that delivery).
    deliveries = models.JSONField(default=dict, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    wall_seconds = models.FloatField(default=0.0)  # summed over every process that worked on it
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        opts = self.options
        return f"Simulation #{self.pk} {opts.get('start')} to {opts.get('end')}"


class SimulationDay(models.Model):
    """One replayed day, written when its night is over: the row of ``days.csv``."""

    simulation = models.ForeignKey(Simulation, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    units_demanded = models.IntegerField(default=0)
    units_served = models.IntegerField(default=0)
    lost_units = models.IntegerField(default=0)
    lines_demanded = models.IntegerField(default=0)
    lines_filled = models.IntegerField(default=0)
    units_on_hand = models.IntegerField(default=0)
    stock_value = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    stockout_product_days = models.IntegerField(default=0)
    purchase_orders = models.IntegerField(default=0)
    deliveries = models.IntegerField(default=0)
    orders_placed = models.IntegerField(default=0)
    returns = models.IntegerField(default=0)
    cancellations = models.IntegerField(default=0)
    retrain_seconds = models.FloatField(default=0.0)
    api_p99_ms = models.FloatField(default=0.0)
    server_errors = models.IntegerField(default=0)

    class Meta:
        ordering = ["simulation", "day"]
        constraints = [models.UniqueConstraint(fields=["simulation", "day"], name="simulation_day_once")]

    def __str__(self) -> str:
        return f"{self.simulation_id}: {self.day}"


class SimulationInvoice(models.Model):
    """One invoice of the file as the replay handled it; ``body`` is written before each request."""

    class Kind(models.TextChoices):
        SALE = "sale", "Sale"
        CANCELLATION = "cancellation", "Cancellation"

    class Status(models.TextChoices):
        PLACING = "placing", "Placing"
        DONE = "done", "Done"

    simulation = models.ForeignKey(Simulation, on_delete=models.CASCADE, related_name="invoices")
    day = models.DateField()
    invoice = models.CharField(max_length=64)
    part = models.PositiveIntegerField(default=0)  # an invoice longer than ORDER_MAX_LINES is split
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SALE)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLACING)
    body = models.JSONField(default=dict, blank=True)  # the request last sent for this invoice
    order_number = models.CharField(max_length=32, blank=True)
    figures = models.JSONField(default=dict, blank=True)  # units, lines, hits, latencies, errors

    class Meta:
        ordering = ["simulation", "day", "id"]
        constraints = [
            models.UniqueConstraint(fields=["simulation", "invoice", "part"], name="simulation_invoice_once")
        ]

    def __str__(self) -> str:
        return f"{self.simulation_id}: {self.invoice}/{self.part}"
