"""Which transition an order may take from which status: the one table every order service checks.

Saleor's order model is the reference: an order's status follows from its payments and shipments
("partly shipped" is Saleor's "partially fulfilled"), and each change is one service in
``shop.services``, which locks the order and asks ``transition_target`` before writing anything.

| action | service                        | from                           | to                        |
|--------|--------------------------------|--------------------------------|---------------------------|
| pay    | ``order_mark_paid``            | placed                         | paid                      |
| ship   | ``shipment_create``            | paid, partly shipped           | partly shipped, fulfilled |
| cancel | ``order_cancel``               | placed, paid                   | cancelled                 |
| customer_cancel | ``order_cancel(by_customer=True)`` | placed                | cancelled                 |
| expire | ``order_expire_stale``         | placed (past ``expires_at``)   | cancelled                 |
| return | ``order_line_return``          | partly shipped, fulfilled      | (unchanged)               |
| refund | ``payment_refund_record``      | paid, partly shipped, fulfilled, cancelled | (unchanged)   |

Everything else is refused. A partly shipped order is not cancelled (ship the rest, then take a
return), a paid order never expires, and a customer cancels only an unpaid order (cancelling a paid
one owes them a refund: the shop decides).
"""

from __future__ import annotations

from enum import StrEnum

from .models import Order

Status = Order.Status


class Action(StrEnum):
    PAY = "pay"
    SHIP = "ship"
    CANCEL = "cancel"
    CUSTOMER_CANCEL = "customer_cancel"
    EXPIRE = "expire"
    RETURN = "return"
    REFUND = "refund"


#: action -> {status it may start from: statuses it may end in}
TRANSITIONS: dict[Action, dict[str, tuple[str, ...]]] = {
    Action.PAY: {Status.PLACED: (Status.PAID,)},
    Action.SHIP: {
        Status.PAID: (Status.PARTLY_SHIPPED, Status.FULFILLED),
        Status.PARTLY_SHIPPED: (Status.PARTLY_SHIPPED, Status.FULFILLED),
    },
    Action.CANCEL: {Status.PLACED: (Status.CANCELLED,), Status.PAID: (Status.CANCELLED,)},
    Action.CUSTOMER_CANCEL: {Status.PLACED: (Status.CANCELLED,)},
    Action.EXPIRE: {Status.PLACED: (Status.CANCELLED,)},
    Action.RETURN: {Status.PARTLY_SHIPPED: (Status.PARTLY_SHIPPED,), Status.FULFILLED: (Status.FULFILLED,)},
    Action.REFUND: {
        Status.PAID: (Status.PAID,),
        Status.PARTLY_SHIPPED: (Status.PARTLY_SHIPPED,),
        Status.FULFILLED: (Status.FULFILLED,),
        Status.CANCELLED: (Status.CANCELLED,),
    },
}


def is_allowed(status: str, action: Action) -> bool:
    return status in TRANSITIONS[action]


def allowed_actions(status: str) -> list[Action]:
    """What staff may do to an order in this status (the admin shows these buttons)."""
    return [action for action in Action if is_allowed(status, action)]


def transition_target(*, status: str, action: Action, target: str) -> bool:
    """Whether ``action`` may take an order from ``status`` to ``target``."""
    return target in TRANSITIONS[action].get(status, ())
