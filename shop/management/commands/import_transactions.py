"""Import UCI Online Retail transactions (.xlsx, .csv, .csv.gz or .parquet) as orders and cancellations."""

from __future__ import annotations

import sys
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from shop.importing.readers import ImportFileError, read_table, rejects_write_checked
from shop.importing.services import TransactionImportResult, transactions_import
from shop.importing.transactions import Rules, plan_transactions, rejected_rows

HELP = """Import UCI Online Retail transactions: InvoiceNo, StockCode, Description, Quantity, InvoiceDate,
UnitPrice, CustomerID, Country; from .xlsx, .csv, .csv.gz or .parquet.

Sale lines become fulfilled orders (number = InvoiceNo, placed at its earliest line) with category-less
products (sku = StockCode upper-cased; name = most frequent real description; price = most recent positive
price) and customers (external_id = CustomerID; guest lines get no customer). Lines of C invoices become
cancellations, linked to the same customer's latest earlier line of that product when known. Lines are
matched on their content (invoice, product, quantity, price, occurrence): a row repeated within an invoice
is kept with its count, the same row in two files is one line, so re-imports and overlapping files give
the database of one clean import of their union. Line numbers are ranks in that content order.
Every other row is rejected with one reason (first match wins) and written to <input>.rejected.csv:
missing_value; unrecognised_invoice (the A "adjust bad debt" invoices); non_product_code (POST, DOT, M, D, S,
C2, B, BANK CHARGES, AMAZONFEE, CRUK, PADS, gift vouchers, 23444 carriage); unrecognised_code (not 5 digits +
up to 2 letters, e.g. DCGS bundles); future_date (after now + IMPORT_FUTURE_TOLERANCE_HOURS);
before_earliest_date (IMPORT_EARLIEST_DATE); stock_adjustment (quantity <= 0 outside a C invoice: "damaged",
"?", blank); non_negative_quantity_on_cancellation; non_positive_price (free sales, negative prices);
price_below_smallest_unit (under 0.01); price_too_high (over IMPORT_MAX_UNIT_PRICE); out_of_range;
text_too_long (Country over 64, Description over 255 characters); conflicting_invoice (another customer or
country than the invoice's first row); conflicting_order and conflicting_cancellation (stored for another
customer, country or time: rejected, never merged). Slash dates are read in the one order the file proves;
a file mixing d/m and m/d, or holding only ambiguous ones, needs --date-format. Products and customers that
exist already are left as staff edited them. The whole import is one transaction, and the rejects file and
the row accounting are written and checked inside it; a malformed file (missing column, wrong types, no
rows, unreadable bytes, unknown extension, over IMPORT_MAX_FILE_BYTES) writes nothing. Text is read as
UTF-8 unless a byte-order mark says otherwise or --encoding names the file's encoding (cp1252 for most
Windows exports). A stored invoice that the file holds differently (part of it, or with other copies of a
line) is a partial_invoice conflict for every row whose content is stored: never merged, never counted as
already present. After the import, every product's stored units sold (popularity) is recomputed."""


class Command(BaseCommand):
    help = HELP

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="the transactions file")
        parser.add_argument(
            "--rejects", type=Path, help="where to write rejected rows (default <input>.rejected.csv)"
        )
        parser.add_argument(
            "--timezone",
            default=settings.TIME_ZONE,
            help="time zone of InvoiceDate wall-clock times (default: TIME_ZONE, %(default)s)",
        )
        parser.add_argument(
            "--date-format",
            help="strptime format of InvoiceDate text, e.g. '%%d/%%m/%%Y %%H:%%M'; needed when a file's "
            "d/m or m/d dates cannot be told apart (default: ISO 8601, or the slash order the file proves)",
        )
        parser.add_argument("--batch-size", type=int, default=5000, help="rows per bulk insert")
        parser.add_argument(
            "--encoding",
            help="text encoding of a .csv(.gz), e.g. cp1252 for Windows exports (default: the file's "
            "byte-order mark, else UTF-8)",
        )

    def handle(
        self,
        *args,
        path: Path,
        rejects: Path | None,
        timezone: str,
        batch_size: int,
        date_format: str | None = None,
        encoding: str | None = None,
        **options,
    ) -> None:
        try:
            tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CommandError(f"Unknown time zone {timezone!r}.") from exc
        now = pd.Timestamp.now(tz="UTC")
        rules = Rules(
            earliest=pd.Timestamp(settings.IMPORT_EARLIEST_DATE, tz=tz),
            latest=now + pd.Timedelta(hours=settings.IMPORT_FUTURE_TOLERANCE_HOURS),
            max_unit_price=float(settings.IMPORT_MAX_UNIT_PRICE),
            date_format=date_format,
        )
        try:
            plan = plan_transactions(
                read_table(path, max_bytes=settings.IMPORT_MAX_FILE_BYTES, encoding=encoding),
                tz=tz,
                source=path.name,
                rules=rules,
            )
        except ImportFileError as exc:
            raise CommandError(f"Nothing imported: {exc}") from exc

        rejects_path = Path(rejects) if rejects else path.with_name(path.name + ".rejected.csv")

        def before_commit(result: TransactionImportResult) -> None:
            conflicts = result.conflicts.sort_values("row")
            rejected = pd.concat([plan.rejected, rejected_rows(plan.source, conflicts)], ignore_index=True)
            try:
                rejects_write_checked(
                    rows_read=result.rows_read,
                    rows_accounted=result.rows_accounted,
                    rejected=rejected.sort_values("row", kind="stable"),
                    path=rejects_path,
                )
            except ImportFileError as exc:
                raise CommandError(f"Nothing imported: {exc}") from exc

        with tqdm(
            desc="Writing", unit="rows", file=sys.stderr, disable=options["verbosity"] == 0
        ) as progress:
            result = transactions_import(
                plan=plan, progress=progress, batch_size=batch_size, before_commit=before_commit
            )

        write = self.stdout.write
        write(f"Read {result.rows_read:,} rows from {path}")
        write(
            f"  order lines:   {result.lines_created:,} new, {result.lines_present:,} already present, "
            f"{result.lines_conflicting:,} conflicting"
        )
        write(
            f"  cancellations: {result.cancellations_created:,} new "
            f"({result.cancellations_linked:,} linked to their sale), "
            f"{result.cancellations_present:,} already present, "
            f"{result.cancellations_conflicting:,} conflicting"
        )
        rejected_total = sum(result.rejected.values())
        write(f"  rejected:      {rejected_total:,} (written to {rejects_path})")
        for reason, count in sorted(result.rejected.items(), key=lambda item: -item[1]):
            write(f"    {reason}: {count:,}")
        write(
            f"Created {result.products_created:,} products, {result.customers_created:,} customers, "
            f"{result.orders_created:,} orders."
        )
        write(self.style.SUCCESS(f"All {result.rows_read:,} rows accounted for."))
