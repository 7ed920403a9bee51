"""Planning supplier and supply-terms imports: pure pandas, on the shop's keyed-import framework.

Suppliers (``name,email,lead_time_days``): upsert by name, compared case-insensitively (the
name is stored as first written). Supply terms (``sku,supplier,unit_cost`` and optionally
``minimum_order,pack_size,lead_time_days``): upsert by SKU; the supplier is named as in the
suppliers file. A blank cell, or a column the file lacks, leaves the stored value (a new
row gets the default: email none, lead time the supplier's or ``INVENTORY_LEAD_TIME_DAYS``,
minimum order and pack size 1). Reasons found here: ``missing_value``, ``invalid_value``,
``text_too_long``, ``duplicate_row``, ``conflicting_rows``; ``unknown_sku`` and
``unknown_supplier`` are found against the database.
"""

from __future__ import annotations

import pandas as pd
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from shop.importing.catalogue import SKU_LENGTH
from shop.importing.tables import (
    Reason,
    Rejections,
    TablePlan,
    finish_plan,
    money,
    read_columns,
    reject_repeated_keys,
    whole_numbers,
)

SUPPLIER_NAME_LENGTH = 120  # Supplier.name
EMAIL_LENGTH = 254


def _is_email(text: str) -> bool:
    try:
        validate_email(text)
    except ValidationError:
        return False
    return True


def _whole(frame: pd.DataFrame, rejections: Rejections, column: str, *, minimum: int) -> None:
    if column not in frame:
        return
    values, bad = whole_numbers(frame[column], minimum=minimum)
    rejections.add(bad != "", Reason.INVALID_VALUE, f"{column} " + bad)
    frame[column] = values


def plan_suppliers(raw: pd.DataFrame, *, source: str = "file") -> TablePlan:
    frame, columns = read_columns(raw, required=["name"], optional=["email", "lead_time_days"], source=source)
    rejections = Rejections(frame.index)
    rejections.add(frame["name"] == "", Reason.MISSING_VALUE, "no supplier name")
    rejections.add(
        frame["name"].str.len() > SUPPLIER_NAME_LENGTH,
        Reason.TEXT_TOO_LONG,
        f"a supplier name has at most {SUPPLIER_NAME_LENGTH} characters",
    )
    if "email" in frame:
        bad = (frame["email"] != "") & ~frame["email"].map(_is_email)
        rejections.add(
            bad, Reason.INVALID_VALUE, "email " + frame["email"].map(repr) + " is not an email address"
        )
    _whole(frame, rejections, "lead_time_days", minimum=1)
    frame["key"] = frame["name"].str.casefold()
    reject_repeated_keys(frame.drop(columns=["name"]), rejections, key="key", label="supplier name")
    return finish_plan(raw, frame, rejections, columns)


def plan_supply_terms(raw: pd.DataFrame, *, source: str = "file") -> TablePlan:
    frame, columns = read_columns(
        raw,
        required=["sku", "supplier", "unit_cost"],
        optional=["minimum_order", "pack_size", "lead_time_days"],
        source=source,
    )
    rejections = Rejections(frame.index)
    frame["sku"] = frame["sku"].str.upper()
    rejections.add(frame["sku"] == "", Reason.MISSING_VALUE, "no SKU")
    rejections.add(frame["supplier"] == "", Reason.MISSING_VALUE, "no supplier")
    rejections.add(frame["unit_cost"] == "", Reason.MISSING_VALUE, "no unit_cost")
    rejections.add(
        frame["sku"].str.len() > SKU_LENGTH,
        Reason.TEXT_TOO_LONG,
        f"a SKU has at most {SKU_LENGTH} characters",
    )
    costs, bad = money(frame["unit_cost"])
    rejections.add(bad != "", Reason.INVALID_VALUE, "unit_cost " + bad)
    frame["unit_cost"] = costs
    for column in ("minimum_order", "pack_size", "lead_time_days"):
        _whole(frame, rejections, column, minimum=1)
    frame["supplier_key"] = frame["supplier"].str.casefold()
    reject_repeated_keys(frame.drop(columns=["supplier"]), rejections, key="sku", label="SKU")
    return finish_plan(raw, frame, rejections, columns)
