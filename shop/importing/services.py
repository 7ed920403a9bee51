"""Writing import plans: bulk inserts inside one transaction, matched on natural keys.

Rows that already exist (product sku, customer external id, order number,
order number + line number, cancellation reference + line number, rating
customer + product) are counted as already present and left alone, so a second
run of the same file writes nothing. Per-row ``full_clean`` would cost minutes on
the full data, so imported values are validated column-wise by the planners and
only the few thousand catalogue, customer and order rows go through
``full_clean`` (without the per-row uniqueness queries that bulk matching replaces).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import numpy as np
import pandas as pd
from django.db import models, transaction

from shop.models import Cancellation, Category, Customer, Order, OrderLine, Product, Rating

from .ratings import RatingsPlan
from .transactions import TransactionPlan, link_cancellations

LOOKUP_CHUNK = 2000  # keeps `IN (...)` lists well under SQLite's bound-parameter limit


class Progress(Protocol):
    """What the services need from a progress bar (tqdm fits)."""

    def reset(self, total: int | None = None) -> None: ...

    def update(self, n: float | None = 1) -> bool | None: ...


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _lookup(model: type[models.Model], field_name: str, values: Iterable[Any], *extra: str) -> dict[Any, Any]:
    """``{natural key: pk}`` (or ``{key: (pk, *extra)}``) for the given keys, in chunked queries."""
    keys = list(dict.fromkeys(values))
    found: dict[Any, Any] = {}
    for chunk in _chunks(keys, LOOKUP_CHUNK):
        for row in model.objects.filter(**{f"{field_name}__in": chunk}).values_list(field_name, "pk", *extra):
            found[row[0]] = row[1] if not extra else row[1:]
    return found


def _money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def _bulk_insert(model: type[models.Model], objects: list[models.Model], batch_size: int, progress) -> None:
    for batch in _chunks(objects, batch_size):
        model.objects.bulk_create(batch, batch_size=batch_size)
        if progress is not None:
            progress.update(len(batch))


@dataclass
class TransactionImportResult:
    rows_read: int
    lines_created: int = 0
    lines_present: int = 0
    cancellations_created: int = 0
    cancellations_present: int = 0
    cancellations_linked: int = 0
    products_created: int = 0
    customers_created: int = 0
    orders_created: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    @property
    def rows_accounted(self) -> int:
        return (
            self.lines_created
            + self.lines_present
            + self.cancellations_created
            + self.cancellations_present
            + sum(self.rejected.values())
        )


def _existing_sales(customer_ids: dict[str, int], skus: dict[str, int], until) -> pd.DataFrame:
    """Order lines already in the database for these customers and products, for linking cancellations."""
    customer_of = {pk: external_id for external_id, pk in customer_ids.items()}
    sku_of = {pk: sku for sku, pk in skus.items()}
    rows: list[tuple] = []
    for chunk in _chunks(list(customer_of), LOOKUP_CHUNK):
        rows.extend(
            OrderLine.objects.filter(
                order__customer_id__in=chunk, product_id__in=list(sku_of), order__placed_at__lte=until
            ).values_list(
                "order__customer_id", "product_id", "order__placed_at", "order__number", "line_number"
            )
        )
    frame = pd.DataFrame(rows, columns=["customer_id", "product_id", "placed_at", "number", "line_number"])
    return pd.DataFrame(
        {
            "external_id": frame["customer_id"].map(customer_of),
            "sku": frame["product_id"].map(sku_of),
            "placed_at": pd.to_datetime(frame["placed_at"], utc=True),
            "number": frame["number"],
            "line_number": frame["line_number"],
        }
    )


def _rows(frame: pd.DataFrame, *columns: str) -> Iterator[tuple]:
    """The frame's values as plain Python tuples: much faster than ``itertuples`` for building models."""
    return zip(*(frame[column].tolist() for column in columns), strict=True)


def _customer_id(customer_ids: dict[str, int], external_id: Any) -> int | None:
    return customer_ids[external_id] if isinstance(external_id, str) else None  # NaN or None: a guest


