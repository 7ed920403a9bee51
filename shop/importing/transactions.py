"""Planning an import of UCI Online Retail transactions: every row classified, nothing written.

The layout is the UCI "Online Retail" one (InvoiceNo, StockCode, Description,
Quantity, InvoiceDate, UnitPrice, CustomerID, Country). Each input row ends up
in exactly one place: an order line (a sale), a cancellation (a line of a ``C``
invoice), or the rejected rows with one reason. The first matching reason wins,
in the order of ``Reason``:

- ``missing_value``: no invoice number, stock code, quantity, date or price.
- ``unrecognised_invoice``: an invoice number that is neither ``NNNNNN`` nor
  ``CNNNNNN`` (the three ``A`` "adjust bad debt" invoices).
- ``non_product_code``: postage, fees, discounts, manual lines, samples,
  carriage, bank charges, commissions, gift vouchers (``NON_PRODUCT_CODES`` and
  ``gift_*``): money, not goods, so neither demand nor taste.
- ``unrecognised_code``: any other code that is not five digits plus up to two
  letters once upper-cased (e.g. the ``DCGS...`` dotcom bundles).
- ``stock_adjustment``: a non-cancellation line with quantity zero or below;
  these are warehouse write-offs ("damaged", "?", "thrown away"), not sales.
- ``non_negative_quantity_on_cancellation``: a ``C`` invoice line that takes
  nothing back (quantity zero or above).
- ``non_positive_price``: a sale at price zero or below (free adjustments), or
  a cancellation at a negative price.
- ``future_date`` / ``before_earliest_date``: dated after now plus a tolerance, or
  before the earliest date a shop can have (``Rules``, from settings).
- ``stock_adjustment``: a non-cancellation line with quantity zero or below;
  these are warehouse write-offs ("damaged", "?", "thrown away"), not sales.
- ``non_negative_quantity_on_cancellation``: a ``C`` invoice line that takes
  nothing back (quantity zero or above).
- ``non_positive_price``: a sale at price zero or below (free adjustments), or
  a cancellation at a negative price.
- ``price_below_smallest_unit``: a price between 0 and 0.01, which would be stored as 0.00.
- ``price_too_high``: above ``Rules.max_unit_price``: a typing error, not a sale.
- ``out_of_range``: a quantity or price too large for the database columns.
- ``text_too_long``: a Country or Description longer than the field it goes to.
- ``conflicting_invoice``: a row whose customer or country differs from the
  first row of its invoice: one invoice number, two purchases.

Rows are keyed on their content: (invoice, sku, quantity, price, occurrence),
where occurrence numbers identical lines of one invoice 1, 2, ... A row repeated
within an invoice is kept with its count; the same row in two files is one line.
Line numbers are ranks in that key's order, so they do not depend on row order
or on which other rows a file holds (``content_ranks``). Two more reasons are
found while writing, against what is stored: ``conflicting_order`` and
``conflicting_cancellation`` (see ``services``).

Lower-case codes are the same product as their upper-case form. A product's
name is the most frequent usable description of its code (not blank, not
"nan", not starting with "?", not an all-lower-case note like "damaged"),
preferring descriptions on imported lines; its price is the most recent positive
unit price. Guest lines (no CustomerID) become orders without a customer. A
cancelled line and its cancellation are both kept: demand nets them out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from .readers import ImportFileError, as_categorical, by_value, number_column, require_columns, text_column

RETAIL_COLUMNS = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]
PRODUCT_CODE = r"^\d{5}[A-Z]{0,2}$"
INVOICE_NUMBER = r"^C?\d{6,7}$"
# Codes for money rather than goods. 23444 ("Next Day Carriage") and 22016 (a gift voucher)
# look like product codes, so the pattern alone would let them through.
NON_PRODUCT_CODES = frozenset(
    {
        "POST",
        "DOT",
        "M",
        "D",
        "S",
        "C2",
        "B",
        "BANK CHARGES",
        "AMAZONFEE",
        "CRUK",
        "PADS",
        "23444",
        "22016",
    }
)
NON_PRODUCT_PREFIXES = ("GIFT_",)
MAX_QUANTITY = 2**31 - 1
MAX_PRICE = 10**8  # DecimalField(max_digits=10, decimal_places=2)


class Reason(StrEnum):
    MISSING_VALUE = "missing_value"
    UNRECOGNISED_INVOICE = "unrecognised_invoice"
    NON_PRODUCT_CODE = "non_product_code"
    UNRECOGNISED_CODE = "unrecognised_code"
    FUTURE_DATE = "future_date"
    BEFORE_EARLIEST_DATE = "before_earliest_date"
    STOCK_ADJUSTMENT = "stock_adjustment"
    NON_NEGATIVE_QUANTITY_ON_CANCELLATION = "non_negative_quantity_on_cancellation"
    NON_POSITIVE_PRICE = "non_positive_price"
    PRICE_BELOW_SMALLEST_UNIT = "price_below_smallest_unit"
    PRICE_TOO_HIGH = "price_too_high"
    OUT_OF_RANGE = "out_of_range"
    TEXT_TOO_LONG = "text_too_long"
    CONFLICTING_INVOICE = "conflicting_invoice"
    # Found while writing, against what earlier imports stored.
    CONFLICTING_ORDER = "conflicting_order"
    CONFLICTING_CANCELLATION = "conflicting_cancellation"
    PARTIAL_INVOICE = "partial_invoice"


# The model fields these columns end up in (Order/Customer.country, Product.name).
TEXT_LIMITS = {"Country": ("country", 64), "Description": ("description", 255)}
SLASH_DATE = r"^(\d{1,2})/(\d{1,2})/(\d{2,4})\b"
UTC_OFFSET = r"(?:[+-]\d{2}(?::?\d{2})?|Z)$"


@dataclass(frozen=True)
class Rules:
    """What a row must satisfy beyond its layout: the dates and prices a shop can have."""

    earliest: pd.Timestamp  # tz-aware; rows before it are rejected
    latest: pd.Timestamp  # tz-aware; now plus a tolerance: rows after it are rejected
    max_unit_price: float = MAX_PRICE - 0.01
    date_format: str | None = None  # strptime format of InvoiceDate text; None: ISO or inferred


def default_rules() -> Rules:
    return Rules(
        earliest=pd.Timestamp("2000-01-01", tz="UTC"),
        latest=pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1),
    )


@dataclass
class TransactionPlan:
    """What an import would write, with every input row accounted for."""

    rows_read: int
    products: pd.DataFrame  # sku, name, price
    customers: pd.DataFrame  # external_id, country
    orders: pd.DataFrame  # number, external_id (None for guests), placed_at (earliest line), country
    # number, line_number, occurrence, sku, quantity, unit_price, cents, external_id, placed_at, row
    lines: pd.DataFrame
    # reference, line_number, occurrence, sku, external_id, quantity, unit_price, cents, created_at, row
    cancellations: pd.DataFrame
    rejected: pd.DataFrame  # the input columns as read, plus row (1-based), reason and detail
    source: pd.DataFrame  # the input as read, to write rows rejected later (conflicts) as they were
    reason_counts: dict[str, int] = field(default_factory=dict)

    @property
    def rows_planned(self) -> int:
        return len(self.lines) + len(self.cancellations) + len(self.rejected)


def _first_bad(mask: pd.Series) -> int:
    return int(np.flatnonzero(mask.to_numpy())[0])


def _slash_dayfirst(text: pd.Series, column: str, rows: pd.Series) -> bool:
    """Whether d/m/y or m/d/y text is day first, from rows that can only be read one way.

    A file is written in one convention: rows with a first number above 12 prove day first, rows
    with a second number above 12 prove month first. Both in one file, or neither while some
    rows read differently either way, is refused: the command must be told (``--date-format``).
    ``text`` holds distinct values indexed by the first row (0-based) holding each; ``rows``
    counts the rows holding each.
    """
    parts = text.str.extract(SLASH_DATE).astype(int)
    first, second = parts[0], parts[1]
    day_first, month_first = first > 12, second > 12
    if day_first.any() and month_first.any():
        i, j = _first_bad(day_first), _first_bad(month_first)
        raise ImportFileError(
            f"column {column}: dates are written day/month in some rows and month/day in others "
            f"({text.iloc[i]!r} in row {text.index[i] + 1}, {text.iloc[j]!r} in row {text.index[j] + 1}); "
            "pass --date-format to say which."
        )
    if day_first.any() or month_first.any():
        return bool(day_first.any())
    ambiguous = first != second
    if ambiguous.any():
        i = _first_bad(ambiguous)
        raise ImportFileError(
            f"column {column}: {int(rows[ambiguous].sum())} date(s) can be read day/month or month/day, "
            f"e.g. {text.iloc[i]!r} in row {text.index[i] + 1}; pass --date-format (e.g. '%d/%m/%Y %H:%M')."
        )
    return False


def _distinct(values: pd.Series) -> tuple[pd.Series, pd.Series, np.ndarray]:
    """Distinct stripped texts of a column, indexed by the first row (0-based) holding each, their row
    counts, and each row's position among them (-1 for a missing cell)."""
    column = as_categorical(values.reset_index(drop=True))
    codes = column.cat.codes.to_numpy()
    present = codes >= 0
    order = np.argsort(codes, kind="stable")
    used, first_at, counts = np.unique(codes[order], return_index=True, return_counts=True)
    keep = used >= 0
    used, first_rows, counts = used[keep], order[first_at[keep]], counts[keep]
    categories = column.cat.categories
    text = pd.Series([str(categories[code]).strip() for code in used], index=first_rows, dtype=object)
    position = np.full(len(categories), -1, dtype=np.int64)
    position[used] = np.arange(len(used))
    return text, pd.Series(counts, index=first_rows), np.where(present, position[codes], -1)


