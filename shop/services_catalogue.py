"""Writes behind the storefront's catalogue endpoints: star ratings, product events, popularity.

Kept apart from ``shop.services`` (orders and stock) so the two grow without stepping on each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from .models import (
    Cancellation,
    Category,
    Customer,
    OrderLine,
    Product,
    ProductEvent,
    Rating,
    category_ancestors,
    category_path,
)

HALF = Decimal("0.5")


class ProductNotAvailable(Exception):
    """An unknown or inactive product: callers answer without naming it."""


def _check_stars(stars: Decimal) -> Decimal:
    stars = Decimal(stars)
    if not (HALF <= stars <= Decimal("5")) or stars % HALF != 0:
        raise ValidationError({"stars": "Stars go from 0.5 to 5 in half steps."})
    return stars


@transaction.atomic
def rating_set(*, customer: Customer, product_id: int, stars: Decimal) -> tuple[Rating, bool]:
    """Create or replace the customer's rating of an active product; returns (rating, created)."""
    stars = _check_stars(stars)
    if not Product.objects.active().filter(pk=product_id).exists():
        raise ProductNotAvailable
    rating = Rating.objects.select_for_update().filter(customer=customer, product_id=product_id).first()
    created = rating is None
    if created:
        rating = Rating(customer=customer, product_id=product_id)
    rating.stars = stars
    rating.rated_at = timezone.now()
    rating.full_clean(validate_unique=False, validate_constraints=False)
    rating.save()
    return rating, created


@transaction.atomic
def rating_delete(*, customer: Customer, product_id: int) -> bool:
    """Remove the customer's rating of a product; False when there was none."""
    deleted, _ = Rating.objects.filter(customer=customer, product_id=product_id).delete()
    return deleted > 0


@dataclass(frozen=True)
class EventRequest:
    kind: str
    product_id: int
    quantity: int = 1


def product_events_record(
    *, events: Sequence[EventRequest], session_id: str, customer: Customer | None = None
) -> int:
    """Store a batch of storefront events with one insert; every product must be active.

    The session id is kept even for a signed-in customer, so views made before signing in can be
    joined to the customer later. Raises ``ProductNotAvailable`` carrying the indexes of the
    offending events (never the products' names).
    """
    if not session_id:
        raise ValidationError({"session_id": "A session id is required."})
    wanted = {event.product_id for event in events}
    active = set(Product.objects.active().filter(pk__in=wanted).values_list("pk", flat=True))
    bad = [index for index, event in enumerate(events) if event.product_id not in active]
    if bad:
        raise ProductNotAvailable(bad)
    now = timezone.now()
    rows = ProductEvent.objects.bulk_create(
        ProductEvent(
            kind=event.kind,
            product_id=event.product_id,
            customer=customer,
            session_id=session_id,
            quantity=event.quantity,
            occurred_at=now,
        )
        for event in events
    )
    return len(rows)


@transaction.atomic
def product_popularity_refresh() -> int:
    """Recompute every product's stored ``units_sold`` in one statement; returns the rows updated.

    Units on orders that were paid, minus units cancelled or returned: the same net figure demand
    forecasting counts, so "popular" means what the shop actually sold.
    """
    sold = (
        OrderLine.objects.of_paid_orders()  # demand = paid orders, as in inventory's demand series
        .filter(product=OuterRef("pk"))
        .order_by()
        .values("product")
        .annotate(units=Sum("quantity"))
        .values("units")
    )
    cancelled = (
        Cancellation.objects.filter(product=OuterRef("pk"))
        .order_by()
        .values("product")
        .annotate(units=Sum("quantity"))
        .values("units")
    )
    net = Coalesce(Subquery(sold), Value(0)) - Coalesce(Subquery(cancelled), Value(0))
    # Cancellations of sales older than the data can outnumber the sales seen: floor at zero.
    return Product.objects.update(units_sold=Greatest(net, Value(0)))


@transaction.atomic
def category_paths_ensure(*, paths: Iterable[str]) -> tuple[dict[str, int], int]:
    """The ids of these category paths, creating every missing one and its ancestors (parents first).

    Paths are stored normalised (``category_path``); a stored category of that name without its parent
    (made by hand, or by an older import) gets it. Returns ``({path: id}, categories created)``.
    """
    wanted = {category_path(path) for path in paths} - {""}
    every = set(wanted)
    for path in wanted:
        every.update(category_ancestors(path))
    ordered = sorted(every, key=lambda path: (path.count(" > "), path))
    stored = {
        name: (pk, parent_id)
        for name, pk, parent_id in Category.objects.filter(name__in=ordered).values_list(
            "name", "pk", "parent_id"
        )
    }
    created = 0
    ids: dict[str, int] = {name: pk for name, (pk, _) in stored.items()}
    for depth in sorted({path.count(" > ") for path in ordered}):
        level = [path for path in ordered if path.count(" > ") == depth]
        missing = []
        for path in level:
            ancestors = category_ancestors(path)
            parent_id = ids[ancestors[-1]] if ancestors else None
            if path not in stored:
                category = Category(name=path, parent_id=parent_id)
                category.full_clean(validate_unique=False, validate_constraints=False)
                missing.append(category)
            elif stored[path][1] != parent_id:
                Category.objects.filter(pk=stored[path][0]).update(parent_id=parent_id)
        Category.objects.bulk_create(missing)
        created += len(missing)
        ids.update(Category.objects.filter(name__in=[c.name for c in missing]).values_list("name", "pk"))
    return {path: ids[path] for path in wanted}, created


@transaction.atomic
def category_create(*, name: str) -> Category:
    """One category by its path ("Home > Kitchen"), with its missing ancestors (the admin's add form)."""
    path = category_path(name)
    if not path:
        raise ValidationError({"name": "A category needs a name."})
    ids, _ = category_paths_ensure(paths=[path])
    return Category.objects.get(pk=ids[path])
