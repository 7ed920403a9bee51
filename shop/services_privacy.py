"""The shop's part of erasing a customer: what it keeps, anonymised, and what it deletes.

Called by ``accounts.services.account_erase`` (the API's ``DELETE /api/me/`` and the admin's
"erase" action), which also removes the sign-in. Kept apart from ``shop.services`` (orders and
stock) so the two grow without stepping on each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from .models import Cancellation, Customer, Order, ProductEvent, Rating


@dataclass(frozen=True)
class CustomerErasure:
    orders_kept: int
    cancellations_kept: int
    ratings_deleted: int
    events_deleted: int


@transaction.atomic
def customer_erase(*, customer: Customer) -> CustomerErasure:
    """Erase a customer: their orders and cancellations stay (accounting, demand, training), detached
    from any person; their ratings and storefront events (with the anonymous events of the same browser
    sessions, which could be joined back to them) are deleted; the customer row goes, and with it every
    personal field it holds and every row that only exists for it (Idempotency-Keys, stored
    recommendation lists). The login, if any, is the caller's to remove."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    orders = Order.objects.filter(customer=customer).update(customer=None)
    cancellations = Cancellation.objects.filter(customer=customer).update(customer=None)
    sessions = set(
        ProductEvent.objects.filter(customer=customer)
        .exclude(session_id="")
        .values_list("session_id", flat=True)
    )
    events, _ = ProductEvent.objects.filter(Q(customer=customer) | Q(session_id__in=sessions)).delete()
    ratings, _ = Rating.objects.filter(customer=customer).delete()
    customer.delete()
    return CustomerErasure(
        orders_kept=orders, cancellations_kept=cancellations, ratings_deleted=ratings, events_deleted=events
    )
