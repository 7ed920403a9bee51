"""Every write to orders and stock.

Stock rows are locked with ``select_for_update()`` in primary-key order, so two
orders that touch the same products in any order queue behind each other
instead of deadlocking; availability is checked again under the lock.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Sum
from django.utils import timezone

from . import order_states
from .models import (
    Cancellation,
    Customer,
    IdempotencyKey,
    Order,
    OrderLine,
    OrderReturn,
    Payment,
    PaymentEvent,
    Product,
    Refund,
    Shipment,
    ShipmentLine,
    StockMovement,
    StockRecord,
)
from .order_states import Action


class ShopError(Exception):
    """Base of the shop's domain errors; the API maps these to 4xx answers."""


class InsufficientStock(ShopError):
    def __init__(self, *, product: Product, requested: int, available: int) -> None:
        self.product = product
        self.requested = requested
        self.available = available
        super().__init__(
            f"Insufficient stock for {product.sku} ({product.name}): "
            f"requested {requested}, available {available}."
        )


class ProductUnavailable(ShopError):
    """Some ordered products are unknown or not for sale. The message names none of them: an inactive
    product is invisible to customers, so it must not be told apart from one that never existed."""

    def __init__(self, product_ids: Iterable[int]) -> None:
        self.product_ids = sorted(set(product_ids))
        super().__init__("Some products in this order are unavailable.")


class ReservationLimitExceeded(ShopError):
    """The customer would hold more units of one product in open orders than the shop allows."""

    def __init__(self, *, product: Product, requested: int, held: int, limit: int) -> None:
        self.product = product
        self.requested = requested
        self.held = held
        self.limit = limit
        super().__init__(
            f"At most {limit} units of {product.sku} ({product.name}) may be reserved per customer: "
            f"{held} already are in open orders, {requested} more were asked for."
        )


class TooManyLines(ShopError):
    def __init__(self, *, count: int, limit: int) -> None:
        self.count = count
        self.limit = limit
        super().__init__(f"An order may have at most {limit} lines, got {count}.")


class IdempotencyKeyReused(ShopError):
    """The key was first used with a different request body."""


class InvalidOrderState(ShopError):
    pass


@dataclass(frozen=True)
class LineRequest:
    product_id: int
    quantity: int


def _locked_stock(product_ids: Iterable[int]) -> dict[int, StockRecord]:
    """Lock the stock rows of these products in primary-key order, creating missing rows first."""
    ids = sorted(set(product_ids))
    existing = set(StockRecord.objects.filter(product_id__in=ids).values_list("product_id", flat=True))
    missing = [StockRecord(product_id=pid) for pid in ids if pid not in existing]
    if missing:
        StockRecord.objects.bulk_create(missing, ignore_conflicts=True)
    records = StockRecord.objects.select_for_update().filter(product_id__in=ids).order_by("product_id")
    now = timezone.now()  # bulk_update skips auto_now: every caller writes these rows, so stamp them here
    return {record.product_id: _stamped(record, now) for record in records}


def _stamped(record: StockRecord, now: datetime) -> StockRecord:
    record.updated_at = now
    return record


def _merge_lines(lines: Sequence[LineRequest]) -> dict[int, int]:
    merged: dict[int, int] = defaultdict(int)
    for line in lines:
        if line.quantity <= 0:
            raise ValueError(f"Quantity must be positive, got {line.quantity} for product {line.product_id}.")
        merged[line.product_id] += line.quantity
    return dict(merged)


