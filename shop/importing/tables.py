"""What the keyed imports (stock counts, suppliers, supply terms, categories) share.

Each of them reads a table with a header row, one row per key (a SKU or a supplier name),
and upserts by that key. Like the transaction import, every row ends up imported (new,
changed or unchanged) or rejected with one reason and a detail; the rejects file and the
row accounting are checked inside the import's transaction; a file that cannot be read at
all stops with ``ImportFileError`` before anything is written. Planning here is pure pandas;
each app's services write the plan (``run_import``) and report every row's outcome, which the
commands summarise and the admin shows as a preview.

Cells are text, stripped. A blank cell, or a column the file does not have, leaves the stored
value as it is (a new row gets the default), so a file never needs every column.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from django.db import transaction

from .outcomes import CHANGED, NEW, REJECTED, UNCHANGED  # noqa: F401  (importers read them from here)
from .readers import ImportFileError, require_columns, text_column

WHOLE = re.compile(r"[+-]?\d+(\.0*)?")
CENT = Decimal("0.01")


class Reason:
    """Reasons every keyed import uses; each import adds its own (``unknown_sku``, ...)."""

    MISSING_VALUE = "missing_value"
    INVALID_VALUE = "invalid_value"
    TEXT_TOO_LONG = "text_too_long"
    DUPLICATE_ROW = "duplicate_row"
    CONFLICTING_ROWS = "conflicting_rows"


@dataclass
class TablePlan:
    """A keyed import's rows: those still to be matched with the database, and those already rejected."""

    rows_read: int
    rows: pd.DataFrame  # row (1-based), key, and one column per value, parsed
    rejected: pd.DataFrame  # row, reason, detail
    source: pd.DataFrame  # the input as read, to write rejected rows as they were
    columns: frozenset[str]  # the value columns the file has (a missing one leaves stored values alone)

    def rejected_rows(self, reasons: pd.DataFrame) -> pd.DataFrame:
        """The input rows named by ``reasons`` (row, reason, detail) as read, in file order."""
        reasons = reasons.sort_values("row", kind="stable")
        rows = self.source.iloc[reasons["row"].to_numpy(dtype=np.int64) - 1].copy()
        rows.insert(0, "row", reasons["row"].to_numpy())
        rows["reason"] = reasons["reason"].to_numpy()
        rows["detail"] = reasons["detail"].to_numpy()
        return rows


class Rejections:
    """The first reason found for each row wins; rows without one are still candidates."""

    def __init__(self, index: pd.Index) -> None:
        self.reason = pd.Series("", index=index, dtype=object)
        self.detail = pd.Series("", index=index, dtype=object)

    @property
    def open(self) -> pd.Series:
        return self.reason == ""

    def add(self, mask: pd.Series | np.ndarray, reason: str, detail: pd.Series | str = "") -> None:
        mask = pd.Series(np.asarray(mask, dtype=bool), index=self.reason.index) & self.open
        self.reason = self.reason.mask(mask, reason)
        self.detail = self.detail.mask(mask, detail)

    def frame(self, rows: pd.Series) -> pd.DataFrame:
        taken = ~self.open
        return pd.DataFrame(
            {
                "row": rows[taken].to_numpy(),
                "reason": self.reason[taken].to_numpy(),
                "detail": self.detail[taken],
            }
        ).reset_index(drop=True)


def read_columns(
    raw: pd.DataFrame, *, required: Sequence[str], optional: Sequence[str] = (), source: str
) -> tuple[pd.DataFrame, frozenset[str]]:
    """``row`` plus each required and present optional column as stripped text; extra columns ignored.

    Header names are matched case-insensitively; a required column missing, or no rows, stops the import.
    """
    renamed = raw.rename(columns={column: str(column).strip().lower() for column in raw.columns})
    renamed = renamed.loc[:, ~renamed.columns.duplicated()]
    require_columns(renamed, list(required), source=source)
    present = [column for column in optional if column in renamed.columns]
    frame = pd.DataFrame({"row": np.arange(1, len(raw) + 1)})
    for column in [*required, *present]:
        frame[column] = text_column(renamed[column].reset_index(drop=True)).to_numpy()
    return frame, frozenset([*required, *present])


def whole_numbers(text: pd.Series, *, minimum: int) -> tuple[pd.Series, pd.Series]:
    """Cells as whole numbers (None where blank) and a detail for each cell that is not one >= ``minimum``."""
    given = text != ""
    whole = text.map(lambda value: bool(WHOLE.fullmatch(value)))
    numbers = pd.to_numeric(text.where(given & whole), errors="coerce")
    bad = given & (~whole | numbers.isna() | (numbers < minimum) | (numbers.abs() > 2**31 - 1))
    detail = pd.Series("", index=text.index, dtype=object)
    detail[bad] = [f"{value!r} is not a whole number of at least {minimum}" for value in text[bad]]
    values = pd.Series([None if pd.isna(n) else int(n) for n in numbers], index=text.index, dtype=object)
    return values.where(~bad, None), detail


def money(text: pd.Series, *, largest: Decimal = Decimal("99999999.99")) -> tuple[pd.Series, pd.Series]:
    """Cells as amounts rounded to the cent (None where blank) and a detail for each bad cell."""

    def parse(value: str) -> tuple[Decimal | None, str]:
        if value == "":
            return None, ""
        try:
            amount = Decimal(value.replace(",", "")) if value.count(",") <= 1 else Decimal("nan")
        except InvalidOperation:
            return None, f"{value!r} is not an amount"
        if not amount.is_finite() or amount < 0 or amount > largest:
            return None, f"{value!r} is not an amount from 0 to {largest}"
        return amount.quantize(CENT, rounding=ROUND_HALF_UP), ""

    parsed = [parse(value) for value in text]
    return (
        pd.Series([amount for amount, _ in parsed], index=text.index, dtype=object),
        pd.Series([detail for _, detail in parsed], index=text.index, dtype=object),
    )