def _not_present(
    frame: pd.DataFrame, key_columns: tuple[str, str], present: set[tuple[str, int]]
) -> pd.DataFrame:
    keys = _rows(frame.astype({key_columns[1]: "int64"}), *key_columns)
    return frame[np.fromiter((key not in present for key in keys), bool, len(frame))]


def _present_line_keys(order_ids: dict[str, int]) -> set[tuple[str, int]]:
    """``(order number, line number)`` of the lines already stored for these orders."""
    number_of = {pk: number for number, pk in order_ids.items()}
    present: set[tuple[str, int]] = set()
    for chunk in _chunks(list(number_of), LOOKUP_CHUNK):
        rows = OrderLine.objects.filter(order_id__in=chunk).values_list("order_id", "line_number")
        present.update((number_of[order_id], line_number) for order_id, line_number in rows)
    return present


def _present_cancellation_keys(references: list[str]) -> set[tuple[str, int]]:
    present: set[tuple[str, int]] = set()
    for chunk in _chunks(references, LOOKUP_CHUNK):
        present.update(
            Cancellation.objects.filter(reference__in=chunk).values_list("reference", "line_number")
        )
    return present


def _order_line_ids(order_ids: dict[str, int], numbers: list[str]) -> dict[tuple[str, int], int]:
    """``{(order number, line number): pk}`` for every line of these orders, imported now or earlier."""
    order_ids.update(_lookup(Order, "number", [number for number in numbers if number not in order_ids]))
    number_of = {order_ids[number]: number for number in numbers}
    line_ids: dict[tuple[str, int], int] = {}
    for chunk in _chunks(list(number_of), LOOKUP_CHUNK):
        for order_id, line_number, pk in OrderLine.objects.filter(order_id__in=chunk).values_list(
            "order_id", "line_number", "pk"
        ):
            line_ids[(number_of[order_id], line_number)] = pk
    return line_ids


@transaction.atomic
def transactions_import(
    *, plan: TransactionPlan, progress: Progress | None = None, batch_size: int = 5000
) -> TransactionImportResult:
    """Write a planned Online Retail import; rows already present are counted, not written again."""
    result = TransactionImportResult(rows_read=plan.rows_read, rejected=dict(plan.reason_counts))
    validation = {"validate_unique": False, "validate_constraints": False}

    product_ids = _lookup(Product, "sku", plan.products["sku"])
    new_products = [
        Product(sku=sku, name=name, price=_money(price))
        for sku, name, price in _rows(plan.products, "sku", "name", "price")
        if sku not in product_ids
    ]
    for product in new_products:
        product.full_clean(exclude=["category"], **validation)
    customer_ids = _lookup(Customer, "external_id", plan.customers["external_id"])
    new_customers = [
        Customer(external_id=external_id, country=country[:64])
        for external_id, country in _rows(plan.customers, "external_id", "country")
        if external_id not in customer_ids
    ]
    for customer in new_customers:
        customer.full_clean(exclude=["user"], **validation)
    order_ids = _lookup(Order, "number", plan.orders["number"])
    new_order_rows = plan.orders[~plan.orders["number"].isin(order_ids)]
    new_lines = _not_present(plan.lines, ("number", "line_number"), _present_line_keys(order_ids))
    references = plan.cancellations["reference"].unique().tolist()
    new_cancellations = _not_present(
        plan.cancellations, ("reference", "line_number"), _present_cancellation_keys(references)
    )

    if progress is not None:
        to_write = [new_products, new_customers, new_order_rows, new_lines, new_cancellations]
        progress.reset(total=sum(len(rows) for rows in to_write))
    _bulk_insert(Product, new_products, batch_size, progress)
    product_ids.update(_lookup(Product, "sku", [product.sku for product in new_products]))
    _bulk_insert(Customer, new_customers, batch_size, progress)
    customer_ids.update(
        _lookup(Customer, "external_id", [customer.external_id for customer in new_customers])
    )
    result.products_created, result.customers_created = len(new_products), len(new_customers)

    new_orders = [
        Order(
            number=number,
            customer_id=_customer_id(customer_ids, external_id),
            placed_at=placed_at.to_pydatetime(),
            status=Order.Status.FULFILLED,
            country=country[:64],
        )
        for number, external_id, placed_at, country in _rows(
            new_order_rows, "number", "external_id", "placed_at", "country"
        )
    ]
    for order in new_orders:
        order.full_clean(exclude=["customer"], **validation)
    _bulk_insert(Order, new_orders, batch_size, progress)
    order_ids.update(_lookup(Order, "number", [order.number for order in new_orders]))
    result.orders_created = len(new_orders)

    line_objects = [
        OrderLine(
            order_id=order_ids[number],
            line_number=line_number,
            product_id=product_ids[sku],
            quantity=quantity,
            unit_price=_money(price),
        )
        for number, line_number, sku, quantity, price in _rows(
            new_lines, "number", "line_number", "sku", "quantity", "unit_price"
        )
    ]
    _bulk_insert(OrderLine, line_objects, batch_size, progress)
    result.lines_created, result.lines_present = len(line_objects), len(plan.lines) - len(line_objects)

    if not new_cancellations.empty:
        new_cancellations = _relink_with_database(new_cancellations, plan, customer_ids, product_ids)
    linked_numbers = new_cancellations["linked_number"].dropna().unique().tolist()
    line_ids = _order_line_ids(order_ids, linked_numbers)
    cancellation_objects = [
        Cancellation(
            reference=row["reference"],
            line_number=row["line_number"],
            kind=Cancellation.Kind.CANCELLATION,
            order_line_id=(
                line_ids[(row["linked_number"], int(row["linked_line_number"]))]
                if isinstance(row["linked_number"], str)
                else None
            ),
            product_id=product_ids[row["sku"]],
            customer_id=_customer_id(customer_ids, row["external_id"]),
            quantity=row["quantity"],
            unit_price=_money(row["unit_price"]),
            created_at=row["created_at"].to_pydatetime(),
        )
        for row in new_cancellations.to_dict("records")  # a few thousand rows: clarity over speed
    ]
    _bulk_insert(Cancellation, cancellation_objects, batch_size, progress)
    result.cancellations_created = len(cancellation_objects)
    result.cancellations_present = len(plan.cancellations) - len(cancellation_objects)
    result.cancellations_linked = sum(1 for c in cancellation_objects if c.order_line_id is not None)
    return result