@transaction.atomic
def order_place(
    *,
    customer: Customer | None,
    lines: Sequence[LineRequest],
    number: str | None = None,
    placed_at: datetime | None = None,
    expires_at: datetime | None | Literal["default"] = "default",
    max_reserved_per_product: int | None = None,
) -> Order:
    """Place an order and reserve its stock, or raise a ``ShopError`` and change nothing.

    ``max_reserved_per_product`` caps the units of each product the customer may hold in open orders
    (the storefront passes ``SHOP["MAX_RESERVED_PER_PRODUCT"]``; staff tools and imports pass none).

    It takes the same number of queries for one line or ``ORDER_MAX_LINES``: products, stock and the
    customer's open reservations are each read in one query, and written in bulk. The reservation
    lapses at ``expires_at`` (by default ``RESERVATION_MINUTES`` from now; ``None``: never), when
    ``order_expire_stale`` cancels the order if it is still open.
    """
    if not lines:
        raise ValueError("An order needs at least one line.")
    limit = settings.SHOP["ORDER_MAX_LINES"]
    if len(lines) > limit:
        raise TooManyLines(count=len(lines), limit=limit)
    quantities = _merge_lines(lines)
    products = Product.objects.in_bulk(list(quantities))
    unavailable = [pid for pid in quantities if pid not in products or not products[pid].active]
    if unavailable:
        raise ProductUnavailable(unavailable)

    stock = _locked_stock(quantities)
    for product_id in sorted(quantities):
        record = stock[product_id]
        if record.available < quantities[product_id]:
            raise InsufficientStock(
                product=products[product_id], requested=quantities[product_id], available=record.available
            )
    if customer is not None and max_reserved_per_product is not None:
        # Read under the stock locks, so two orders of one customer cannot both slip under the cap.
        _check_reservation_cap(
            customer=customer, quantities=quantities, products=products, cap=max_reserved_per_product
        )
    for product_id, quantity in quantities.items():
        stock[product_id].reserved += quantity
    StockRecord.objects.bulk_update(stock.values(), ["reserved", "updated_at"])

    now = timezone.now()
    if expires_at == "default":
        expires_at = now + timedelta(minutes=settings.SHOP["RESERVATION_MINUTES"])
    order = Order(
        number=number or uuid.uuid4().hex[:16].upper(),
        customer=customer,
        placed_at=placed_at or now,
        country=customer.country if customer else "",
        expires_at=expires_at,
    )
    order.full_clean()
    order.save()
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            line_number=index,
            product_id=product_id,
            quantity=quantity,
            unit_price=products[product_id].price,
        )
        for index, (product_id, quantity) in enumerate(sorted(quantities.items()), start=1)
    )
    return order


def _check_reservation_cap(
    *, customer: Customer, quantities: dict[int, int], products: dict[int, Product], cap: int
) -> None:
    held = dict(
        OrderLine.objects.filter(
            order__customer=customer, order__status=Order.Status.PLACED, product_id__in=list(quantities)
        )
        .values("product_id")
        .annotate(total=Sum("quantity"))
        .values_list("product_id", "total")
    )
    for product_id in sorted(quantities):
        already = held.get(product_id, 0)
        if already + quantities[product_id] > cap:
            raise ReservationLimitExceeded(
                product=products[product_id], requested=quantities[product_id], held=already, limit=cap
            )


@dataclass(frozen=True)
class IdempotentOutcome:
    """The answer to an order request: the first one's, replayed, when the key was seen before."""

    order_id: int | None
    status: int
    body: dict
    replayed: bool


