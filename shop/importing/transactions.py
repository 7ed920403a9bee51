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
- ``out_of_range``: a quantity or price too large for the database columns.
- ``duplicate_row``: an exact copy (all eight columns) of an earlier importable
  row; the first copy is imported.

Lower-case codes are the same product as their upper-case form. A product's
name is the most frequent usable description of its code (not blank, not
"nan", not starting with "?", not an all-lower-case note like "damaged"),
preferring descriptions on imported lines; its price is the most recent positive
unit price. Guest lines (no CustomerID) become orders without a customer. A
cancelled line and its cancellation are both kept: demand nets them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from .readers import ImportFileError, number_column, require_columns, text_column

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
    STOCK_ADJUSTMENT = "stock_adjustment"
    NON_NEGATIVE_QUANTITY_ON_CANCELLATION = "non_negative_quantity_on_cancellation"
    NON_POSITIVE_PRICE = "non_positive_price"
    OUT_OF_RANGE = "out_of_range"
    DUPLICATE_ROW = "duplicate_row"


@dataclass
class TransactionPlan:
    """What an import would write, with every input row accounted for."""

    rows_read: int
    products: pd.DataFrame  # sku, name, price
    customers: pd.DataFrame  # external_id, country
    orders: pd.DataFrame  # number, external_id (None for guests), placed_at, country
    lines: pd.DataFrame  # number, line_number, sku, quantity, unit_price, external_id, placed_at
    cancellations: pd.DataFrame  # reference, line_number, sku, external_id, quantity, unit_price, created_at
    rejected: pd.DataFrame  # the input columns as read, plus row (1-based) and reason
    reason_counts: dict[str, int] = field(default_factory=dict)

    @property
    def rows_planned(self) -> int:
        return len(self.lines) + len(self.cancellations) + len(self.rejected)


def _timestamps(values: pd.Series, column: str, tz: ZoneInfo) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    elif pd.api.types.is_numeric_dtype(values) and not values.isna().all():
        raise ImportFileError(f"column {column}: expected dates, found {values.dtype} values.")
    else:
        text = text_column(values)
        blank = text == ""
        parsed = pd.to_datetime(text.where(~blank), format="ISO8601", errors="coerce")
        retry = parsed.isna() & ~blank
        if retry.any():  # the original UCI CSV writes "12/1/2010 8:26"
            parsed[retry] = pd.to_datetime(text[retry], format="mixed", dayfirst=False, errors="coerce")
        bad = parsed.isna() & ~blank
        if bad.any():
            first = int(np.flatnonzero(bad.to_numpy())[0])
            raise ImportFileError(
                f"column {column}: {int(bad.sum())} value(s) are not dates, "
                f"e.g. {text.iloc[first]!r} in row {first + 1}."
            )
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert(None)
    if parsed.dt.tz is not None:
        return parsed.dt.tz_convert(tz)
    # Wall-clock times: the repeated autumn hour is read as standard time, the skipped spring hour moves on.
    return parsed.dt.tz_localize(tz, ambiguous=np.zeros(len(parsed), dtype=bool), nonexistent="shift_forward")


def normalise(raw: pd.DataFrame, *, tz: ZoneInfo, source: str) -> pd.DataFrame:
    """Typed, trimmed columns, or ``ImportFileError`` naming the first column that cannot be read."""
    require_columns(raw, RETAIL_COLUMNS, source=source)
    raw = raw.reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "row": np.arange(1, len(raw) + 1),
            "invoice": text_column(raw["InvoiceNo"]).str.upper(),
            "sku": text_column(raw["StockCode"]).str.upper(),
            "description": text_column(raw["Description"]),
            "quantity": number_column(raw["Quantity"], "Quantity", integral=True),
            "placed_at": _timestamps(raw["InvoiceDate"], "InvoiceDate", tz),
            "unit_price": number_column(raw["UnitPrice"], "UnitPrice", integral=False),
            "customer": number_column(raw["CustomerID"], "CustomerID", integral=True),
            "country": text_column(raw["Country"]),
        }
    )
    frame["external_id"] = frame["customer"].map(
        lambda v: None if np.isnan(v) else str(int(v)), na_action=None
    )
    return frame


