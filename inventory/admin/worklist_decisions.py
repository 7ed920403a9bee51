"""Snooze, dismiss and reopen from the worklist, and the record of those decisions."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from shop import formats
from shop.admin import ReadOnlyAdmin
from shop.admin_paginator import EstimatedCountPaginator

from .. import services_worklist
from ..models import (
    SuggestionDecision,
)
from .common import format_day


class SnoozeForm(forms.Form):
    CHOICES = [("1", "1 day"), ("3", "3 days"), ("7", "1 week"), ("14", "2 weeks"), ("30", "30 days")]
    until = forms.ChoiceField(
        label="Snooze for",
        choices=[*CHOICES, ("next", "until the next forecast run")],
        initial="7",
        widget=forms.RadioSelect,
    )

    def days(self) -> int | None:
        value = self.cleaned_data["until"]
        return None if value == "next" else int(value)


class DismissForm(forms.Form):
    REASONS = [
        "Discontinued or being phased out",
        "Ordered outside this list",
        "Stock figure is wrong: recount first",
        "Seasonal: not needed now",
    ]
    reason = forms.ChoiceField(
        label="Why",
        choices=[(r, r) for r in REASONS] + [("other", "Other (say below)")],
        widget=forms.RadioSelect,
    )
    detail = forms.CharField(label="In your words", max_length=200, required=False)

    def clean(self):
        data = super().clean()
        if data.get("reason") == "other" and not data.get("detail", "").strip():
            raise forms.ValidationError("Say why in your own words.")
        return data

    def text(self) -> str:
        reason, detail = self.cleaned_data["reason"], self.cleaned_data["detail"].strip()
        if reason == "other":
            return detail
        return f"{reason}: {detail}" if detail else reason


class DecisionActionsMixin:
    """The worklist's decision actions: each asks with a small form, then calls a service."""

    def _decide(self, request, queryset, *, form_class, title: str, verb: str, apply):
        """An action with a small form (snooze length, dismissal reason): ask, then apply it via a service."""
        form = form_class(request.POST if "decide" in request.POST else None)
        if "decide" in request.POST and form.is_valid():
            try:
                done = apply(form, list(queryset.values_list("pk", flat=True)))
            except services_worklist.WorklistError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"{verb} {done:,} suggestion(s).", messages.SUCCESS)
            return None
        rows = list(queryset.select_related("product").order_by("product__sku")[:200])
        return TemplateResponse(
            request,
            "admin/inventory/reordersuggestion/decide.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "form": form,
                "rows": rows,
                "count": queryset.count(),
                "ids": list(queryset.values_list("pk", flat=True)),
                "action": request.POST.get("action"),
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Snooze selected (hide for some days, or until the next run)")
    def snooze(self, request, queryset):
        return self._decide(
            request,
            queryset,
            form_class=SnoozeForm,
            title="Snooze suggestions",
            verb="Snoozed",
            apply=lambda form, ids: services_worklist.suggestions_snooze(
                suggestion_ids=ids, days=form.days(), user=request.user
            ),
        )

    @admin.action(description="Dismiss selected, with a reason")
    def dismiss(self, request, queryset):
        return self._decide(
            request,
            queryset,
            form_class=DismissForm,
            title="Dismiss suggestions",
            verb="Dismissed",
            apply=lambda form, ids: services_worklist.suggestions_dismiss(
                suggestion_ids=ids, reason=form.text(), user=request.user
            ),
        )

    @admin.action(description="Reopen selected (end a snooze or a dismissal)")
    def reopen(self, request, queryset):
        done = services_worklist.suggestions_reopen(
            suggestion_ids=list(queryset.values_list("pk", flat=True)), user=request.user
        )
        self.message_user(request, f"Reopened {done:,} suggestion(s).", messages.SUCCESS)


@admin.register(SuggestionDecision)
class SuggestionDecisionAdmin(ReadOnlyAdmin):
    """The record of snoozes and dismissals: who, when, why, and when each ended."""

    list_display = [
        "product",
        "kind",
        "until_display",
        "reason",
        "decided_by",
        "created_display",
        "ended_display",
    ]
    list_filter = ["kind"]
    search_fields = ["product__sku", "product__name", "reason"]
    list_select_related = ["product", "decided_by"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    @admin.display(description="until")
    def until_display(self, obj: SuggestionDecision) -> str:
        if obj.kind == SuggestionDecision.Kind.DISMISS:
            return "reopened by the buyer"
        return "the next run" if obj.until_next_run else format_day(obj.until)

    @admin.display(description="decided", ordering="created_at")
    def created_display(self, obj: SuggestionDecision) -> str:
        return formats.moment(obj.created_at)

    @admin.display(description="ended", ordering="ended_at")
    def ended_display(self, obj: SuggestionDecision) -> str:
        return "—" if obj.ended_at is None else f"{formats.moment(obj.ended_at)} ({obj.ended_because})"