@transaction.atomic
def order_place_idempotent(
    *,
    customer: Customer,
    lines: Sequence[LineRequest],
    key: str,
    fingerprint: str,
    render: Callable[[Order], dict],
    max_reserved_per_product: int | None = None,
) -> IdempotentOutcome:
    """``order_place`` under an ``Idempotency-Key``: a repeat of the key within the window gets the
    first answer and places nothing; the key with another body raises ``IdempotencyKeyReused``.

    The key row is inserted in the order's transaction, so a failed placement (out of stock...)
    records nothing and may be retried with the same key. A concurrent duplicate blocks on the unique
    index until the first commits, then replays its answer.
    """
    window = timedelta(hours=settings.SHOP["IDEMPOTENCY_KEY_HOURS"])
    IdempotencyKey.objects.filter(customer=customer, key=key, created_at__lt=timezone.now() - window).delete()
    try:
        with transaction.atomic():  # a savepoint: the failed insert must not spoil the transaction
            record = IdempotencyKey.objects.create(customer=customer, key=key, fingerprint=fingerprint)
    except IntegrityError:
        record = IdempotencyKey.objects.get(customer=customer, key=key)
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used with a different request body; use a new key."
            ) from None
        return IdempotentOutcome(
            order_id=record.order_id, status=record.response_status, body=record.response_body, replayed=True
        )
    order = order_place(customer=customer, lines=lines, max_reserved_per_product=max_reserved_per_product)
    body = render(order)
    record.order = order
    record.response_status = 201
    record.response_body = body
    record.save(update_fields=["order", "response_status", "response_body"])
    return IdempotentOutcome(order_id=order.pk, status=201, body=body, replayed=False)


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Forget keys older than the window (they would be ignored anyway)."""
    window = timedelta(hours=settings.SHOP["IDEMPOTENCY_KEY_HOURS"])
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=(now or timezone.now()) - window).delete()
    return deleted


def order_expire_stale(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Cancel unpaid orders whose reservation lapsed, each in its own transaction.

    Only placed (unpaid) orders lapse: each is re-checked under its row lock, so an order paid or
    cancelled between the query and the lock is skipped, never cancelled.
    """
    now = now or timezone.now()
    cancelled = 0
    stale = (
        Order.objects.filter(status=Order.Status.PLACED, expires_at__lte=now)
        .order_by("expires_at", "pk")
        .values_list("pk", flat=True)[:batch_size]
    )
    for order_id in list(stale):
        try:
            _order_expire(order=Order(pk=order_id), now=now)
        except InvalidOrderState:
            continue
        cancelled += 1
    return cancelled


@transaction.atomic
def _order_expire(*, order: Order, now: datetime) -> Order:
    order = _lock_order(order, Action.EXPIRE)
    if order.expires_at is None or order.expires_at > now:
        raise InvalidOrderState(f"Order {order.number} has not lapsed.")
    _release_reservation(_outstanding_by_product(order))
    return _set_status(order, Action.EXPIRE, Order.Status.CANCELLED)


# --- Order lifecycle: payments, shipments, cancellations, returns, refunds ------------------------
# Every transition locks the order row first, then stock rows in primary-key order (as order_place
# does), and asks ``order_states`` whether the order may take it.

_VERBS = {
    Action.PAY: "paid",
    Action.SHIP: "shipped",
    Action.CANCEL: "cancelled",
    Action.CUSTOMER_CANCEL: "cancelled by the customer",
    Action.EXPIRE: "expired",
    Action.RETURN: "returned",
    Action.REFUND: "refunded",
}


class PaymentMismatch(ShopError):
    """A payment whose amount or currency is not the order's total (or a refund in another currency)."""

    def __init__(self, message: str, *, amount: Decimal, currency: str) -> None:
        self.amount, self.currency = amount, currency
        super().__init__(message)


class RefundExceedsPayments(ShopError):
    def __init__(self, *, order: Order, amount: Decimal, refundable: Decimal) -> None:
        self.amount, self.refundable = amount, refundable
        super().__init__(
            f"Order {order.number}: a refund of {amount} is more than the {refundable:.2f} "
            "paid and not yet refunded."
        )


class NothingToShip(ShopError):
    """The shipment asks for no units, units the order does not hold, or more than are left to ship."""


class ReturnRefused(ShopError):
    """The return asks for more units than were shipped and not yet returned, or gives no reason."""


def _lock_order(order: Order, action: Action) -> Order:
    locked = Order.objects.select_for_update().get(pk=order.pk)
    if not order_states.is_allowed(locked.status, action):
        raise InvalidOrderState(
            f"Order {locked.number} is {locked.get_status_display().lower()}: it cannot be {_VERBS[action]}."
        )
    return locked


def _set_status(order: Order, action: Action, target: str, *fields: str) -> Order:
    if not order_states.transition_target(status=order.status, action=action, target=target):
        raise InvalidOrderState(f"Order {order.number}: {order.status} -> {target} is not a transition.")
    order.status = target
    order.full_clean(exclude=["customer"], validate_unique=False, validate_constraints=False)
    order.save(update_fields=["status", *fields])
    return order


def _shipped_by_line(order: Order) -> dict[int, int]:
    """Units shipped per order line. A fulfilled order has shipped every unit, with or without
    shipment rows (imported orders and orders fulfilled before shipments existed have none)."""
    if order.status == Order.Status.FULFILLED:
        return dict(order.lines.values_list("pk", "quantity"))
    return dict(
        ShipmentLine.objects.filter(shipment__order=order)
        .values("order_line")
        .annotate(units=Sum("quantity"))
        .values_list("order_line", "units")
    )


