"""Import a stock count (sku,on_hand): each difference is one stocktake movement in the ledger."""

from __future__ import annotations

from shop.importing.catalogue import plan_stock_counts
from shop.importing.command import COMMON_HELP, KeyedImportCommand
from shop.importing.services import stock_counts_import


class Command(KeyedImportCommand):
    help = (
        "Import a stock count: columns sku,on_hand (whole units, 0 or more). Each product's on-hand stock "
        "becomes the count, and each difference is one ledger movement with reason stocktake. Rejected: "
        "missing_value, invalid_value, text_too_long, duplicate_row, conflicting_rows (one SKU counted "
        "twice with different figures), unknown_sku, below_reserved (a count below the units placed orders "
        "reserve). " + COMMON_HELP
    )
    label = "stock counts"

    def plan(self, raw, *, source):
        return plan_stock_counts(raw, source=source)

    def write(self, plan, *, source, before_commit):
        return stock_counts_import(plan=plan, source=source, before_commit=before_commit)
