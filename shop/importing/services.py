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

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import numpy as np
import pandas as pd
from django.db import connection, models, transaction
from django.utils import timezone

from shop.models import (
    Cancellation,
    Category,
    Customer,
    Order,
    OrderLine,
    Product,
    Rating,
    StockMovement,
    StockRecord,
)
from shop.services_catalogue import category_paths_ensure, product_popularity_refresh

from .ratings import RatingsPlan
from .tables import (
    CHANGED,
    NEW,
    REJECTED,
    UNCHANGED,
    RowOutcome,
    TableImportResult,
    TablePlan,
    plan_rejections,
    run_import,
)
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


@functools.lru_cache(maxsize=65536)
def _money(value: float) -> Decimal:
    """A price as a Decimal of cents; a file has a few thousand distinct prices, so each is made once."""
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


ORDER_COLUMNS = ("number", "external_id", "placed_at", "country")
LINE_COLUMNS = ("line_number", "occurrence", "sku", "quantity", "unit_price", "external_id", "placed_at")
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


def _pair_codes(customers: np.ndarray, products: np.ndarray) -> np.ndarray:
    """(customer id, product id) pairs as one int64 each, for set operations in numpy."""
    return customers.astype(np.int64) * (1 << 32) + products.astype(np.int64)


RELINK_CUSTOMERS = 500  # customers per query: keeps each query's product list short too


def _relink(pairs: np.ndarray, batch_size: int) -> None:
    """Link every cancellation of these (customer, product) pairs (``_pair_codes``) to the latest sale at
    or before it.

    Run over the database after writing, so the link is the one a clean import of everything
    stored would make, whichever file brought the sale or the cancellation. Only the sales of the
    pairs are read, a few hundred customers at a time.
    """
    pairs = np.unique(pairs)
    if not len(pairs):
        return
    customers = np.unique(pairs >> 32)
    for start in range(0, len(customers), RELINK_CUSTOMERS):
        chunk = customers[start : start + RELINK_CUSTOMERS]
        wanted = pairs[(pairs >> 32 >= chunk[0]) & (pairs >> 32 <= chunk[-1])]
        _relink_chunk(chunk.tolist(), wanted, batch_size)