def reject_repeated_keys(frame: pd.DataFrame, rejections: Rejections, *, key: str, label: str) -> None:
    """Rows repeating a key: identical repeats after the first are ``duplicate_row``; a key whose rows
    disagree is ambiguous, so every one of its rows is ``conflicting_rows``, naming the others."""
    candidates = frame[rejections.open]
    values = [column for column in candidates.columns if column not in ("row", key)]
    repeated = candidates[candidates.duplicated(key, keep=False)]
    if repeated.empty:
        return
    signature = repeated[values].astype(str).agg("\x1f".join, axis=1)
    distinct = signature.groupby(repeated[key]).transform("nunique")
    rows_of_key = repeated.groupby(key)["row"].agg(lambda rows: ", ".join(map(str, rows)))
    disagree = distinct > 1
    detail = (
        repeated[key].map(rows_of_key).map(lambda rows: f"rows {rows} give different values for this {label}")
    )
    rejections.add(frame.index.isin(repeated.index[disagree.to_numpy()]), Reason.CONFLICTING_ROWS,
                   detail.reindex(frame.index).fillna(""))  # fmt: skip
    same = repeated[~disagree.to_numpy()]
    later = same.duplicated(key, keep="first")
    first_row = same.groupby(key)["row"].transform("first")
    rejections.add(
        frame.index.isin(same.index[later.to_numpy()]),
        Reason.DUPLICATE_ROW,
        ("same as row " + first_row.astype(str)).reindex(frame.index).fillna(""),
    )


def finish_plan(
    raw: pd.DataFrame, frame: pd.DataFrame, rejections: Rejections, columns: frozenset[str]
) -> TablePlan:
    return TablePlan(
        rows_read=len(frame),
        rows=frame[rejections.open.to_numpy()].reset_index(drop=True),
        rejected=rejections.frame(frame["row"]),
        source=raw.reset_index(drop=True),
        columns=columns,
    )


# --- results -----------------------------------------------------------------------------------------


@dataclass
class RowOutcome:
    """What happened to one input row: for the command's counts and the admin's preview."""

    row: int
    key: str
    outcome: str  # NEW, CHANGED, UNCHANGED or REJECTED
    before: dict[str, Any] = field(default_factory=dict)  # stored values the row changes (CHANGED)
    after: dict[str, Any] = field(default_factory=dict)  # values after the import
    reason: str = ""
    detail: str = ""


@dataclass
class TableImportResult:
    """Every row's outcome; ``notes`` are lines the command adds to its summary."""

    rows_read: int
    outcomes: list[RowOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    def count(self, outcome: str) -> int:
        return sum(1 for row in self.outcomes if row.outcome == outcome)

    @property
    def rejected(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.outcomes:
            if row.outcome == REJECTED:
                counts[row.reason] = counts.get(row.reason, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: -item[1]))

    @property
    def rows_accounted(self) -> int:
        """Rows with exactly one outcome (-1 when a row has two: a bug, which stops the import)."""
        rows = {row.row for row in self.outcomes}
        return len(rows) if len(rows) == len(self.outcomes) else -1

    def rejected_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [(row.row, row.reason, row.detail) for row in self.outcomes if row.outcome == REJECTED],
            columns=["row", "reason", "detail"],
        )


def plan_rejections(plan: TablePlan, *, key_column: str) -> list[RowOutcome]:
    """The plan's own rejects as outcomes."""
    keys = dict(zip(plan.source.index + 1, _key_text(plan.source, key_column), strict=True))
    return [
        RowOutcome(row=int(row), key=keys.get(int(row), ""), outcome=REJECTED, reason=reason, detail=detail)
        for row, reason, detail in plan.rejected[["row", "reason", "detail"]].itertuples(index=False)
    ]


def _key_text(source: pd.DataFrame, key_column: str) -> list[str]:
    lowered = {str(column).strip().lower(): column for column in source.columns}
    if key_column not in lowered:
        return [""] * len(source)
    return text_column(source[lowered[key_column]]).tolist()


class _DryRun(Exception):
    def __init__(self, result: TableImportResult) -> None:
        self.result = result


Result = TypeVar("Result", bound=TableImportResult)


def run_import(
    write: Callable[[], Result],
    *,
    dry_run: bool = False,
    before_commit: Callable[[Result], None] | None = None,
) -> Result:
    """``write()`` in one transaction; ``before_commit`` (rejects file, accounting) inside it.

    A dry run does all the work, reports it, and rolls it back: what the admin previews is what the
    same call without ``dry_run`` would write, row for row.
    """
    try:
        with transaction.atomic():
            result = write()
            if result.rows_accounted != result.rows_read:
                raise ImportFileError(
                    f"accounted for {result.rows_accounted:,} rows but read {result.rows_read:,}."
                )
            if before_commit is not None:
                before_commit(result)
            if dry_run:
                result.dry_run = True
                raise _DryRun(result)
    except _DryRun as rolled_back:
        return rolled_back.result  # type: ignore[return-value]
    return result


def chunked(values: Iterable[Any], size: int = 2000) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
