"""The admin site, branded as the product, with the buyer's dashboard as its front page."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

# Apps a buyer does not use every day: listed last, folded under "Settings and scheduling".
TUCKED_AWAY = {"auth", "django_celery_beat"}
# The order a buyer works in: what to order, then what was sold, then the models behind both.
APP_ORDER = ["inventory", "shop", "recommender", "pipeline"]


class ShopAdminSite(admin.AdminSite):
    site_header = "Shop intelligence"
    site_title = "Shop intelligence"
    index_title = "Today"
    index_template = "admin/dashboard_index.html"
    # The app list sits on the front page; on a 1366 px screen the sidebar would cost the worklist
    # the room its columns need.
    enable_nav_sidebar = False

    def index(self, request: HttpRequest, extra_context=None):
        from pipeline.dashboard import dashboard_summary  # apps are loaded by the time a page is served

        apps = self.get_app_list(request)
        extra_context = {
            **(extra_context or {}),
            "dashboard": dashboard_summary(),
            "main_apps": [app for app in apps if not app["tucked_away"]],
            "tucked_apps": [app for app in apps if app["tucked_away"]],
        }
        return super().index(request, extra_context)

    def get_app_list(self, request: HttpRequest, app_label: str | None = None):
        apps = super().get_app_list(request, app_label)
        rank = {label: index for index, label in enumerate(APP_ORDER)}
        apps.sort(key=lambda app: (app["app_label"] in TUCKED_AWAY, rank.get(app["app_label"], 99)))
        for app in apps:
            app["tucked_away"] = app["app_label"] in TUCKED_AWAY
        return apps
