"""Recommender versions, their artifacts and the lists precomputed for serving.

A training run creates a :class:`ModelVersion`; its lists (each customer's top N per mode, each
product's similar products, the popular products) point to it. Serving reads only the lists of
the active version, and a partial unique constraint allows one active version at most, so
switching versions is a single transaction: readers see the old lists or the new ones.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from shop.models import Customer, Product


class ModelVersionQuerySet(models.QuerySet["ModelVersion"]):
    def active(self) -> ModelVersionQuerySet:
        return self.filter(is_active=True)

    def servable(self) -> ModelVersionQuerySet:
        """Versions whose lists are complete: ready to activate or active."""
        return self.filter(status__in=[ModelVersion.Status.READY, ModelVersion.Status.ACTIVE])


class ModelVersion(models.Model):
    """One training run of the recommender: its data window, parameters, metrics, artifacts and lists.

    ``status`` moves training -> ready -> active (or -> failed). ``run_key`` identifies the task
    run that created it, so a redelivered task reuses its version instead of creating another.
    """

    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        READY = "ready", "Ready"
        ACTIVE = "active", "Active"
        FAILED = "failed", "Failed"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRAINING, db_index=True)
    is_active = models.BooleanField(default=False)
    run_key = models.CharField(max_length=128, null=True, blank=True, unique=True)
    as_of = models.DateTimeField(help_text="Only purchases and ratings before this instant were used.")
    data_start = models.DateTimeField(null=True, blank=True)
    data_end = models.DateTimeField(null=True, blank=True)
    params = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(
        default=dict, blank=True, help_text="Validation metrics per ranker and mode, popularity included."
    )
    rating_metrics = models.JSONField(default=dict, blank=True, help_text="RMSE and MAE of the rating model.")
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="recommender_one_active_version"
            ),
            models.CheckConstraint(
                condition=Q(is_active=False) | Q(status="active"),
                name="recommender_active_flag_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return f"version {self.pk} ({self.status})"


class ModelArtifact(models.Model):
    """A file of arrays (``.npz``) or parameters (``.json``) of a version, with the sha256 checked on load."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="artifacts")
    name = models.CharField(max_length=64)
    path = models.CharField(max_length=500, help_text="Relative to settings.ARTIFACTS_DIR.")
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["version", "name"]
        constraints = [
            models.UniqueConstraint(fields=["version", "name"], name="recommender_artifact_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.version_id}/{self.name}"


class Reason(models.TextChoices):
    REGULAR = "regular", "You buy this regularly"
    BECAUSE = "because", "Because you bought X"
    TOGETHER = "together", "Often bought with X"
    POPULAR = "popular", "Popular this month"
    RATINGS = "ratings", "Matches your ratings"
    SIMILAR = "similar", "Similar to X"


class Mode(models.TextChoices):
    ALL = "all", "All products (buy again allowed)"
    NEW = "new", "New products only"


class CustomerRecommendationQuerySet(models.QuerySet["CustomerRecommendation"]):
    def of_active_version(self) -> CustomerRecommendationQuerySet:
        return self.filter(version__is_active=True)

    def sellable(self) -> CustomerRecommendationQuerySet:
        """Products that are active and have an available unit now (live stock, not training-time stock)."""
        return self.filter(
            product__active=True, product__stock__on_hand__gt=models.F("product__stock__reserved")
        )


class CustomerRecommendation(models.Model):
    """One item of a customer's precomputed top N in one mode, with its score and reason."""

    # A retrain writes hundreds of thousands of these rows, so only indexes that reads use are kept:
    # the unique (version, customer, mode, rank) serves every lookup by version, and the customer
    # index customer deletion. Nobody reads the lists by product, and a product with sales (every
    # product in a list) cannot be deleted (order lines protect it), so product indexes would only
    # slow each write.
    version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="customer_recommendations", db_index=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    mode = models.CharField(max_length=8, choices=Mode.choices)
    rank = models.PositiveSmallIntegerField()
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", db_index=False)
    score = models.FloatField()
    reason = models.CharField(max_length=16, choices=Reason.choices)
    reason_product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # For "you bought this N times, last on D": the customer's orders of the product before training.
    reason_count = models.PositiveIntegerField(null=True, blank=True)
    reason_date = models.DateField(null=True, blank=True)

    objects = CustomerRecommendationQuerySet.as_manager()

    class Meta:
        ordering = ["version", "customer", "mode", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "customer", "mode", "rank"], name="recommender_customer_list_rank_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.mode} #{self.rank}: {self.product_id}"


class SimilarProductQuerySet(models.QuerySet["SimilarProduct"]):
    def of_active_version(self) -> SimilarProductQuerySet:
        return self.filter(version__is_active=True)

    def sellable(self) -> SimilarProductQuerySet:
        return self.filter(
            similar__active=True, similar__stock__on_hand__gt=models.F("similar__stock__reserved")
        )


class SimilarProduct(models.Model):
    """One of a product's precomputed most similar products: co-purchase neighbours, then content."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="similar_products")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveSmallIntegerField()
    similar = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()
    reason = models.CharField(max_length=16, choices=Reason.choices)

    objects = SimilarProductQuerySet.as_manager()

    class Meta:
        ordering = ["version", "product", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "product", "rank"], name="recommender_similar_rank_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.product_id} #{self.rank}: {self.similar_id}"


class PopularProduct(models.Model):
    """The version's popularity ranking (recent sales first), the fallback for cold starts and padding."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="popular_products")
    rank = models.PositiveIntegerField()
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()

    class Meta:
        ordering = ["version", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["version", "rank"], name="recommender_popular_rank_unique")
        ]

    def __str__(self) -> str:
        return f"#{self.rank}: {self.product_id}"


class CustomerRecommendationsPanel(Customer):
    """Admin view of a customer with the active version's recommendations (a proxy, no table)."""

    class Meta:
        proxy = True
        verbose_name = "customer recommendations"
        verbose_name_plural = "customer recommendations"


class CustomerListChunk(models.Model):
    """One block of a version's customers whose lists a worker computes, and that worker's lease.

    Training plans the chunks, sends one task per chunk to the training queue and works through
    them itself too; whoever claims a chunk first holds its lease, writes its rows in one
    transaction and marks it done. A copy that finds the chunk done, or leased by a live worker,
    exits; a lease that ran out means its worker died, and the chunk is claimed again.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="list_chunks")
    index = models.PositiveIntegerField()
    # Positions [start, stop) in the version's customer order (the engine's rows).
    start = models.PositiveIntegerField()
    stop = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=128, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    rows_written = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["version", "index"]
        constraints = [
            models.UniqueConstraint(fields=["version", "index"], name="recommender_list_chunk_unique_index")
        ]

    def __str__(self) -> str:
        return f"Customer lists {self.start}-{self.stop} of version {self.version_id} ({self.status})"
