"""Import UCI Online Retail transactions (.xlsx, .csv, .csv.gz or .parquet) as orders and cancellations."""

from __future__ import annotations

import sys
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from shop.importing.readers import ImportFileError, read_table
from shop.importing.services import transactions_import
from shop.importing.transactions import plan_transactions

HELP = """Import UCI Online Retail transactions: InvoiceNo, StockCode, Description, Quantity, InvoiceDate,
UnitPrice, CustomerID, Country; from .xlsx, .csv, .csv.gz or .parquet.

Sale lines become fulfilled orders (number = InvoiceNo, line_number = the row's position within its invoice)
with category-less products (sku = StockCode upper-cased; name = most frequent real description; price = most
recent positive price) and customers (external_id = CustomerID; guest lines get no customer). Lines of C
invoices become cancellations, linked to the same customer's latest earlier line of that product when known.
Every other row is rejected with one reason (first match wins) and written to <input>.rejected.csv:
missing_value; unrecognised_invoice (the A "adjust bad debt" invoices); non_product_code (POST, DOT, M, D, S,
C2, B, BANK CHARGES, AMAZONFEE, CRUK, PADS, gift vouchers, 23444 carriage); unrecognised_code (not 5 digits +
up to 2 letters, e.g. DCGS bundles); stock_adjustment (quantity <= 0 outside a C invoice: "damaged", "?",
blank); non_negative_quantity_on_cancellation; non_positive_price (free sales, negative prices);
out_of_range; duplicate_row (an exact copy of an earlier importable row). Huge lines cancelled minutes later
and partly cancelled invoices are imported as both sale and cancellation, so demand nets them out. Re-running
writes nothing: rows are matched on their natural keys and reported as already present; products and
customers that exist already are left as staff edited them. The whole import is one transaction; a malformed
file (missing column, wrong types, no rows, unreadable bytes, unknown extension) writes nothing."""


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
        parser.add_argument("--batch-size", type=int, default=5000, help="rows per bulk insert")

    def handle(
        self, *args, path: Path, rejects: Path | None, timezone: str, batch_size: int, **options
    ) -> None:
        try:
            tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CommandError(f"Unknown time zone {timezone!r}.") from exc
        try:
            plan = plan_transactions(read_table(path), tz=tz, source=path.name)
        except ImportFileError as exc:
            raise CommandError(f"Nothing imported: {exc}") from exc

        with tqdm(
            desc="Writing", unit="rows", file=sys.stderr, disable=options["verbosity"] == 0
        ) as progress:
            result = transactions_import(plan=plan, progress=progress, batch_size=batch_size)

        rejects_path = Path(rejects) if rejects else path.with_name(path.name + ".rejected.csv")
        # Written even when empty, so a stale file from an earlier run never describes this one.
        rejects_path.parent.mkdir(parents=True, exist_ok=True)
        plan.rejected.to_csv(rejects_path, index=False)

        write = self.stdout.write
        write(f"Read {result.rows_read:,} rows from {path}")
        write(f"  order lines:   {result.lines_created:,} imported, {result.lines_present:,} already present")
        write(
            f"  cancellations: {result.cancellations_created:,} imported "
            f"({result.cancellations_linked:,} linked to their sale), "
            f"{result.cancellations_present:,} already present"
        )
        rejected_total = sum(result.rejected.values())
        write(f"  rejected:      {rejected_total:,} (written to {rejects_path})")
        for reason, count in sorted(result.rejected.items(), key=lambda item: -item[1]):
            write(f"    {reason}: {count:,}")
        write(
            f"Created {result.products_created:,} products, {result.customers_created:,} customers, "
            f"{result.orders_created:,} orders."
        )
        if result.rows_accounted != result.rows_read:
            raise CommandError(f"Accounted for {result.rows_accounted:,} rows but read {result.rows_read:,}.")
        write(self.style.SUCCESS(f"All {result.rows_read:,} rows accounted for."))
