"""Planning stock counts (``sku,on_hand``) and category paths (``sku,category``): pure pandas.

Stock counts: ``on_hand`` is a whole number of units from 0 up. Categories: a path such
as ``Home > Kitchen`` (parts split on ">", trimmed), at most 120 characters. SKUs are
compared upper-cased, as the transaction import stores them. Reasons found here:
``missing_value``, ``invalid_value``, ``text_too_long``, ``duplicate_row`` (the same row
again: the first counts) and ``conflicting_rows`` (one SKU with different values: none
counts); ``unknown_sku`` and ``below_reserved`` are found against the database.
"""

from __future__ import annotations

import pandas as pd

from shop.models import category_path

from .tables import (
    Reason,
    Rejections,
    TablePlan,
    finish_plan,
    read_columns,
    reject_repeated_keys,
    whole_numbers,
)

CATEGORY_NAME_LENGTH = 120  # Category.name
SKU_LENGTH = 32  # Product.sku


def _skus(frame: pd.DataFrame, rejections: Rejections) -> None:
    frame["sku"] = frame["sku"].str.upper()
    rejections.add(frame["sku"] == "", Reason.MISSING_VALUE, "no SKU")
    too_long = frame["sku"].str.len() > SKU_LENGTH
    rejections.add(too_long, Reason.TEXT_TOO_LONG, f"a SKU has at most {SKU_LENGTH} characters")


def plan_stock_counts(raw: pd.DataFrame, *, source: str = "file") -> TablePlan:
    frame, columns = read_columns(raw, required=["sku", "on_hand"], source=source)
    rejections = Rejections(frame.index)
    _skus(frame, rejections)
    rejections.add(frame["on_hand"] == "", Reason.MISSING_VALUE, "no on_hand count")
    counts, bad = whole_numbers(frame["on_hand"], minimum=0)
    rejections.add(bad != "", Reason.INVALID_VALUE, "on_hand " + bad)
    frame["on_hand"] = counts
    reject_repeated_keys(frame, rejections, key="sku", label="SKU")
    return finish_plan(raw, frame, rejections, columns)


def plan_categories(raw: pd.DataFrame, *, source: str = "file") -> TablePlan:
    frame, columns = read_columns(raw, required=["sku", "category"], source=source)
    rejections = Rejections(frame.index)
    _skus(frame, rejections)
    frame["category"] = frame["category"].map(category_path)
    rejections.add(frame["category"] == "", Reason.MISSING_VALUE, "no category")
    too_long = frame["category"].str.len() > CATEGORY_NAME_LENGTH
    rejections.add(
        too_long, Reason.TEXT_TOO_LONG, f"a category path has at most {CATEGORY_NAME_LENGTH} characters"
    )
    reject_repeated_keys(frame, rejections, key="sku", label="SKU")
    return finish_plan(raw, frame, rejections, columns)
