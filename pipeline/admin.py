"""Staff screens for retraining runs: the run list, and buttons that start a run of each kind.

Other apps' pages (recommender versions, forecast runs) show the same button by
including ``admin/pipeline/start_run_button.html``, which posts to ``start_run_view``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from . import services
from .models import Run


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    change_list_template = "admin/pipeline/run/change_list.html"
    list_display = [
        "id",
        "kind",
        "status",
        "progress",
        "stage",
        "trigger",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "duration",
        "short_error",
    ]
    list_filter = ["kind", "status", "trigger"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in Run._meta.fields]
    actions = ["mark_failed"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # runs are started with the buttons, which go through the service

    def has_change_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        return False

    @admin.display(description="progress")
    def progress(self, obj: Run) -> str:
        if not obj.progress_total:
            return "-"
        return f"{obj.progress_done}/{obj.progress_total} ({100 * obj.progress_done // obj.progress_total}%)"

    @admin.display(description="duration")
    def duration(self, obj: Run) -> str:
        seconds = obj.duration_seconds
        return "-" if seconds is None else f"{seconds:.0f} s"

    @admin.display(description="error")
    def short_error(self, obj: Run) -> str:
        return obj.error[:120]

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
