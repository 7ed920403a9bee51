"""Writing import plans: bulk inserts inside one transaction, matched on natural keys.

Rows that already exist (product sku, customer external id, order number, order
line and cancellation by content: document, product, quantity, price and
occurrence; rating customer + product) are counted as already present and left
alone, so a second run of the same file, or of any file overlapping it, writes
nothing twice. Per-row ``full_clean`` would cost minutes on the full data, so
imported values are validated column-wise by the planners and only the few
thousand catalogue, customer and order rows go through ``full_clean`` (without
the per-row uniqueness queries that bulk matching replaces).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import numpy as np
import pandas as pd
from django.db import connection, models, transaction

from shop.models import Cancellation, Category, Customer, Order, OrderLine, Product, Rating

from .ratings import RatingsPlan
from .transactions import Reason, TransactionPlan

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
    lines_conflicting: int = 0
    cancellations_created: int = 0
    cancellations_present: int = 0
    cancellations_conflicting: int = 0
    cancellations_linked: int = 0
    products_created: int = 0
    customers_created: int = 0
    orders_created: int = 0
    orders_moved_earlier: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # plan reasons and conflicts found here
    conflicts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["row", "reason", "detail"]))

    @property
    def rows_accounted(self) -> int:
        return (
            self.lines_created
            + self.lines_present
            + self.cancellations_created
            + self.cancellations_present
            + sum(self.rejected.values())
        )


PARKED = 1_000_000  # line numbers are moved above any real one while a document is renumbered
NO_CONFLICTS = ["row", "reason", "detail"]


def _rows(frame: pd.DataFrame, *columns: str) -> Iterator[tuple]:
    """The frame's values as plain Python tuples: much faster than ``itertuples`` for building models."""
    return zip(*(frame[column].tolist() for column in columns), strict=True)


def _customer_id(customer_ids: dict[str, int], external_id: Any) -> int | None:
    return customer_ids[external_id] if isinstance(external_id, str) else None  # NaN or None: a guest