def _relink_with_database(
    cancellations: pd.DataFrame,
    plan: TransactionPlan,
    customer_ids: dict[str, int],
    product_ids: dict[str, int],
) -> pd.DataFrame:
    """Link again with sales from earlier imports too, so a file of returns finds last month's orders."""
    with_customer = cancellations[cancellations["external_id"].notna()]
    if with_customer.empty:
        return cancellations
    customers = {eid: customer_ids[eid] for eid in with_customer["external_id"].unique()}
    skus = {sku: product_ids[sku] for sku in with_customer["sku"].unique()}
    earlier = _existing_sales(customers, skus, with_customer["created_at"].max().to_pydatetime())
    if earlier.empty:
        return cancellations
    earlier["placed_at"] = earlier["placed_at"].dt.tz_convert(plan.lines["placed_at"].dt.tz)
    sales = pd.concat([plan.lines, earlier], ignore_index=True).drop_duplicates(["number", "line_number"])
    return link_cancellations(cancellations.drop(columns=["linked_number", "linked_line_number"]), sales)


@dataclass
class RatingsImportResult:
    rows_read: int
    ratings_created: int = 0
    ratings_updated: int = 0
    ratings_present: int = 0
    products_created: int = 0
    products_updated: int = 0
    customers_created: int = 0
    categories_created: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    @property
    def rows_accounted(self) -> int:
        return (
            self.ratings_created + self.ratings_updated + self.ratings_present + sum(self.rejected.values())
        )