def _outstanding_by_product(order: Order) -> dict[int, int]:
    """Units not yet shipped, per product: what the order still holds reserved while it is open."""
    shipped = _shipped_by_line(order)
    outstanding: dict[int, int] = defaultdict(int)
    for line_id, product_id, quantity in order.lines.values_list("pk", "product_id", "quantity"):
        left = quantity - shipped.get(line_id, 0)
        if left:
            outstanding[product_id] += left
    return dict(outstanding)


def _release_reservation(quantities: dict[int, int]) -> None:
    if not quantities:
        return
    stock = _locked_stock(quantities)
    for product_id, quantity in quantities.items():
        stock[product_id].reserved -= quantity
    StockRecord.objects.bulk_update(stock.values(), ["reserved", "updated_at"])


def _money_in(order: Order) -> tuple[Decimal, Decimal]:
    """(paid, refunded) on the order, read from the database (under the caller's order lock)."""
    paid = order.payments.aggregate(total=Sum("amount"))["total"] or Decimal("0")
    refunded = order.refunds.aggregate(total=Sum("amount"))["total"] or Decimal("0")
    return paid, refunded


def _record_refund(
    order: Order,
    *,
    amount: Decimal,
    reason: str,
    user: AbstractBaseUser | None,
    order_return: OrderReturn | None = None,
) -> Refund:
    refund = Refund(
        order=order,
        amount=amount,
        currency=settings.SHOP["CURRENCY"],
        reason=reason,
        order_return=order_return,
        created_by=user,
    )
    refund.full_clean(exclude=["order", "order_return"], validate_unique=False, validate_constraints=False)
    refund.save()
    return refund


@transaction.atomic
def order_mark_paid(
    *,
    order: Order,
    amount: Decimal,
    currency: str,
    reference: str,
    user: AbstractBaseUser | None = None,
) -> Payment:
    """Record a payment of the order's exact total: the order becomes paid and never lapses.

    Raises ``InvalidOrderState`` unless the order is placed (an order that lapsed was cancelled
    and its stock released: the money must go back), and ``PaymentMismatch`` unless ``amount``
    and ``currency`` are the order's total and the shop's currency.
    """
    order = _lock_order(order, Action.PAY)
    amount = Decimal(amount)
    expected = order_total(order)
    shop_currency = settings.SHOP["CURRENCY"]
    if amount != expected or currency.upper() != shop_currency.upper():
        raise PaymentMismatch(
            f"Order {order.number} totals {expected:.2f} {shop_currency}; "
            f"the payment is {amount} {currency}.",
            amount=amount,
            currency=currency,
        )
    payment = Payment(
        order=order,
        amount=amount,
        currency=settings.SHOP["CURRENCY"],
        reference=reference[:255],
        created_by=user,
    )
    payment.full_clean(exclude=["order"], validate_unique=False, validate_constraints=False)
    payment.save()
    order.paid_at = payment.created_at
    order.expires_at = None  # a paid order never lapses
    _set_status(order, Action.PAY, Order.Status.PAID, "paid_at", "expires_at")
    return payment


