"""Every table that points at a customer, a login or an order is in the export, or says here why not.

A new model with such a link (a payment, a shipment, a guest's address...) fails this test until it
is added to ``accounts.selectors.account_export`` and to the erasure, or listed below with a reason.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth import get_user_model

from shop.models import Customer, Order

# In the export (and removed or detached by the erasure).
EXPORTED = {
    "shop.Order",
    "shop.OrderLine",
    "shop.Cancellation",
    "shop.Rating",
    "shop.ProductEvent",
    "shop.IdempotencyKey",
    "shop.Payment",
    "shop.Refund",
    "shop.Shipment",
    "shop.ShipmentLine",
    "shop.OrderReturn",
    "recommender.CustomerRecommendation",
    "accounts.ApiToken",
    "accounts.UserSession",
    "accounts.VerifiedEmail",
}
# Links that name a staff member acting, not a customer; proxies of exported models.
NOT_ABOUT_THE_CUSTOMER = {
    "admin.LogEntry": "the staff member who made an admin change (erasure anonymises entries about them)",
    "shop.StockMovement": "created_by: the staff member who moved stock",
    "pipeline.Run": "requested_by: the staff member who started a retrain",
    "inventory.PurchaseOrder": "sent_by: the buyer who emailed the order to its supplier",
    "inventory.SuggestionDecision": "the buyer who snoozed or dismissed a suggestion",
    "recommender.CustomerRecommendationsPanel": "a proxy of Customer for the admin's panel",
    "shop.OrderToShip": "a proxy of Order for the admin's 'to ship' queue",
    "shop.PaymentEvent": "the payment provider's event log: order number, amount, currency; nothing personal",
}


def test_every_model_linked_to_a_person_or_their_orders_is_exported_or_explained():
    people = {Customer, Order, get_user_model()}
    linked = set()
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if field.is_relation and field.concrete and field.related_model in people:
                linked.add(model._meta.label)
        if model._meta.proxy and model._meta.concrete_model in people:
            linked.add(model._meta.label)
    unexplained = linked - EXPORTED - set(NOT_ABOUT_THE_CUSTOMER) - {"shop.Customer"}
    assert not unexplained, f"add to the export and erasure, or explain: {sorted(unexplained)}"
