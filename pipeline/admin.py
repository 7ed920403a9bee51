"""Staff screens for retraining runs: the run list, and buttons that start a run of each kind.

Other apps' pages (recommender versions, forecast runs) show the same button by
including ``admin/pipeline/start_run_button.html``, which posts to ``start_run_view``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from shop import formats
from shop.admin_paginator import EstimatedCountPaginator

from . import services
from .models import Run, Simulation, SimulationDay


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    change_list_template = "admin/pipeline/run/change_list.html"
    list_display = [
        "id",
        "kind",
        "status",
        "progress",
        "stage",
        "produced",
        "started_by",
        "created",
        "duration",
        "short_error",
    ]
    list_filter = ["kind", "status", "trigger"]
    list_select_related = ["requested_by"]
    date_hierarchy = "created_at"
    readonly_fields = ["progress", "produced", *[field.name for field in Run._meta.fields]]
    actions = ["mark_failed"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    # While a run is active the list reloads itself this often (seconds).
    refresh_seconds = 3

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {**(extra_context or {}), "active_runs": Run.objects.active().exists()}
        extra_context["refresh_seconds"] = self.refresh_seconds
        return super().changelist_view(request, extra_context=extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # runs are started with the buttons, which go through the service

    def has_change_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        return False

    @admin.display(description="progress")
    def progress(self, obj: Run) -> str:
        """Overall progress: 100% means the run ended well, never "the last step started"."""
        if obj.status == Run.Status.SUCCEEDED:
            return format_html('<progress value="100" max="100"></progress> {}', "100%")
        if not obj.progress_total:
            return "—" if not obj.is_active else format_html("<progress></progress> {}", "starting")
        # Steps counted done can still be followed by bookkeeping (suggestions, activation): cap at 99%.
        percent = min(99, 100 * obj.progress_done // obj.progress_total)
        return format_html(
            '<progress value="{}" max="100"></progress> {}% ({} of {})',
            percent,
            percent,
            formats.units(obj.progress_done),
            formats.units(obj.progress_total),
        )

    @admin.display(description="produced")
    def produced(self, obj: Run) -> str:
        """Links to what the run made: the model version, or the forecast run and its suggestions."""
        if obj.model_version_id:
            url = reverse("admin:recommender_modelversion_change", args=[obj.model_version_id])
            return format_html('<a href="{}">model version {}</a>', url, obj.model_version_id)
        if obj.forecast_run_id:
            run_url = reverse("admin:inventory_forecastrun_change", args=[obj.forecast_run_id])
            suggestions = reverse("admin:inventory_reordersuggestion_changelist")
            return format_html(
                '<a href="{}">forecast run {}</a> · '
                '<a href="{}?run__id__exact={}&status=all">suggestions</a>',
                run_url,
                obj.forecast_run_id,
                suggestions,
                obj.forecast_run_id,
            )
        return "—"

    @admin.display(description="started by", ordering="trigger")
    def started_by(self, obj: Run) -> str:
        who = f": {obj.requested_by}" if obj.requested_by_id else ""
        return f"{obj.get_trigger_display()}{who}"

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: Run) -> str:
        return formats.moment(obj.created_at)

    @admin.display(description="duration")
    def duration(self, obj: Run) -> str:
        seconds = obj.duration_seconds
        return "-" if seconds is None else f"{seconds:.0f} s"

    @admin.display(description="error")
    def short_error(self, obj: Run) -> str:
        if not obj.error:
            return ""
        short = obj.error if len(obj.error) <= 90 else obj.error[:89] + "…"
        return format_html('<span class="run-error" title="{}">{}</span>', obj.error[:1000], short)

    @admin.action(description="Mark selected queued/running runs as failed (stuck runs)")
    def mark_failed(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        if not request.user.has_perm("pipeline.delete_run"):
            self.message_user(request, "You may not end runs.", messages.ERROR)
            return
        ended = 0
        for run in queryset.active():
            services.run_fail(run_id=run.pk, error=f"Marked failed by {request.user} from the admin.")
            ended += 1
        self.message_user(request, f"Marked {ended} run(s) failed.", messages.SUCCESS)

    def get_urls(self):
        start = self.admin_site.admin_view(require_POST(self.start_run_view))
        return [path("start/<str:kind>/", start, name="pipeline_run_start"), *super().get_urls()]

    def start_run_view(self, request: HttpRequest, kind: str) -> HttpResponseRedirect:
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("admin:pipeline_run_changelist")
        if not request.user.has_perm("pipeline.add_run"):
            self.message_user(request, "You may not start retraining runs.", messages.ERROR)
            return HttpResponseRedirect(target)
        if kind not in Run.Kind.values:
            self.message_user(request, f"Unknown run kind {kind!r}.", messages.ERROR)
            return HttpResponseRedirect(target)
        try:
            run = services.run_request(
                kind=kind, requested_by=request.user, trigger=Run.Trigger.ADMIN, background=True
            )
        except services.RunAlreadyActive as exc:
            self.message_user(request, str(exc), messages.WARNING)
        except Exception as exc:  # eager mode runs the task inside this request; its failure is on the run
            self.message_user(request, f"The run failed: {type(exc).__name__}: {exc}", messages.ERROR)
        else:
            run.refresh_from_db()
            self.message_user(
                request,
                f"{run.get_kind_display()} started as run #{run.pk} ({run.status}).",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(target)


@admin.register(Simulation)
class SimulationAdmin(admin.ModelAdmin):
    """Replays of ``simulate_shop``: read-only, with the days as a chart (fill rate, stock value)."""

    change_form_template = "admin/pipeline/simulation/change_form.html"
    list_display = ["id", "window", "status", "fill_rate", "orders", "created_at", "finished_at"]
    list_filter = ["status"]
    readonly_fields = [field.name for field in Simulation._meta.fields]
    exclude = ["deliveries"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # simulations are started with the management command

    def has_change_permission(self, request: HttpRequest, obj: Simulation | None = None) -> bool:
        return False

    @admin.display(description="window")
    def window(self, obj: Simulation) -> str:
        return f"{obj.options.get('start')} to {obj.options.get('end')}"

    @admin.display(description="fill rate (units)")
    def fill_rate(self, obj: Simulation) -> str:
        value = (obj.summary or {}).get("fill_rate_units")
        return "-" if value is None else f"{100 * value:.1f}%"

    @admin.display(description="orders")
    def orders(self, obj: Simulation) -> str:
        value = (obj.summary or {}).get("orders_placed")
        return "-" if value is None else f"{value:,}"

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        from django.utils.safestring import mark_safe

        from .simulation_chart import simulation_chart_svg

        days = list(SimulationDay.objects.filter(simulation_id=object_id).order_by("day"))
        svg = simulation_chart_svg(
            days=[d.day for d in days],
            fill_rates=[d.units_served / d.units_demanded if d.units_demanded else None for d in days],
            stock_values=[float(d.stock_value) for d in days],
        )
        extra_context = {**(extra_context or {}), "simulation_chart": mark_safe(svg)}  # noqa: S308 (our SVG)
        return super().change_view(request, object_id, form_url, extra_context=extra_context)