def _timestamps(values: pd.Series, column: str, tz: ZoneInfo, date_format: str | None = None) -> pd.Series:
    """Dates in ``tz``. Text with a UTC offset is read at that offset; text without one is wall-clock
    time in ``tz``. A column mixing the two is refused: which wall clock the bare ones use is a guess.

    Text is parsed once per distinct value (an invoice's lines share their time).
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        if values.dt.tz is not None:
            return values.dt.tz_convert(tz)
        return _localise(values, tz)
    if pd.api.types.is_numeric_dtype(values) and not values.isna().all():
        raise ImportFileError(f"column {column}: expected dates, found {values.dtype} values.")
    if isinstance(values.dtype, pd.CategoricalDtype) and pd.api.types.is_datetime64_any_dtype(
        values.cat.categories
    ):
        return _timestamps(values.astype(values.cat.categories.dtype), column, tz, date_format)
    distinct, rows, position = _distinct(values)
    parsed = _parse_dates(distinct, rows, column, tz, date_format)
    return pd.Series(parsed.array.take(position, allow_fill=True), index=values.index)


def _parse_dates(
    text: pd.Series, rows: pd.Series, column: str, tz: ZoneInfo, date_format: str | None
) -> pd.Series:
    """``text`` (distinct values, indexed by their first row) as dates in ``tz``; ``rows`` counts each."""
    present = text[text != ""]
    naive = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    aware = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    if date_format is not None:
        parsed = pd.to_datetime(present, format=date_format, errors="coerce", utc="%z" in date_format)
        bad = parsed.isna()
        if bad.any():
            i = _first_bad(bad)
            raise ImportFileError(
                f"column {column}: {int(rows[bad[bad].index].sum())} value(s) do not match --date-format "
                f"{date_format!r}, e.g. {present.iloc[i]!r} in row {present.index[i] + 1}."
            )
        if "%z" in date_format:
            aware[present.index] = parsed
        else:
            naive[present.index] = parsed
    else:
        with_offset = present.str.contains(UTC_OFFSET, regex=True).astype(bool)
        if with_offset.any() and not with_offset.all():
            i = _first_bad(~with_offset.sort_index())
            first = with_offset.sort_index().index[i]
            raise ImportFileError(
                f"column {column}: some dates carry a UTC offset and others do not "
                f"(e.g. {present[first]!r} in row {first + 1} has no offset); "
                "write every date with an offset, or none."
            )
        slash = present.str.match(SLASH_DATE).astype(bool)
        if slash.any():
            slashed = present[slash.to_numpy()].sort_index()
            dayfirst = _slash_dayfirst(slashed, column, rows[slashed.index])
            naive[slashed.index] = pd.to_datetime(slashed, format="mixed", dayfirst=dayfirst, errors="coerce")
        iso = present[~slash.to_numpy()]
        if with_offset.any():
            aware[iso.index] = pd.to_datetime(iso, format="ISO8601", utc=True, errors="coerce")
        else:
            naive[iso.index] = pd.to_datetime(iso, format="ISO8601", errors="coerce")
    parsed_any = naive.notna() | aware.notna()
    bad = ((text != "") & ~parsed_any).sort_index()
    if bad.any():
        first = bad.index[_first_bad(bad)]
        raise ImportFileError(
            f"column {column}: {int(rows[bad[bad].index].sum())} value(s) are not dates, "
            f"e.g. {text[first]!r} in row {first + 1}."
        )
    result = _localise(naive, tz)
    return result.where(aware.isna(), aware.dt.tz_convert(tz))


def _localise(naive: pd.Series, tz: ZoneInfo) -> pd.Series:
    # Wall-clock times: the repeated autumn hour is read as standard time, the skipped spring hour moves on.
    return naive.dt.tz_localize(tz, ambiguous=np.zeros(len(naive), dtype=bool), nonexistent="shift_forward")


def _external_ids(customer: pd.Series) -> pd.Series:
    """CustomerID numbers as id text ('17850'), None for guests; one string per distinct customer."""
    numbers = customer.to_numpy()
    present = ~np.isnan(numbers)
    uniques, inverse = np.unique(numbers[present], return_inverse=True)
    texts = np.array([str(int(value)) for value in uniques] + [None], dtype=object)
    index = np.full(len(numbers), len(uniques), dtype=np.int64)
    index[present] = inverse
    return pd.Series(texts[index], index=customer.index, dtype=object)


def normalise(
    raw: pd.DataFrame, *, tz: ZoneInfo, source: str, date_format: str | None = None
) -> pd.DataFrame:
    """Typed, trimmed columns, or ``ImportFileError`` naming the first column that cannot be read.

    Text columns share one string per distinct value (see ``readers.by_value``), so the frame costs
    a few dozen bytes a row whatever the text.
    """
    require_columns(raw, RETAIL_COLUMNS, source=source)
    raw = raw.reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "row": np.arange(1, len(raw) + 1),
            "invoice": text_column(raw["InvoiceNo"], str.upper),
            "sku": text_column(raw["StockCode"], str.upper),
            "description": text_column(raw["Description"]),
            "quantity": number_column(raw["Quantity"], "Quantity", integral=True),
            "placed_at": _timestamps(raw["InvoiceDate"], "InvoiceDate", tz, date_format),
            "unit_price": number_column(raw["UnitPrice"], "UnitPrice", integral=False),
            "customer": number_column(raw["CustomerID"], "CustomerID", integral=True),
            "country": text_column(raw["Country"]),
        }
    )
    frame["external_id"] = _external_ids(frame["customer"])
    return frame


def _per_value(values: pd.Series, predicate: Callable[[str], bool]) -> pd.Series:
    """``predicate`` of each cell, evaluated once per distinct value."""
    return pd.Series(by_value(values, predicate, missing=False).astype(bool), index=values.index)


def classify(frame: pd.DataFrame, rules: Rules) -> tuple[pd.Series, pd.Series]:
    """The rejection reason of each row ('' for rows to import) and a detail for some reasons."""
    invoice, sku = frame["invoice"], frame["sku"]
    is_cancellation = _per_value(invoice, lambda text: text.startswith("C"))
    product_code, invoice_number = re.compile(PRODUCT_CODE), re.compile(INVOICE_NUMBER)
    is_product_code = _per_value(sku, lambda text: product_code.match(text) is not None)
    is_invoice_number = _per_value(invoice, lambda text: invoice_number.match(text) is not None)
    is_non_product = _per_value(
        sku, lambda text: text in NON_PRODUCT_CODES or text.startswith(NON_PRODUCT_PREFIXES)
    )
    quantity, price, placed_at = frame["quantity"], frame["unit_price"], frame["placed_at"]
    too_long = pd.Series("", index=frame.index, dtype=object)
    for column, (name, limit) in TEXT_LIMITS.items():
        long = _per_value(frame[name], lambda text, limit=limit: len(text) > limit) & (too_long == "")
        too_long = too_long.mask(long, f"{column} is longer than {limit} characters")
    rules_in_order = [
        (
            Reason.MISSING_VALUE,
            (invoice == "") | (sku == "") | quantity.isna() | price.isna() | placed_at.isna(),
        ),
        (Reason.UNRECOGNISED_INVOICE, ~is_invoice_number),
        (Reason.NON_PRODUCT_CODE, is_non_product),
        (Reason.UNRECOGNISED_CODE, ~is_product_code),
        (Reason.FUTURE_DATE, placed_at > rules.latest),
        (Reason.BEFORE_EARLIEST_DATE, placed_at < rules.earliest),
        (Reason.STOCK_ADJUSTMENT, ~is_cancellation & (quantity <= 0)),
        (Reason.NON_NEGATIVE_QUANTITY_ON_CANCELLATION, is_cancellation & (quantity >= 0)),
        (Reason.NON_POSITIVE_PRICE, (~is_cancellation & (price <= 0)) | (is_cancellation & (price < 0))),
        # 0.001 would be stored as a 0.00 sale.
        (Reason.PRICE_BELOW_SMALLEST_UNIT, (price.abs() > 0) & (price.abs() < 0.01)),
        (Reason.PRICE_TOO_HIGH, price.abs() > rules.max_unit_price),
        (Reason.OUT_OF_RANGE, (quantity.abs() > MAX_QUANTITY) | (price.round(2).abs() >= MAX_PRICE)),
        (Reason.TEXT_TOO_LONG, too_long != ""),
    ]
    reason = pd.Series("", index=frame.index, dtype=object)
    for name, mask in rules_in_order:
        reason = reason.mask((reason == "") & mask.fillna(False).astype(bool), str(name))
    detail = too_long.where(reason == str(Reason.TEXT_TOO_LONG), "")
    # An invoice belongs to one customer in one country: a row saying otherwise is not merged into it.
    candidates = frame.loc[reason == "", ["invoice", "external_id", "country"]]
    customer_code = pd.factorize(candidates["external_id"].fillna(""))[0]
    country_code, countries = pd.factorize(candidates["country"])
    owner = pd.Series(customer_code * (len(countries) + 1) + country_code, index=candidates.index)
    first_owner = owner.groupby(candidates["invoice"], sort=False).transform("first")
    conflicting = (owner != first_owner).reindex(frame.index, fill_value=False)
    if conflicting.any():
        first_rows = candidates.groupby("invoice", sort=False).head(1).set_index("invoice")
        first_text = (
            "invoice's first row is for customer "
            + first_rows["external_id"].fillna("")
            + " in "
            + first_rows["country"]
        )
        reason = reason.mask(conflicting, str(Reason.CONFLICTING_INVOICE))
        detail = detail.mask(conflicting, frame["invoice"].map(first_text))
    return reason, detail


def content_ranks(frame: pd.DataFrame, group: str) -> tuple[pd.Series, pd.Series]:
    """Occurrence and line number of each line from its content alone, never from its file position.

    ``occurrence`` counts identical lines (same document, product, quantity and price in cents):
    a product bought twice at the same price on one invoice is two lines, 1 and 2. ``line_number``
    is the line's rank in its document sorted by (sku, quantity, cents, occurrence). Both depend
    only on which lines the document holds, so any file holding the document's lines gives the
    same key, whatever the order of its rows or what else it holds.
    """
    key = [group, "sku", "quantity", "cents"]
    occurrence = frame.groupby(key, sort=False).cumcount() + 1
    ordered = frame[key].assign(occurrence=occurrence).sort_values([*key, "occurrence"], kind="stable")
    line_number = ordered.groupby(group, sort=False).cumcount().reindex(frame.index) + 1
    return occurrence.astype("int64"), line_number.astype("int64")


def _is_usable_description(text: str) -> bool:
    text = text.strip()
    return text != "" and text.lower() != "nan" and not text.startswith("?") and text != text.lower()


def _product_names(frame: pd.DataFrame, imported: pd.Series) -> pd.Series:
    """Most frequent usable description per sku, from imported rows first, then from any row of the code."""
    usable = frame[_per_value(frame["description"], _is_usable_description)]
    counts = (
        usable.assign(imported=imported[usable.index])
        .groupby(["sku", "description"], sort=False)
        .agg(imported=("imported", "sum"), seen=("row", "size"))
        .reset_index()
        .sort_values(["sku", "imported", "seen", "description"], ascending=[True, False, False, True])
    )
    return counts.drop_duplicates("sku").set_index("sku")["description"]


def plan_transactions(
    raw: pd.DataFrame, *, tz: ZoneInfo, source: str = "file", rules: Rules | None = None
) -> TransactionPlan:
    """Classify every row of a UCI Online Retail table and build the rows to write.

    Frames are cut to the columns each step needs and dropped as soon as the next is built, so a
    file of millions of rows peaks at a few hundred bytes a row.
    """
    rules = rules or default_rules()
    frame = normalise(raw, tz=tz, source=source, date_format=rules.date_format)
    frame["reason"], frame["detail"] = classify(frame, rules)
    imported = frame["reason"] == ""
    source_rows = raw.reset_index(drop=True)
    rejected = rejected_rows(source_rows, frame.loc[~imported, ["row", "reason", "detail"]])
    reason_counts = frame["reason"][~imported].value_counts().to_dict()
    names = _product_names(frame, imported)
    rows_read = len(frame)
    kept = frame.loc[
        imported,
        ["row", "invoice", "sku", "quantity", "placed_at", "unit_price", "external_id", "country"],
    ]
    del frame
    kept["cents"] = (kept["unit_price"] * 100).round().astype("int64")
    kept["unit_price"] = kept["unit_price"].round(2)
    kept["quantity"] = kept["quantity"].astype("int64")
    kept["occurrence"], kept["line_number"] = content_ranks(kept, "invoice")
    is_cancellation = _per_value(kept["invoice"], lambda text: text.startswith("C")).to_numpy()

    latest_price = (
        kept.loc[kept["unit_price"] > 0, ["sku", "unit_price", "placed_at", "row"]]
        .assign(is_sale=~is_cancellation[(kept["unit_price"] > 0).to_numpy()])
        .sort_values(["is_sale", "placed_at", "row"], kind="stable")
        .groupby("sku")["unit_price"]
        .last()
    )
    skus = pd.Index(kept["sku"].unique(), name="sku")
    products = pd.DataFrame(
        {
            "sku": skus,
            "name": names.reindex(skus).fillna(pd.Series(skus, index=skus)).str.slice(0, 255).to_numpy(),
            "price": latest_price.reindex(skus).fillna(0.0).round(2).to_numpy(),
        }
    )
    del latest_price

    with_customer = kept.loc[kept["external_id"].notna(), ["external_id", "country", "placed_at", "row"]]
    customers = (
        with_customer.sort_values(["placed_at", "row"], kind="stable")
        .groupby("external_id", sort=True)["country"]
        .last()
        .reset_index()
    )
    del with_customer

    sales = kept[~is_cancellation]
    # An order is placed when its earliest line is: the same whichever of its lines a file holds.
    orders = (
        sales[["invoice", "external_id", "placed_at", "country", "row"]]
        .sort_values(["placed_at", "row"], kind="stable")
        .groupby("invoice", sort=False)
        .agg(
            external_id=("external_id", "first"),
            placed_at=("placed_at", "first"),
            country=("country", "first"),
        )
        .rename_axis("number")
        .reset_index()
    )
    lines = sales[
        [
            "invoice",
            "line_number",
            "occurrence",
            "sku",
            "quantity",
            "unit_price",
            "cents",
            "external_id",
            "placed_at",
            "row",
        ]
    ].rename(columns={"invoice": "number"})
    del sales
    cancels = kept[is_cancellation]
    del kept
    cancellations = pd.DataFrame(
        {
            "reference": cancels["invoice"],
            "line_number": cancels["line_number"],
            "occurrence": cancels["occurrence"],
            "sku": cancels["sku"],
            "external_id": cancels["external_id"],
            "quantity": -cancels["quantity"],
            "unit_price": cancels["unit_price"],
            "cents": cancels["cents"],
            "created_at": cancels["placed_at"],
            "row": cancels["row"],
        }
    )
    plan = TransactionPlan(
        rows_read=rows_read,
        products=products,
        customers=customers,
        orders=orders,
        lines=lines.reset_index(drop=True),
        cancellations=cancellations.reset_index(drop=True),
        rejected=rejected,
        source=source_rows,
        reason_counts={str(reason): int(count) for reason, count in reason_counts.items()},
    )
    if plan.rows_planned != plan.rows_read:  # a bug, not bad data: refuse to write a partial import
        raise RuntimeError(f"planned {plan.rows_planned} rows but read {plan.rows_read}")
    return plan


def rejected_rows(source: pd.DataFrame, reasons: pd.DataFrame) -> pd.DataFrame:
    """The input rows (``reasons.row``, 1-based) as read, with row, reason and detail columns."""
    rejected = source.iloc[reasons["row"].to_numpy() - 1].copy()
    rejected.insert(0, "row", reasons["row"].to_numpy())
    rejected["reason"] = reasons["reason"].to_numpy()
    rejected["detail"] = reasons["detail"].to_numpy()
    return rejected