def _guest_or(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _cents(value: Decimal) -> int:
    return int(value * 100)


def _stored_lines(numbers: list[str]) -> pd.DataFrame:
    """Every stored line of these orders, with its content key."""
    rows: list[tuple] = []
    for chunk in _chunks(numbers, LOOKUP_CHUNK):
        rows.extend(
            OrderLine.objects.filter(order__number__in=chunk).values_list(
                "pk", "order__number", "product__sku", "quantity", "unit_price", "occurrence", "line_number"
            )
        )
    columns = ["pk", "number", "sku", "quantity", "unit_price", "occurrence", "line_number"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["cents"] = [_cents(price) for price in frame["unit_price"]]
    return frame.drop(columns=["unit_price"])


def _stored_cancellations(references: list[str]) -> pd.DataFrame:
    rows: list[tuple] = []
    for chunk in _chunks(references, LOOKUP_CHUNK):
        rows.extend(
            Cancellation.objects.filter(reference__in=chunk).values_list(
                "pk",
                "reference",
                "product__sku",
                "quantity",
                "unit_price",
                "occurrence",
                "line_number",
                "customer__external_id",
                "created_at",
            )
        )
    columns = ["pk", "reference", "sku", "quantity", "unit_price", "occurrence", "line_number"]
    frame = pd.DataFrame(rows, columns=[*columns, "external_id", "created_at"])
    frame["cents"] = [_cents(price) for price in frame["unit_price"]]
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    return frame.drop(columns=["unit_price"])


def _keys(frame: pd.DataFrame, document: str) -> list[tuple]:
    return list(_rows(frame, document, "sku", "quantity", "cents", "occurrence"))


def _who(external_id: str | None, country: str | None = None) -> str:
    where = f" in {country or '(no country)'}" if country is not None else ""
    return f"customer {external_id or '(guest)'}{where}"


def _order_conflicts(plan: TransactionPlan) -> tuple[dict[str, tuple[int, Any]], pd.DataFrame]:
    """Stored orders of the plan's invoices (``{number: (pk, placed_at)}``) and the lines contradicting them.

    An invoice number names one purchase: if it is stored for another customer or country, the
    file's lines for it are a different purchase under the same number, rejected rather than merged.
    """
    stored: dict[str, tuple[int, Any]] = {}
    owners: dict[str, tuple[str | None, str]] = {}
    for chunk in _chunks(plan.orders["number"].tolist(), LOOKUP_CHUNK):
        for number, pk, external_id, country, placed_at in Order.objects.filter(number__in=chunk).values_list(
            "number", "pk", "customer__external_id", "country", "placed_at"
        ):
            stored[number] = (pk, placed_at)
            owners[number] = (external_id, country)
    detail: dict[str, str] = {}
    mine = plan.orders[plan.orders["number"].isin(owners)]
    for number, external_id, country in _rows(mine, "number", "external_id", "country"):
        if (_guest_or(external_id), country) != owners[number]:
            del stored[number]
            detail[number] = (
                f"invoice {number} is stored for {_who(*owners[number])}; "
                f"this row is for {_who(_guest_or(external_id), country)}"
            )
    clash = plan.lines[plan.lines["number"].isin(detail)]
    conflicts = pd.DataFrame(
        {
            "row": clash["row"].to_numpy(),
            "reason": str(Reason.CONFLICTING_ORDER),
            "detail": clash["number"].map(detail).to_numpy(),
        },
        columns=NO_CONFLICTS,
    )
    return stored, conflicts


def _cancellation_conflicts(cancellations: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """Rows (row, reason, detail) whose key is stored with another customer or time, or whose
    reference is stored for another customer."""
    if stored.empty or cancellations.empty:
        return pd.DataFrame(columns=NO_CONFLICTS)
    by_key = dict(zip(_keys(stored, "reference"), _rows(stored, "external_id", "created_at"), strict=True))
    first_rows = stored.drop_duplicates("reference")  # not groupby.first(), which skips guests' None
    reference_owner = {ref: _guest_or(owner) for ref, owner in _rows(first_rows, "reference", "external_id")}
    found: list[tuple[int, str, str]] = []
    reason = str(Reason.CONFLICTING_CANCELLATION)
    for key, row, external_id, created_at in zip(
        _keys(cancellations, "reference"),
        cancellations["row"].tolist(),
        cancellations["external_id"].tolist(),
        cancellations["created_at"].tolist(),
        strict=True,
    ):
        external_id, reference = _guest_or(external_id), key[0]
        if key in by_key:
            theirs = (_guest_or(by_key[key][0]), by_key[key][1])
            if theirs != (external_id, created_at):
                found.append(
                    (
                        row,
                        reason,
                        f"{reference}: this line is stored for {_who(theirs[0])} at {theirs[1]}; "
                        f"this row is for {_who(external_id)} at {created_at}",
                    )
                )
        elif reference in reference_owner and reference_owner[reference] != external_id:
            found.append(
                (
                    row,
                    reason,
                    f"{reference} is stored for {_who(reference_owner[reference])}; "
                    f"this row is for {_who(external_id)}",
                )
            )
    return pd.DataFrame(found, columns=NO_CONFLICTS)


def _content_numbers(
    model: type[models.Model], document: str, stored: pd.DataFrame, new: pd.DataFrame
) -> tuple[list[int], list[tuple[int, int]]]:
    """Line numbers in content order for documents that had lines stored and gain new ones.

    Returns the final number of each ``new`` row, and (pk, final number) of the stored lines whose
    number changes: those are parked above ``PARKED`` now and must get their final number
    (``set_line_numbers``) after the new lines are inserted, so no two lines of a document ever
    share a number.
    """
    combined = pd.concat(
        [stored.assign(is_new=False, position=-1), new.assign(is_new=True, position=np.arange(len(new)))],
        ignore_index=True,
    )
    combined["final"] = (
        combined.sort_values([document, "sku", "quantity", "cents", "occurrence"], kind="stable")
        .groupby(document, sort=False)
        .cumcount()
        .reindex(combined.index)
        + 1
    )
    moved = combined[~combined["is_new"] & (combined["final"] != combined["line_number"])]
    finals = [(int(pk), int(final)) for pk, final in _rows(moved, "pk", "final")]
    set_line_numbers(model, [(pk, PARKED + final) for pk, final in finals])
    fresh = combined[combined["is_new"]].sort_values("position")
    return fresh["final"].astype(int).tolist(), finals


def set_line_numbers(model: type[models.Model], numbers: list[tuple[int, int]]) -> None:
    """Set ``line_number`` for each (pk, number) with one prepared UPDATE run per pair.

    ``bulk_update`` builds a CASE with a branch per row, which costs minutes on the ~100k lines a
    whole file adds to a sample's orders; an executemany of a keyed UPDATE costs seconds.
    """
    if not numbers:
        return
    quote = connection.ops.quote_name
    sql = f"UPDATE {quote(model._meta.db_table)} SET {quote('line_number')} = %s WHERE {quote('id')} = %s"
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(number, pk) for pk, number in numbers])


def _line_numbers(
    model: type[models.Model], document: str, stored: pd.DataFrame, new: pd.DataFrame
) -> tuple[list[int], list[tuple[int, int]]]:
    """The planned numbers of lines of new documents; content-order renumbering for grown ones."""
    numbers = new["line_number"].astype(int).to_numpy().copy()
    grown = new[document].isin(set(stored[document])).to_numpy()
    if not grown.any():
        return numbers.tolist(), []
    touched = stored[stored[document].isin(set(new.loc[grown, document]))]
    finals, moved = _content_numbers(model, document, touched, new[grown])
    numbers[grown] = finals
    return numbers.tolist(), moved


def _relink(pairs: set[tuple[int, int]], batch_size: int) -> None:
    """Link every cancellation of these (customer, product) pairs to the latest sale at or before it.

    Run over the database after writing, so the link is the one a clean import of everything
    stored would make, whichever file brought the sale or the cancellation.
    """
    if not pairs:
        return
    customers = sorted({customer for customer, _ in pairs})
    products = {product for _, product in pairs}
    cancels: list[tuple] = []
    sales: list[tuple] = []
    for chunk in _chunks(customers, LOOKUP_CHUNK):
        cancels.extend(
            Cancellation.objects.filter(customer_id__in=chunk).values_list(
                "pk", "customer_id", "product_id", "created_at", "order_line_id"
            )
        )
        sales.extend(
            OrderLine.objects.filter(order__customer_id__in=chunk).values_list(
                "pk", "order__customer_id", "product_id", "order__placed_at", "order__number", "line_number"
            )
        )
    left = pd.DataFrame(cancels, columns=["pk", "customer", "product", "at", "linked"])
    left = left[left["product"].isin(products)].astype({"customer": "int64", "product": "int64"})
    wanted = pd.MultiIndex.from_tuples(sorted(pairs))
    left = left[pd.MultiIndex.from_frame(left[["customer", "product"]]).isin(wanted)]
    if left.empty:
        return
    right = pd.DataFrame(sales, columns=["line", "customer", "product", "at", "number", "line_number"])
    # Typed explicitly: with no sales at all the empty frame's columns are objects, which merge_asof refuses.
    right = right[right["product"].isin(products)].astype(
        {"line": "int64", "customer": "int64", "product": "int64"}
    )
    at = "datetime64[ns, UTC]"  # one resolution on both sides, whatever the driver returned
    left = left.assign(at=pd.to_datetime(left["at"], utc=True).astype(at)).sort_values("at", kind="stable")
    right = right.assign(at=pd.to_datetime(right["at"], utc=True).astype(at)).sort_values(
        ["at", "number", "line_number"], kind="stable"
    )
    merged = pd.merge_asof(
        left,
        right[["at", "customer", "product", "line"]],
        on="at",
        by=["customer", "product"],
        direction="backward",
    )
    line = merged["line"].fillna(-1).astype("int64")
    changed = merged[line != merged["linked"].fillna(-1).astype("int64")]
    Cancellation.objects.bulk_update(
        [
            Cancellation(pk=int(pk), order_line_id=None if pd.isna(line) else int(line))
            for pk, line in _rows(changed, "pk", "line")
        ],
        ["order_line"],
        batch_size=batch_size,
    )


def transactions_import(
    *,
    plan: TransactionPlan,
    progress: Progress | None = None,
    batch_size: int = 5000,
    before_commit: Callable[[TransactionImportResult], None] | None = None,
) -> TransactionImportResult:
    """Write a planned Online Retail import in one transaction, matching rows on their content.

    Lines and cancellations already stored are counted as present; rows that contradict what is
    stored (see ``_order_conflicts`` and ``_cancellation_conflicts``) are rejected with a reason.
    ``before_commit`` runs inside the transaction with the result (write the rejects, check the
    accounting): if it raises, nothing is committed.
    """
    with transaction.atomic():
        result = _write_transactions(plan=plan, progress=progress, batch_size=batch_size)
        if before_commit is not None:
            before_commit(result)
    return result


def _write_transactions(
    *, plan: TransactionPlan, progress: Progress | None, batch_size: int
) -> TransactionImportResult:
    result = TransactionImportResult(rows_read=plan.rows_read, rejected=dict(plan.reason_counts))
    validation = {"validate_unique": False, "validate_constraints": False}

    stored_orders, order_conflicts = _order_conflicts(plan)
    lines = plan.lines[~plan.lines["row"].isin(order_conflicts["row"])]
    stored_lines = _stored_lines(list(stored_orders))
    present = set(_keys(stored_lines, "number"))
    new_lines = lines[np.fromiter((key not in present for key in _keys(lines, "number")), bool, len(lines))]

    stored_cancels = _stored_cancellations(plan.cancellations["reference"].unique().tolist())
    cancel_conflicts = _cancellation_conflicts(plan.cancellations, stored_cancels)
    cancels = plan.cancellations[~plan.cancellations["row"].isin(cancel_conflicts["row"])]
    present = set(_keys(stored_cancels, "reference"))
    new_cancels = cancels[
        np.fromiter((key not in present for key in _keys(cancels, "reference")), bool, len(cancels))
    ]

    result.conflicts = pd.concat(
        [frame for frame in (order_conflicts, cancel_conflicts) if not frame.empty]
        or [pd.DataFrame(columns=NO_CONFLICTS)],
        ignore_index=True,
    )
    for reason, count in result.conflicts["reason"].value_counts().items():
        result.rejected[str(reason)] = int(count)
    result.lines_conflicting, result.cancellations_conflicting = len(order_conflicts), len(cancel_conflicts)

    # Products and customers of the rows imported, not of the rows just found conflicting.
    skus = set(lines["sku"]) | set(cancels["sku"])
    product_rows = plan.products[plan.products["sku"].isin(skus)]
    product_ids = _lookup(Product, "sku", product_rows["sku"])
    new_products = [
        Product(sku=sku, name=name, price=_money(price))
        for sku, name, price in _rows(product_rows, "sku", "name", "price")
        if sku not in product_ids
    ]
    for product in new_products:
        product.full_clean(exclude=["category"], **validation)
    external_ids = set(lines["external_id"].dropna()) | set(cancels["external_id"].dropna())
    customer_rows = plan.customers[plan.customers["external_id"].isin(external_ids)]
    customer_ids = _lookup(Customer, "external_id", customer_rows["external_id"])
    new_customers = [
        Customer(external_id=external_id, country=country)
        for external_id, country in _rows(customer_rows, "external_id", "country")
        if external_id not in customer_ids
    ]
    for customer in new_customers:
        customer.full_clean(exclude=["user"], **validation)
    order_rows = plan.orders[plan.orders["number"].isin(set(lines["number"]))]
    new_order_rows = order_rows[~order_rows["number"].isin(stored_orders)]

    if progress is not None:
        to_write = [new_products, new_customers, new_order_rows, new_lines, new_cancels]
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
            # An imported sale was paid and shipped: it is demand and training data (issue 17).
            status=Order.Status.FULFILLED,
            paid_at=placed_at.to_pydatetime(),
            country=country,
        )
        for number, external_id, placed_at, country in _rows(
            new_order_rows, "number", "external_id", "placed_at", "country"
        )
    ]
    for order in new_orders:
        order.full_clean(exclude=["customer"], **validation)
    _bulk_insert(Order, new_orders, batch_size, progress)
    order_ids = {number: pk for number, (pk, _) in stored_orders.items()}
    order_ids.update(_lookup(Order, "number", [order.number for order in new_orders]))
    result.orders_created = len(new_orders)
    # A file holding an earlier line of a stored invoice moves the order to that line's time.
    grown_orders = order_rows[order_rows["number"].isin(stored_orders)]
    earlier = [
        Order(pk=stored_orders[number][0], placed_at=placed_at.to_pydatetime())
        for number, placed_at in _rows(grown_orders, "number", "placed_at")
        if placed_at < stored_orders[number][1]
    ]
    Order.objects.bulk_update(earlier, ["placed_at"], batch_size=batch_size)
    result.orders_moved_earlier = len(earlier)

    numbers, moved = _line_numbers(OrderLine, "number", stored_lines, new_lines)
    line_objects = [
        OrderLine(
            order_id=order_ids[number],
            line_number=line_number,
            occurrence=occurrence,
            product_id=product_ids[sku],
            quantity=quantity,
            unit_price=_money(price),
        )
        for number, line_number, occurrence, sku, quantity, price in zip(
            new_lines["number"].tolist(),
            numbers,
            new_lines["occurrence"].tolist(),
            new_lines["sku"].tolist(),
            new_lines["quantity"].tolist(),
            new_lines["unit_price"].tolist(),
            strict=True,
        )
    ]
    _bulk_insert(OrderLine, line_objects, batch_size, progress)
    set_line_numbers(OrderLine, moved)
    result.lines_created, result.lines_present = len(line_objects), len(lines) - len(line_objects)

    stored_keys = stored_cancels.drop(columns=["external_id", "created_at"])
    numbers, moved = _line_numbers(Cancellation, "reference", stored_keys, new_cancels)
    cancellation_objects = [
        Cancellation(
            reference=reference,
            line_number=line_number,
            occurrence=occurrence,
            kind=Cancellation.Kind.CANCELLATION,
            product_id=product_ids[sku],
            customer_id=_customer_id(customer_ids, external_id),
            quantity=quantity,
            unit_price=_money(price),
            created_at=created_at.to_pydatetime(),
        )
        for reference, line_number, occurrence, sku, external_id, quantity, price, created_at in zip(
            new_cancels["reference"].tolist(),
            numbers,
            new_cancels["occurrence"].tolist(),
            new_cancels["sku"].tolist(),
            new_cancels["external_id"].tolist(),
            new_cancels["quantity"].tolist(),
            new_cancels["unit_price"].tolist(),
            new_cancels["created_at"].tolist(),
            strict=True,
        )
    ]
    _bulk_insert(Cancellation, cancellation_objects, batch_size, progress)
    set_line_numbers(Cancellation, moved)
    result.cancellations_created = len(cancellation_objects)
    result.cancellations_present = len(cancels) - len(cancellation_objects)

    # Relink every (customer, product) pair whose sales or cancellations changed.
    pairs = {(c.customer_id, c.product_id) for c in cancellation_objects if c.customer_id is not None}
    line_customers = [_customer_id(customer_ids, e) for e in new_lines["external_id"].tolist()]
    pairs |= {(c, line.product_id) for c, line in zip(line_customers, line_objects, strict=True) if c}
    if earlier:
        pairs |= set(
            OrderLine.objects.filter(order_id__in=[o.pk for o in earlier], order__customer__isnull=False)
            .values_list("order__customer_id", "product_id")
            .distinct()
        )
    _relink(pairs, batch_size)
    new_keys = {(c.reference, c.line_number) for c in cancellation_objects}
    linked = Cancellation.objects.filter(
        reference__in=list({reference for reference, _ in new_keys}), order_line__isnull=False
    ).values_list("reference", "line_number")
    result.cancellations_linked = sum(1 for key in linked if key in new_keys)
    return result


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


def ratings_import(
    *,
    plan: RatingsPlan,
    progress: Progress | None = None,
    batch_size: int = 5000,
    before_commit: Callable[[RatingsImportResult], None] | None = None,
) -> RatingsImportResult:
    """Write a planned MovieLens import: movies as products, users as customers, ratings as ratings.

    Movies and ratings already present are updated only where the file differs. ``before_commit``
    runs inside the transaction with the result: if it raises, nothing is committed.
    """
    with transaction.atomic():
        result = _write_ratings(plan=plan, progress=progress, batch_size=batch_size)
        if before_commit is not None:
            before_commit(result)
    return result


def _write_ratings(*, plan: RatingsPlan, progress: Progress | None, batch_size: int) -> RatingsImportResult:
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