def classify(frame: pd.DataFrame) -> pd.Series:
    """The rejection reason of each row, or '' for rows to import."""
    is_cancellation = frame["invoice"].str.startswith("C")
    sku = frame["sku"]
    is_product_code = sku.str.match(PRODUCT_CODE)
    is_non_product = sku.isin(NON_PRODUCT_CODES) | sku.str.startswith(NON_PRODUCT_PREFIXES)
    quantity, price = frame["quantity"], frame["unit_price"]
    rules = [
        (
            Reason.MISSING_VALUE,
            (frame["invoice"] == "")
            | (sku == "")
            | quantity.isna()
            | price.isna()
            | frame["placed_at"].isna(),
        ),
        (Reason.UNRECOGNISED_INVOICE, ~frame["invoice"].str.match(INVOICE_NUMBER)),
        (Reason.NON_PRODUCT_CODE, is_non_product),
        (Reason.UNRECOGNISED_CODE, ~is_product_code),
        (Reason.STOCK_ADJUSTMENT, ~is_cancellation & (quantity <= 0)),
        (Reason.NON_NEGATIVE_QUANTITY_ON_CANCELLATION, is_cancellation & (quantity >= 0)),
        (Reason.NON_POSITIVE_PRICE, (~is_cancellation & (price <= 0)) | (is_cancellation & (price < 0))),
        (Reason.OUT_OF_RANGE, (quantity.abs() > MAX_QUANTITY) | (price.round(2).abs() >= MAX_PRICE)),
    ]
    reason = pd.Series("", index=frame.index, dtype=object)
    for name, mask in rules:
        reason = reason.mask((reason == "") & mask.fillna(False).astype(bool), str(name))
    content = ["invoice", "sku", "description", "quantity", "placed_at", "unit_price", "customer", "country"]
    # Only copies of importable rows count as duplicates: a duplicated postage line is still postage.
    candidates = reason == ""
    duplicate = frame[candidates][content].duplicated(keep="first").reindex(frame.index, fill_value=False)
    return reason.mask(duplicate, str(Reason.DUPLICATE_ROW))


def _usable_description(description: pd.Series) -> pd.Series:
    text = description.str.strip()
    return (text != "") & (text.str.lower() != "nan") & ~text.str.startswith("?") & (text != text.str.lower())


def _product_names(frame: pd.DataFrame, imported: pd.Series) -> pd.Series:
    """Most frequent usable description per sku, from imported rows first, then from any row of the code."""
    usable = frame[_usable_description(frame["description"])]
    counts = (
        usable.assign(imported=imported[usable.index])
        .groupby(["sku", "description"], sort=False)
        .agg(imported=("imported", "sum"), seen=("row", "size"))
        .reset_index()
        .sort_values(["sku", "imported", "seen", "description"], ascending=[True, False, False, True])
    )
    return counts.drop_duplicates("sku").set_index("sku")["description"]


