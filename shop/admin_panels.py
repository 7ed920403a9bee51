"""One extension point for other apps' read-only panels (and actions) on the shop's own admin pages.

``shop`` imports neither ``inventory`` nor ``recommender``, yet a buyer wants a product's forecast on
its page and a customer's recommendations on theirs. Each app registers a panel from its own admin
module; the shop's admin shows whatever is registered. No app replaces another's ``ModelAdmin``, so
the order of ``INSTALLED_APPS`` does not matter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Model
from django.http import HttpRequest


@dataclass(frozen=True)
class AdminPanel:
    name: str
    title: str
    render: Callable[[Model], str]
    order: int = 100
    collapsed: bool = False
    label: str = ""


_panels: dict[type[Model], dict[str, AdminPanel]] = {}


def admin_panel_register(
    model: type[Model],
    *,
    name: str,
    title: str,
    render: Callable[[Model], str],
    order: int = 100,
    collapsed: bool = False,
    label: str = "",
) -> AdminPanel:
    """Show ``render(obj)`` (safe HTML) under ``title`` on ``model``'s change page; a second call replaces."""

    def shown(obj: Model) -> str:
        return render(obj)

    # Django labels a callable read-only field by ``short_description`` and styles its row
    # ``field-<__name__>``, so the panel's row carries its name.
    shown.__name__ = name
    shown.short_description = label or title  # type: ignore[attr-defined]
    panel = AdminPanel(name=name, title=title, render=shown, order=order, collapsed=collapsed, label=label)
    _panels.setdefault(model, {})[name] = panel
    return panel


def admin_panels_for(model: type[Model]) -> list[AdminPanel]:
    return sorted(_panels.get(model, {}).values(), key=lambda panel: (panel.order, panel.name))


_actions: dict[type[Model], dict[str, Callable]] = {}


def admin_action_register(model: type[Model], action: Callable) -> Callable:
    """Offer ``action`` (an ``@admin.action`` function) on ``model``'s list, e.g. the accounts' erasure on
    customers; shown to staff who may delete ``model`` rows. A second registration of a name replaces."""
    _actions.setdefault(model, {})[action.__name__] = action
    return action


def admin_actions_for(model: type[Model]) -> list[Callable]:
    return [_actions[model][name] for name in sorted(_actions.get(model, {}))]


class PanelsAdminMixin:
    """Appends the registered panels to a change page as read-only fieldsets (never on the add page),
    and the registered actions to the list."""

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)  # type: ignore[misc]
        if self.has_delete_permission(request):  # type: ignore[attr-defined]
            for action in admin_actions_for(self.model):  # type: ignore[attr-defined]
                func, name, description = self.get_action(action)  # type: ignore[attr-defined]
                actions[name] = (func, name, description)
        return actions

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None):
        fields = list(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        if obj is not None:
            fields += [panel.render for panel in admin_panels_for(self.model)]  # type: ignore[attr-defined]
        return fields

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None):
        fieldsets = list(super().get_fieldsets(request, obj))  # type: ignore[misc]
        if obj is None:
            return fieldsets
        panels = admin_panels_for(self.model)  # type: ignore[attr-defined]
        renders = {panel.render for panel in panels}
        # Without declared fieldsets Django lists every read-only field, panels included: keep them out.
        fieldsets = [
            (title, {**options, "fields": [f for f in options["fields"] if f not in renders]})
            for title, options in fieldsets
        ]
        for panel in panels:
            options = {"fields": [panel.render], "classes": ["collapse"] if panel.collapsed else []}
            fieldsets.append((panel.title, options))
        return fieldsets
