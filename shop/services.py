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
from django.db.models import Sum
from django.utils import timezone

from .models import Customer, IdempotencyKey, Order, OrderLine, Product, StockMovement, StockRecord


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
    return {record.product_id: record for record in records}


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
    """Cancel open orders whose reservation lapsed, each through ``order_cancel`` (its own transaction).

    An order fulfilled or cancelled meanwhile is skipped: ``order_cancel`` re-checks the state under
    the row lock, so the sweep never races a fulfilment into a double release.
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
            order_cancel(order=Order(pk=order_id))
        except InvalidOrderState:
            continue
        cancelled += 1
    return cancelled


def _order_quantities(order: Order) -> dict[int, int]:
    quantities: dict[int, int] = defaultdict(int)
    for product_id, quantity in order.lines.values_list("product_id", "quantity"):
        quantities[product_id] += quantity
    return quantities


def _lock_order(order: Order, expected: Order.Status) -> Order:
    locked = Order.objects.select_for_update().get(pk=order.pk)
    if locked.status != expected:
        raise InvalidOrderState(f"Order {locked.number} is {locked.status}, not {expected}.")
    return locked


@transaction.atomic
def order_cancel(*, order: Order) -> Order:
    """Cancel a placed order and release its reservation."""
    order = _lock_order(order, Order.Status.PLACED)
    quantities = _order_quantities(order)
    stock = _locked_stock(quantities)
    for product_id, quantity in quantities.items():
        stock[product_id].reserved -= quantity
    StockRecord.objects.bulk_update(stock.values(), ["reserved", "updated_at"])
    order.status = Order.Status.CANCELLED
    order.save(update_fields=["status"])
    return order


@transaction.atomic
def order_fulfil(*, order: Order, user: AbstractBaseUser | None = None) -> Order:
    """Ship a placed order: its reserved units leave the warehouse and the ledger records it."""
    order = _lock_order(order, Order.Status.PLACED)
    quantities = _order_quantities(order)
    stock = _locked_stock(quantities)
    for product_id, quantity in quantities.items():
        stock[product_id].reserved -= quantity
        stock[product_id].on_hand -= quantity
    StockRecord.objects.bulk_update(stock.values(), ["reserved", "on_hand", "updated_at"])
    StockMovement.objects.bulk_create(
        StockMovement(
            product_id=product_id,
            quantity=-quantity,
            reason=StockMovement.Reason.FULFILMENT,
            reference=order.number,
            created_by=user,
        )
        for product_id, quantity in quantities.items()
    )
    order.status = Order.Status.FULFILLED
    order.save(update_fields=["status"])
    return order


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
