"""The keyed imports in the admin, with django-import-export's upload, preview and confirm screens.

django-import-export gives the workflow staff know (Import button, file and format, a preview
of every row, Confirm), its temporary storage of the upload between the two steps, and its
permission hooks. Its row-by-row resources would bypass the shop's import services, so each
resource here hands the whole file to the same planner and service as the management command:
the preview is the service run with ``dry_run=True`` (all the work, rolled back), and Confirm
runs it again for real on the stored file. What is shown is what is written, row for row, with
the same reasons for rejects.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tablib
from django.conf import settings
from django.contrib import messages
from import_export.admin import ImportMixin
from import_export.fields import Field
from import_export.formats.base_formats import Format
from import_export.resources import Resource
from import_export.results import Result, RowResult

from .outcomes import CHANGED, NEW, REJECTED, UNCHANGED

if TYPE_CHECKING:
    import pandas as pd

    from .tables import TableImportResult, TablePlan

# pandas and the planners load on the first upload, not when the admin registers these screens: every
# web process and worker autodiscovers the admin at start-up.


class FrameDataset(tablib.Dataset):
    """A tablib dataset that carries the file as the import commands read it (a data frame)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        super().__init__()
        self.frame = frame
        self.headers = [str(column) for column in frame.columns]

    def __len__(self) -> int:
        return len(self.frame)


class TableFormat(Format):
    """A file read by ``readers.read_table``, exactly as the commands read it (suffix and encoding)."""

    suffix = ".csv"
    title = "csv"
    encoding: str | None = None

    def __init__(self, encoding: str | None = None) -> None:
        pass  # the encoding is the format's own: a choice in the form, not the admin's default

    def get_title(self) -> str:
        return self.title

    def get_extension(self) -> str:
        return self.suffix.lstrip(".")

    def can_import(self) -> bool:
        return True

    def create_dataset(self, in_stream: bytes | str) -> FrameDataset:
        from .readers import read_table

        data = in_stream.encode() if isinstance(in_stream, str) else in_stream
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"upload{self.suffix}"
            path.write_bytes(data)
            frame = read_table(path, max_bytes=settings.IMPORT_MAX_FILE_BYTES, encoding=self.encoding)
        return FrameDataset(frame)


class CSVFormat(TableFormat):
    pass


class WindowsCSVFormat(TableFormat):
    title = "csv (Windows-1252)"
    encoding = "cp1252"


class GzipCSVFormat(TableFormat):
    suffix = ".csv.gz"
    title = "csv.gz"


class XLSXFormat(TableFormat):
    suffix = ".xlsx"
    title = "xlsx"


class ParquetFormat(TableFormat):
    suffix = ".parquet"
    title = "parquet"


TABLE_FORMATS = [CSVFormat, WindowsCSVFormat, GzipCSVFormat, XLSXFormat, ParquetFormat]
IMPORT_TYPES = {NEW: RowResult.IMPORT_TYPE_NEW, CHANGED: RowResult.IMPORT_TYPE_UPDATE}


class KeyedImportResource(Resource):
    """Subclasses set ``plan`` (raw frame -> ``TablePlan``) and ``write`` (plan, dry_run -> result)."""

    plan: Callable[..., TablePlan]
    write: Callable[..., TableImportResult]
    shown: tuple[str, ...] = ()  # the value columns the preview shows before and after
    display_name = "rows"

    @classmethod
    def get_display_name(cls) -> str:
        return cls.display_name

    def import_data(
        self, dataset, dry_run: bool = False, raise_errors: bool = False, **kwargs: Any
    ) -> Result:
        from .readers import ImportFileError

        result = Result()
        result.diff_headers = ["row", "key", *self.shown]
        try:
            plan = type(self).plan(dataset.frame, source=kwargs.get("file_name") or "upload")
            table = type(self).write(plan, dry_run=dry_run)
        except ImportFileError as exc:
            result.append_base_error(_Problem(f"Nothing imported: {exc}"))
            return result
        result.table = table
        result.total_rows = table.rows_read
        result.summary = {name: table.count(name) for name in (NEW, CHANGED, UNCHANGED, REJECTED)}
        for outcome in sorted(table.outcomes, key=lambda row: row.row):
            row = RowResult()
            row.import_type = IMPORT_TYPES.get(outcome.outcome, RowResult.IMPORT_TYPE_SKIP)
            row.outcome = outcome
            row.diff = [outcome.row, outcome.key, *(_cell(outcome, name) for name in self.shown)]
            result.append_row_result(row)
            result.increment_row_result_total(row)
        return result


def _cell(outcome, name: str) -> str:
    after = outcome.after.get(name, "")
    if name in outcome.before and outcome.before[name] != after:
        return f"{_text(outcome.before[name])} → {_text(after)}"
    return _text(after)


def _text(value: Any) -> str:
    return "—" if value is None or value == "" else str(value)


class _Problem:
    """What the import template shows for a file that cannot be imported at all (no traceback)."""

    def __init__(self, message: str) -> None:
        self.error = message
        self.traceback = ""


class KeyedImportAdminMixin(ImportMixin):
    """The Import button and screens for one keyed import (``resource_classes`` holds its resource)."""

    import_template_name = "admin/shop/keyed_import.html"
    skip_admin_log = True  # the ledger and the import's own summary record what changed
    import_error_display = ("message",)

    @property
    def import_formats(self):
        return TABLE_FORMATS

    def add_data_read_fail_error_to_form(self, form, e) -> None:
        from .readers import ImportFileError

        if isinstance(e, ImportFileError):
            form.add_error("import_file", f"Nothing imported: {e}")
        else:
            super().add_data_read_fail_error_to_form(form, e)

    def add_success_message(self, result: Result, request) -> None:
        table: TableImportResult = result.table
        imported = table.count(NEW) + table.count(CHANGED) + table.count(UNCHANGED)
        messages.success(
            request,
            f"Imported {imported:,} of {table.rows_read:,} rows ({table.count(NEW):,} new, "
            f"{table.count(CHANGED):,} changed, {table.count(UNCHANGED):,} unchanged); "
            f"{table.count(REJECTED):,} rejected.",
        )


def _stock_plan(frame: pd.DataFrame, *, source: str) -> TablePlan:
    from .catalogue import plan_stock_counts

    return plan_stock_counts(frame, source=source)


def _categories_plan(frame: pd.DataFrame, *, source: str) -> TablePlan:
    from .catalogue import plan_categories

    return plan_categories(frame, source=source)


def _stock_write(plan: TablePlan, *, dry_run: bool) -> TableImportResult:
    from .services import stock_counts_import

    return stock_counts_import(plan=plan, source="admin upload", dry_run=dry_run)


def _categories_write(plan: TablePlan, *, dry_run: bool) -> TableImportResult:
    from .services import categories_import

    return categories_import(plan=plan, dry_run=dry_run)


class StockCountResource(KeyedImportResource):
    """A stock count: each difference becomes a stocktake movement in the ledger."""

    sku = Field(column_name="sku")
    on_hand = Field(column_name="on_hand")
    plan = staticmethod(_stock_plan)
    write = staticmethod(_stock_write)
    shown = ("on_hand",)
    display_name = "Stock count"


class CategoryResource(KeyedImportResource):
    """Each product's category path ("Home > Kitchen"); the tree is made as needed."""

    sku = Field(column_name="sku")
    category = Field(column_name="category")
    plan = staticmethod(_categories_plan)
    write = staticmethod(_categories_write)
    shown = ("category",)
    display_name = "Product categories"
