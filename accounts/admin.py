"""Staff screens of the accounts: tokens (revoke), and erasing a customer from the shop's customer list.

The erase action is offered on the shop's Customer list through ``shop.admin_panels`` (``shop`` does
not import ``accounts``) and calls the same service as ``DELETE /api/me/``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from shop.admin_paginator import EstimatedCountPaginator
from shop.admin_panels import admin_action_register
from shop.models import Customer, Order, ProductEvent, Rating

from . import services
from .models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Per-device sign-ins; keys are never shown (only hashes are stored). Revoking goes through the
    service, so every worker stops accepting the key at once."""

    list_display = ["user", "name", "created_at", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "name"]
    fields = ["user", "name", "created_at", "last_used_at"]
    readonly_fields = fields
    actions = ["revoke"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a token is made by signing in: its key is shown to the device only

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # "Revoke" replaces it
        return actions

    def delete_model(self, request: HttpRequest, obj: ApiToken) -> None:
        services.token_revoke(token=obj)

    @admin.action(description="Revoke selected tokens (sign those devices out)", permissions=["delete"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = 0
        for token in queryset:
            services.token_revoke(token=token)
            count += 1
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)


@admin.action(description="Erase personal data of selected customers (orders kept, anonymised)")
def erase_personal_data(modeladmin, request: HttpRequest, queryset: QuerySet[Customer]):
    """Erase through ``accounts.services.account_erase``, after a confirmation page that says what
    goes and what stays."""
    customers = list(queryset.select_related("user"))
    if request.POST.get("confirm") == "yes":
        for customer in customers:
            services.account_erase(customer=customer, erased_by=request.user)
        modeladmin.message_user(
            request,
            f"Erased {len(customers)} customer(s): their orders are kept without a customer; their ratings, "
            "events, recommendation lists and logins are gone.",
            messages.SUCCESS,
        )
        return None
    rows = [
        {
            "customer": customer,
            "login": customer.user.get_username() if customer.user else "",
            "orders": Order.objects.filter(customer=customer).count(),
            "ratings": Rating.objects.filter(customer=customer).count(),
            "events": ProductEvent.objects.filter(customer=customer).count(),
        }
        for customer in customers
    ]
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Erase personal data?",
        "rows": rows,
        "opts": modeladmin.model._meta,
        "action_name": "erase_personal_data",
        "selected": [customer.pk for customer in customers],
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "accounts/admin/erase_confirm.html", context)


admin_action_register(Customer, erase_personal_data)