def link_cancellations(cancellations: pd.DataFrame, sales: pd.DataFrame) -> pd.DataFrame:
    """For each cancellation, the latest sale line at or before it of the same customer and product.

    ``cancellations`` needs external_id, sku and created_at; ``sales`` needs
    external_id, sku, placed_at, number and line_number. Returns the
    cancellations (same index) with ``linked_number`` and ``linked_line_number``,
    missing for guests and for cancellations whose sale is not known.
    """
    result = cancellations.copy()
    result["linked_number"] = None
    result["linked_line_number"] = np.nan
    known = result["external_id"].notna()
    if not known.any() or sales.empty:
        return result
    left = (
        result.loc[known, ["external_id", "sku", "created_at"]]
        .rename_axis("cancellation_index")
        .reset_index()
        .sort_values("created_at", kind="stable")
    )
    right = (
        sales.loc[sales["external_id"].notna(), ["external_id", "sku", "placed_at", "number", "line_number"]]
        .sort_values(["placed_at", "number", "line_number"], kind="stable")
        .rename(columns={"placed_at": "created_at"})
    )
    right["created_at"] = right["created_at"].astype(left["created_at"].dtype)
    merged = pd.merge_asof(left, right, on="created_at", by=["external_id", "sku"], direction="backward")
    merged = merged.set_index("cancellation_index")
    result.loc[merged.index, "linked_number"] = merged["number"].where(merged["number"].notna(), None)
    result.loc[merged.index, "linked_line_number"] = merged["line_number"]
    return result


def plan_transactions(raw: pd.DataFrame, *, tz: ZoneInfo, source: str = "file") -> TransactionPlan:
    """Classify every row of a UCI Online Retail table and build the rows to write."""
    frame = normalise(raw, tz=tz, source=source)
    # Position within the invoice over all its rows, rejected or not, so a re-import numbers lines the same.
    frame["line_number"] = frame.groupby("invoice", sort=False).cumcount() + 1
    frame["reason"] = classify(frame)
    imported = frame["reason"] == ""
    is_cancellation = frame["invoice"].str.startswith("C")
    sales = frame[imported & ~is_cancellation]
    cancels = frame[imported & is_cancellation]
    kept = frame[imported]

    names = _product_names(frame, imported)
    latest_price = (
        kept[kept["unit_price"] > 0]
        .assign(is_sale=lambda f: ~f["invoice"].str.startswith("C"))
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

    with_customer = kept[kept["external_id"].notna()].sort_values(["placed_at", "row"], kind="stable")
    customers = with_customer.groupby("external_id", sort=True)["country"].last().reset_index()

    orders = (
        sales.sort_values(["placed_at", "row"], kind="stable")
        .groupby("invoice", sort=False)
        .agg(
            external_id=("external_id", "first"),
            placed_at=("placed_at", "first"),
            country=("country", "first"),
        )
        .rename_axis("number")
        .reset_index()
    )
    lines = pd.DataFrame(
        {
            "number": sales["invoice"],
            "line_number": sales["line_number"],
            "sku": sales["sku"],
            "quantity": sales["quantity"].astype("int64"),
            "unit_price": sales["unit_price"].round(2),
            "external_id": sales["external_id"],
            "placed_at": sales["placed_at"],
        }
    )
    cancellations = link_cancellations(
        pd.DataFrame(
            {
                "reference": cancels["invoice"],
                "line_number": cancels["line_number"],
                "sku": cancels["sku"],
                "external_id": cancels["external_id"],
                "quantity": (-cancels["quantity"]).astype("int64"),
                "unit_price": cancels["unit_price"].round(2),
                "created_at": cancels["placed_at"],
            }
        ),
        lines,
    )
    rejected = raw.reset_index(drop=True).loc[~imported.to_numpy()].copy()
    rejected.insert(0, "row", frame.loc[~imported, "row"].to_numpy())
    rejected["reason"] = frame.loc[~imported, "reason"].to_numpy()
    reason_counts = {str(reason): int((frame["reason"] == reason).sum()) for reason in Reason}
    plan = TransactionPlan(
        rows_read=len(frame),
        products=products,
        customers=customers,
        orders=orders,
        lines=lines.reset_index(drop=True),
        cancellations=cancellations.reset_index(drop=True),
        rejected=rejected,
        reason_counts={reason: count for reason, count in reason_counts.items() if count},
    )
    if plan.rows_planned != plan.rows_read:  # a bug, not bad data: refuse to write a partial import
        raise RuntimeError(f"planned {plan.rows_planned} rows but read {plan.rows_read}")
    return plan