@transaction.atomic
def shipment_create(
    *, order: Order, quantities: dict[int, int] | None = None, user: AbstractBaseUser | None = None
) -> Shipment:
    """Ship units of a paid order: ``quantities`` maps product id to units (None: all still to ship).

    Each unit leaves on-hand through the ledger (reason fulfilment) and its reservation is released;
    the order is fulfilled when every unit has shipped, partly shipped until then.
    """
    order = _lock_order(order, Action.SHIP)
    outstanding = _outstanding_by_product(order)
    if quantities is None:
        wanted = dict(outstanding)
    else:
        wanted = {}
        for product_id, units in quantities.items():
            if isinstance(units, bool) or not isinstance(units, int) or units < 0:
                raise NothingToShip(f"Units to ship must be whole numbers of at least 0, got {units!r}.")
            if units == 0:
                continue
            if units > outstanding.get(product_id, 0):
                raise NothingToShip(
                    f"Order {order.number} has {outstanding.get(product_id, 0)} unit(s) of product "
                    f"{product_id} left to ship; {units} were asked for."
                )
            wanted[product_id] = units
    if not wanted:
        raise NothingToShip(f"Order {order.number}: nothing to ship.")

    stock = _locked_stock(wanted)
    products = Product.objects.in_bulk(list(wanted))
    for product_id in sorted(wanted):
        record, units = stock[product_id], wanted[product_id]
        if record.reserved < units:  # the stock check would report it; refuse rather than oversell
            raise InsufficientStock(product=products[product_id], requested=units, available=record.reserved)
        record.reserved -= units
        record.on_hand -= units
    StockRecord.objects.bulk_update(stock.values(), ["reserved", "on_hand", "updated_at"])

    sequence = (order.shipments.aggregate(last=Max("sequence"))["last"] or 0) + 1
    shipment = Shipment(order=order, sequence=sequence, created_by=user)
    shipment.full_clean(exclude=["order"], validate_unique=False, validate_constraints=False)
    shipment.save()
    shipped = _shipped_by_line(order)
    to_allocate = dict(wanted)
    shipment_lines = []
    for line in order.lines.order_by("line_number"):  # a product on two lines fills the first first
        units = min(to_allocate.get(line.product_id, 0), line.quantity - shipped.get(line.pk, 0))
        if units > 0:
            shipment_lines.append(ShipmentLine(shipment=shipment, order_line=line, quantity=units))
            to_allocate[line.product_id] -= units
    ShipmentLine.objects.bulk_create(shipment_lines)
    StockMovement.objects.bulk_create(
        StockMovement(
            product_id=product_id,
            quantity=-units,
            reason=StockMovement.Reason.FULFILMENT,
            reference=shipment.reference,
            created_by=user,
        )
        for product_id, units in sorted(wanted.items())
    )
    everything = all(outstanding[pid] == wanted.get(pid, 0) for pid in outstanding)
    _set_status(order, Action.SHIP, Order.Status.FULFILLED if everything else Order.Status.PARTLY_SHIPPED)
    return shipment


def order_fulfil(*, order: Order, user: AbstractBaseUser | None = None) -> Order:
    """Ship everything a paid order still has to ship (``shipment_create`` with no quantities)."""
    shipment = shipment_create(order=order, user=user)
    return shipment.order


@transaction.atomic
def order_cancel(*, order: Order, user: AbstractBaseUser | None = None, by_customer: bool = False) -> Order:
    """Cancel a placed or paid order and release its reservation (a customer: only an unpaid one).

    Cancelling a paid order also records a refund of what was paid and not yet refunded, and takes
    its units back out of demand (a ``Cancellation`` row per line, as an imported cancelled invoice
    has). A partly shipped or fulfilled order is not cancelled: its shipped units come back as returns.
    """
    action = Action.CUSTOMER_CANCEL if by_customer else Action.CANCEL
    order = _lock_order(order, action)
    was_paid = order.status == Order.Status.PAID
    _release_reservation(_outstanding_by_product(order))
    if was_paid:
        paid, refunded = _money_in(order)
        if paid - refunded > 0:
            _record_refund(order, amount=paid - refunded, reason=Refund.Reason.CANCELLATION, user=user)
        now = timezone.now()
        Cancellation.objects.bulk_create(
            Cancellation(
                reference=f"cancel-{order.pk}",
                line_number=line.line_number,
                kind=Cancellation.Kind.CANCELLATION,
                order_line=line,
                product_id=line.product_id,
                customer_id=order.customer_id,
                quantity=line.quantity,
                unit_price=line.unit_price,
                occurrence=line.occurrence,
                created_at=now,
            )
            for line in order.lines.all()
        )
    return _set_status(order, action, Order.Status.CANCELLED)