def _relink_chunk(customers: list[int], wanted: np.ndarray, batch_size: int) -> None:
    products = np.unique(wanted & ((1 << 32) - 1)).tolist()
    cancels = list(
        Cancellation.objects.filter(customer_id__in=customers, product_id__in=products).values_list(
            "pk", "customer_id", "product_id", "created_at", "order_line_id"
        )
    )
    left = pd.DataFrame(cancels, columns=["pk", "customer", "product", "at", "linked"])
    left = left.astype({"customer": "int64", "product": "int64"})
    left = left[np.isin(_pair_codes(left["customer"].to_numpy(), left["product"].to_numpy()), wanted)]
    if left.empty:
        return
    # Orders by customer, then their lines by order: each through its own index. A join filtered on the
    # customer let SQLite walk every order line once per chunk, which grows with the square of the shop.
    orders = pd.DataFrame(
        list(
            Order.objects.filter(customer_id__in=customers).values_list(
                "pk", "customer_id", "placed_at", "number"
            )
        ),
        columns=["order", "customer", "at", "number"],
    )
    lines: list[tuple] = []
    for chunk in _chunks(orders["order"].tolist(), LOOKUP_CHUNK):
        lines.extend(
            OrderLine.objects.filter(order_id__in=chunk).values_list(
                "pk", "order_id", "product_id", "line_number"
            )
        )
    right = pd.DataFrame(lines, columns=["line", "order", "product", "line_number"])
    right = right[right["product"].isin(products)].merge(orders, on="order")
    right = right[["line", "customer", "product", "at", "number", "line_number"]]
    # Typed explicitly: with no sales at all the empty frame's columns are objects, which merge_asof refuses.
    right = right.astype({"line": "int64", "customer": "int64", "product": "int64"})
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
    changed = merged.assign(line=line)[line != merged["linked"].fillna(-1).astype("int64")]
    update_rows(
        Cancellation,
        ["order_line"],
        [(None if line < 0 else int(line), int(pk)) for pk, line in _rows(changed, "pk", "line")],
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
    with _sqlite_cache(), transaction.atomic():
        result = _write_transactions(plan=plan, progress=progress, batch_size=batch_size)
        if before_commit is not None:
            before_commit(result)
    return result


SQLITE_IMPORT_CACHE_KIB = 128 * 1024


@contextlib.contextmanager
def _sqlite_cache() -> Iterator[None]:
    """On SQLite, a 128 MiB page cache for the import's connection while it writes.

    Lines arrive in file order, so the product index takes them at random pages: with SQLite's
    default 2 MiB cache, each insert evicted and re-read index pages, and a 3.7 million line
    import wrote 2.5 GB for a 400 MB database. The index fits in this cache up to millions of
    lines; PostgreSQL manages its own buffers.
    """
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        previous = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")


def _against_stored(
    rows: pd.DataFrame, stored: pd.DataFrame, document: str, label: str
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Split file rows of documents already stored into new, already present and conflicting.

    A document (invoice, or cancelling invoice) whose rows in the file are exactly its stored lines
    (as a multiset of product, quantity and price) is already present: a re-import, or another
    export holding the whole document. If they differ, the file holds part of the document, or
    the database does: rows whose content is not stored at all are new lines of it, and rows
    whose content is stored are conflicts with both sides' counts, because the file's copies may
    be the stored ones or other copies that no file has shown together (a repeated line split
    between two exports). Returns (is_new, is_present) per row of ``rows`` and the conflicts.
    """
    key = [document, "sku", "quantity", "cents"]
    file_counts = rows.groupby(key, sort=False).size().rename("file")
    stored_counts = stored.groupby(key, sort=False).size().rename("stored")
    both = pd.concat([file_counts, stored_counts], axis=1).fillna(0).astype("int64")
    differs = (both["file"] != both["stored"]).groupby(level=0).any()
    counts = rows[key].merge(both, left_on=key, right_index=True, how="left")
    doc_differs = rows[document].map(differs).fillna(False).astype(bool).to_numpy()
    on_both_sides = counts["stored"].to_numpy() > 0
    is_new = doc_differs & ~on_both_sides
    conflict = doc_differs & on_both_sides
    if not conflict.any():
        return is_new, ~doc_differs, pd.DataFrame(columns=NO_CONFLICTS)
    file_total = file_counts.groupby(level=0).sum()
    stored_total = stored_counts.groupby(level=0).sum()
    clash = counts[conflict]
    detail = [
        f"{label} {number}: {stored_n} stored line(s) of {sku} x {quantity} at {cents / 100:.2f} and "
        f"{file_n} in this file; the file holds {file_total.get(number, 0)} row(s) of it and "
        f"{stored_total.get(number, 0)} line(s) are stored, so one side holds part of it and these may "
        "or may not be the stored copies: not merged"
        for number, sku, quantity, cents, file_n, stored_n in _rows(
            clash, document, "sku", "quantity", "cents", "file", "stored"
        )
    ]
    conflicts = pd.DataFrame(
        {"row": rows["row"].to_numpy()[conflict], "reason": str(Reason.PARTIAL_INVOICE), "detail": detail},
        columns=NO_CONFLICTS,
    )
    return is_new, ~doc_differs, conflicts


@dataclass
class _Matched:
    """Which rows of a plan's lines (or cancellations) to insert, and how many were found stored."""

    insert: np.ndarray  # bool per row
    grown: set[str]  # stored documents that gain lines (renumbered when they are written)
    present: int
    conflicts: pd.DataFrame


def _match(
    rows: pd.DataFrame,
    usable: np.ndarray,
    stored_documents: set[str],
    document: str,
    label: str,
    load_stored: Callable[[list[str]], pd.DataFrame],
) -> _Matched:
    """Compare the usable rows of stored documents with what is stored, a chunk of documents at a time."""
    insert = usable.copy()
    of_stored = usable & rows[document].isin(stored_documents).to_numpy()
    matched = _Matched(insert=insert, grown=set(), present=0, conflicts=pd.DataFrame(columns=NO_CONFLICTS))
    if not of_stored.any():
        return matched
    positions = np.flatnonzero(of_stored)
    candidates = rows.iloc[positions]
    conflicts = []
    for chunk in _chunks(sorted(set(candidates[document])), LOOKUP_CHUNK):
        inside = candidates[document].isin(chunk).to_numpy()
        part = candidates[inside]
        is_new, is_present, found = _against_stored(part, load_stored(list(chunk)), document, label)
        insert[positions[inside]] = is_new
        matched.present += int(is_present.sum())
        matched.grown.update(part.loc[is_new, document])
        if not found.empty:
            conflicts.append(found)
    if conflicts:
        matched.conflicts = pd.concat(conflicts, ignore_index=True)
    return matched


def _write_transactions(
    *, plan: TransactionPlan, progress: Progress | None, batch_size: int
) -> TransactionImportResult:
    """Write a plan with memory bounded by the plan itself: model objects are built one batch at a
    time, and stored documents are compared a chunk at a time."""
    result = TransactionImportResult(rows_read=plan.rows_read, rejected=dict(plan.reason_counts))
    validation = {"validate_unique": False, "validate_constraints": False}
    lines, cancels = plan.lines, plan.cancellations

    stored_orders, order_conflicts = _order_conflicts(plan)
    line_ok = ~lines["row"].isin(order_conflicts["row"]).to_numpy()
    stored_cancels = _stored_cancellations(cancels["reference"].unique().tolist())
    cancel_conflicts = _cancellation_conflicts(cancels, stored_cancels)
    cancel_ok = ~cancels["row"].isin(cancel_conflicts["row"]).to_numpy()
    line_match = _match(lines, line_ok, set(stored_orders), "number", "invoice", _stored_lines)
    stored_by_reference = {reference: frame for reference, frame in stored_cancels.groupby("reference")}
    cancel_match = _match(
        cancels,
        cancel_ok,
        set(stored_by_reference),
        "reference",
        "cancelling invoice",
        lambda references: stored_cancels[stored_cancels["reference"].isin(references)],
    )

    result.conflicts = pd.concat(
        [
            frame
            for frame in (order_conflicts, cancel_conflicts, line_match.conflicts, cancel_match.conflicts)
            if not frame.empty
        ]
        or [pd.DataFrame(columns=NO_CONFLICTS)],
        ignore_index=True,
    )
    for reason, count in result.conflicts["reason"].value_counts().items():
        result.rejected[str(reason)] = result.rejected.get(str(reason), 0) + int(count)
    result.lines_conflicting = len(order_conflicts) + len(line_match.conflicts)
    result.cancellations_conflicting = len(cancel_conflicts) + len(cancel_match.conflicts)
    # A fresh import inserts every row: no copy of the plan's biggest frame then.
    new_lines = lines if line_match.insert.all() else lines[line_match.insert]
    new_cancels = cancels if cancel_match.insert.all() else cancels[cancel_match.insert]

    # Products and customers of the rows imported, not of the rows found conflicting.
    skus = set(new_lines["sku"]) | set(new_cancels["sku"])
    product_rows = plan.products[plan.products["sku"].isin(skus)]
    product_ids = _lookup(Product, "sku", product_rows["sku"])
    new_products = [
        Product(sku=sku, name=name, price=_money(price))
        for sku, name, price in _rows(product_rows, "sku", "name", "price")
        if sku not in product_ids
    ]
    for product in new_products:
        product.full_clean(exclude=["category"], **validation)
    external_ids = set(new_lines["external_id"].dropna()) | set(new_cancels["external_id"].dropna())
    customer_rows = plan.customers[plan.customers["external_id"].isin(external_ids)]
    customer_ids = _lookup(Customer, "external_id", customer_rows["external_id"])
    new_customers = [
        Customer(external_id=external_id, country=country)
        for external_id, country in _rows(customer_rows, "external_id", "country")
        if external_id not in customer_ids
    ]
    for customer in new_customers:
        customer.full_clean(exclude=["user"], **validation)
    order_rows = plan.orders[plan.orders["number"].isin(set(new_lines["number"]))]
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
    del new_products, new_customers

    for start in range(0, len(new_order_rows), batch_size):
        batch = [
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
                new_order_rows.iloc[start : start + batch_size],
                "number",
                "external_id",
                "placed_at",
                "country",
            )
        ]
        for order in batch:
            order.full_clean(exclude=["customer"], **validation)
        _bulk_insert(Order, batch, batch_size, progress)
    order_ids = {number: pk for number, (pk, _) in stored_orders.items()}
    order_ids.update(_lookup(Order, "number", new_order_rows["number"]))
    result.orders_created = len(new_order_rows)
    # A file holding an earlier line of a stored invoice moves the order to that line's time.
    grown_orders = order_rows[order_rows["number"].isin(stored_orders)]
    earlier = [
        Order(pk=stored_orders[number][0], placed_at=placed_at.to_pydatetime())
        for number, placed_at in _rows(grown_orders, "number", "placed_at")
        if placed_at < stored_orders[number][1]
    ]
    Order.objects.bulk_update(earlier, ["placed_at"], batch_size=batch_size)
    result.orders_moved_earlier = len(earlier)

    adapt_time = connection.ops.adapt_datetimefield_value

    def line(number, line_number, occurrence, sku, quantity, price, _external_id, _at) -> tuple:
        return (order_ids[number], line_number, occurrence, product_ids[sku], quantity, _money(price))

    _insert_lines(
        OrderLine,
        LINE_FIELDS,
        new_lines,
        "number",
        line_match.grown,
        _stored_lines,
        line,
        batch_size,
        progress,
    )
    result.lines_created, result.lines_present = len(new_lines), line_match.present

    def cancellation(reference, line_number, occurrence, sku, quantity, price, external_id, at) -> tuple:
        return (
            reference,
            line_number,
            occurrence,
            Cancellation.Kind.CANCELLATION.value,
            product_ids[sku],
            _customer_id(customer_ids, external_id),
            quantity,
            _money(price),
            adapt_time(at.to_pydatetime()),
        )

    _insert_lines(
        Cancellation,
        CANCELLATION_FIELDS,
        new_cancels.rename(columns={"created_at": "placed_at"}),
        "reference",
        cancel_match.grown,
        lambda references: stored_cancels[stored_cancels["reference"].isin(references)].drop(
            columns=["external_id", "created_at"]
        ),
        cancellation,
        batch_size,
        progress,
    )
    result.cancellations_created, result.cancellations_present = len(new_cancels), cancel_match.present

    _relink(_pairs_to_relink(new_lines, new_cancels, earlier, customer_ids, product_ids), batch_size)
    # Content keys are unique per cancelling invoice, so they find the new rows whatever their numbers.
    fresh = set(
        _rows(
            new_cancels.assign(price=new_cancels["cents"]),
            "reference",
            "sku",
            "quantity",
            "price",
            "occurrence",
        )
    )
    linked = Cancellation.objects.filter(
        reference__in=new_cancels["reference"].unique().tolist(), order_line__isnull=False
    ).values_list("reference", "product__sku", "quantity", "unit_price", "occurrence")
    result.cancellations_linked = sum(
        1
        for reference, sku, quantity, price, occurrence in linked
        if (reference, sku, quantity, _cents(price), occurrence) in fresh
    )
    product_popularity_refresh()
    return result


def _pairs_to_relink(
    new_lines: pd.DataFrame,
    new_cancels: pd.DataFrame,
    earlier: list[Order],
    customer_ids: dict[str, int],
    product_ids: dict[str, int],
) -> np.ndarray:
    """(customer, product) pairs whose cancellation links may change: those of new cancellations, and
    those of new sales and of orders moved earlier that have a cancellation stored."""

    def codes(frame: pd.DataFrame) -> np.ndarray:
        known = frame["external_id"].notna().to_numpy()
        customers = frame["external_id"][known].map(customer_ids).to_numpy(dtype=np.int64)
        products = frame["sku"][known].map(product_ids).to_numpy(dtype=np.int64)
        return np.unique(_pair_codes(customers, products))

    from_cancels = codes(new_cancels)
    touched = codes(new_lines)
    if earlier:
        moved = np.array(
            OrderLine.objects.filter(order_id__in=[o.pk for o in earlier], order__customer__isnull=False)
            .order_by()
            .values_list("order__customer_id", "product_id")
            .distinct(),
            dtype=np.int64,
        ).reshape(-1, 2)
        touched = np.union1d(touched, _pair_codes(moved[:, 0], moved[:, 1]))
    if not len(touched):
        return from_cancels
    with_cancellation = np.array(
        Cancellation.objects.filter(customer__isnull=False)
        .values_list("customer_id", "product_id")
        .distinct(),
        dtype=np.int64,
    ).reshape(-1, 2)
    stored = np.unique(_pair_codes(with_cancellation[:, 0], with_cancellation[:, 1]))
    return np.union1d(from_cancels, np.intersect1d(touched, stored))


def insert_rows(model: type[models.Model], fields: Sequence[str], rows: list[tuple]) -> None:
    """Insert plain value tuples (already in the database's types) with one prepared INSERT.

    For the two tables an import fills by the million: building a model instance per row and
    compiling its INSERT cost most of a whole-file import, while the values were already checked
    column by column by the planner, and the table's constraints still hold on every row.
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in fields)
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def update_rows(model: type[models.Model], fields: Sequence[str], rows: list[tuple]) -> None:
    """Set ``fields`` by primary key with one prepared UPDATE run per row: each tuple holds the field
    values (database types) then the pk. ``bulk_update``'s CASE with a branch per row costs seconds
    on a few thousand rows; this costs milliseconds."""
    if not rows:
        return
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(model._meta.get_field(name).column)} = %s" for name in fields)
    sql = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s"
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


LINE_FIELDS = ("order", "line_number", "occurrence", "product", "quantity", "unit_price")
CANCELLATION_FIELDS = (
    "reference",
    "line_number",
    "occurrence",
    "kind",
    "product",
    "customer",
    "quantity",
    "unit_price",
    "created_at",
)


def _insert_lines(
    model: type[models.Model],
    fields: Sequence[str],
    rows: pd.DataFrame,
    document: str,
    grown: set[str],
    load_stored: Callable[[list[str]], pd.DataFrame],
    build: Callable[..., tuple],
    batch_size: int,
    progress: Progress | None,
) -> None:
    """Insert the rows a batch at a time: lines of new documents keep their planned numbers; lines
    added to stored documents are numbered in content order with the stored ones (``_line_numbers``)."""
    columns = [document, *LINE_COLUMNS]

    def write(part: pd.DataFrame) -> None:
        insert_rows(model, fields, [build(*values) for values in _rows(part, *columns)])
        if progress is not None:
            progress.update(len(part))

    of_grown = rows[document].isin(grown).to_numpy()
    fresh = rows[~of_grown] if of_grown.any() else rows
    for start in range(0, len(fresh), batch_size):
        write(fresh.iloc[start : start + batch_size])
    extra = rows[of_grown]
    for chunk in _chunks(sorted(grown), LOOKUP_CHUNK):
        part = extra[extra[document].isin(chunk)]
        numbers, moved = _line_numbers(model, document, load_stored(list(chunk)), part)
        write(part.assign(line_number=numbers))
        set_line_numbers(model, moved)


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


# --- keyed imports: stock counts and categories ------------------------------------------------------


def _products_by_sku(skus: Iterable[str]) -> dict[str, tuple[int, int | None]]:
    """``{sku: (product id, category id)}`` for the SKUs that exist."""
    return _lookup(Product, "sku", skus, "category_id")


def _unknown_sku(row: int, sku: str) -> RowOutcome:
    return RowOutcome(
        row=row,
        key=sku,
        outcome=REJECTED,
        reason="unknown_sku",
        detail=f"no product has SKU {sku}: import its transactions (or add it) first",
    )


def stock_counts_import(
    *,
    plan: TablePlan,
    source: str = "",
    dry_run: bool = False,
    before_commit: Callable[[TableImportResult], None] | None = None,
) -> TableImportResult:
    """A stock count: set each counted product's on-hand units, one stocktake ledger movement per difference.

    Stock rows are locked in product order (as orders lock them) before anything is compared, so a
    count never races an order's reservation. A count below the units reserved by placed orders is
    rejected (``below_reserved``): those units are promised and cannot be counted away. An unknown
    SKU is ``unknown_sku``. A count equal to what is on hand is unchanged and writes nothing.
    """

    def write() -> TableImportResult:
        result = TableImportResult(rows_read=plan.rows_read, outcomes=plan_rejections(plan, key_column="sku"))
        products = _products_by_sku(plan.rows["sku"])
        known = plan.rows[plan.rows["sku"].isin(products)]
        result.outcomes += [
            _unknown_sku(row, sku)
            for row, sku in _rows(plan.rows[~plan.rows["sku"].isin(products)], "row", "sku")
        ]
        ids = [products[sku][0] for sku in known["sku"]]
        missing = set(ids) - set(
            StockRecord.objects.filter(product_id__in=ids).values_list("product_id", flat=True)
        )
        StockRecord.objects.bulk_create(
            [StockRecord(product_id=pid) for pid in sorted(missing)], ignore_conflicts=True
        )
        stock = {
            record.product_id: record
            for chunk in _chunks(sorted(ids), LOOKUP_CHUNK)
            for record in StockRecord.objects.select_for_update()
            .filter(product_id__in=chunk)
            .order_by("product_id")
        }
        levels: dict[int, int] = {}
        added = removed = 0
        for row, sku, count in _rows(known, "row", "sku", "on_hand"):
            record = stock[products[sku][0]]
            if count < record.reserved:
                result.outcomes.append(
                    RowOutcome(
                        row=row,
                        key=sku,
                        outcome=REJECTED,
                        reason="below_reserved",
                        detail=f"counted {count} but {record.reserved} are reserved by placed orders",
                    )
                )
                continue
            after = {"on_hand": count}
            first = record.product_id in missing  # its first count: the product had no stock record
            if count != record.on_hand:
                levels[record.product_id] = count
                added += max(count - record.on_hand, 0)
                removed += max(record.on_hand - count, 0)
            if first:
                result.outcomes.append(RowOutcome(row=row, key=sku, outcome=NEW, after=after))
            elif count == record.on_hand:
                result.outcomes.append(RowOutcome(row=row, key=sku, outcome=UNCHANGED, after=after))
            else:
                before = {"on_hand": record.on_hand}
                result.outcomes.append(
                    RowOutcome(row=row, key=sku, outcome=CHANGED, before=before, after=after)
                )
        movements = _stock_counts_write(stock=stock, levels=levels, note=f"stock count {source}".strip())
        result.notes.append(
            f"  ledger: {movements:,} stocktake movement(s), +{added:,} and -{removed:,} units on hand"
        )
        return result

    return run_import(write, dry_run=dry_run, before_commit=before_commit)


def _stock_counts_write(*, stock: dict[int, StockRecord], levels: dict[int, int], note: str) -> int:
    """Set counted on-hand figures on rows this transaction holds locked, with one stocktake movement each.

    One keyed UPDATE run per row (``executemany``): ``bulk_update``'s CASE with a branch per row
    costs seconds on a few thousand rows. Checked above: no count is below its reserved units, and
    the table's constraints hold on every row as usual.
    """
    if not levels:
        return 0
    now = timezone.now()
    quote = connection.ops.quote_name
    table = StockRecord._meta.db_table
    sql = (
        f"UPDATE {quote(table)} SET {quote('on_hand')} = %s, {quote('updated_at')} = %s "
        f"WHERE {quote('product_id')} = %s"
    )
    stamp = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(count, stamp, product_id) for product_id, count in levels.items()])
    StockMovement.objects.bulk_create(
        [
            StockMovement(
                product_id=product_id,
                quantity=count - stock[product_id].on_hand,
                reason=StockMovement.Reason.STOCKTAKE,
                note=note[:255],
                created_at=now,
            )
            for product_id, count in levels.items()
        ],
        batch_size=1000,
    )
    return len(levels)


def categories_import(
    *,
    plan: TablePlan,
    dry_run: bool = False,
    before_commit: Callable[[TableImportResult], None] | None = None,
) -> TableImportResult:
    """Put each product in the category its path names, creating the path's categories (parents first).

    Upsert by SKU: a product already in that category is unchanged; an unknown SKU is ``unknown_sku``.
    """

    def write() -> TableImportResult:
        result = TableImportResult(rows_read=plan.rows_read, outcomes=plan_rejections(plan, key_column="sku"))
        products = _products_by_sku(plan.rows["sku"])
        known = plan.rows[plan.rows["sku"].isin(products)]
        result.outcomes += [
            _unknown_sku(row, sku)
            for row, sku in _rows(plan.rows[~plan.rows["sku"].isin(products)], "row", "sku")
        ]
        ids, created = category_paths_ensure(paths=known["category"].unique().tolist())
        names = dict(
            Category.objects.filter(pk__in=[c for _, c in products.values() if c]).values_list("pk", "name")
        )
        changed: list[Product] = []
        for row, sku, path in _rows(known, "row", "sku", "category"):
            product_id, category_id = products[sku]
            if category_id == ids[path]:
                result.outcomes.append(
                    RowOutcome(row=row, key=sku, outcome=UNCHANGED, after={"category": path})
                )
                continue
            before = {"category": names.get(category_id, "")}
            outcome = CHANGED if category_id else NEW
            result.outcomes.append(
                RowOutcome(row=row, key=sku, outcome=outcome, before=before, after={"category": path})
            )
            changed.append(Product(pk=product_id, category_id=ids[path]))
        update_rows(Product, ["category"], [(product.category_id, product.pk) for product in changed])
        result.notes.append(f"  categories: {created:,} created")
        return result

    return run_import(write, dry_run=dry_run, before_commit=before_commit)
