"""Staff screens: model versions with their metrics beside the popularity baseline, and a customer's
current recommendations.

To show recommendations on the shop's own Customer page, add ``RecommendationsPanelMixin`` to its
admin class and ``"current_recommendations"`` to its ``readonly_fields``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from shop.admin import CustomerAdmin as ShopCustomerAdmin
from shop.models import Customer

from . import selectors, services
from .models import CustomerRecommendationsPanel, Mode, ModelArtifact, ModelVersion


def _metric(version: ModelVersion, ranker: str, mode: str, name: str = "recall") -> float | None:
    return version.metrics.get(ranker, {}).get(mode, {}).get(name)


def _pair(version: ModelVersion, mode: str) -> str:
    model, baseline = _metric(version, "hybrid", mode), _metric(version, "popularity", mode)
    if model is None:
        return "-"
    return f"{model:.3f} (popularity {baseline:.3f})" if baseline is not None else f"{model:.3f}"


class ModelArtifactInline(admin.TabularInline):
    model = ModelArtifact
    extra = 0
    can_delete = False
    readonly_fields = ["name", "path", "sha256", "size"]

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "status",
        "created_at",
        "as_of",
        "recall_all",
        "recall_new",
        "rating_rmse",
        "run_key",
    ]
    list_filter = ["status"]
    readonly_fields = [
        "status",
        "is_active",
        "run_key",
        "created_at",
        "finished_at",
        "activated_at",
        "as_of",
        "data_start",
        "data_end",
        "params",
        "metrics_table",
        "rating_metrics",
        "counts",
        "error",
    ]
    exclude = ["metrics"]
    inlines = [ModelArtifactInline]
    actions = ["activate_version", "roll_back", "retrain"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Recall@10, all products")
    def recall_all(self, obj: ModelVersion) -> str:
        return _pair(obj, Mode.ALL)

    @admin.display(description="Recall@10, new products")
    def recall_new(self, obj: ModelVersion) -> str:
        return _pair(obj, Mode.NEW)

    @admin.display(description="Rating RMSE")
    def rating_rmse(self, obj: ModelVersion) -> str:
        rmse = obj.rating_metrics.get("rmse")
        return f"{rmse:.3f}" if rmse is not None else "-"

    @admin.display(description="Validation metrics (@10)")
    def metrics_table(self, obj: ModelVersion) -> str:
        rows = [
            (
                name,
                mode,
                *(f"{by_mode[mode].get(key, 0):.3f}" for key in ("recall", "ndcg", "hit_rate", "coverage")),
            )
            for name, by_mode in obj.metrics.items()
            for mode in (Mode.ALL, Mode.NEW)
            if mode in by_mode
        ]
        if not rows:
            return "-"
        body = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows
        )
        return format_html(
            "<table><tr><th>ranker</th><th>mode</th><th>Recall</th><th>NDCG</th><th>HR</th>"
            "<th>coverage</th></tr>{}</table>",
            body,
        )

    @admin.action(description="Activate the selected version")
    def activate_version(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        try:
            version = services.model_version_activate(version=queryset.get())
        except services.RecommenderError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Activated {version}.", messages.SUCCESS)

    @admin.action(description="Roll back to the previously active version")
    def roll_back(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        try:
            version = services.model_version_rollback()
        except services.RecommenderError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Rolled back to {version}.", messages.SUCCESS)

    @admin.action(description="Retrain now (runs synchronously)")
    def retrain(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        try:
            version = services.recommender_train()
        except Exception as exc:  # the failure is recorded on the version; staff see it here too
            self.message_user(request, f"Training failed: {exc}", messages.ERROR)
            return
        self.message_user(request, f"Trained and activated {version}.", messages.SUCCESS)


class RecommendationsPanelMixin:
    """Adds a read-only table of the customer's current recommendations (both modes)."""

    @admin.display(description="Current recommendations")
    def current_recommendations(self, obj) -> str:
        if obj is None or obj.pk is None:
            return "-"
        sections = []
        for mode in (Mode.ALL, Mode.NEW):
            items = selectors.recommendations_for(customer=obj, limit=10, mode=mode)
            rows = format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (rank, item.product.sku, item.product.name, f"{item.score:.3f}", item.reason)
                    for rank, item in enumerate(items, start=1)
                ),
            )
            sections.append(
                format_html(
                    "<h4>{}</h4><table><tr><th>#</th><th>SKU</th><th>product</th><th>score</th><th>reason</th>"
                    "</tr>{}</table>",
                    Mode(mode).label,
                    rows,
                )
            )
        return format_html_join("", "{}", ((section,) for section in sections))


@admin.register(CustomerRecommendationsPanel)
class CustomerRecommendationsAdmin(RecommendationsPanelMixin, admin.ModelAdmin):
    list_display = ["external_id", "country", "created_at"]
    search_fields = ["external_id"]
    fields = ["external_id", "country", "current_recommendations"]
    readonly_fields = ["external_id", "country", "current_recommendations"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


# The shop's Customer page gains the recommendations panel here, because shop must not import recommender.
admin.site.unregister(Customer)


@admin.register(Customer)
class CustomerWithRecommendationsAdmin(RecommendationsPanelMixin, ShopCustomerAdmin):
    readonly_fields = [*ShopCustomerAdmin.readonly_fields, "current_recommendations"]