@transaction.atomic
def order_line_return(
    *,
    order_line: OrderLine,
    quantity: int,
    restock: bool,
    reason: str,
    user: AbstractBaseUser | None = None,
) -> OrderReturn:
    """Take back shipped units of one order line, restocked (ledger "return") or written off.

    The units leave demand (a ``Cancellation`` of kind return), and a refund of their value is
    recorded, up to what was paid and not yet refunded (imported orders carry no payment, so none).
    """
    order = _lock_order(order_line.order, Action.RETURN)
    line = OrderLine.objects.select_related("product").get(pk=order_line.pk)
    reason = (reason or "").strip()
    if not reason:
        raise ReturnRefused("A return needs a reason.")
    shipped = _shipped_by_line(order).get(line.pk, 0)
    returned = line.returns.aggregate(units=Sum("quantity"))["units"] or 0
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= shipped - returned:
        raise ReturnRefused(
            f"Line {line.line_number} of order {order.number} ({line.product.sku}) has "
            f"{shipped - returned} shipped unit(s) not yet returned; {quantity!r} cannot be returned."
        )
    order_return = OrderReturn(
        order_line=line, quantity=quantity, restock=restock, reason=reason, created_by=user
    )
    order_return.full_clean(exclude=["order_line"], validate_unique=False, validate_constraints=False)
    order_return.save()
    if restock:
        _move_stock(
            product=line.product,
            delta=quantity,
            reason=StockMovement.Reason.RETURN,
            reference=f"{order.number}/R{order_return.pk}",
            note=reason,
            user=user,
        )
    Cancellation.objects.create(
        reference=f"return-{order_return.pk}",
        line_number=1,
        kind=Cancellation.Kind.RETURN,
        order_line=line,
        product=line.product,
        customer_id=order.customer_id,
        quantity=quantity,
        unit_price=line.unit_price,
        created_at=order_return.created_at,
    )
    paid, refunded = _money_in(order)
    amount = min(quantity * line.unit_price, paid - refunded)
    if amount > 0:
        _record_refund(
            order, amount=amount, reason=Refund.Reason.RETURN, user=user, order_return=order_return
        )
    return order_return


@transaction.atomic
def payment_refund_record(
    *, order: Order, amount: Decimal, currency: str, reference: str, user: AbstractBaseUser | None = None
) -> Refund:
    """The provider refunded money on the order (``payment.refunded``).

    It confirms the oldest unconfirmed refund the shop recorded for the same amount (on cancelling or
    a return); otherwise it is a new refund, refused beyond what was paid and not yet refunded.
    """
    order = _lock_order(order, Action.REFUND)
    amount = Decimal(amount)
    shop_currency = settings.SHOP["CURRENCY"]
    if amount <= 0 or currency.upper() != shop_currency.upper():
        raise PaymentMismatch(
            f"Order {order.number} is paid in {shop_currency}; "
            f"a refund of {amount} {currency} does not apply.",
            amount=amount,
            currency=currency,
        )
    now = timezone.now()
    pending = order.refunds.filter(provider_reference="", amount=amount).order_by("created_at", "pk").first()
    if pending is not None:
        pending.provider_reference, pending.confirmed_at = reference[:255], now
        pending.save(update_fields=["provider_reference", "confirmed_at"])
        return pending
    paid, refunded = _money_in(order)
    if amount > paid - refunded:
        raise RefundExceedsPayments(order=order, amount=amount, refundable=paid - refunded)
    refund = _record_refund(order, amount=amount, reason=Refund.Reason.PROVIDER, user=user)
    refund.provider_reference, refund.confirmed_at = reference[:255], now
    refund.save(update_fields=["provider_reference", "confirmed_at"])
    return refund


class UnknownOrder(ShopError):
    """A payment event names an order number the shop does not have."""


@dataclass(frozen=True)
class PaymentEventOutcome:
    event_id: str
    duplicate: bool
    effect: str  # "paid", "refunded", or "none" for a duplicate
    order: Order | None


PAYMENT_EVENT_TYPES = ("payment.succeeded", "payment.refunded")


