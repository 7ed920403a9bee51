"""Staff screens: model versions with their metrics beside the popularity baseline, and a customer's
current recommendations.

The shop's own Customer page shows the recommendations through ``shop.admin_panels``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Max, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from shop import formats
from shop.admin_paginator import EstimatedCountPaginator
from shop.admin_panels import admin_panel_register
from shop.models import Customer, OrderLine, StockRecord

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
        "run_key_display",
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
    actions = ["activate_version", "roll_back", "delete_versions"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # versions change only through activation and rollback

    def has_delete_permission(self, request: HttpRequest, obj: ModelVersion | None = None) -> bool:
        if obj is not None and (obj.is_active or obj.status == ModelVersion.Status.TRAINING):
            return False  # the active version serves every recommendation; a training one is in use
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # replaced by delete_versions, which never lists the lists
        return actions

    def get_deleted_objects(self, objs, request):
        """A summary instead of Django's walk over the version's hundreds of thousands of list rows."""
        summary = [
            format_html(
                "{} with its recommendation lists and {} artifact file(s)", version, version.artifacts.count()
            )
            for version in objs
        ]
        return summary, {}, set(), []

    def delete_model(self, request: HttpRequest, obj: ModelVersion) -> None:
        services.model_version_delete(version=obj)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except services.RecommenderError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:recommender_modelversion_changelist"))

    @admin.action(description="Delete the selected versions (never the active one)", permissions=["delete"])
    def delete_versions(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        deleted = 0
        for version in queryset:
            try:
                services.model_version_delete(version=version)
                deleted += 1
            except services.RecommenderError as exc:
                self.message_user(request, str(exc), messages.ERROR)
        self.message_user(request, f"Deleted {deleted} version(s) with their lists and artifacts.")

    @admin.display(description="Recall@10, all products")
    def recall_all(self, obj: ModelVersion) -> str:
        return _pair(obj, Mode.ALL)

    @admin.display(description="Recall@10, new products")
    def recall_new(self, obj: ModelVersion) -> str:
        return _pair(obj, Mode.NEW)

    @admin.display(description="run key", ordering="run_key")
    def run_key_display(self, obj: ModelVersion) -> str:
        """Long keys (a schedule's, a command's) wrap instead of pushing the list past the screen."""
        return obj.run_key or "—"

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


class RecommendationsPanelMixin:
    """Adds a read-only table of the customer's current recommendations (both modes).

    Each row links to the product and shows its stock; "you buy this regularly" is made
    specific with how often and when the customer last bought it.
    """

    @admin.display(description="Current recommendations")
    def current_recommendations(self, obj) -> str:
        if obj is None or obj.pk is None:
            return "-"
        return customer_recommendations_html(obj)


def customer_recommendations_html(obj: Customer) -> str:
    """Both modes' lists with stock and a specific reason, and which model version made them."""
    version = selectors.active_version()
    if version is not None:
        data_end = version.as_of or version.created_at
        header = format_html(
            "<p>Made by {} (trained {}, data up to {}).</p>",
            version,
            formats.moment(version.created_at),
            formats.day(data_end),
        )
    else:
        header = format_html("<p>{}</p>", "No active model version: these lists come from popularity.")
    items = {
        mode: selectors.recommendations_for(customer=obj, limit=10, mode=mode)
        for mode in (Mode.ALL, Mode.NEW)
    }
    product_ids = {item.product.pk for rows in items.values() for item in rows}
    history = {
        row["product_id"]: row
        for row in OrderLine.objects.filter(order__customer=obj, product_id__in=product_ids)
        .values("product_id")
        .annotate(times=Count("order", distinct=True), last=Max("order__placed_at"))
    }
    stock = {
        pid: (on_hand - reserved)
        for pid, on_hand, reserved in StockRecord.objects.filter(product_id__in=product_ids).values_list(
            "product_id", "on_hand", "reserved"
        )
    }
    sections = [header]
    for mode, rows in items.items():
        body = format_html_join(
            "",
            '<tr><td>{}</td><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    rank,
                    reverse("admin:shop_product_change", args=[item.product.pk]),
                    item.product.sku,
                    item.product.name,
                    stock.get(item.product.pk, "—"),
                    f"{item.score:.3f}",
                    _specific_reason(item, history.get(item.product.pk)),
                )
                for rank, item in enumerate(rows, start=1)
            ),
        )
        sections.append(
            format_html(
                "<h4>{}</h4><table><tr><th>#</th><th>SKU</th><th>product</th><th>available</th><th>score</th>"
                "<th>why</th></tr>{}</table>",
                Mode(mode).label,
                body,
            )
        )
    return format_html_join("", "{}", ((section,) for section in sections))


def _specific_reason(item, bought: dict | None) -> str:
    if item.reason_code == "regular" and bought:
        times = bought["times"]
        return f"you bought it {times} time{'s' if times != 1 else ''}, last on {formats.day(bought['last'])}"
    return item.reason


@admin.register(CustomerRecommendationsPanel)
class CustomerRecommendationsAdmin(RecommendationsPanelMixin, admin.ModelAdmin):
    list_display = ["external_id", "country", "created_at"]
    search_fields = ["external_id"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fields = ["external_id", "country", "current_recommendations"]
    readonly_fields = ["external_id", "country", "current_recommendations"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


admin_panel_register(
    Customer,
    name="current_recommendations",
    title="Current recommendations",
    render=customer_recommendations_html,
    order=10,
)