@transaction.atomic
def ratings_import(
    *, plan: RatingsPlan, progress: Progress | None = None, batch_size: int = 5000
) -> RatingsImportResult:
    """Write a planned MovieLens import: movies as products, users as customers, ratings as ratings.

    Movies and ratings already present are updated only where the file differs.
    """
    result = RatingsImportResult(rows_read=plan.rows_read, rejected=dict(plan.reason_counts))

    category_ids = _lookup(Category, "name", plan.movies["category"].dropna())
    new_categories = [
        Category(name=name) for name in plan.movies["category"].dropna().unique() if name not in category_ids
    ]
    for category in new_categories:
        category.full_clean(validate_unique=False, validate_constraints=False)

    existing_products = _lookup(Product, "sku", plan.movies["sku"], "name", "description", "category__name")
    new_products, changed_products = [], []
    for sku, name, description, category in _rows(plan.movies, "sku", "name", "description", "category"):
        category = category if isinstance(category, str) else None
        if sku in existing_products:
            pk, old_name, old_description, old_category = existing_products[sku]
            if (old_name, old_description, old_category) != (name, description, category):
                changed_products.append((pk, name, description, category))
            continue
        product = Product(sku=sku, name=name, description=description)
        product.full_clean(exclude=["category"], validate_unique=False, validate_constraints=False)
        new_products.append((product, category))

    customer_ids = _lookup(Customer, "external_id", plan.users["external_id"])
    new_customers = [
        Customer(external_id=external_id)
        for external_id in plan.users["external_id"]
        if external_id not in customer_ids
    ]
    for customer in new_customers:
        customer.full_clean(exclude=["user"], validate_unique=False, validate_constraints=False)

    if progress is not None:
        progress.reset(
            total=len(new_categories)
            + len(new_products)
            + len(changed_products)
            + len(new_customers)
            + len(plan.ratings)
        )
    _bulk_insert(Category, new_categories, batch_size, progress)
    result.categories_created = len(new_categories)
    if new_categories:
        category_ids.update(_lookup(Category, "name", [category.name for category in new_categories]))
    for product, category in new_products:
        product.category_id = category_ids.get(category)
    _bulk_insert(Product, [product for product, _ in new_products], batch_size, progress)
    result.products_created = len(new_products)
    updates = [
        Product(pk=pk, name=name, description=description, category_id=category_ids.get(category))
        for pk, name, description, category in changed_products
    ]
    for batch in _chunks(updates, batch_size):
        Product.objects.bulk_update(batch, ["name", "description", "category"])
        if progress is not None:
            progress.update(len(batch))
    result.products_updated = len(updates)
    _bulk_insert(Customer, new_customers, batch_size, progress)
    result.customers_created = len(new_customers)

    product_ids = _lookup(Product, "sku", plan.movies["sku"])
    customer_ids.update(_lookup(Customer, "external_id", [c.external_id for c in new_customers]))

    ratings = plan.ratings.assign(
        customer_id=plan.ratings["external_id"].map(customer_ids),
        product_id=plan.ratings["sku"].map(product_ids),
    )
    existing: dict[tuple[int, int], tuple[int, Decimal, Any]] = {}
    for chunk in _chunks(ratings["customer_id"].unique().tolist(), LOOKUP_CHUNK // 4):
        for pk, customer_id, product_id, stars, rated_at in Rating.objects.filter(
            customer_id__in=chunk
        ).values_list("pk", "customer_id", "product_id", "stars", "rated_at"):
            existing[(customer_id, product_id)] = (pk, stars, rated_at)
    to_create, to_update = [], []
    for customer_id, product_id, stars, rated_at in _rows(
        ratings, "customer_id", "product_id", "stars", "rated_at"
    ):
        stars = Decimal(f"{stars:.1f}")
        old = existing.get((customer_id, product_id))
        if old is None:
            to_create.append(
                Rating(customer_id=customer_id, product_id=product_id, stars=stars, rated_at=rated_at)
            )
        elif (old[1], old[2]) != (stars, rated_at):
            to_update.append(Rating(pk=old[0], stars=stars, rated_at=rated_at))
    _bulk_insert(Rating, to_create, batch_size, progress)
    for batch in _chunks(to_update, batch_size):
        Rating.objects.bulk_update(batch, ["stars", "rated_at"])
        if progress is not None:
            progress.update(len(batch))
    unchanged = len(ratings) - len(to_create) - len(to_update)
    if progress is not None:
        progress.update(unchanged)
    result.ratings_created, result.ratings_updated, result.ratings_present = (
        len(to_create),
        len(to_update),
        unchanged,
    )
    return result