@transaction.atomic
def payment_event_apply(
    *, event_id: str, event_type: str, order_number: str, amount: Decimal, currency: str, payload: dict
) -> PaymentEventOutcome:
    """Apply a verified provider event once: the event id is inserted with its effect, in one transaction.

    A second delivery of the id (even concurrently: the insert waits on the unique index until the
    first commits) changes nothing. A refused event raises and rolls back, its id with it.
    """
    if event_type not in PAYMENT_EVENT_TYPES:
        raise ValueError(f"Unhandled event type {event_type!r}.")
    try:
        with transaction.atomic():  # a savepoint: the transaction stays usable after a duplicate
            event = PaymentEvent.objects.create(event_id=event_id, type=event_type, payload=payload)
    except IntegrityError:
        seen = PaymentEvent.objects.select_related("order").get(event_id=event_id)
        return PaymentEventOutcome(event_id=event_id, duplicate=True, effect="none", order=seen.order)
    order = Order.objects.filter(number=order_number).first()
    if order is None:
        raise UnknownOrder(f"No order numbered {order_number!r}.")
    if event_type == "payment.succeeded":
        order_mark_paid(order=order, amount=amount, currency=currency, reference=event_id)
        effect = "paid"
    else:
        payment_refund_record(order=order, amount=amount, currency=currency, reference=event_id)
        effect = "refunded"
    event.order = order
    event.save(update_fields=["order"])
    order.refresh_from_db()
    return PaymentEventOutcome(event_id=event_id, duplicate=False, effect=effect, order=order)


# --- Guest checkout ---------------------------------------------------------------------------


