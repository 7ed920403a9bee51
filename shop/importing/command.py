"""The management command every keyed import shares: read, plan, write in one transaction, summarise."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from .readers import ImportFileError, read_table, rejects_write_checked
from .tables import CHANGED, NEW, UNCHANGED, TableImportResult, TablePlan

COMMON_HELP = """Every row is imported (new, changed or unchanged) or rejected with one reason; the rejected
rows go to <input>.rejected.csv (or --rejects) with row, reason and detail columns, and the summary adds up
to the rows read. The whole import is one transaction: a file that cannot be read, lacks a column or has no
rows stops with "Nothing imported: ..." and writes nothing. Re-running the same file changes nothing.
Files: .csv, .csv.gz, .xlsx or .parquet with a header row (names in any case; extra columns are ignored).
Text is UTF-8 unless a byte-order mark says otherwise or --encoding names it (cp1252 for most Windows
exports). A blank cell, or a column the file lacks, leaves the stored value as it is."""


class KeyedImportCommand(BaseCommand):
    """Subclasses set ``label`` and implement ``plan`` and ``write``."""

    label = "rows"

    def plan(self, raw: pd.DataFrame, *, source: str) -> TablePlan:
        raise NotImplementedError

    def write(self, plan: TablePlan, *, source: str, before_commit) -> TableImportResult:
        raise NotImplementedError

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="the file to import")
        parser.add_argument(
            "--rejects", type=Path, help="where to write rejected rows (default <input>.rejected.csv)"
        )
        parser.add_argument(
            "--encoding",
            help="text encoding of a .csv(.gz), e.g. cp1252 for Windows exports (default: the file's "
            "byte-order mark, else UTF-8)",
        )

    def handle(self, *args, path: Path, rejects: Path | None, encoding: str | None = None, **options) -> None:
        path = Path(path)
        try:
            raw = read_table(path, max_bytes=settings.IMPORT_MAX_FILE_BYTES, encoding=encoding)
            plan = self.plan(raw, source=path.name)
        except ImportFileError as exc:
            raise CommandError(f"Nothing imported: {exc}") from exc
        rejects_path = Path(rejects) if rejects else path.with_name(path.name + ".rejected.csv")

        def before_commit(result: TableImportResult) -> None:
            try:
                rejects_write_checked(
                    rows_read=result.rows_read,
                    rows_accounted=result.rows_accounted,
                    rejected=plan.rejected_rows(result.rejected_frame()),
                    path=rejects_path,
                )
            except ImportFileError as exc:
                raise CommandError(f"Nothing imported: {exc}") from exc

        try:
            result = self.write(plan, source=path.name, before_commit=before_commit)
        except ImportFileError as exc:
            raise CommandError(f"Nothing imported: {exc}") from exc
        self.summarise(result, path=path, rejects_path=rejects_path)

    def summarise(self, result: TableImportResult, *, path: Path, rejects_path: Path) -> None:
        write = self.stdout.write
        imported = result.count(NEW) + result.count(CHANGED) + result.count(UNCHANGED)
        write(f"Read {result.rows_read:,} rows from {path}")
        write(
            f"  {self.label}: {imported:,} imported ({result.count(NEW):,} new, {result.count(CHANGED):,} "
            f"changed, {result.count(UNCHANGED):,} unchanged)"
        )
        rejected = result.rejected
        write(f"  rejected: {sum(rejected.values()):,} (written to {rejects_path})")
        for reason, count in rejected.items():
            write(f"    {reason}: {count:,}")
        for note in result.notes:
            write(note)
        write(self.style.SUCCESS(f"All {result.rows_read:,} rows accounted for."))