def _guest_customer(*, email: str, country: str) -> Customer:
    """The guest customer of this email (created once; a concurrent creation waits and reuses it)."""
    email = email.strip().lower()
    customer = Customer.objects.filter(user__isnull=True, email=email).first()
    if customer is not None:
        return customer
    customer = Customer(external_id=f"guest-{uuid.uuid4().hex}", email=email, country=country)
    customer.full_clean(exclude=["user"], validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError:
        customer = Customer.objects.get(user__isnull=True, email=email)
    return customer


@transaction.atomic
def guest_order_place(
    *,
    email: str,
    lines: Sequence[LineRequest],
    render: Callable[[Order], dict],
    country: str = "",
    key: str | None = None,
    fingerprint: str = "",
    max_reserved_per_product: int | None = None,
) -> IdempotentOutcome:
    """Place an order without an account: the email is kept on a guest customer, nowhere else.

    One guest customer per email, so the per-customer reservation cap and ``Idempotency-Key`` work
    as for signed-in customers. Nothing is stored (not even the email) when placement fails.
    """
    customer = _guest_customer(email=email, country=country)
    if key is not None:
        return order_place_idempotent(
            customer=customer,
            lines=lines,
            key=key,
            fingerprint=fingerprint,
            render=render,
            max_reserved_per_product=max_reserved_per_product,
        )
    order = order_place(customer=customer, lines=lines, max_reserved_per_product=max_reserved_per_product)
    return IdempotentOutcome(order_id=order.pk, status=201, body=render(order), replayed=False)


@transaction.atomic
def stock_receive(
    *,
    product: Product,
    quantity: int,
    reference: str = "",
    user: AbstractBaseUser | None = None,
) -> StockRecord:
    """Add received units to stock (a delivery, e.g. a purchase order)."""
    if quantity <= 0:
        raise ValueError(f"Received quantity must be positive, got {quantity}.")
    return _move_stock(
        product=product, delta=quantity, reason=StockMovement.Reason.RECEIPT, reference=reference, user=user
    )


@transaction.atomic
def stock_adjust(
    *,
    product: Product,
    delta: int,
    reason: StockMovement.Reason | str = StockMovement.Reason.ADJUSTMENT,
    note: str = "",
    reference: str = "",
    user: AbstractBaseUser | None = None,
) -> StockRecord:
    """Correct on-hand stock (damage, stocktake, returns to stock). Never below what is reserved."""
    if delta == 0:
        raise ValueError("An adjustment must change stock.")
    if not note and reason == StockMovement.Reason.ADJUSTMENT:
        raise ValueError("A manual adjustment needs a note saying why.")
    return _move_stock(product=product, delta=delta, reason=reason, reference=reference, note=note, user=user)


def _move_stock(
    *,
    product: Product,
    delta: int,
    reason: str,
    reference: str = "",
    note: str = "",
    user: AbstractBaseUser | None = None,
) -> StockRecord:
    record = _locked_stock([product.pk])[product.pk]
    if record.on_hand + delta < record.reserved:
        raise InsufficientStock(product=product, requested=-delta, available=record.available)
    record.on_hand += delta
    record.save(update_fields=["on_hand", "updated_at"])
    StockMovement.objects.create(
        product=product, quantity=delta, reason=reason, reference=reference, note=note[:255], created_by=user
    )
    return record


@transaction.atomic
def stock_set_levels(
    *, levels: dict[int, int], reason: str = StockMovement.Reason.STOCKTAKE, note: str = ""
) -> int:
    """Set on-hand stock for many products at once (stocktake, demo seeding), recording the differences."""
    stock = _locked_stock(levels)
    movements = []
    for product_id, target in levels.items():
        record = stock[product_id]
        if target < record.reserved:
            raise ValueError(
                f"Product {product_id}: stock {target} would be below the {record.reserved} reserved."
            )
        if target != record.on_hand:
            movements.append(
                StockMovement(
                    product_id=product_id, quantity=target - record.on_hand, reason=reason, note=note
                )
            )
            record.on_hand = target
    StockRecord.objects.bulk_update(stock.values(), ["on_hand", "updated_at"])
    StockMovement.objects.bulk_create(movements)
    return len(movements)


def order_total(order: Order) -> Decimal:
    """The order's value: sum of quantity x unit price (uses prefetched lines when there are)."""
    return sum((line.quantity * line.unit_price for line in order.lines.all()), Decimal("0"))


# --- Accounts -------------------------------------------------------------------------------------


class SignUpRefused(ShopError):
    """The account cannot be created; ``errors`` maps fields to messages, like a form."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()))


class UsernameTaken(ShopError):
    """Another account has this username (compared case-insensitively)."""


@transaction.atomic
def customer_sign_up(*, username: str, password: str, email: str = "", country: str = "") -> Customer:
    """Create a login and its shop customer, checking the password with Django's validators."""
    user_model = get_user_model()
    user = user_model(username=username, email=email)
    errors: dict[str, list[str]] = {}
    try:
        user.full_clean(exclude=["password"], validate_unique=False)
    except ValidationError as exc:
        errors.update({field: list(messages) for field, messages in exc.message_dict.items()})
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise SignUpRefused(errors)
    if user_model.objects.filter(username__iexact=username).exists():
        raise UsernameTaken("That username is taken.")
    user.set_password(password)
    try:
        # A savepoint, so a racing sign-up with the same name leaves this transaction usable.
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise UsernameTaken("That username is taken.") from None
    customer = Customer(external_id=f"user-{user.pk}", user=user, country=country)
    customer.full_clean()
    customer.save()
    return customer


class ProductInUse(ShopError):
    """A product with sales, returns, stock or a stock history is kept for the record: deactivate it."""


@transaction.atomic
def product_deactivate(*, product: Product) -> Product:
    """Stop selling and recommending a product, keeping its history, stock and ledger."""
    product = Product.objects.select_for_update().get(pk=product.pk)
    if product.active:
        product.active = False
        product.save(update_fields=["active"])
    return product


@transaction.atomic
def product_delete(*, product: Product) -> None:
    """Delete a product that never mattered (no sale, return, stock or ledger row); otherwise refuse.

    Its empty stock record goes with it. The database protects the rest: deleting around this
    service raises ``ProtectedError`` instead of silently removing stock and ledger rows.
    """
    stock = StockRecord.objects.select_for_update().filter(product=product).first()
    uses = {
        "order lines": product.order_lines.exists(),
        "cancellations or returns": product.cancellations.exists(),
        "stock movements": product.stock_movements.exists(),
        "stock on hand or reserved": stock is not None and (stock.on_hand != 0 or stock.reserved != 0),
    }
    found = [name for name, used in uses.items() if used]
    if found:
        raise ProductInUse(
            f"Product {product.sku} has {', '.join(found)}; it is kept for the record. Deactivate it instead."
        )
    if stock is not None:
        stock.delete()
    product.delete()
